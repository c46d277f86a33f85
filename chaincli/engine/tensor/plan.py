"""What a tape's tensor sweeps need that depends only on its variables' shapes.

``CompiledExpression`` evaluates one expression at many points of the same
shapes (an optimizer's steps, a loop over batches). The shape of every entry
(the shape pass, with its errors), the entries that reach the output, the
entries each gradient needs, the few entries whose primitive can warn (a
kink, a tie, an ill-conditioned matrix) and, from its second evaluation on
(its eighth for a long tape), the sweeps written out as straight-line Python
(codegen.py) are made once per set of shapes and kept in a ``TensorPlan``;
values never are, so a changed array is always evaluated anew. ``PlanCache``
holds the plans of one compiled expression.
"""

from __future__ import annotations

from . import codegen, sweeps
from ...primitives import PRIMITIVES
from ...tape import Tape, depends_on_variables, reaches_output

# Sets of shapes one compiled expression keeps plans for; past this the
# oldest is dropped (a loop over ragged batches keeps a handful).
MAX_PLANS = 16


class TensorPlan:
    """The shape-only facts of one tape at one set of variable shapes."""

    __slots__ = ("tape", "shapes", "used", "watched", "_depends", "_evaluations", "_compiled")

    def __init__(self, tape: Tape, variable_shapes):
        self.tape = tape
        self.shapes = sweeps.shapes(tape, variable_shapes)  # ShapeError on a mismatch
        self.used = reaches_output(tape)
        # The entries whose primitive can sit on a kink or carry a warning.
        self.watched = [i for i, op in enumerate(tape.ops) if self.used[i]
                        and (PRIMITIVES.get(op) is not None)
                        and (PRIMITIVES[op].kink is not None
                             or PRIMITIVES[op].tensor_notice is not None)]
        self._depends: dict[frozenset, list[bool]] = {}
        self._evaluations = 0
        self._compiled = None

    def compiled(self):
        """The straight-line sweeps (codegen.py) from the ``compile_after``-th
        evaluation at these shapes on, else None."""
        if self._compiled is None:
            self._evaluations += 1
            if self._evaluations < codegen.compile_after(self.tape):
                return None
            self._compiled = codegen.CompiledSweeps(self.tape, self.shapes) \
                if codegen.compilable(self.tape) else False
        return self._compiled or None

    def depends(self, names) -> list[bool]:
        """Which entries depend on one of ``names`` (the entries a gradient by
        them needs adjoints for)."""
        key = frozenset(names)
        found = self._depends.get(key)
        if found is None:
            found = self._depends[key] = depends_on_variables(self.tape, key)
        return found


class PlanCache:
    """The plans of one tape, by the shapes of its variables in order."""

    __slots__ = ("tape", "_plans")

    def __init__(self, tape: Tape):
        self.tape = tape
        self._plans: dict[tuple, TensorPlan] = {}

    def plan(self, point) -> TensorPlan:
        """The plan for a checked point's shapes, made on first sight."""
        key = tuple(sweeps.shape_of(point[name]) for name in self.tape.variables)
        plan = self._plans.get(key)
        if plan is None:
            plan = TensorPlan(self.tape, dict(zip(self.tape.variables, key)))
            if len(self._plans) >= MAX_PLANS:
                del self._plans[next(iter(self._plans))]
            self._plans[key] = plan
        return plan
