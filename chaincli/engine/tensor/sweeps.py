"""The sweeps for tapes whose entries may be arrays: shapes, values, adjoints, tangents.

A tape is evaluated here when it holds a tensor primitive (``@``, ``sum``,
an array literal, …) or when a variable's value is an array; scalar tapes at
scalar points keep the scalar sweeps (``engine/scalar/``: evaluate, forward, reverse)
and their compiled form. The tape is the same Wengert list either way; what
changes is that an entry's value may be a NumPy array, and that a local
derivative is a rule, not a number:

* an elementwise primitive's adjoint contribution is the adjoint times its
  partial, summed back over the axes its argument was broadcast along
  (``unbroadcast``: the one place broadcasting is undone);
* any other primitive applies its own vector-Jacobian product (reverse) or
  Jacobian-vector product (forward) from the primitive table.

``shapes`` runs first, over the whole tape, once the variables' shapes are
known: a mismatch is a ``ShapeError`` (exit 2) with a caret under the
operation, before any arithmetic. Scalars are Python floats throughout;
arrays are float64. Like the scalar sweeps, a zero adjoint or tangent passes
nothing on through an infinite or NaN partial, nor a zero partial from an
infinite or NaN adjoint or tangent (0·∞ is taken as 0, zero_rule.py), element
by element and through the tensor family's rules too.

NumPy's floating-point warnings are off in every sweep (``quiet``): an
overflow or an undefined element is judged from the values, and reported in
chaincli's words (a ``DomainError`` naming the element, or a notice that a
partial is not finite), never as a NumPy warning on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from typing import Mapping

from ...base.errors import DomainError, ShapeError
from ...primitives import PRIMITIVES
from ...primitives.base import DomainProblem, Primitive, ShapeProblem, np
from ...tape import CONST, VAR, Tape
from ...base.shapes import element_text, shape_text, size as shape_size
from ...base.finite import all_finite_array
from ...base.zero_rule import times, times_elementwise
from ..allocator import raise_thresholds

raise_thresholds()

Shape = tuple[int, ...]

# No entry may hold more elements than this (800 MB of doubles): a larger one
# is refused by the shape pass, before NumPy is asked for the memory.
MAX_ELEMENTS = 100_000_000


# Whether this thread is inside a sweep, where NumPy's warnings are already off:
# ``np.errstate`` costs about a microsecond to enter and leave, and the
# helpers a sweep calls per node would otherwise enter it again each time.
_state = threading.local()
_ALREADY_QUIET = contextlib.nullcontext()


def quiet(function):
    """``function`` run with NumPy's floating-point warnings off (module docstring)."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        if getattr(_state, "quiet", False):
            return function(*args, **kwargs)
        with np.errstate(all="ignore"):
            _state.quiet = True
            try:
                return function(*args, **kwargs)
            finally:
                _state.quiet = False
    return run


def _silenced():
    """``np.errstate(all="ignore")``, or nothing inside a sweep, which holds it."""
    return _ALREADY_QUIET if getattr(_state, "quiet", False) else np.errstate(all="ignore")


# ----- Shapes -----

def broadcast_shapes(shapes: list[Shape]) -> Shape:
    """NumPy's broadcasting rule, without NumPy; ``ShapeProblem`` if they do not fit."""
    ndim = max(len(shape) for shape in shapes)
    result = []
    for axis in range(-ndim, 0):
        size = 1
        for shape in shapes:
            n = shape[axis] if -axis <= len(shape) else 1
            if n != 1:
                if size != 1 and n != size:
                    raise ShapeProblem(f"shapes {' and '.join(shape_text(s) for s in shapes)} "
                                       "do not broadcast together")
                size = n
        result.append(size)
    return tuple(result)


