"""Chain-rule explanation: the paths behind each partial, and evaluation traces.

Sits between the sweeps and the renderers: it reads what one evaluation
computed (the tape, the values, the local partials, the adjoints) and returns
plain data; nothing here prints. Every number shown is one the sweeps used,
so the explanation cannot disagree with the answer.

Paths. ∂f/∂x is the sum, over every path from the output down to ``x``, of
the product of the local partials along it. A graph with shared nodes can
have exponentially many paths (``u1 = x*x; u2 = u1*u1; …; u30 = u29*u29``
has 2^30), so:

* the number of paths is counted, not enumerated: ``count[j]`` (paths from
  the output to entry ``j``) is an adjoint sweep with every partial 1, in
  exact Python integers;
* paths are listed by a depth-first search that climbs from the variable to
  the output through entries the output depends on (every such climb ends at
  the output, so the search never backtracks out of a dead end), up to
  ``max_paths`` paths and a step budget;
* the search stops with a frontier of partial paths, each from some entry
  ``u`` down to the variable; together they stand for exactly the unlisted
  paths, whose contribution is ``Σ adjoint[u] · (product below u)`` and whose
  number is ``Σ count[u]``. Nothing is enumerated beyond the listed paths.

Traces. ``forward_trace`` is the textbook evaluation trace, each entry with
its value and its tangent, one sweep per seed (one per variable, or one
explicit direction); ``reverse_trace`` is each entry's value and adjoint,
read from the output down, with the local partials it passes on.

Output stays bounded whatever the input: at most ``max_paths`` paths per
variable, long paths shown as their first and last steps, at most
``MAX_VARIABLES`` variables, ``MAX_TRACE_ROWS`` trace rows and
``MAX_SWEEPS`` forward sweeps; what is left out is counted.

The output entry is called ``f``; other entries keep their tape names
(let-bound names, variable names, ``v_i``), and constants print as their
literal (``2``, ``pi``). A local partial prints as the primitive table's
formula on those names, simplified as ``diff`` simplifies (``partial_text``):
``∂v2/∂w = 2*w`` for ``w^2``, as a textbook writes it.
"""

from __future__ import annotations

import math
from functools import lru_cache

from ..base.numbers import format_number
from ..engine.scalar.forward import tangent_sweep
from ..primitives import PRIMITIVES
from ..engine.results import Evaluation, GradientResult
from ..tape import CONST, VAR, Tape, reaches_output
from ..base.record import Frozen
from ..base.zero_rule import times as _times  # 0 · ∞ is 0, as in the sweeps

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Any, Mapping

VIEWS = ("paths", "forward", "reverse", "none")

DEFAULT_MAX_PATHS = 16
# Variables explained path by path; the gradient table still lists them all.
MAX_VARIABLES = 24
# A path of more steps shows its first and last few (the product is over all).
MAX_SHOWN_STEPS = 6
# Search steps per variable once a first path is listed (the first path
# always completes: it costs at most the size of the tape).
STEP_BUDGET = 100_000
# ... and for all variables together: a long sum of many variables would
# otherwise spend the whole per-variable budget on each of them.
TOTAL_STEP_BUDGET = 250_000
# Legend entries, trace rows (first and last half kept) and forward sweeps.
MAX_LEGEND = 60
MAX_TRACE_ROWS = 60
MAX_SWEEPS = 8

# The names the primitive table's formulas use: the arguments a and b, the
# entry's own value out, and δ for the adjoint arriving (in its VJP formulas).
# A name is a whole word of these characters, not after a "." (a number's
# digits) nor before a "(" (a call); δ stands anywhere. Scanned by hand, not
# with a regular expression: every plain grad's explanation comes through here.
_FORMULA_NAMES = ("a", "b", "out")
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def instantiate(formula: str, names: dict[str, str]) -> str:
    """A formula of the primitive table written in the graph's names: each of
    a, b, out and δ that ``names`` maps is replaced in one pass (so swapped
    names cannot collide); the others stay as written."""
    pieces: list[str] = []
    start = i = 0
    end = len(formula)
    while i < end:
        char = formula[i]
        if char == "δ":
            pieces += [formula[start:i], names.get(char, char)]
            i += 1
            start = i
        elif char in _WORD:
            j = i + 1
            while j < end and formula[j] in _WORD:
                j += 1
            word = formula[i:j]
            if (word in _FORMULA_NAMES and (i == 0 or formula[i - 1] != ".")
                    and (j == end or formula[j] != "(")):
                pieces += [formula[start:i], names.get(word, word)]
                start = j
            i = j
        else:
            i += 1
    pieces.append(formula[start:])
    return "".join(pieces)


