"""The primitive record: what one entry of the primitive table holds.

``Primitive`` is the record every family module (``elementwise``, ``tensor``)
fills in and every consumer reads: lowering, the sweeps, the printer, the
code generator, the explanations. ``ShapeProblem`` is what a shape rule raises,
and ``np`` is NumPy imported on first use, so scalar paths never load it.
This module imports nothing of chaincli but the record base (``base.record``);
the registry (``chaincli.primitives``) joins the families into one table.
"""

from __future__ import annotations

from ..base.record import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Callable

    Partial = Callable[..., float]
    Check = Callable[..., "str | None"]


class Primitive(Frozen):
    """One entry of the primitive table.

    The first six fields are given in order; the others, by keyword, default
    to the class attributes below (the annotated names are the fields, in
    order, as ``repr``, ``==`` and ``replace`` read them)."""

    name: str
    arity: int
    value: Callable[..., float]
    partials: tuple[Partial, ...]
    partial_formulas: tuple[str, ...]
    latex: str
    # How it prints: an infix operator has a symbol and a precedence (higher
    # binds tighter); anything else prints as a call ``name(a, b)``.
    symbol: str | None = None
    precedence: int = 100
    right_associative: bool = False
    # A message when the arguments are outside the domain (the value would be
    # NaN, a pole, or complex), else None.
    domain: Check | None = None
    # A message naming the convention used when the point sits on a kink.
    kink: Check | None = None
    # Where each argument is smooth and inside the domain: the tests draw
    # points from these boxes to compare partials with finite differences.
    smooth_region: tuple[tuple[float, float], ...] = ((-3.0, 3.0),)
    description: str = ""
    # Versions for NumPy arrays, where ``value``/``partials`` would not work on
    # them (they call ``math`` or branch); None means the scalar one does.
    array_value: Callable[..., object] | None = None
    array_partials: tuple[Callable[..., object], ...] | None = None
    # Python expressions over {a}, {b} (and {out} for partials) that compute
    # exactly what ``value``/``partials`` compute, bit for bit; the code
    # generator inlines them instead of calling the functions. ``math`` is the
    # only name they may use.
    code: str | None = None
    partial_code: tuple[str | None, ...] | None = None
    # What the partials read: the arguments (not for + - and constant
    # partials) and the output (exp, sqrt, tanh, ...). A batch reverse sweep
    # frees every array no partial will read (tests/test_batch.py checks these).
    partials_read_arguments: bool = True
    partials_read_output: bool = False

    # ----- Tensors -----
    # An elementwise primitive applies to arrays element by element, with
    # NumPy broadcasting; its partials are elementwise too, so the adjoint
    # times each partial (summed over the broadcast axes) is its whole
    # vector-Jacobian product. The others (primitives/tensor.py) carry their
    # own rules, each taking the arguments and the static options as tuples:
    elementwise: bool = True
    # shape(argument shapes, options) -> the output's shape, or ShapeProblem.
    shape: Callable[..., tuple[int, ...]] | None = None
    # vjp(adjoint, arguments, output, options, wanted) -> one adjoint per
    # argument (None where ``wanted`` is false: nothing needs it).
    vjp: Callable[..., tuple] | None = None
    # jvp(tangents, arguments, output, options) -> the output's tangent; a
    # tangent of None is zero.
    jvp: Callable[..., object] | None = None
    # The VJP as the backward-pass table prints it, for arguments of these
    # ranks: formulas over a, b, out and δ (the adjoint arriving).
    vjp_formulas: Callable[[tuple[int, ...]], tuple[str, ...]] | None = None
    # vjp_of_multiple(c, k, arguments, output, options, wanted) -> the VJP when
    # the adjoint arriving is exactly c times argument k (a quadratic form
    # b' solve(A, b) sends b back), or None where that does not help. The
    # sweep knows it without looking at the elements; |c| <= 1.
    vjp_of_multiple: Callable[..., "tuple | None"] | None = None
    # Names of optional whole-number arguments after the array ones, written
    # as literals: ``sum(A, 1)`` has the option ``axis``.
    options: tuple[str, ...] = ()
    # For arrays: a boolean mask of the elements that sit on the kink.
    kink_mask: Callable[..., object] | None = None
    # sample_shapes(random.Random) -> (argument shapes, options) the rule
    # accepts, for the automatic tests, where the small random shapes they
    # draw otherwise would not fit (a convolution's four axes).
    sample_shapes: Callable[..., tuple] | None = None
    # tensor_notice(arguments, options) -> (kind, message) or None: a warning
    # about the answer at these arguments ("kink" for a tie of amax,
    # "ill-conditioned" for a matrix near singular); ``{a}`` in the message
    # stands for the first argument's source text. (A domain problem is raised
    # by ``value`` itself, as ``DomainProblem``.)
    tensor_notice: Callable[..., "tuple[str, str] | None"] | None = None
    # What each argument must be for the automatic rule tests to draw it:
    # "any", "square" (a well-conditioned square matrix) or "spd" (symmetric
    # positive definite). Empty means "any" for all.
    argument_kinds: tuple[str, ...] = ()
    # Whether the element-by-element expansion (engine/tensor/scalarize.py)
    # can run ``value`` on arrays of scalar entries; a factorization cannot.
    expands: bool = True

    def __init__(self, name: str, arity: int, value: Callable[..., float],
                 partials: tuple[Partial, ...], partial_formulas: tuple[str, ...], latex: str,
                 **optional):
        self.name = name
        self.arity = arity
        self.value = value
        self.partials = partials
        self.partial_formulas = partial_formulas
        self.latex = latex
        for key, given in optional.items():
            if key not in _OPTIONAL:
                raise TypeError(f"Primitive() got an unexpected keyword argument {key!r}")
            setattr(self, key, given)

    def replace(self, **changes) -> Primitive:
        """A copy with ``changes`` to its fields (a rule swapped in a test)."""
        fields = {name: getattr(self, name) for name in self._fields}
        fields.update(changes)
        return Primitive(**fields)

    @property
    def vector_value(self) -> Callable[..., object]:
        """The value function for arrays."""
        return self.array_value or self.value

    @property
    def vector_partials(self) -> tuple[Callable[..., object], ...]:
        """The partials for arrays (arguments, then the output)."""
        return self.array_partials or self.partials


Primitive._fields = tuple(Primitive.__annotations__)
_OPTIONAL = frozenset(Primitive._fields[6:])


class ShapeProblem(ValueError):
    """Arguments whose shapes a primitive cannot take; the message says why."""


class DomainProblem(ValueError):
    """Arguments outside a tensor primitive's domain (a singular matrix); the
    message says why, with ``{a}``/``{b}`` standing for the arguments' text."""


class _LazyNumPy:
    """``numpy``, imported when an array version is first called."""

    def __getattr__(self, name: str):
        import numpy
        attribute = getattr(numpy, name)
        setattr(self, name, attribute)  # later look-ups skip __getattr__
        return attribute


np = _LazyNumPy()