def shapes(tape: Tape, variable_shapes: Mapping[str, Shape]) -> list[Shape]:
    """The shape of every entry, from the shapes of the variables."""
    result: list[Shape] = [()] * len(tape)
    for i, op in enumerate(tape.ops):
        if op == VAR:
            result[i] = tuple(variable_shapes[tape.labels[i]])
            continue
        if op == CONST:
            continue
        prim = PRIMITIVES[op]
        argument_shapes = tuple(result[j] for j in tape.args[i])
        try:
            if prim.elementwise:
                result[i] = broadcast_shapes(list(argument_shapes))
            else:
                result[i] = tuple(prim.shape(argument_shapes, tape.options[i]))
        except ShapeProblem as problem:
            text = tape.source_text(i) or tape.name(i)
            raise ShapeError(f"{text}: {problem}", source=tape.source,
                             span=tape.spans[i]) from None
        size = shape_size(result[i])
        if size > MAX_ELEMENTS:
            text = tape.source_text(i) or tape.name(i)
            raise ShapeError(f"{text}: shape {shape_text(result[i])} would hold {size:,} "
                             f"elements, more than {MAX_ELEMENTS:,}", source=tape.source,
                             span=tape.spans[i])
    return result


def shape_of(value) -> Shape:
    return tuple(getattr(value, "shape", ()))


# ----- Values -----

def _scalar_or_array(value):
    """A 0-d result as a Python float, anything larger as a float64 array."""
    if isinstance(value, float):
        return value
    if type(value) is np.ndarray and value.dtype.char == "d" and value.ndim:
        return value  # the common case, without asarray's argument parsing
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array


def apply(prim: Primitive, inputs: list, options: tuple[int, ...]):
    """One primitive's value on scalars or arrays."""
    if getattr(_state, "quiet", False):
        return _apply(prim, inputs, options)
    with np.errstate(all="ignore"):
        return _apply(prim, inputs, options)


def _apply(prim: Primitive, inputs: list, options: tuple[int, ...]):
    """``apply``, with NumPy's warnings already off (inside a sweep)."""
    if prim.elementwise:
        try:
            return _scalar_or_array((prim.array_value or prim.value)(*inputs))
        except (ValueError, ZeroDivisionError, OverflowError):
            # Python floats raise where NumPy's elements give inf or NaN:
            # a non-finite value, which the domain check names as for arrays.
            return math.nan
    return _scalar_or_array(prim.value([_as_array(v) for v in inputs], options))


def all_finite(value) -> bool:
    """Whether every element is finite (base/finite.py: one pass, no temporary)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if getattr(_state, "quiet", False):
        return _all_finite(value)
    with np.errstate(all="ignore"):
        return _all_finite(value)


def _all_finite(value) -> bool:
    """``all_finite`` of an array, with NumPy's warnings already off."""
    if type(value) is np.ndarray:
        return all_finite_array(np, value, quiet=True)
    return math.isfinite(float(np.sum(value))) or bool(np.isfinite(value).all())


# Operations whose value is finite wherever their arguments are: they move,
# pick or bound elements (a transpose, relu, tanh, softmax's shifted
# exponentials), and never overflow. Their values need no finiteness check
# when their arguments are finite, which the primal sweep knows of each entry:
# a variable's value was checked on the way in, and every entry is checked
# (or is one of these) on the way out.
FINITE_FROM_FINITE = frozenset({
    "transpose", "reshape", "flatten", "index", "stack", "neg", "abs", "relu", "step",
    "sign", "tanh", "sigmoid", "sin", "cos", "atan", "atan2", "asinh", "cbrt", "diag",
    "eye", "ones_like", "amax", "amin", "max", "min", "maxpool2d", "softmax"})

# Operations whose value is not finite somewhere wherever an argument is not
# (inf or NaN in, inf or NaN out: a sum, a product, never a quotient, which
# takes x/inf to 0). A value checked at one of them needs no check of its
# arguments' values (codegen.py): a non-finite argument would show in it.
NONFINITE_PROPAGATES = frozenset({"add", "sub", "mul", "neg", "sum", "mean"})

# Operations whose value function raises ``DomainProblem`` itself whenever an
# element of the value would not be finite: the primal sweep need not look again.
CHECKED_BY_THEMSELVES = frozenset({"solve"})

# Operations of two arguments whose VJP gives each argument a product of the
# adjoint and the other argument (a matrix product, an outer product, a
# scaling) and nothing else: no element of it exceeds the product of the two
# factors' Frobenius norms (Cauchy-Schwarz), so where that product is far below
# the largest double the contribution is finite without reading it (codegen.py).
VJP_BOUNDED_BY_NORMS = frozenset({"matmul", "dot", "outer"})

