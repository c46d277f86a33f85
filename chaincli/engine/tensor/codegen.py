"""The tensor sweeps as straight-line Python, for one set of shapes.

A ``TensorPlan`` that serves its ``COMPILE_AFTER``-th evaluation writes its
primal sweep (and, per set of gradient variables, the primal and adjoint
sweeps) as one Python function: one statement per computed entry, no loop
over the tape. Everything the interpreter (sweeps.py) decides from the
shapes is decided here once: which entries need a finiteness check, which
adjoints are wanted and reached, in what order the contributions are added,
whether a scalar entry's adjoint is made a float, over which axes a broadcast
argument's adjoint is summed. A value whose check a later value's check
stands for is not checked itself (``certified``): an inf or NaN in it would
show there, and the interpreter then finds where it began. A gradient that is
one matrix product of smaller factors is known finite from their norms
(``_finite_product``) without reading its elements. The statements
call what the interpreter calls (``_apply``'s value functions, the rules'
partials and VJPs, ``_times``, the sums of ``unbroadcast``) on the same
values in the same order, so where the function finishes its results are
the interpreter's bits.

It finishes only where the interpreter would have nothing to report: an
exception, a value that is not finite, a non-finite partial or adjoint, a
VJP giving nothing for a wanted argument, each raises ``Fallback``, and the
caller runs the interpreter on the same point, which raises the exact
``DomainError`` or applies the 0·∞ rule with its notices. The generated text
holds only names made here (a letter and an entry number: ``v``/``d`` for
values and adjoints, ``f``/``q``/``j`` for the rules' functions, and so on)
and never the user's text; constants are passed by name.
"""

from __future__ import annotations

import math

from . import sweeps
from ...primitives import PRIMITIVES
from ...base.finite import all_finite_array
from ...base.shapes import size as shape_size
from ...primitives.base import DomainProblem, np
from ...tape import CONST, VAR, Tape

_ndarray, _isfinite = np.ndarray, math.isfinite

# Evaluations of one plan run by the interpreter before it is compiled: a
# one-shot command never pays for compiling. Compiling costs about six
# interpreted calls of a long tape (5,028 entries over 8-element arrays: 0.2 s,
# against 37 ms a call interpreted and 3 ms compiled), but little beside the
# arithmetic of a short one, so a long tape waits as long as the scalar
# sweeps do (scalar/codegen.py).
COMPILE_AFTER = 2
COMPILE_LONG_AFTER = 8
LONG_TAPE = 1_000

# Tapes longer than this stay with the interpreter: a tensor tape that long is
# an unrolled loop, and its function would take seconds to compile.
MAX_ENTRIES = 20_000


def compile_after(tape: Tape) -> int:
    """The evaluation at one set of shapes from which ``tape`` runs compiled."""
    return COMPILE_AFTER if len(tape) <= LONG_TAPE else COMPILE_LONG_AFTER


class Fallback(Exception):
    """The interpreter must answer this point (module docstring)."""


FAILURES = (Fallback, DomainProblem, ValueError, ZeroDivisionError, OverflowError,
            FloatingPointError)


def compilable(tape: Tape) -> bool:
    """Whether straight-line sweeps can stand for the interpreter's on ``tape``.

    A primitive told that its adjoint is a multiple (``vjp_of_multiple``)
    keeps the interpreter, which tracks that fact from node to node."""
    if len(tape) > MAX_ENTRIES:
        return False
    return all(PRIMITIVES[op].vjp_of_multiple is None for op in tape.ops
               if op not in (VAR, CONST))


def _checked(value):
    """A computed value as the primal sweep keeps it (a float, or a float64
    array), when every element is finite; else ``Fallback``."""
    value = sweeps._scalar_or_array(value)
    if not sweeps.all_finite(value):
        raise Fallback
    return value


def _checked_array(value):
    """``_checked`` of an entry whose shape has an axis, in one call where the
    value is a float64 array, as it nearly always is."""
    if type(value) is _ndarray and value.dtype.char == "d" and value.ndim:
        if all_finite_array(np, value, quiet=True):
            return value
        raise Fallback
    return _checked(value)


def _finite_adjoint(g):
    """``g`` when every element is finite (the rule's VJP needs no 0·∞ split),
    else ``Fallback``."""
    if type(g) is float:
        if _isfinite(g):
            return g
    elif all_finite_array(np, g, quiet=True) if type(g) is _ndarray else sweeps.all_finite(g):
        return g
    raise Fallback


