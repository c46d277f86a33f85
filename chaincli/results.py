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


def unused_values(point, known, where: str = "the expression") -> list[Notice]:
    """Notices for the names of ``point`` that are not in ``known``."""
    return [Notice("unused-value", f"{name} is not a variable of {where}; its value is "
                   "ignored", variables=(name,)) for name in point if name not in known]


class Evaluation:
    """Everything one evaluation computed on the tape, for explanations.

    The compiled sweeps (``codegen``) hand back only the values; the partials
    (and, in reverse mode, the adjoints) are then computed from them by the
    interpreter when first asked for, with the same results.
    """

    def __init__(self, tape: Tape, values: list[float],
                 partials: list[tuple[float, ...]] | None = None,
                 adjoints: list[float] | None = None, mode: str = "reverse"):
        self.tape = tape
        self.values = values
        self._partials = partials
        self._adjoints = adjoints
        self._mode = mode

    @property
    def partials(self) -> list[tuple[float, ...]]:
        if self._partials is None:
            from .evaluate import local_partials
            self._partials = local_partials(self.tape, self.values)
        return self._partials

    @property
    def adjoints(self) -> list[float] | None:
        """The adjoints of a reverse-mode evaluation; None in forward mode."""
        return self.reverse_adjoints if self._mode == "reverse" else None

    @property
    def reverse_adjoints(self) -> list[float]:
        """The adjoints, swept once when first asked for, whatever the mode
        (a forward-mode answer is explained with them too)."""
        if self._adjoints is None:
            from .reverse import adjoint_sweep
            self._adjoints = adjoint_sweep(self.tape, self.partials)
        return self._adjoints


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