# Operations whose VJP only moves the adjoint's elements: no element is
# multiplied, so the 0·∞ rule has nothing to do there (``_vjp``).
MOVES_ELEMENTS = frozenset({"transpose", "reshape", "flatten"})


@quiet
def primal(tape: Tape, point: Mapping[str, object], entry_shapes: list[Shape]) -> list:
    """The value of every entry (floats and arrays); ``DomainError`` on a bad element."""
    values: list = [None] * len(tape)
    finite = [True] * len(tape)  # a constant may be written as inf; a value never is
    for i, op in enumerate(tape.ops):
        if op == VAR:
            values[i] = point[tape.labels[i]]
            continue
        if op == CONST:
            values[i] = tape.consts[i]
            finite[i] = math.isfinite(tape.consts[i])
            continue
        prim = PRIMITIVES[op]
        arguments = tape.args[i]
        inputs = [values[j] for j in arguments]
        try:
            out = _apply(prim, inputs, tape.options[i])
        except DomainProblem as problem:
            text = tape.source_text(i) or tape.name(i)
            reason = argument_text(tape, i, str(problem))
            raise DomainError(f"{text}: {reason}", reason=reason, source=tape.source,
                              span=tape.spans[i]) from None
        if op not in CHECKED_BY_THEMSELVES \
                and not (op in FINITE_FROM_FINITE and all(finite[j] for j in arguments)) \
                and not (math.isfinite(out) if type(out) is float else _all_finite(out)):
            raise _domain_error(tape, i, prim, inputs, out, entry_shapes)
        values[i] = out
    return values


def argument_text(tape: Tape, i: int, message: str) -> str:
    """``message`` with ``{a}``, ``{b}`` replaced by entry ``i``'s arguments as written."""
    for letter, j in zip("ab", tape.args[i]):
        message = message.replace("{" + letter + "}", tape.source_text(j) or tape.name(j))
    return message


def _domain_error(tape: Tape, i: int, prim: Primitive, inputs: list, out,
                  entry_shapes: list[Shape]) -> DomainError:
    from ..scalar.evaluate import argument_values
    text = tape.source_text(i) or tape.name(i)
    where = ""
    elements = inputs
    if not isinstance(out, float):
        index = tuple(np.argwhere(~np.isfinite(out))[0])
        where = f" at element {element_text(index)}"
        if prim.elementwise:
            elements = [float(np.broadcast_to(value, entry_shapes[i])[index])
                        for value in inputs]
    reason = None
    if prim.elementwise and prim.domain:
        reason = prim.domain(*elements)
    if reason is None:
        # The scalar sweep's words (evaluate.py): from finite arguments, only
        # an overflow leaves the doubles.
        finite = all(all_finite(value) for value in elements)
        reason = f"{prim.name} {'overflows a double' if finite else 'is undefined here'}"
    shown = argument_values(tape, i, elements) if prim.elementwise else []
    if shown and not where:    # a scalar entry: worded as the scalar sweeps word it
        at = f" at {', '.join(shown)}"
    else:
        at = f" ({', '.join(shown)})" if shown else ""
    return DomainError(f"{text}: {reason}{where}{at}", reason=reason, source=tape.source,
                       span=tape.spans[i])


# ----- Reverse mode -----

def unbroadcast(adjoint, shape: Shape):
    """``adjoint`` summed over the axes along which an argument of ``shape`` was
    broadcast: the one place every rule's broadcasting is undone."""
    if shape_of(adjoint) == shape:
        return adjoint
    adjoint = np.asarray(adjoint, dtype=float)
    full = broadcast_shapes([adjoint.shape, shape])
    if adjoint.shape != full:  # a scalar adjoint (or partial) for an array argument
        adjoint = np.broadcast_to(adjoint, full)
    extra = adjoint.ndim - len(shape)
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and full[extra + k] != 1)
    adjoint = summed_over(adjoint, tuple(range(extra)), stretched)
    return _scalar_or_array(adjoint) if not shape else adjoint


