"""``--explain`` for a gradient with tensors: which explanation, and why.

Sits beside ``explain`` (scalar expressions) between the sweeps and the
renderers. A result computed by the tensor sweeps is explained by:

* the backward-pass table (``backward_table``): the default, and what
  ``--explain reverse`` shows, for a network of any size;
* for a small network, ``--explain paths`` (and ``forward``): the tensor
  tape is expanded element by element (``scalarize``) into a scalar tape, on
  which the scalar explanation runs as it does for any scalar expression:
  the paths from the output to one element (``W1[0,1]``) and their local
  factors, so a learner can check one weight's gradient by hand. Past
  ``MAX_PATH_ELEMENTS`` elements in one variable (or ``MAX_PATH_ENTRIES``
  scalar operations) it declines, says why, and the table stands in.

``--wrt`` may name elements (``W1[0,1]``, ``W1[-1, 0]``); ``split_wrt``
separates them from whole variables before the gradient is computed, and
``resolve_elements`` checks them against the variables' shapes after.
"""

from __future__ import annotations

from ..base.errors import Phrase, UsageError
from ..base.record import Frozen
from ..base.text import NAME
from ..base.shapes import element_name, element_text, shape_text, size as shape_size

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Any

# Paths are listed for networks whose every variable has at most this many
# elements ("a few dozen": a learner's network, checked by hand) ...
MAX_PATH_ELEMENTS = 64
# ... and whose expansion into scalar operations stays this small.
MAX_PATH_ENTRIES = 20_000

_ELEMENT = r"^\s*(" + NAME + r")\s*\[([^\]]*)\]\s*$"


class TensorExplanation(Frozen):
    """What ``--explain`` shows for a gradient with tensors.

    ``backward`` is the backward-pass table; ``scalar`` the scalar
    explanation (paths, trace) of the expansion into elements; ``declined``
    why the scalar one was asked for and not given (the table stands in)."""

    __slots__ = ("backward", "scalar", "declined")

    def __init__(self, backward: Any = None, scalar: Any = None, declined: str | None = None):
        self.backward = backward  # backward_table.BackwardPass
        self.scalar = scalar  # explain.Explanation of the element-wise tape
        self.declined = declined

    def to_dict(self) -> dict[str, Any]:
        if self.scalar is not None:
            return self.scalar.to_dict()
        if self.backward is not None:
            return {"chain": self.backward.to_dict()}
        return {}


def split_wrt(names: list[str] | None) -> tuple[list[str] | None, list[tuple[str, tuple]]]:
    """``--wrt`` entries as (variable names, elements): ``W1[0,1]`` is the
    element (``W1``, (0, 1)) of the variable ``W1``, which is differentiated."""
    if names is None:
        return None, []
    import re  # only for --wrt, which a plain grad does not have
    variables: list[str] = []
    elements: list[tuple[str, tuple]] = []
    for name in names:
        match = re.match(_ELEMENT, name)
        if match is None:
            variables.append(name)
            continue
        base, inside = match.groups()
        try:
            index = tuple(int(part) for part in inside.split(","))
        except ValueError:
            raise UsageError(Phrase("{wrt} {name}: an element is written with whole "
                                    "numbers, such as W1[0,1]", name=name)) from None
        variables.append(base)
        elements.append((base, index))
    return list(dict.fromkeys(variables)), elements


def resolve_elements(elements: list[tuple[str, tuple]], shapes: dict[str, tuple]) -> list[str]:
    """The elements' names as the expansion calls them (``W1[0,1]``), checked
    against the variables' shapes (negative indices count from the end)."""
    resolved = []
    for name, index in elements:
        shape = shapes[name]
        written = name + element_text(index)
        if not shape:
            raise UsageError(Phrase("{wrt} {written}: {name} is a number, not an array",
                                    written=written, name=name))
        if len(index) != len(shape):
            raise UsageError(Phrase("{wrt} {written}: {name} has shape {shape}, so an element "
                                    "takes {count} " + ("index" if len(shape) == 1 else "indices"),
                                    written=written, name=name, shape=shape_text(shape),
                                    count=len(shape)))
        for k, size in zip(index, shape):
            if not -size <= k < size:
                raise UsageError(Phrase("{wrt} {written}: index {k} is out of range for shape "
                                        "{shape}", written=written, k=k,
                                        shape=shape_text(shape)))
        resolved.append(element_name(name, tuple(k % size for k, size in zip(index, shape))))
    return list(dict.fromkeys(resolved))


