"""Results: plain data handed from the evaluators to the renderers.

Renderers only read these; ``to_dict`` gives the JSON shape (non-finite
numbers are made JSON-safe later, by ``jsonout``).

A value, a point's value or a partial is a float, or for a tensor a NumPy
array (a partial has its variable's shape). ``has_tensors`` tells the two
kinds of result apart without importing NumPy; ``to_dict`` writes an array
as nested lists and adds a ``shapes`` object only when a result holds one,
so the JSON of a scalar result is what it always was.
"""

from __future__ import annotations

from ..base.finite import all_finite_array
from ..base.record import Frozen, Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Any

    from ..tape import Tape


# Kink and non-finite-derivative warnings name at most this many nodes, scalar
# and tensor alike; the rest are counted.
MAX_NODE_NOTICES = 10


class Notice(Frozen):
    """A warning about the answer: a kink, an infinite derivative, an ignored value.

    ``kind`` is "kink", "ill-conditioned", "nonfinite-derivative" or "unused-value"."""

    __slots__ = ("kind", "message", "node", "expression", "variables")

    def __init__(self, kind: str, message: str, node: str | None = None,
                 expression: str | None = None, variables: tuple[str, ...] = ()):
        self.kind = kind
        self.message = message
        self.node = node
        self.expression = expression
        self.variables = variables

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
            from .scalar.evaluate import local_partials
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
            from .scalar.reverse import adjoint_sweep
            self._adjoints = adjoint_sweep(self.tape, self.partials)
        return self._adjoints


class TensorEvaluation:
    """What one evaluation computed on the tape: values, shapes and adjoints by entry."""

    def __init__(self, tape: Tape, values: list, shapes: list[tuple[int, ...]],
                 adjoints: list | None):
        self.tape = tape
        self.values = values
        self.shapes = shapes
        self.adjoints = adjoints


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is an array with at least one axis (not a number)."""
    return getattr(value, "ndim", 0) > 0


def has_tensors(result: Any) -> bool:
    """Whether ``result`` came from the tensor sweeps, or a value, a point value or
    a partial of it is a tensor (``sum([x, 2*x])`` has only scalars in and out)."""
    if isinstance(getattr(result, "evaluation", None), TensorEvaluation):
        return True
    if is_tensor(result.value) or any(map(is_tensor, result.point.values())):
        return True
    return any(map(is_tensor, (getattr(result, "gradient", None) or {}).values()))


def shape_of(value: Any) -> list[int]:
    """A value's dimensions as JSON writes them: ``[]`` for a scalar."""
    return [int(size) for size in getattr(value, "shape", ())]


def plain_data(value: Any) -> Any:
    """A value as JSON data: an array as nested lists, a number as a float."""
    if is_tensor(value):
        return value.tolist()
    return float(value) if hasattr(value, "dtype") else value


def _shapes(*mappings: dict[str, Any]) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}
    for mapping in mappings:
        for name, value in mapping.items():
            shapes.setdefault(name, shape_of(value))
    return shapes


def _all_finite(values) -> bool:
    for value in values:
        if is_tensor(value):
            import numpy as np
            if not all_finite_array(np, np.asarray(value)):
                return False
        elif not (value == value and abs(value) != float("inf")):
            return False
    return True


class ValueResult(Record):
    """An expression's value at a point. ``output`` is the output's name
    (``Tape.output_name``: ``f_`` when the user bound ``f``)."""

    __slots__ = ("expression", "point", "value", "warnings", "output")

    def __init__(self, expression: str, point: dict[str, Any], value: Any,
                 warnings: list[Notice] | None = None, output: str = "f"):
        self.expression = expression
        self.point = point
        self.value = value
        self.warnings = [] if warnings is None else warnings
        self.output = output

    def to_dict(self) -> dict[str, Any]:
        if not has_tensors(self):
            return {"expression": self.expression, "point": dict(self.point),
                    "value": self.value, "warnings": [w.to_dict() for w in self.warnings]}
        return {"expression": self.expression,
                "point": {name: plain_data(value) for name, value in self.point.items()},
                "value": plain_data(self.value), "shape": shape_of(self.value),
                "shapes": _shapes(self.point),
                "warnings": [w.to_dict() for w in self.warnings]}


class GradientResult(Record):
    """An expression's value and gradient at a point; ``evaluation`` is what
    the sweeps computed, for explanations (not part of its repr or ``==``).
    A partial that is not finite (in some element) always has a
    ``nonfinite-derivative`` notice in ``warnings`` naming its variable (one
    also tells of an infinite partial that 0·∞ = 0 absorbed): a gradient
    without such a notice is finite."""

    _fields = ("expression", "point", "value", "gradient", "mode", "warnings")
    __slots__ = (*_fields, "evaluation")

    def __init__(self, expression: str, point: dict[str, Any], value: Any,
                 gradient: dict[str, Any], mode: str, warnings: list[Notice] | None = None,
                 evaluation: Evaluation | None = None):
        self.expression = expression
        self.point = point
        self.value = value
        self.gradient = gradient
        self.mode = mode
        self.warnings = [] if warnings is None else warnings
        self.evaluation = evaluation

    def to_dict(self) -> dict[str, Any]:
        if not has_tensors(self):
            return {"expression": self.expression, "point": dict(self.point),
                    "value": self.value, "gradient": dict(self.gradient), "mode": self.mode,
                    "warnings": [w.to_dict() for w in self.warnings]}
        return {"expression": self.expression,
                "point": {name: plain_data(value) for name, value in self.point.items()},
                "value": plain_data(self.value),
                "gradient": {name: plain_data(value) for name, value in self.gradient.items()},
                "shapes": _shapes(self.point, self.gradient), "mode": self.mode,
                "warnings": [w.to_dict() for w in self.warnings]}

    @property
    def all_finite(self) -> bool:
        return _all_finite(self.gradient.values())