# An argument of a rule as ``partial_text`` takes it: ("name", text) for an
# entry shown by its name, ("number", value, label) for a constant.
Argument = tuple


def partial_text(op: str, k: int, arguments: tuple[Argument, ...],
                 own: str | None = None) -> str:
    """∂op/∂(argument k) as the primitive table writes it, on ``arguments``,
    simplified as ``diff`` simplifies (``2*w`` rather than ``2*w^(2 - 1)``);
    with ``own``, the primitive's value on these arguments (``tanh(a)`` in
    ``1 - tanh(a)^2``) prints as that name. Every printed rule comes through
    here, and its text evaluates to the partial the sweeps use
    (tests/test_explain.py checks each primitive at random points).

    The table writes each formula as simple as the simplifier makes it
    (tests/test_explain.py checks that too), so on distinct names the names
    put in are the answer: the simplifier, and its imports, run only when a
    constant or a repeated argument may fold (``w^2``, ``x*x``).
    """
    names = [argument[1] for argument in arguments if argument[0] == "name"]
    if own is None and len(names) == len(arguments) == len(set(names)):
        formula = PRIMITIVES[op].partial_formulas[k]
        return instantiate(formula, dict(zip("ab", names)))
    return simplified_partial_text(op, k, arguments, own)


@lru_cache(maxsize=4096)
def simplified_partial_text(op: str, k: int, arguments: tuple[Argument, ...],
                            own: str | None = None) -> str:
    """``partial_text`` by way of the simplifier, whatever the arguments.

    The formula's template tape is rebuilt through the symbolic simplifier
    with ``a`` and ``b`` replaced by the arguments, then printed in one
    line: a piece it uses twice (``sigmoid(a)`` in ``sigmoid(a)*(1 -
    sigmoid(a))``) is written out twice rather than bound to a name.
    """
    from ..printer import binding_names, to_text
    from ..symbolic import FORMULA_ARGUMENTS, ExpressionBuilder, partial_template
    builder = ExpressionBuilder()
    entries = [builder.variable(argument[1]) if argument[0] == "name"
               else builder.constant(argument[1], argument[2]) for argument in arguments]
    value = builder.apply(op, entries) if own is not None else None
    partial = builder.copy(partial_template(op, k), dict(zip(FORMULA_ARGUMENTS, entries)))
    if partial == value:
        return own
    partial = _minus_on_the_left(builder, partial)
    tape = builder.tape
    shown = {value: own} if value is not None and tape.args[value] else {}
    for i in sorted(binding_names(tape, partial)):
        if i not in shown:
            text = to_text(tape, i, verbatim=shown)
            shown[i] = f"({text})" if PRIMITIVES[tape.ops[i]].symbol else text
    return to_text(tape, partial, verbatim=shown)


def _minus_on_the_left(builder, i: int) -> int:
    """``-(x/w^2)`` as a textbook writes it, ``-x/w^2``: the leading minus moved
    onto the leftmost factor of a product or quotient. A sign change is exact
    in every product and quotient, so the value is the same to the last bit."""
    negated = builder.match(i, "neg")
    if not negated:
        return i
    raw = builder.tape_builder
    chain, j = [], negated[0]
    while builder.tape.ops[j] in ("mul", "div"):
        chain.append(j)
        j = builder.tape.args[j][0]
    if not chain:
        return i
    term = raw.operation("neg", (j,), None)
    for j in reversed(chain):
        term = raw.operation(builder.tape.ops[j], (term, builder.tape.args[j][1]), None)
    return term


# ----- Data -----

class Factor(Frozen):
    """One local partial ∂of/∂wrt: its formula in the graph's names and its value."""

    __slots__ = ("of", "wrt", "argument", "repeated", "formula", "value")

    def __init__(self, of: str, wrt: str, argument: int, repeated: bool, formula: str,
                 value: float):
        self.of = of
        self.wrt = wrt
        # Which argument of ``of`` (0-based): x*x has two factors for x.
        self.argument = argument
        self.repeated = repeated  # ``of`` takes ``wrt`` as more than one argument
        self.formula = formula
        self.value = value

    def to_dict(self) -> dict[str, Any]:
        return {"of": self.of, "wrt": self.wrt, "argument": self.argument,
                "formula": self.formula, "value": self.value}


