"""The result of ``minimize``: plain data for the renderers and the fit file.

``to_dict`` gives the JSON shape; a tensor parameter is a nested list there,
with its dimensions under ``shapes`` (``[]`` for a scalar).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..base.errors import ExitStatus
from ..engine.results import Notice

# How each way of stopping ends the process.
EXIT_STATUS = {"converged": ExitStatus.OK, "step-limit": ExitStatus.OK,
               "no-progress": ExitStatus.OK, "diverged": ExitStatus.MATH_ERROR,
               "no-minimum": ExitStatus.MATH_ERROR, "interrupted": ExitStatus.INTERRUPTED}


def plain_value(value: Any) -> Any:
    """A parameter as JSON data: a float, or nested lists of floats."""
    return value.tolist() if hasattr(value, "tolist") else float(value)


@dataclass
class MinimizeResult:
    expression: str
    method: str
    parameters: dict[str, Any]          # name → float, or an array of its shape
    shapes: dict[str, tuple[int, ...]]
    loss: float
    gradient_norm: float
    steps: int
    stopped: str                        # one of EXIT_STATUS's keys
    message: str                        # why it stopped, as a sentence
    evaluations: int = 0
    history: list[tuple[int, float]] = field(default_factory=list, repr=False)  # (step, loss)
    lr: Optional[float] = None
    tol: float = 0.0
    seed: int = 0
    warnings: list[Notice] = field(default_factory=list)
    output: str = "f"  # the loss's name in the header (Tape.output_name)

    @property
    def exit_status(self) -> ExitStatus:
        return EXIT_STATUS[self.stopped]

    def parameter_data(self) -> dict[str, Any]:
        return {name: plain_value(value) for name, value in self.parameters.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "method": self.method, "loss": self.loss,
                "gradient_norm": self.gradient_norm, "steps": self.steps,
                "stopped": self.stopped, "message": self.message,
                "parameters": self.parameter_data(),
                "shapes": {name: list(shape) for name, shape in self.shapes.items()},
                "evaluations": self.evaluations,
                "warnings": [w.to_dict() for w in self.warnings]}
