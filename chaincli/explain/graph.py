"""The computational graph as data: nodes, edges, and the numbers on them.

``build_graph`` reads a tape (and, given a point, the evaluation at it) and
returns a ``Graph``: one node per tape entry the output depends on, in tape
order, and one edge per argument use, from the input to the operation that
uses it. A node is called by its tape name (``f`` for the output, ``v0 … vn``,
or its variable or let-bound name), as in the chain-rule tables. Because the tape
is hash-consed, a shared subexpression is one node with several users.

At a point each node carries its value and its adjoint ∂output/∂node, and
each edge the local partial of its user with respect to that argument: the
numbers the reverse sweep multiplies. The renderers (``render_graph``) and
JSON only read this; nothing here recurses on the depth of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..base.numbers import format_number
from ..primitives import PRIMITIVES
from ..engine.results import Evaluation
from ..tape import CONST, VAR, Tape, reaches_output


@dataclass(frozen=True)
class GraphNode:
    index: int            # position on the tape
    id: str               # tape name: v3, x, or a let-bound name
    op: str               # "var", "const" or a primitive name
    label: str            # what the node does: "x", "2", "pi", "*", "sin"
    name: str | None      # the variable, constant or let-bound name, if any
    value: Any = None     # a float; for a tensor evaluation, a float or an array
    adjoint: Any = None
    shape: tuple[int, ...] | None = None  # known for a tensor evaluation

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "index": self.index, "op": self.op, "label": self.label,
                "name": self.name}
        if self.shape is not None:
            data["shape"] = list(self.shape)
            if self.value is not None:
                data.update(_tensor_numbers("value", self.value))
                data.update(_tensor_numbers("adjoint", self.adjoint))
        elif self.value is not None:
            data["value"] = self.value
            data["adjoint"] = self.adjoint
        return data


def _tensor_numbers(key: str, number) -> dict[str, Any]:
    """A tensor node's value or adjoint for JSON: in full up to the backward
    table's limit, always with its summary (norm, extremes, first entries)."""
    if number is None:  # no adjoint reaches a node that no variable leads to
        return {key: None}
    from .backward import FULL_ADJOINT_LIMIT, summarize
    summary = summarize(number)
    if not summary.shape:
        return {key: float(number)}
    full = number.tolist() if summary.size <= FULL_ADJOINT_LIMIT else None
    return {key: full, f"{key}_summary": summary.to_dict()}


@dataclass(frozen=True)
class GraphEdge:
    source: int           # tape index of the argument
    target: int           # tape index of the operation using it
    position: int         # which argument of the target (0 for the first)
    partial: float | None = None   # ∂target/∂source at the point

    def to_dict(self, graph: "Graph") -> dict[str, Any]:
        data = {"from": graph.node(self.source).id, "to": graph.node(self.target).id,
                "argument": self.position}
        if self.partial is not None:
            data["partial"] = self.partial
        return data


@dataclass
class Graph:
    expression: str
    nodes: list[GraphNode]          # tape order: every input before its users
    edges: list[GraphEdge]          # grouped by target, in argument order
    output: int                     # tape index of the output node
    point: dict[str, float] | None = None
    # At a point: whether every partial ∂output/∂variable is finite (as grad
    # requires for exit 0), so the same point gets the same exit status.
    gradient_finite: bool = True
    _by_index: dict[int, GraphNode] = field(init=False, repr=False)
    _into: dict[int, list[GraphEdge]] = field(init=False, repr=False)

    def __post_init__(self):
        self._by_index = {node.index: node for node in self.nodes}
        self._into = {}
        for edge in self.edges:
            self._into.setdefault(edge.target, []).append(edge)

    def node(self, index: int) -> GraphNode:
        return self._by_index[index]

    def arguments(self, index: int) -> list[GraphEdge]:
        """The edges into node ``index``, in argument order."""
        return self._into.get(index, [])

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"expression": self.expression,
                                "output": self.node(self.output).id}
        if self.point is not None:
            data["point"] = {name: value.tolist() if hasattr(value, "tolist") else value
                             for name, value in self.point.items()}
        data["nodes"] = [node.to_dict() for node in self.nodes]
        data["edges"] = [edge.to_dict(self) for edge in self.edges]
        return data


def operation_label(tape: Tape, i: int) -> str:
    """What entry ``i`` does, in a word or a symbol."""
    op = tape.ops[i]
    if op == VAR:
        return tape.labels[i]
    if op == CONST:
        return tape.labels[i] or format_number(tape.consts[i])
    primitive = PRIMITIVES[op]
    # Binary operators read best as their symbol; unary minus as "neg", so it
    # is not mistaken for a subtraction.
    return primitive.symbol if primitive.symbol and primitive.arity == 2 else op


def build_graph(expression: str, tape: Tape, evaluation: Evaluation | None = None,
                point: dict[str, float] | None = None) -> Graph:
    """The graph of ``tape``; with ``evaluation``, the numbers at its point."""
    used = reaches_output(tape)
    values = evaluation.values if evaluation else None
    adjoints = evaluation.adjoints if evaluation else None
    # A tensor evaluation has shapes and no scalar partials (its local rules
    # are the backward-pass table's); its edges carry no number.
    shapes = getattr(evaluation, "shapes", None)
    partials = evaluation.partials if evaluation and shapes is None else None
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    for i in range(tape.output + 1):
        if not used[i]:
            continue
        nodes.append(GraphNode(
            index=i, id=tape.name(i), op=tape.ops[i], label=operation_label(tape, i),
            name=tape.labels[i],
            value=values[i] if values is not None else None,
            adjoint=adjoints[i] if adjoints is not None else None,
            shape=tuple(shapes[i]) if shapes is not None else None))
        for k, j in enumerate(tape.args[i]):
            edges.append(GraphEdge(j, i, k, partials[i][k] if partials is not None else None))
    return Graph(expression, nodes, edges, tape.output,
                 dict(point) if evaluation is not None and point is not None else None)


def graph_of(program, point: dict[str, float] | None = None) -> tuple[Graph, list]:
    """The graph of a compiled expression, evaluated at ``point`` when one is given.

    Returns the graph and the evaluation's notices (kinks, non-finite partials);
    ``graph.gradient_finite`` says whether the gradient at the point is finite.
    """
    if point is None:
        return build_graph(program.text, program.tape), []
    result = program.gradient(point)
    graph = build_graph(program.text, program.tape, result.evaluation, result.point)
    graph.gradient_finite = result.all_finite
    return graph, list(result.warnings)