class Path(Frozen):
    """One path from the output down to a variable and the product of its factors.

    A path of more than ``MAX_SHOWN_STEPS`` steps keeps only its first and
    last steps in ``nodes`` and ``factors``; ``omitted_steps`` counts the
    ones in between, which sit after the first ``len(factors) // 2`` factors.
    ``product`` is always over every step.
    """

    __slots__ = ("nodes", "factors", "product", "steps", "omitted_steps")

    def __init__(self, nodes: tuple[str, ...], factors: tuple[Factor, ...], product: float,
                 steps: int, omitted_steps: int = 0):
        self.nodes = nodes
        self.factors = factors
        self.product = product
        self.steps = steps
        self.omitted_steps = omitted_steps

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "factors": [f.to_dict() for f in self.factors],
                "product": self.product, "steps": self.steps,
                "omitted_steps": self.omitted_steps}


class VariableChain(Frozen):
    """The paths from the output to one variable; their sum is the partial."""

    __slots__ = ("variable", "total", "path_count", "paths", "unlisted_contribution")

    def __init__(self, variable: str, total: float, path_count: int, paths: tuple[Path, ...],
                 unlisted_contribution: float):
        self.variable = variable
        self.total = total  # ∂f/∂variable, as the result gives it
        self.path_count = path_count
        self.paths = paths
        # What the paths not listed add up to.
        self.unlisted_contribution = unlisted_contribution

    @property
    def truncated(self) -> bool:
        return len(self.paths) < self.path_count

    @property
    def unlisted_count(self) -> int:
        return self.path_count - len(self.paths)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "path_count": count_for_json(self.path_count),
                "listed": len(self.paths), "truncated": self.truncated,
                "unlisted_contribution": self.unlisted_contribution,
                "paths": [p.to_dict() for p in self.paths]}


class LegendEntry(Frozen):
    """What an intermediate node stands for, one level deep: ``v2 = x*y``."""

    __slots__ = ("node", "definition", "value")

    def __init__(self, node: str, definition: str, value: float):
        self.node = node
        self.definition = definition
        self.value = value

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "definition": self.definition, "value": self.value}


class Chain(Frozen):
    """The chain-rule paths for each variable of a gradient."""

    __slots__ = ("output", "max_paths", "variables", "omitted_variables", "legend",
                 "omitted_legend")

    def __init__(self, output: str, max_paths: int, variables: tuple[VariableChain, ...],
                 omitted_variables: int, legend: tuple[LegendEntry, ...], omitted_legend: int):
        self.output = output
        self.max_paths = max_paths
        self.variables = variables
        self.omitted_variables = omitted_variables
        self.legend = legend
        self.omitted_legend = omitted_legend

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "max_paths": self.max_paths,
                "legend": [entry.to_dict() for entry in self.legend],
                "omitted_legend": self.omitted_legend,
                "variables": {v.variable: v.to_dict() for v in self.variables},
                "omitted_variables": self.omitted_variables}


class TraceRow(Frozen):
    """One tape entry in a trace: its value, its local partials, tangents or adjoint."""

    __slots__ = ("index", "node", "definition", "value", "partials", "tangents", "adjoint")

    def __init__(self, index: int, node: str, definition: str | None, value: float,
                 partials: tuple[Factor, ...], tangents: tuple[float, ...] = (),
                 adjoint: float | None = None):
        self.index = index  # the entry's position on the tape
        self.node = node
        self.definition = definition  # None for an input variable
        self.value = value
        self.partials = partials  # with respect to each argument that is not a constant
        self.tangents = tangents  # forward: one per sweep
        self.adjoint = adjoint  # reverse

    def to_dict(self, kind: str) -> dict[str, Any]:
        data = {"entry": self.index, "node": self.node, "definition": self.definition, "value": self.value,
                "partials": [p.to_dict() for p in self.partials]}
        if kind == "forward":
            data["tangents"] = list(self.tangents)
        else:
            data["adjoint"] = self.adjoint
        return data