# Below this product of two factors' norms, a product of them is finite whatever
# order and blocking the BLAS library sums in: the largest double is 1.8e308.
_NORM_BOUND = 1e300


def _sum_of_squares(x) -> float:
    """The squared Frobenius norm of a finite float or float64 array; inf where
    it cannot be had in one ``vdot`` (the caller then reads the elements)."""
    if type(x) is float:
        return x * x
    if type(x) is _ndarray and x.dtype.char == "d" and x.flags.c_contiguous:
        return float(np.vdot(x, x))
    return math.inf


def _finite_product(result, g, other):
    """``finite(result)`` for a ``VJP_BOUNDED_BY_NORMS`` contribution: the product
    of the adjoint ``g`` and the argument ``other``. Where the two norms bound
    its elements far below overflow, its elements need no reading; a gradient
    is often the largest array of a call (a weight matrix's), and its factors
    are smaller (a batch of inputs, the adjoint of a layer). An inf or NaN in
    either factor makes the bound inf or NaN, which fails the test, so the
    elements are then read."""
    if math.sqrt(_sum_of_squares(g)) * math.sqrt(_sum_of_squares(other)) < _NORM_BOUND:
        return result
    return _finite_adjoint(result)


def _summed(g, shape, extra, stretched):
    """``unbroadcast(g, ·)`` where the entry's shape and the argument's are known:
    its two sums (``summed_over``), the axes worked out when the code was written."""
    if type(g) is not _ndarray or g.shape != shape:
        raise Fallback
    return sweeps.summed_over(g, extra, stretched)


def _edge(g, partial, inputs, shape, g_finite):
    """An elementwise node's contribution along one edge: the interpreter's
    three cases (``adjoint_sweep``) where no 0·∞ rule or notice is needed."""
    if isinstance(partial, float):
        if partial == -1.0 and sweeps.shape_of(g) != shape:
            return -sweeps.unbroadcast(g, shape)
        if not math.isfinite(partial):
            raise Fallback
        return sweeps.unbroadcast(sweeps._times(g, partial), shape)
    if g_finite and isinstance(partial, np.ndarray):
        for value in inputs:  # a generator would cost more than one or two tests
            if partial is value:
                return sweeps.unbroadcast(sweeps._scalar_or_array(np.multiply(g, partial)),
                                          shape)
    product, finite = sweeps.times_elementwise(g, partial, quiet=True)
    if not finite:
        raise Fallback
    return sweeps.unbroadcast(sweeps._scalar_or_array(product), shape)


def _given(contributions, wanted):
    """A VJP's contributions, when it gave one for each wanted argument (the
    positions ``wanted``); else ``Fallback``."""
    for k in wanted:
        if contributions[k] is None:
            raise Fallback
    return contributions


def certified(tape: Tape, shapes: list) -> list[bool]:
    """The computed entries whose own finiteness check a later one stands for.

    An entry is finite when some consumer of it is, if that consumer's value
    cannot be finite where an argument is not (``NONFINITE_PROPAGATES``) and has
    an element, and that consumer's value is checked itself, or certified in
    turn. Until that check, an unchecked value meets only NumPy arithmetic
    (``TAKES_NONFINITE``), which gives NaN for NaN; where the later check fails,
    the interpreter reruns the point and reports the first entry that was not
    finite, as it always does. A value finite because its arguments are
    (``FINITE_FROM_FINITE``) certifies nothing: its finiteness rests on theirs."""
    consumers: list[list[int]] = [[] for _ in tape.ops]
    for i, arguments in enumerate(tape.args):
        for j in arguments:
            consumers[j].append(i)
    constant_finite = [op != CONST or math.isfinite(tape.consts[i])
                       for i, op in enumerate(tape.ops)]
    verified = [False] * len(tape)
    result = [False] * len(tape)
    for i in range(len(tape) - 1, -1, -1):
        op = tape.ops[i]
        if op in (VAR, CONST) or (op in sweeps.FINITE_FROM_FINITE and all(
                constant_finite[j] for j in tape.args[i])):
            continue
        users = consumers[i]
        result[i] = bool(users) and all(tape.ops[c] in TAKES_NONFINITE for c in users) \
            and any(verified[c] and tape.ops[c] in sweeps.NONFINITE_PROPAGATES
                    and shape_size(shapes[c]) for c in users)
        verified[i] = True
    return result


def _constant_partial(prim, k: int) -> float | None:
    """1.0 or -1.0 when the table says the partial by argument k is that constant
    everywhere (``+``, ``-``, negation: ``partial_code``, computed exactly as the
    partial is), else None."""
    if prim.array_partials is not None or not prim.partial_code:
        return None
    return {"1.0": 1.0, "-1.0": -1.0}.get(prim.partial_code[k])


