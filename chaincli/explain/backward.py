"""The backward-pass table: the chain-rule explanation of a gradient with tensors.

Sits where ``explain`` sits for scalar expressions: between the sweeps and
the renderers (``render_backward`` draws it, ``to_dict`` is its JSON). It
reads what one tensor evaluation computed (``TensorEvaluation``: the tape,
each entry's value, shape and adjoint) and returns plain data.

One row per node, from the output down, in the order the reverse sweep
visits them (descending tape order), for every node an adjoint arrived at:

* the node's name (``f`` for the output, a let-name, a variable, ``v3``),
  its definition one level deep in node names (``tanh(v4)``), its shape;
* the rule that turns the adjoint arriving at the node into the adjoints of
  its arguments, one line per argument that needs one, as formulas in node
  names. They are printed from the primitive table, never written here: a
  tensor primitive's ``vjp_formulas`` with ``a``, ``b``, ``out`` and ``δ``
  replaced by node names; an elementwise primitive's ``partial_formulas``
  as ``δarg = δnode ⊙ (partial)``, simplified as ``diff`` simplifies
  (``explain.partial_text``: ``2*w``, not ``2*w^(2 - 1)``), where the
  primitive's own value (``tanh(a)``) is the node's name (so ``1 - tanh(a)^2``
  reads ``1 - h^2``), and summed back over broadcast axes where the argument
  was broadcast. A later contribution to the same node is ``+=``;
* a summary of the adjoint arriving (its norm and first entries) and the
  adjoint itself, the very array the sweep computed (JSON carries it in
  full up to ``FULL_ADJOINT_LIMIT`` elements).

A line that adds to the adjoint of a variable of the gradient is marked
with that variable, and the variable's own row carries its whole gradient.

The table is bounded whatever the graph: at most ``MAX_ROWS`` rows (the
first and last half kept, the rest counted), ``MAX_RULE_LINES`` rule lines
per node and ``MAX_DEFINITION_ARGUMENTS`` arguments in a definition (an
array literal of a thousand elements), each with what it left out counted.
Nothing here recurses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .chain import Names, instantiate
from ..primitives import PRIMITIVES
from ..primitives.base import np
from ..tape import CONST, VAR, depends_on_variables, reaches_output
from ..base.shapes import shape_text
from ..primitives.tensor import norm_value

# Rows kept (half from the top, half from the bottom) and what a row may hold.
MAX_ROWS = 60
MAX_RULE_LINES = 8
MAX_DEFINITION_ARGUMENTS = 6
# An adjoint of at most this many elements is shown whole in the table.
SMALL_ADJOINT = 6
# Otherwise its first entries are shown.
FIRST_ENTRIES = 4
# JSON carries an adjoint in full up to this many elements, else a summary.
FULL_ADJOINT_LIMIT = 1000



# ----- Data -----

@dataclass(frozen=True)
class AdjointSummary:
    """An adjoint in a few numbers: shape, size, norm, extremes, first entries."""

    shape: tuple[int, ...]
    size: int
    norm: float
    minimum: float
    maximum: float
    first: tuple[float, ...]  # in row-major order; every entry when the adjoint is small

    @property
    def complete(self) -> bool:
        return len(self.first) == self.size

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "size": self.size, "norm": self.norm,
                "min": self.minimum, "max": self.maximum, "first": list(self.first)}


@dataclass(frozen=True)
class RuleLine:
    """One argument's share of a node's rule: ``δh = transpose(W2) @ δv7``."""

    target: str       # the argument whose adjoint this adds to
    formula: str      # the right-hand side, in node names
    accumulates: bool  # the target already had an adjoint from a row above (+=)
    gradient_of: str | None  # the target is this variable of the gradient

    @property
    def text(self) -> str:
        return f"δ{self.target} {'+=' if self.accumulates else '='} {self.formula}"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "formula": self.formula, "text": self.text,
                "accumulates": self.accumulates, "gradient_of": self.gradient_of}


@dataclass(frozen=True)
class BackwardRow:
    """One node of the reverse sweep, with the adjoint that arrived at it."""

    index: int                 # position on the tape
    node: str
    op: str                    # "var" or a primitive name
    definition: str | None     # None for a variable
    shape: tuple[int, ...]
    rules: tuple[RuleLine, ...]
    omitted_rules: int         # rule lines past MAX_RULE_LINES
    adjoint: Any               # the sweep's own float or array
    summary: AdjointSummary
    gradient_of: str | None    # a variable of the gradient: this is its whole gradient

    def to_dict(self) -> dict[str, Any]:
        full = self.summary.size <= FULL_ADJOINT_LIMIT
        adjoint = None
        if full:
            adjoint = self.adjoint.tolist() if hasattr(self.adjoint, "tolist") \
                else float(self.adjoint)
        return {"entry": self.index, "node": self.node, "op": self.op,
                "definition": self.definition, "shape": list(self.shape),
                "rule": [line.text for line in self.rules],
                "rules": [line.to_dict() for line in self.rules],
                "omitted_rules": self.omitted_rules,
                "adjoint": adjoint, "adjoint_complete": full,
                "adjoint_summary": self.summary.to_dict(),
                "gradient_of": self.gradient_of}


@dataclass(frozen=True)
class BackwardPass:
    """The backward-pass table: the reverse sweep of a tensor program, node by node.

    When more than ``MAX_ROWS`` nodes received an adjoint, ``rows`` keeps the
    first and last ones and ``omitted_rows`` nodes after the first
    ``omitted_after`` rows are left out.
    """

    output: str
    expression: str
    rows: tuple[BackwardRow, ...]
    nodes: int                 # nodes the sweep passed an adjoint to
    omitted_after: int | None
    parameters: tuple[str, ...]  # the variables of the gradient
    no_adjoint: int            # nodes the output needs that no parameter depends on

    @property
    def omitted_rows(self) -> int:
        return self.nodes - len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "backward", "output": self.output,
                "parameters": list(self.parameters),
                "full_adjoint_limit": FULL_ADJOINT_LIMIT,
                "node_count": self.nodes, "omitted_nodes": self.omitted_rows,
                "omitted_after": self.omitted_after, "without_adjoint": self.no_adjoint,
                "nodes": [row.to_dict() for row in self.rows]}


# ----- Summaries -----

def summarize(adjoint) -> AdjointSummary:
    """Norm, extremes and first entries of an adjoint (a float or an array)."""
    if isinstance(adjoint, float) or np.ndim(adjoint) == 0:
        number = float(adjoint)
        return AdjointSummary((), 1, abs(number), number, number, (number,))
    array = np.asarray(adjoint, dtype=float)
    flat = array.reshape(-1)
    shown = flat if flat.size <= SMALL_ADJOINT else flat[:FIRST_ENTRIES]
    return AdjointSummary(tuple(int(n) for n in array.shape), int(flat.size),
                          float(norm_value(flat)), float(flat.min()),
                          float(flat.max()), tuple(float(v) for v in shown))


# ----- Definitions and rules, from the primitive table -----

def definition(names: Names, i: int) -> str | None:
    """Entry ``i`` as an operation on its arguments' names, options included:
    ``tanh(v4)``, ``W1 @ x``, ``sum(v3, 1)``, ``A[1, -1]``, ``[v2, v3]``."""
    tape = names.tape
    op = tape.ops[i]
    if op == VAR:
        return None
    if op == CONST:
        return names(i)
    args = tape.args[i]
    shown = [names(j) for j in args[:MAX_DEFINITION_ARGUMENTS]]
    if len(args) > MAX_DEFINITION_ARGUMENTS:
        shown.append(f"… {len(args) - MAX_DEFINITION_ARGUMENTS} more")
    options = [str(k) for k in tape.options[i]]
    if op == "index":
        return f"{shown[0]}[{', '.join(options)}]"
    if op == "stack":
        return f"[{', '.join(shown)}]"
    primitive = PRIMITIVES[op]
    if primitive.symbol == "@":  # spaced, as a matrix product is written
        return f" {primitive.symbol} ".join(shown)
    if primitive.symbol is not None and not options:
        return names.definition(i)
    return f"{op}({', '.join(shown + options)})"


def _substitute(formula: str, names: dict[str, str], adjoint: str) -> str:
    return instantiate(formula, {**names, "δ": adjoint})


def _atomic(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_.]+(\[[0-9, -]*\])?", text) is not None


def _elementwise_formula(names: Names, i: int, k: int, node_adjoint: str,
                         scalar: bool) -> str:
    """``δnode ⊙ (∂node/∂argument k)``, the partial as the primitive table writes it."""
    # The primitive's own value inside its partial is the node itself.
    partial = names.formula(i, k, own=True)
    if partial == "1":
        return node_adjoint
    if partial == "-1":
        return f"-{node_adjoint}"
    if partial == "0":
        return "0"
    times = "·" if scalar else "⊙"
    return f"{node_adjoint} {times} {partial if _atomic(partial) else f'({partial})'}"


def _unbroadcast_formula(formula: str, node_shape: tuple[int, ...],
                         shape: tuple[int, ...]) -> str:
    """The formula summed back over the axes the argument was broadcast along
    (what ``tensor_sweeps.unbroadcast`` does)."""
    if shape == node_shape:
        return formula
    if not shape:
        return f"sum({formula})"
    extra = len(node_shape) - len(shape)
    if extra == 1 and node_shape[1:] == shape:
        return f"sum({formula}, 0)"
    return f"{formula}, summed to shape {shape_text(shape)}"


def rule_formulas(names: Names, shapes: list[tuple[int, ...]], i: int) -> list[str]:
    """The right-hand side of each argument's adjoint at entry ``i``, from the table."""
    tape = names.tape
    primitive = PRIMITIVES[tape.ops[i]]
    args = tape.args[i]
    node_adjoint = "δ" + names(i)
    if primitive.elementwise:
        return [_unbroadcast_formula(
                    _elementwise_formula(names, i, k, node_adjoint, not shapes[i]),
                    shapes[i], shapes[j])
                for k, j in enumerate(args)]
    formulas = primitive.vjp_formulas(tuple(len(shapes[j]) for j in args))
    arguments = dict(zip(("a", "b"), (names(j) for j in args)))
    arguments["out"] = names(i)
    return [_substitute(formula, arguments, node_adjoint) for formula in formulas]