class Trace(Frozen):
    """A forward or reverse sweep, row by row, in the order it runs.

    When the tape has more than ``MAX_TRACE_ROWS`` entries, the first and
    last rows are kept and ``omitted_entries`` rows after the first
    ``omitted_after`` are left out.
    """

    __slots__ = ("kind", "rows", "entries", "omitted_after", "seeds", "sweeps", "output")

    def __init__(self, kind: str, rows: tuple[TraceRow, ...], entries: int,
                 omitted_after: int | None = None, seeds: tuple[dict[str, float], ...] = (),
                 sweeps: int = 0, output: str = "f"):
        self.kind = kind  # "forward" or "reverse"
        self.rows = rows
        self.entries = entries
        self.omitted_after = omitted_after
        self.seeds = seeds  # forward: the seed of each sweep shown
        self.sweeps = sweeps  # forward: sweeps the whole computation needs
        self.output = output  # the output's name

    @property
    def omitted_entries(self) -> int:
        return self.entries - len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "entries": self.entries,
                                "omitted_entries": self.omitted_entries,
                                "omitted_after": self.omitted_after}
        if self.kind == "forward":
            data["sweeps"] = self.sweeps
            data["seeds"] = [dict(seed) for seed in self.seeds]
        data["rows"] = [row.to_dict(self.kind) for row in self.rows]
        return data


class Explanation(Frozen):
    """What one ``--explain`` view needs: the chain, a trace, or neither."""

    __slots__ = ("chain", "trace")

    def __init__(self, chain: Chain | None = None, trace: Trace | None = None):
        self.chain = chain
        self.trace = trace

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.chain is not None:
            data["chain"] = self.chain.to_dict()
        if self.trace is not None:
            data["trace"] = self.trace.to_dict()
        return data


def count_for_json(count: int) -> int | str:
    """An exact integer below 2^63; beyond, its magnitude as a string such as ``"1.07e+30102"``."""
    return count if count < 2 ** 63 else approximate_count(count)


def approximate_count(count: int) -> str:
    """A huge integer as ``m.mme+N`` without converting all its digits."""
    shift = max(count.bit_length() - 60, 0)
    exponent10 = math.log10(count >> shift) + shift * math.log10(2.0)
    power = math.floor(exponent10)
    mantissa = 10 ** (exponent10 - power)
    if round(mantissa, 2) >= 10.0:
        mantissa, power = mantissa / 10.0, power + 1
    return f"{mantissa:.2f}e+{power}"


# ----- Names and formulas -----

class Names:
    """How entries are called: ``f`` for the output, tape names, constants as literals."""

    def __init__(self, tape: Tape):
        self.tape = tape
        self.output = tape.output_name()
        self._formulas: dict[tuple[int, int, bool], str] = {}

    def __call__(self, i: int) -> str:
        tape = self.tape
        op = tape.ops[i]
        if op == CONST:
            return tape.labels[i] or format_number(tape.consts[i])
        return tape.name(i)

    def definition(self, i: int) -> str | None:
        """Entry ``i`` as an operation on the names of its arguments (one level).

        None for an input variable, which is defined by the point.
        """
        tape = self.tape
        op = tape.ops[i]
        if op == VAR:
            return None
        if op == CONST:
            return self(i)
        primitive = PRIMITIVES[op]
        args = [self(j) for j in tape.args[i]]
        if primitive.symbol is None:
            return f"{op}({', '.join(args)})"
        if len(args) == 1:
            return primitive.symbol + args[0]
        # Sums are spaced, tighter operators are not: "x + y", "x*y", "x^2".
        loose = primitive.precedence <= PRIMITIVES["add"].precedence
        joiner = f" {primitive.symbol} " if loose else primitive.symbol
        return joiner.join(args)

    def formula(self, i: int, k: int, own: bool = False) -> str:
        """∂v_i/∂(argument k) as the primitive table writes it, in the graph's
        names and simplified; with ``own``, entry i's value in it is its name."""
        key = (i, k, own)
        text = self._formulas.get(key)
        if text is None:
            tape = self.tape
            arguments = tuple(("number", tape.consts[j], tape.labels[j]) if tape.ops[j] == CONST
                              else ("name", self(j)) for j in tape.args[i])
            text = partial_text(tape.ops[i], k, arguments, self(i) if own else None)
            self._formulas[key] = text
        return text

    def factor(self, evaluation: Evaluation, i: int, k: int) -> Factor:
        args = self.tape.args[i]
        return Factor(self(i), self(args[k]), k, args.count(args[k]) > 1,
                      self.formula(i, k), evaluation.partials[i][k])