def variable_shapes(result) -> dict[str, tuple]:
    """Each variable's shape in ``result`` (``()`` for a number)."""
    return {name: tuple(getattr(value, "shape", ())) for name, value in result.point.items()}


def explain_tensor(program, result, view: str | None, *, elements: list[str] = (),
                   max_paths: int = 16, with_chain: bool = False) -> TensorExplanation:
    """The explanation of ``result`` (a gradient of ``program`` by the tensor sweeps).

    ``view`` None is the default (the table); ``elements`` are resolved
    element names for the paths view (none: every element of the gradient's
    variables, as far as the scalar explanation lists variables)."""
    from .backward import backward_pass
    if view == "none" or getattr(result, "evaluation", None) is None:
        return TensorExplanation()  # asked for none, or a result that kept no sweep
    if view in (None, "reverse"):
        return TensorExplanation(backward=backward_pass(result))
    reason = _too_big(result)
    if reason is not None:
        return TensorExplanation(
            backward=backward_pass(result),
            declined=f"--explain {view} lists scalar paths element by element, for "
                     f"networks whose variables have at most {MAX_PATH_ELEMENTS} elements; "
                     f"{reason}. The backward-pass table (--explain reverse) is shown "
                     "instead")
    scalar_result = element_gradient(program, result, elements)
    from .chain import explain
    return TensorExplanation(scalar=explain(scalar_result, view, max_paths=max_paths,
                                            with_chain=with_chain))


def _too_big(result) -> str | None:
    evaluation = result.evaluation
    tape = evaluation.tape
    for name in tape.variables:
        shape = evaluation.shapes[tape.variable_index[name]]
        size = shape_size(shape)
        if size > MAX_PATH_ELEMENTS:
            return f"{name} has {size:,} (shape {shape_text(shape)})"
    # A bound on the expansion before it is built: each entry expands to at
    # most its own elements times the work of one (a product: the inner size).
    estimate = 0
    for i, op in enumerate(tape.ops):
        size = shape_size(evaluation.shapes[i])
        inner = max((evaluation.shapes[j][-1] if evaluation.shapes[j] else 1)
                    for j in tape.args[i]) if tape.args[i] else 1
        estimate += size * 2 * inner
    if estimate > MAX_PATH_ENTRIES:
        return (f"its expansion would take about {estimate:,} scalar operations (at most "
                f"{MAX_PATH_ENTRIES:,})")
    return None


def element_gradient(program, result, elements: list[str]):
    """The gradient of the expansion into elements, by the scalar sweeps, for
    ``elements`` (or every element of the result's variables)."""
    from ..engine.program import CompiledExpression
    from ..engine.tensor.scalarize import scalarize
    from ..primitives.base import np
    evaluation = result.evaluation
    tape = evaluation.tape
    scalar_tape, scalar_point = scalarize(tape, evaluation.shapes, result.point)
    wanted = list(elements)
    if not wanted:
        for name in result.gradient:
            shape = evaluation.shapes[tape.variable_index[name]]
            if shape:
                wanted.extend(element_name(name, index) for index in np.ndindex(*shape))
            else:
                wanted.append(name)
    scalar_program = CompiledExpression(program.text, scalar_tape)
    # Elements the output does not depend on are not on the expanded tape.
    present = [name for name in wanted if name in scalar_tape.variable_index]
    point = {name: scalar_point[name] for name in scalar_tape.variables}
    return scalar_program.gradient(point, mode="reverse", wrt=present)