def summed_over(adjoint, extra: tuple[int, ...], stretched: tuple[int, ...]):
    """``adjoint`` summed over its leading axes ``extra``, then over the axes
    ``stretched`` (kept, of length 1): ``unbroadcast``'s two sums, which the
    compiled sweeps call with the axes worked out from the shapes once."""
    if extra:
        adjoint = adjoint.sum(axis=extra)
    if stretched:
        adjoint = adjoint.sum(axis=stretched, keepdims=True)
    return adjoint


def _times(factor, partial, nonfinite: set | None = None, edge=None):
    """``factor · partial`` elementwise, with 0·∞ taken as 0 (zero_rule.py).

    When ``partial`` is not finite somewhere, ``edge`` (entry, argument) is
    added to ``nonfinite``: the notices name those partials."""
    if isinstance(partial, float):
        if partial == 1.0:
            return factor
        if partial == -1.0:
            return -factor
        if partial == 0.0:
            return 0.0
        if math.isfinite(partial):
            return factor * partial
        if isinstance(factor, float):
            if nonfinite is not None:
                nonfinite.add(edge)
            return times(factor, partial)
    product, finite = times_elementwise(factor, partial, quiet=getattr(_state, "quiet", False))
    # A finite product needs finite factors, so the partial is looked at only
    # when the product was not.
    if not finite and nonfinite is not None and not all_finite(partial):
        nonfinite.add(edge)
    return _scalar_or_array(product)


def elementwise_partial(prim: Primitive, k: int, inputs: list, out):
    """∂out/∂(argument k), elementwise, at these inputs."""
    if getattr(_state, "quiet", False):
        return _partial(prim, k, inputs, out)
    with np.errstate(all="ignore"):
        return _partial(prim, k, inputs, out)


def _partial(prim: Primitive, k: int, inputs: list, out):
    """``elementwise_partial``, with NumPy's warnings already off (inside a sweep)."""
    try:
        partial = (prim.array_partials or prim.partials)[k](*inputs, out)
    except ZeroDivisionError:   # as the scalar sweeps take it (evaluate.local_partials)
        return math.inf
    except (ValueError, OverflowError):
        return math.nan
    return partial if isinstance(partial, float) else _scalar_or_array(partial)


@quiet
def adjoint_sweep(tape: Tape, values: list, entry_shapes: list[Shape],
                  wanted: list[bool], output: int | None = None, seed=1.0,
                  nonfinite: set | None = None) -> list:
    """The adjoint of every entry ``wanted`` marks (None where nothing arrived).

    ``wanted[j]`` says whether entry ``j``'s adjoint is needed (it leads to a
    variable of the gradient); rules skip the work for the rest, as the
    adjoint of a data matrix ``X`` in ``X @ W`` is. ``nonfinite`` collects
    the edges (entry, argument) whose elementwise partial was not finite."""
    adjoint: list = [None] * len(tape)
    start = tape.output if output is None else output
    adjoint[start] = seed
    # {entry: (c, source)}: the entry's whole adjoint is c times the source
    # entry's value, known without looking at its elements (``_multiple``).
    multiples: dict[int, tuple[float, int]] = {}
    for i in range(start, -1, -1):
        g = adjoint[i]
        arguments = tape.args[i]
        if g is None or not arguments:
            continue
        prim = PRIMITIVES[tape.ops[i]]
        inputs = [values[j] for j in arguments]
        hints: list = [None] * len(arguments)
        if prim.elementwise:
            g_finite = _known_finite(g)
            contributions = []
            for k, j in enumerate(arguments):
                if not wanted[j]:
                    contributions.append(None)
                    continue
                partial = _partial(prim, k, inputs, values[i])
                if g_finite and isinstance(partial, np.ndarray) and \
                        any(partial is value for value in inputs):
                    # A finite adjoint times a finite value (the primal sweep checked
                    # it): the 0·∞ rule has nothing to do, and no partial to report.
                    product = _scalar_or_array(np.multiply(g, partial))
                    hints[k] = _multiple(g, partial, arguments, inputs, entry_shapes[j])
                elif isinstance(partial, float) and partial == -1.0 \
                        and shape_of(g) != entry_shapes[j]:
                    # Summed first, then negated: the same bits (rounding is
                    # symmetric), with the negation on the smaller array.
                    contributions.append(-unbroadcast(g, entry_shapes[j]))
                    continue
                else:
                    product = _times(g, partial, nonfinite, (i, k))
                contributions.append(unbroadcast(product, entry_shapes[j]))
        else:
            flags = tuple(wanted[j] for j in arguments)
            arrays = [_as_array(v) for v in inputs]
            contributions = None
            known = multiples.get(i)
            if known is not None and prim.vjp_of_multiple is not None \
                    and known[1] in arguments:
                contributions = prim.vjp_of_multiple(known[0], arguments.index(known[1]),
                                                     arrays, values[i], tape.options[i], flags)
            if contributions is None:
                contributions = _vjp(prim, g, arrays, values[i], tape.options[i], flags)
        for j, contribution, hint in zip(arguments, contributions, hints):
            if contribution is None or not wanted[j]:
                continue
            contribution = _scalar_or_array(contribution) if not entry_shapes[j] \
                else contribution
            if adjoint[j] is None:
                adjoint[j] = contribution
                if hint is not None:
                    multiples[j] = hint
            else:
                multiples.pop(j, None)
                # ∞ − ∞ is NaN here, and the notices say so (warnings are off).
                adjoint[j] = adjoint[j] + contribution
    return adjoint