# Where a value not yet known to be finite may go before its check (``certified``):
# NumPy's own arithmetic, elementwise or reducing, which takes NaN to NaN.
TAKES_NONFINITE = frozenset(
    {name for name, prim in PRIMITIVES.items() if prim.elementwise}
    | {"sum", "mean", "matmul", "logsumexp", "softmax", "logsoftmax", "transpose",
       "reshape", "flatten"})


class CompiledSweeps:
    """The generated sweeps of one tape at one set of shapes (``TensorPlan``)."""

    __slots__ = ("tape", "shapes", "_value", "_gradients", "sources")

    def __init__(self, tape: Tape, entry_shapes: list):
        self.tape = tape
        self.shapes = entry_shapes
        self._value = None
        self._gradients: dict[frozenset, object] = {}
        self.sources: dict[str, str] = {}

    def value(self, point):
        """The output's value, or raises ``Fallback``."""
        if self._value is None:
            names: dict = {}
            lines = self._primal_lines(names)
            lines.append(f"    return v{self.tape.output}")
            self._value = self._build("primal", lines, names)
        return self._run(self._value, point)

    def gradient(self, point, names, wanted):
        """(values, adjoints) as lists over the tape, or raises ``Fallback``; the
        adjoints of ``names`` are finite."""
        key = frozenset(names)
        function = self._gradients.get(key)
        if function is None:
            namespace: dict = {}
            lines = self._primal_lines(namespace)
            terms: dict[int, list] = {}
            adjoints = self._adjoint_lines(namespace, wanted, lines, terms)
            # A gradient that is not finite somewhere has notices to give.
            for name in names:
                j = self.tape.variable_index[name]
                if adjoints[j] != "None":
                    lines.append(self._gradient_check(j, terms[j]))
            lines.append(f"    return [{', '.join(self._operands())}], "
                         f"[{', '.join(adjoints)}]")
            function = self._gradients[key] = self._build("gradient", lines, namespace)
        return self._run(function, point)

    def _gradient_check(self, j: int, terms: list) -> str:
        """The statement that checks gradient ``d{j}``, made of ``terms`` (the
        (entry, argument) of each VJP contribution, None for any other): from the
        norms of its two factors where it is one product larger than both."""
        if len(terms) == 1 and terms[0] is not None:
            i, k = terms[0]
            if self.tape.ops[i] in sweeps.VJP_BOUNDED_BY_NORMS:
                other = self.tape.args[i][1 - k]
                sizes = [shape_size(self.shapes[e]) for e in (j, i, other)]
                if sizes[0] > sizes[1] + sizes[2]:
                    return f"    finite_product(d{j}, d{i}, v{other})"
        return f"    finite(d{j})"

    @sweeps.quiet
    def _run(self, function, point):
        return function(*(point[name] for name in self.tape.variables))

    def _build(self, name: str, lines: list[str], namespace: dict):
        arguments = ", ".join(f"v{self.tape.variable_index[v]}" for v in self.tape.variables)
        source = "\n".join([f"def {name}({arguments}):", *lines, ""])
        self.sources[name] = source
        namespace.update(sa=sweeps._scalar_or_array, checked=_checked,
                         checked_array=_checked_array, finite=_finite_adjoint,
                         finite_product=_finite_product,
                         array=sweeps._as_array, edge=_edge, given=_given,
                         known=sweeps._known_finite,
                         unbroadcast=sweeps.unbroadcast, summed=_summed)
        exec(compile(source, f"<chaincli tensor {name}>", "exec"), namespace)
        return namespace[name]

    def _operands(self) -> list[str]:
        return [f"v{i}" for i in range(len(self.tape))]

    def _primal_lines(self, names: dict) -> list[str]:
        tape = self.tape
        lines = []
        finite = [True] * len(tape)  # as sweeps.primal keeps it
        covered = certified(tape, self.shapes)
        for i, op in enumerate(tape.ops):
            if op == VAR:
                continue
            if op == CONST:
                names[f"c{i}"] = tape.consts[i]
                finite[i] = math.isfinite(tape.consts[i])
                lines.append(f"    v{i} = c{i}")
                continue
            prim = PRIMITIVES[op]
            arguments = tape.args[i]
            if prim.elementwise:
                names[f"f{i}"] = prim.array_value or prim.value
                call = f"f{i}({', '.join(f'v{j}' for j in arguments)})"
            else:
                names[f"f{i}"] = prim.value
                names[f"o{i}"] = tape.options[i]
                listed = ", ".join(f"array(v{j})" if not self.shapes[j] else f"v{j}"
                                   for j in arguments)
                call = f"f{i}([{listed}], o{i})"
            checked = op not in sweeps.CHECKED_BY_THEMSELVES and not covered[i] and not (
                op in sweeps.FINITE_FROM_FINITE and all(finite[j] for j in arguments))
            if not checked:
                lines.append(f"    v{i} = sa({call})")
            elif self.shapes[i]:
                lines.append(f"    v{i} = checked_array({call})")
            else:
                lines.append(f"    v{i} = checked({call})")
        return lines

    def _adjoint_lines(self, names: dict, wanted: list[bool], lines: list[str],
                       terms: dict[int, list]) -> list[str]:
        """The adjoint statements, appended to ``lines``; the adjoint of each entry
        as an expression (``None`` where none arrives). ``terms`` gets, for each
        adjoint, where its contributions come from (``_accumulate``)."""
        tape, shapes = self.tape, self.shapes
        assigned = {tape.output}
        lines.append(f"    d{tape.output} = 1.0")
        for i in range(tape.output, -1, -1):
            arguments = tape.args[i]
            if i not in assigned or not arguments:
                continue
            prim = PRIMITIVES[tape.ops[i]]
            targets = [(k, j) for k, j in enumerate(arguments) if wanted[j]]
            if not targets:
                continue
            if prim.elementwise:
                inputs = ", ".join(f"v{j}" for j in arguments)
                constants = [_constant_partial(prim, k) for k, _ in targets]
                if None in constants:
                    lines.append(f"    k{i} = known(d{i})")
                for (k, j), constant in zip(targets, constants):
                    names[f"p{i}"] = prim
                    names[f"s{j}"] = shapes[j]
                    if constant is not None:
                        # ±1: the interpreter's _times passes δ (or −δ) on, and
                        # unbroadcast sums it; −unbroadcast(δ) is the same bits.
                        sign = "-" if constant < 0 else ""
                        lines.append(f"    t = {sign}{self._unbroadcast(names, i, j)}")
                    else:
                        # The rule's partial itself: where it raises, the
                        # interpreter's _partial makes it inf or NaN, which
                        # the interpreter must report anyway.
                        names[f"q{i}_{k}"] = (prim.array_partials or prim.partials)[k]
                        lines.append(f"    t = edge(d{i}, sa(q{i}_{k}({inputs}, v{i})), "
                                     f"({inputs},), s{j}, k{i})")
                    self._accumulate(lines, assigned, j, "t", terms)
            else:
                names[f"p{i}"] = prim
                names[f"o{i}"] = tape.options[i]
                names[f"w{i}"] = tuple(wanted[j] for j in arguments)
                listed = ", ".join(f"array(v{j})" if not shapes[j] else f"v{j}"
                                   for j in arguments)
                names[f"j{i}"] = prim.vjp
                adjoint = f"d{i}" if prim.name in sweeps.MOVES_ELEMENTS else f"finite(d{i})"
                lines.append(f"    r{i} = given(j{i}({adjoint}, [{listed}], v{i}, o{i}, w{i}), "
                             f"{tuple(k for k, _ in targets)})")
                for k, j in targets:
                    self._accumulate(lines, assigned, j, f"r{i}[{k}]", terms, (i, k))
        return [f"d{i}" if i in assigned else "None" for i in range(len(tape))]

    def _unbroadcast(self, names: dict, i: int, j: int) -> str:
        """Entry ``i``'s adjoint summed to argument ``j``'s shape, as ``unbroadcast``
        sums it: the axes are worked out here, from the shapes."""
        full, shape = self.shapes[i], self.shapes[j]
        if full == shape or not shape:
            return f"unbroadcast(d{i}, s{j})"
        extra = len(full) - len(shape)
        stretched = tuple(k for k, n in enumerate(shape) if n == 1 and full[extra + k] != 1)
        names[f"S{i}"] = full
        return f"summed(d{i}, S{i}, {tuple(range(extra))}, {stretched})"

    def _accumulate(self, lines: list[str], assigned: set, j: int, term: str,
                    terms: dict[int, list], vjp: tuple[int, int] | None = None) -> None:
        terms.setdefault(j, []).append(vjp)
        if not self.shapes[j]:
            term = f"sa({term})"
        if j in assigned:
            lines.append(f"    d{j} = d{j} + {term}")
        else:
            lines.append(f"    d{j} = {term}")
            assigned.add(j)