# ----- Paths -----

def path_counts(tape: Tape) -> list[int]:
    """``count[j]``: the number of paths from the output down to entry ``j``.

    An entry that takes the same argument twice (``x*x``) gives two paths.
    Zero for entries the output does not depend on.
    """
    count = [0] * len(tape)
    count[tape.output] = 1
    args = tape.args
    for i in range(tape.output, -1, -1):
        c = count[i]
        if c:
            for j in args[i]:
                count[j] += c
    return count


def _users(tape: Tape, count: list[int]) -> list[list[tuple[int, int]]]:
    """For each entry, the edges ``(user, argument position)`` from entries the output needs."""
    users: list[list[tuple[int, int]]] = [[] for _ in range(len(tape))]
    for i, inputs in enumerate(tape.args):
        if count[i]:
            for k, j in enumerate(inputs):
                users[j].append((i, k))
    return users


def _path_product(evaluation: Evaluation, edges: list[tuple[int, int]]) -> float:
    product = 1.0
    for i, k in edges:
        product = _times(product, evaluation.partials[i][k])
    return product


def _variable_chain(evaluation: Evaluation, names: Names, variable: str, total: float,
                    count: list[int], users, adjoints: list[float], max_paths: int,
                    shown_indices: set[int], budget: list[int]) -> VariableChain:
    tape = evaluation.tape
    partials = evaluation.partials
    start = tape.variable_index[variable]
    if count[start] == 0:
        return VariableChain(variable, total, 0, (), 0.0)
    # Each stack item is a partial path from entry u down to the variable:
    # (u, product of its factors, its edges as a linked list, topmost first).
    stack: list[tuple[int, float, tuple | None]] = [(start, 1.0, None)]
    listed: list[list[tuple[int, int]]] = []
    steps = 0
    allowed = min(STEP_BUDGET, budget[0])
    while stack and len(listed) < max_paths and (steps < allowed or not listed):
        u, product, link = stack.pop()
        if u == tape.output:
            edges = []
            while link is not None:
                edges.append(link[0])
                link = link[1]
            listed.append(edges)
            continue
        for i, k in reversed(users[u]):
            stack.append((i, _times(product, partials[i][k]), ((i, k), link)))
            steps += 1
    budget[0] = max(0, budget[0] - steps)
    unlisted = 0.0
    for u, product, _ in stack:
        unlisted += _times(adjoints[u], product)  # a zero adjoint passes nothing on
    paths = tuple(_path(evaluation, names, edges, start, shown_indices) for edges in listed)
    return VariableChain(variable, total, count[start], paths, unlisted)


def _path(evaluation: Evaluation, names: Names, edges: list[tuple[int, int]], start: int,
          shown_indices: set[int]) -> Path:
    tape = evaluation.tape
    steps = len(edges)
    if steps > MAX_SHOWN_STEPS:
        head = MAX_SHOWN_STEPS // 2
        shown = edges[:head] + edges[steps - (MAX_SHOWN_STEPS - head):]
    else:
        head, shown = steps, edges
    # Nodes of the shown steps: each step's upper end, plus the lower end of
    # the last step before the gap and of the very last step.
    nodes = []
    for position, (i, k) in enumerate(shown):
        nodes.append(names(i))
        if position == head - 1 and len(shown) < steps:
            nodes.append(names(tape.args[i][k]))
    nodes.append(names(start))
    for i, _ in shown:
        shown_indices.add(i)
        shown_indices.update(tape.args[i])
    return Path(tuple(nodes), tuple(names.factor(evaluation, i, k) for i, k in shown),
                _path_product(evaluation, edges), steps, steps - len(shown))