# ----- The table -----

def backward_pass(result, adjoints: list | None = None) -> BackwardPass:
    """The backward-pass table of a gradient result with a ``TensorEvaluation``.

    The adjoints are the evaluation's own (reverse mode); in forward mode,
    which keeps none, one adjoint sweep computes them as reverse mode would.
    """
    evaluation = result.evaluation
    tape = evaluation.tape
    parameters = tuple(result.gradient)
    if adjoints is None:
        adjoints = evaluation.adjoints
    if adjoints is None:
        from ..engine.tensor.sweeps import adjoint_sweep
        adjoints = adjoint_sweep(tape, evaluation.values, evaluation.shapes,
                                 depends_on_variables(tape, set(parameters)))
    names = Names(tape)
    wanted = set(parameters)
    used = reaches_output(tape)
    order = [i for i in range(tape.output, -1, -1)
             if adjoints[i] is not None and tape.ops[i] != CONST
             and (tape.ops[i] != VAR or tape.labels[i] in wanted)]
    no_adjoint = sum(1 for i in range(tape.output + 1)
                     if used[i] and adjoints[i] is None and tape.ops[i] not in (VAR, CONST))
    shown, omitted_after = _cut(order)
    keep = set(shown)
    # Whether a node has had an adjoint from a row above: walked over every
    # row, kept or not, so += is right after a gap too.
    reached: set[int] = set()
    rows = []
    for i in order:
        lines: list[RuleLine] = []
        omitted = 0
        if tape.ops[i] != VAR:
            formulas = rule_formulas(names, evaluation.shapes, i) if i in keep else None
            for k, j in enumerate(tape.args[i]):
                if adjoints[j] is None or tape.ops[j] == CONST:
                    continue
                accumulates = j in reached
                reached.add(j)
                if formulas is None:
                    continue
                if len(lines) == MAX_RULE_LINES:
                    omitted += 1
                    continue
                label = tape.labels[j] if tape.ops[j] == VAR and tape.labels[j] in wanted \
                    else None
                lines.append(RuleLine(names(j), formulas[k], accumulates, label))
        if i not in keep:
            continue
        adjoint = adjoints[i]
        rows.append(BackwardRow(
            i, names(i), tape.ops[i], definition(names, i), tuple(evaluation.shapes[i]),
            tuple(lines), omitted, adjoint, summarize(adjoint),
            tape.labels[i] if tape.ops[i] == VAR else None))
    return BackwardPass(names.output, result.expression, tuple(rows), len(order),
                        omitted_after, parameters, no_adjoint)


def _cut(entries: list[int]) -> tuple[list[int], int | None]:
    if len(entries) <= MAX_ROWS:
        return entries, None
    head = MAX_ROWS // 2
    return entries[:head] + entries[len(entries) - (MAX_ROWS - head):], head
