"""Results: plain data handed from the evaluators to the renderers.

Renderers only read these; ``to_dict`` gives the JSON shape (non-finite
numbers are made JSON-safe later, by ``jsonout``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tape import Tape


@dataclass(frozen=True)
class Notice:
    """A warning about the answer: a kink, an infinite derivative, an ignored value."""

    kind: str  # "kink", "nonfinite-derivative" or "unused-value"
    message: str
    node: str | None = None
    expression: str | None = None
    variables: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "node": self.node,
                "expression": self.expression, "variables": list(self.variables)}


@dataclass
class Evaluation:
    """Everything one evaluation computed on the tape, for explanations."""

    tape: Tape
    values: list[float]
    partials: list[tuple[float, ...]]
    adjoints: list[float] | None = None


@dataclass
class ValueResult:
    expression: str
    point: dict[str, float]
    value: float
    warnings: list[Notice] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "point": dict(self.point),
                "value": self.value, "warnings": [w.to_dict() for w in self.warnings]}


@dataclass
class GradientResult:
    expression: str
    point: dict[str, float]
    value: float
    gradient: dict[str, float]
    mode: str
    warnings: list[Notice] = field(default_factory=list)
    evaluation: Evaluation | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "point": dict(self.point),
                "value": self.value, "gradient": dict(self.gradient), "mode": self.mode,
                "warnings": [w.to_dict() for w in self.warnings]}

    @property
    def all_finite(self) -> bool:
        return all(v == v and abs(v) != float("inf") for v in self.gradient.values())