def _multiple(g, partial, arguments, inputs, shape) -> tuple[float, int] | None:
    """(c, source) when ``g · partial`` is c times the value of entry ``source``:
    ``g`` one number c spread over the array (a sum's adjoint), with |c| <= 1 so
    the product cannot overflow, and ``partial`` that entry's value, of the
    contribution's shape. A rule told so (``vjp_of_multiple``) skips the work a
    general adjoint needs: a quadratic form's ``solve`` its second solve."""
    c = g if isinstance(g, float) else float(g.flat[0])
    if not abs(c) <= 1.0 or partial.shape != shape:
        return None
    for j, value in zip(arguments, inputs):
        if value is partial:
            return c, j
    return None


def _known_finite(g) -> bool:
    """Whether ``g`` is finite, where that costs nothing to tell: a number, or one
    number spread over an array (a sum's or a mean's adjoint); else False."""
    if isinstance(g, float):
        return math.isfinite(g)
    if isinstance(g, np.ndarray) and not any(g.strides) and g.size:
        return math.isfinite(float(g.flat[0]))
    return False


def _as_array(value):
    return np.asarray(value, dtype=float) if isinstance(value, float) else value


# ----- The 0·∞ rule through the tensor family's rules -----
#
# A vector-Jacobian or Jacobian-vector product is linear in what arrives, so
# an infinite or NaN element of it can be taken apart from the rest: the
# finite elements go through the rule as they are, and each non-finite one
# times its own column of the Jacobian, elementwise under the 0·∞ rule (the
# edges the element expansion sees, where a zero matrix entry blocks an
# infinite adjoint). Only a non-finite adjoint or tangent takes this path;
# past this many non-finite elements the plain product stands.
MAX_SPLIT_ELEMENTS = 1_000


def _vjp(prim: Primitive, g, args: list, out, options, flags):
    """The rule's VJP, under the 0·∞ rule; inside a sweep (warnings off)."""
    contributions = prim.vjp(g, args, out, options, flags)
    if prim.name in MOVES_ELEMENTS or all_finite(g):
        return contributions
    return _split(lambda incoming: prim.vjp(incoming, args, out, options, flags),
                  g, contributions, several=True)


def _jvp(prim: Primitive, tangents: list, args: list, out, options):
    with _silenced():
        total = prim.jvp(tangents, args, out, options)
        if all(t is None or all_finite(t) for t in tangents):
            return total
        total = None  # linear in each tangent: one argument's at a time
        for k, t in enumerate(tangents):
            if t is None:
                continue

            def alone(incoming, k=k):
                return prim.jvp([incoming if m == k else None for m in range(len(tangents))],
                                args, out, options)

            part = alone(t) if all_finite(t) else _split(alone, t, None, several=False)
            total = part if total is None else total + part
        return total


