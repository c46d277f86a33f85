"""Results of the calculus commands: plain data for the renderers.

``diff``, ``hessian``, ``jacobian`` and ``check`` each return one of these;
renderers only read them, and ``to_dict`` gives the JSON shape (non-finite
numbers are made JSON-safe later, by ``jsonout``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..engine.results import Notice
from ..tape import Tape


def _finite(rows: list[list[float]]) -> bool:
    return all(math.isfinite(v) for row in rows for v in row)


@dataclass
class DerivativeResult:
    """A derivative's tape; its text and LaTeX are printed when asked for."""

    expression: str
    wrt: str
    order: int
    tape: Tape = field(repr=False)

    @property
    def text(self) -> str:
        from ..printer import to_text
        return to_text(self.tape)

    @property
    def latex(self) -> str:
        from ..printer import to_latex
        return to_latex(self.tape)

    @property
    def operations(self) -> int:
        from ..symbolic import operation_count
        return operation_count(self.tape)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "wrt": self.wrt, "order": self.order,
                "derivative": self.text, "latex": self.latex,
                "operations": self.operations}


@dataclass
class MatrixDerivativeResult(DerivativeResult):
    """A tensor expression's gradient as a formula, written for these shapes."""

    shape: tuple[int, ...] = ()
    # Each entry's shape, so the LaTeX is in matrix notation (a ⊙ b, a b^⊤).
    entry_shapes: list = field(default_factory=list, repr=False)

    @property
    def latex(self) -> str:
        from ..printer import to_latex
        return to_latex(self.tape, shapes=self.entry_shapes or None)

    @property
    def bindings(self) -> dict[str, str]:
        """Each let-binding the formula prints, by name, as chaincli text."""
        from ..printer import bindings_text
        return dict(bindings_text(self.tape))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "shape": list(self.shape), "bindings": self.bindings}


@dataclass
class HessianResult:
    expression: str
    point: dict[str, float]
    value: float
    variables: list[str]
    hessian: list[list[float]]
    method: str
    warnings: list[Notice] = field(default_factory=list)
    output: str = "f"  # the output's name in the header (Tape.output_name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)  # the fields, in order, are the JSON keys
        del data["output"]
        data["warnings"] = [w.to_dict() for w in self.warnings]  # records, not dataclasses
        return data

    @property
    def all_finite(self) -> bool:
        return _finite(self.hessian)


@dataclass
class JacobianResult:
    outputs: list[str]
    point: dict[str, float]
    values: list[float]
    variables: list[str]
    jacobian: list[list[float]]
    warnings: list[Notice] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)  # the fields, in order, are the JSON keys
        data["warnings"] = [w.to_dict() for w in self.warnings]  # records, not dataclasses
        return data

    @property
    def all_finite(self) -> bool:
        return _finite(self.jacobian)


@dataclass
class CheckRow:
    """One variable: both AD modes, the central difference and how far apart."""

    variable: str
    reverse: float
    forward: float
    numeric: float
    step: float
    error: float
    agree: bool
    # For a tensor variable: the row is its worst element (``variable`` names
    # it, as W[0,1]); ``checked`` of its ``size`` elements were compared.
    checked: int | None = None
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"variable": self.variable, "reverse": self.reverse, "forward": self.forward,
                "numeric": self.numeric, "step": self.step, "relative_error": self.error,
                "agree": self.agree}
        if self.size is not None:
            data.update(elements_checked=self.checked, elements=self.size)
        return data


@dataclass
class CheckResult:
    expression: str
    point: dict[str, float]
    value: float
    tolerance: float
    rows: list[CheckRow]
    warnings: list[Notice] = field(default_factory=list)
    output: str = "f"  # the output's name in the header (Tape.output_name)

    @property
    def agree(self) -> bool:
        return all(row.agree for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "point": dict(self.point),
                "value": self.value, "tolerance": self.tolerance,
                "variables": [row.to_dict() for row in self.rows], "agree": self.agree,
                "warnings": [w.to_dict() for w in self.warnings]}