def chain(result: GradientResult, max_paths: int = DEFAULT_MAX_PATHS) -> Chain:
    """The chain-rule paths for each variable of ``result`` (at most ``MAX_VARIABLES``)."""
    evaluation = _evaluation_of(result)
    tape = evaluation.tape
    names = Names(tape)
    adjoints = evaluation.reverse_adjoints
    count = path_counts(tape)
    users = _users(tape, count)
    wanted = list(result.gradient.items())
    shown_indices: set[int] = set()
    budget = [TOTAL_STEP_BUDGET]
    variables = tuple(
        _variable_chain(evaluation, names, name, total, count, users, adjoints, max_paths,
                        shown_indices, budget)
        for name, total in wanted[:MAX_VARIABLES])
    legend_indices = sorted(i for i in shown_indices if tape.ops[i] not in (VAR, CONST))
    legend = tuple(LegendEntry(names(i), names.definition(i), evaluation.values[i])
                   for i in legend_indices[:MAX_LEGEND])
    return Chain(names.output, max_paths, variables, max(len(wanted) - MAX_VARIABLES, 0),
                 legend, max(len(legend_indices) - MAX_LEGEND, 0))


# ----- Traces -----

def _trace_entries(tape: Tape) -> list[int]:
    """The entries a trace shows: inputs and what the output depends on, no constants."""
    used = reaches_output(tape)
    return [i for i, op in enumerate(tape.ops) if op == VAR or (used[i] and op != CONST)]


def _cut(entries: list[int]) -> tuple[list[int], int | None]:
    if len(entries) <= MAX_TRACE_ROWS:
        return entries, None
    head = MAX_TRACE_ROWS // 2
    return entries[:head] + entries[len(entries) - (MAX_TRACE_ROWS - head):], head


def _row(evaluation: Evaluation, names: Names, i: int, **sweep) -> TraceRow:
    tape = evaluation.tape
    partials = tuple(names.factor(evaluation, i, k) for k, j in enumerate(tape.args[i])
                     if tape.ops[j] != CONST)
    return TraceRow(i, names(i), names.definition(i), evaluation.values[i], partials, **sweep)


def forward_trace(result: GradientResult,
                  direction: Mapping[str, float] | None = None) -> Trace:
    """The forward evaluation trace: value and tangent of every entry.

    Without ``direction``, one sweep per variable of the gradient, each
    seeded with 1 at that variable (at most ``MAX_SWEEPS`` are run); with
    it, the one sweep seeded with that direction (variable → component).
    """
    evaluation = _evaluation_of(result)
    tape = evaluation.tape
    if direction is not None:
        seeds: list[dict[str, float]] = [
            {name: float(value) for name, value in direction.items()
             if name in tape.variable_index}]
        sweeps = 1
    else:
        seeds = [{name: 1.0} for name in list(result.gradient)[:MAX_SWEEPS]]
        sweeps = len(result.gradient)
    tangents = [tangent_sweep(tape, evaluation.partials,
                              {tape.variable_index[name]: value
                               for name, value in seed.items()})
                for seed in seeds]
    names = Names(tape)
    entries = _trace_entries(tape)
    shown, omitted_after = _cut(entries)
    rows = tuple(_row(evaluation, names, i, tangents=tuple(t[i] for t in tangents))
                 for i in shown)
    return Trace("forward", rows, len(entries), omitted_after, tuple(seeds), sweeps,
                 names.output)


def reverse_trace(result: GradientResult) -> Trace:
    """The reverse sweep: value and adjoint of every entry, from the output down."""
    evaluation = _evaluation_of(result)
    tape = evaluation.tape
    adjoints = evaluation.reverse_adjoints
    names = Names(tape)
    entries = _trace_entries(tape)[::-1]
    shown, omitted_after = _cut(entries)
    rows = tuple(_row(evaluation, names, i, adjoint=adjoints[i]) for i in shown)
    return Trace("reverse", rows, len(entries), omitted_after, output=names.output)


# ----- Views -----

def explain(result: GradientResult, view: str = "paths", *,
            max_paths: int = DEFAULT_MAX_PATHS, with_chain: bool = False,
            direction: Mapping[str, float] | None = None) -> Explanation:
    """What the ``--explain`` view shows; ``with_chain`` adds the paths to a trace view."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    if view == "none":
        return Explanation()
    trace = None
    if view == "forward":
        trace = forward_trace(result, direction)
    elif view == "reverse":
        trace = reverse_trace(result)
    paths = chain(result, max_paths) if view == "paths" or with_chain else None
    return Explanation(paths, trace)


def _evaluation_of(result: GradientResult) -> Evaluation:
    if result.evaluation is None:
        raise ValueError("the result carries no evaluation to explain")
    return result.evaluation