def _split(rule, incoming, plain, several: bool):
    """``rule(incoming)`` (``plain``, if already known) with its non-finite
    elements taken one by one under the 0·∞ rule; ``several``: the rule
    gives a tuple."""
    incoming = np.asarray(incoming, dtype=float)
    bad = np.argwhere(~np.isfinite(incoming))
    if len(bad) > MAX_SPLIT_ELEMENTS:
        return rule(incoming) if plain is None else plain
    finite = np.where(np.isfinite(incoming), incoming, 0.0)
    total = rule(float(finite) if finite.ndim == 0 else finite)
    total = list(total) if several else [total]
    for element in bad:
        element = tuple(element)
        unit = 1.0
        if incoming.ndim:
            unit = np.zeros(incoming.shape)
            unit[element] = 1.0
        column = rule(unit)
        column = column if several else [column]
        for k, part in enumerate(column):
            if part is not None and total[k] is not None:
                product, _ = times_elementwise(incoming[element], part)
                total[k] = total[k] + product
    return tuple(total) if several else total[0]


# ----- Forward mode -----

@quiet
def tangent_sweep(tape: Tape, values: list, entry_shapes: list[Shape],
                  seed: Mapping[int, object], nonfinite: set | None = None) -> list:
    """The tangent of every entry for ``seed`` ({entry: tangent}); None is zero.
    ``nonfinite`` collects the edges whose elementwise partial was not finite."""
    tangent: list = [None] * len(tape)
    for index, value in seed.items():
        tangent[index] = value
    for i, op in enumerate(tape.ops):
        arguments = tape.args[i]
        if not arguments:
            continue
        incoming = [tangent[j] for j in arguments]
        if all(t is None for t in incoming):
            continue
        prim = PRIMITIVES[op]
        inputs = [values[j] for j in arguments]
        if prim.elementwise:
            total = None
            for k, t in enumerate(incoming):
                if t is None:
                    continue
                term = _times(t, elementwise_partial(prim, k, inputs, values[i]),
                              nonfinite, (i, k))
                if total is None:
                    total = term
                else:
                    with _silenced():  # ∞ − ∞, as in reverse mode
                        total = total + term
            if shape_of(total) != entry_shapes[i]:
                total = np.broadcast_to(total, entry_shapes[i]).copy()
        else:
            total = _jvp(prim, [None if t is None else _as_array(t) for t in incoming],
                         [_as_array(v) for v in inputs], values[i], tape.options[i])
        tangent[i] = _scalar_or_array(total)
    return tangent


# ----- Kinks -----

def kinks(tape: Tape, values: list, entry_shapes: list[Shape],
          entries) -> list[tuple[int, str]]:
    """Those of ``entries`` (indices) on a kink of their primitive, with the
    convention used (and where)."""
    found = []
    for i in entries:
        prim = PRIMITIVES.get(tape.ops[i])
        if prim is None or prim.kink is None:
            continue
        inputs = [values[j] for j in tape.args[i]]
        if not prim.elementwise:  # its options (a pooling window) follow the arguments
            message = prim.kink(*inputs, *tape.options[i])
        elif all(isinstance(v, float) for v in inputs):
            message = prim.kink(*inputs)
        else:
            mask = np.asarray(prim.kink_mask(*inputs))
            if not mask.any():
                continue
            index = tuple(np.argwhere(np.broadcast_to(mask, entry_shapes[i]))[0])
            elements = [float(np.broadcast_to(v, entry_shapes[i])[index]) for v in inputs]
            count = int(np.broadcast_to(mask, entry_shapes[i]).sum())
            message = prim.kink(*elements)
            if message:
                more = f" and {count - 1} more" if count > 1 else ""
                message += f" (at element {element_text(index)}{more})"
        if message:
            found.append((i, message))
    return found


def tensor_notices(tape: Tape, values: list, entries) -> list[tuple[int, str, str]]:
    """(entry, kind, message) of the primitives' own warnings (``tensor_notice``)
    among ``entries`` (indices): a tie of ``amax``, an ill-conditioned matrix."""
    found = []
    for i in entries:
        prim = PRIMITIVES.get(tape.ops[i])
        if prim is None or prim.tensor_notice is None:
            continue
        with _silenced():
            notice = prim.tensor_notice([_as_array(values[j]) for j in tape.args[i]],
                                        tape.options[i])
        if notice:
            found.append((i, notice[0], argument_text(tape, i, notice[1])))
    return found
