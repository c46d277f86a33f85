"""The library entry point: compile text once, evaluate it at many points.

``compile_expression(text)`` (exported as ``chaincli.compile``) runs the
parse and lower stages once and returns a ``CompiledExpression``; its
``value`` and ``gradient`` methods run the sweeps at a point and return
plain results. The CLI is a thin layer over this module.

Arrays are tensors: a point whose values are arrays, or a program with a
tensor operation (``@``, ``sum``, ``[a, b]``), is evaluated by the tensor
sweeps (``tensor_program``), and the gradient of an array variable has its
shape. A batch of independent scalar points is asked for explicitly, with
``batch=True``: each array then holds one value per point, and ``value`` and
``gradient`` hand them to ``batch`` (see that module).

An expression evaluated many times is compiled to straight-line Python
(``codegen``): compiling costs about twenty interpreted sweeps, so the first
``COMPILE_AFTER`` evaluations run the interpreter and a one-shot answer never
pays for it. Whenever the compiled code meets anything unusual (a domain
error, a non-finite partial) the interpreter decides, so results and errors
are the same either way.
"""

from __future__ import annotations

import importlib
import math

from .scalar import evaluate
from ..base.errors import PointError, UsageError, missing_values, unknown_names
from .scalar.forward import forward_gradient
from .results import (MAX_NODE_NOTICES, Evaluation, GradientResult, Notice, ValueResult,
                      unused_values)
from .scalar.reverse import adjoint_sweep
from ..language.parser import parse
from ..tape import Tape, depends_on, depends_on_variables, lower, reaches_output

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Iterable, Mapping

MODES = ("reverse", "forward")

# Evaluations run by the interpreter before the tape is compiled.
COMPILE_AFTER = 8


# Modules imported on first use, by name: scalar work never loads NumPy, and a
# loop of tensor calls does not run an import statement each call (about a
# microsecond each).
_LOADED: dict = {}


def _loaded(name: str):
    """The module ``name`` (relative to this package), imported the first time."""
    module = _LOADED.get(name)
    if module is None:
        module = _LOADED[name] = importlib.import_module(name, __package__)
    return module


class CompiledExpression:
    """A parsed and lowered expression, ready to evaluate at any point."""

    def __init__(self, text: str, tape: Tape):
        self.text = text
        self.tape = tape
        self._evaluations = 0
        self._compiled = None
        self._kink_entries = None
        self._plans = None
        # The batch reverse sweeps written out, by gradient variables (batch/codegen.py).
        self.batch_sweeps: dict = {}
        self.has_tensor_operations = tape.has_tensor_operations

    def _plan(self, used):
        """The tensor sweeps' plan for this checked point's shapes (tensor/plan.py)."""
        if self._plans is None:
            from .tensor.plan import PlanCache
            self._plans = PlanCache(self.tape)
        return self._plans.plan(used)

    def _fast(self):
        """The compiled sweeps from the ``COMPILE_AFTER``-th evaluation on, else None."""
        self._evaluations += 1
        if self._compiled is None and self._evaluations == COMPILE_AFTER:
            from .scalar.codegen import compile_tape
            self._compiled = compile_tape(self.tape) or False
        return self._compiled or None

    @property
    def variables(self) -> list[str]:
        """The free variables, in order of first appearance."""
        return list(self.tape.variables)

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r}, variables={self.variables})"

    def check_point(self, point: Mapping[str, float]) -> tuple[dict[str, float], list[Notice]]:
        """The point restricted to the variables, and notices for ignored names."""
        missing = [name for name in self.tape.variables if name not in point]
        if missing:
            raise missing_values(missing)
        used = {}
        arrays = None
        for name in self.tape.variables:
            value = point[name]
            # float first: the ABC check costs more, and points can be large.
            if type(value) is not float:
                if hasattr(value, "dtype"):
                    # A NumPy array or number, checked as --at values are, all
                    # of them at once below; ``used`` keeps the variables' order.
                    used[name] = None
                    arrays = arrays or {}
                    arrays[name] = value
                    continue
                if isinstance(value, bool):
                    raise PointError(f"the value of {name} must be a number, not {value!r}")
                import numbers  # the abstract numbers: not for plain floats
                if not isinstance(value, numbers.Real):
                    # An array (a tensor), checked as --at values are.
                    from .values import normalize_value
                    used[name] = normalize_value(name, value)
                    continue
            value = float(value)
            if not math.isfinite(value):
                raise PointError(f"the value of {name} must be a finite number")
            used[name] = value
        if arrays:
            used.update(_loaded(".values").normalize_arrays(arrays))
        return used, unused_values(point, self.tape.variable_index)

    def is_tensor_point(self, used: Mapping[str, object]) -> bool:
        """Whether this checked point is evaluated by the tensor sweeps."""
        return self.has_tensor_operations or any(type(v) is not float for v in used.values())

    def shapes(self, point: Mapping[str, object]) -> dict[str, tuple[int, ...]]:
        """The shape of each variable at ``point`` (``()`` for a scalar), after
        checking that the expression can take them."""
        used, _ = self.check_point(point)
        if self.is_tensor_point(used):
            self._plan(used)  # the shape pass, whose errors say what does not fit
        return {name: tuple(getattr(value, "shape", ())) for name, value in used.items()}

    def value(self, point: Mapping[str, float] | None = None, *, batch: bool = False):
        """The value of the expression at ``point``: a float, or an array for a
        tensor-valued expression (or, with ``batch=True``, one value per point)."""
        if batch:
            return self._batch_module().value(self, point)
        used, _ = self.check_point(point or {})
        return self._value(used)

    def checked_value(self, point: Mapping[str, object]):
        """``value`` at a point ``check_point`` has accepted already, as for
        ``checked_gradient``: nothing is checked again."""
        return self._value({name: point[name] for name in self.tape.variables})

    def _value(self, used):
        if self.is_tensor_point(used):
            tensor_program = _loaded(".tensor.program")
            return tensor_program.value(self.tape, used, self._plan(used))
        fast = self._fast()
        if fast is not None:
            result = fast.value(list(used.values()))
            if result is not None:
                return result
        return evaluate.primal(self.tape, used)[self.tape.output]

    def evaluate(self, point: Mapping[str, float] | None = None) -> ValueResult:
        """The value with its notices, for the CLI."""
        used, notices = self.check_point(point or {})
        if self.is_tensor_point(used):
            tensor_program = _loaded(".tensor.program")
            value = tensor_program.value(self.tape, used, self._plan(used))
        else:
            value = evaluate.primal(self.tape, used)[self.tape.output]
        return ValueResult(self.text, used, value, notices, self.tape.output_name())

    def gradient(self, point: Mapping[str, float] | None = None, *,
                 mode: str = "reverse", wrt: Iterable[str] | None = None,
                 batch: bool = False) -> GradientResult:
        """Value and gradient at ``point`` by reverse (default) or forward mode.

        The gradient of an array variable is an array of its shape; the output
        must be a scalar. With ``batch=True`` each array in ``point`` holds one
        value per point: the value and each partial are then arrays, and an
        element outside the domain is NaN instead of an error.
        """
        if mode not in MODES:
            raise PointError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if batch:
            return self._batch_module().gradient(self, point, mode, self._wrt(wrt))
        used, notices = self.check_point(point or {})
        return self._gradient(used, notices, self._wrt(wrt), mode)

    def checked_gradient(self, point: Mapping[str, object], wrt: list[str]) -> GradientResult:
        """``gradient`` in reverse mode at a point whose values ``check_point`` has
        accepted already and which cannot have changed since (an optimizer's
        fixed data, checked once and kept read-only; its parameters, checked
        each step as one vector): nothing is checked again."""
        used = {name: point[name] for name in self.tape.variables}
        return self._gradient(used, [], wrt, "reverse")

    def _gradient(self, used, notices, names, mode) -> GradientResult:
        tape = self.tape
        if self.is_tensor_point(used):
            tensor_program = _loaded(".tensor.program")
            value, gradient, evaluation, more = tensor_program.gradient(
                tape, used, names, mode, self.text, self._plan(used))
            return GradientResult(self.text, used, value, gradient, mode, notices + more,
                                  evaluation)
        fast = self._fast() if mode == "reverse" else None
        swept = fast.gradient(list(used.values())) if fast is not None else None
        if swept is not None:
            values, variable_adjoints = swept
            adjoint_of = dict(zip(tape.variables, variable_adjoints))
            gradient = {name: adjoint_of[name] for name in names}
            evaluation = Evaluation(tape, list(values), None, None, mode=mode)
        else:
            values = evaluate.primal(tape, used)
            partials = evaluate.local_partials(tape, values)
            adjoints = None
            if mode == "reverse":
                adjoints = adjoint_sweep(tape, partials)
                gradient = {name: adjoints[tape.variable_index[name]] for name in names}
            else:
                gradient = forward_gradient(tape, partials, names)
            evaluation = Evaluation(tape, values, partials, adjoints, mode=mode)
        if self._kink_entries is None:
            self._kink_entries = evaluate.kink_entries(tape)
        notices.extend(_kink_notices(evaluation, names, self._kink_entries))
        notices.extend(_nonfinite_notices(evaluation, gradient))
        if swept is None:
            # The compiled sweep hands back every point with a non-finite
            # partial, so only the interpreter's answers can have absorbed one.
            notices.extend(_absorbed_notices(evaluation, gradient))
        return GradientResult(self.text, used, values[tape.output], gradient, mode,
                              notices, evaluation)

    def require_scalars(self, point: Mapping[str, object], what: str) -> None:
        """A ``UsageError`` when ``what`` (a command, an option) meets a tensor: a
        tensor operation in the expression, or an array among ``point``'s values."""
        if self.has_tensor_operations:
            raise UsageError(f"{what} takes scalar expressions; this one has tensor "
                             "operations", hint="chaincli grad and eval take tensors")
        arrays = [name for name, value in point.items() if getattr(value, "ndim", 0)]
        if arrays:
            raise UsageError(f"{what} takes scalar values; {', '.join(arrays)} "
                             f"{'is an array' if len(arrays) == 1 else 'are arrays'}",
                             hint="chaincli grad and eval take tensors")

    def _batch_module(self):
        if self.has_tensor_operations:
            raise UsageError("a batch evaluates a scalar expression at many points; this "
                             "one has tensor operations")
        from .batch import program as batch_program
        return batch_program

    def _wrt(self, wrt: Iterable[str] | None) -> list[str]:
        if wrt is None:
            return list(self.tape.variables)
        names = list(dict.fromkeys(wrt))
        self.require_variables(names, "wrt")
        return names

    def require_variables(self, names: Iterable[str], option: str) -> None:
        """A ``PointError`` naming the parameter ``option`` (``"wrt"``) when a name is
        not a variable here."""
        unknown = [name for name in names if name not in self.tape.variable_index]
        if unknown:
            raise unknown_names(option, unknown, self.tape.variables)


def compile_expression(text: str) -> CompiledExpression:
    """Parse and lower ``text`` once; evaluate the result at many points."""
    return CompiledExpression(text, lower(parse(text)))


def _kink_notices(evaluation: Evaluation, wrt: list[str], entries=None) -> list[Notice]:
    tape = evaluation.tape
    found = evaluate.kinks(tape, evaluation.values, entries)
    if not found:
        return []
    used = reaches_output(evaluation.tape)
    wanted = set(wrt)
    notices = []
    skipped = 0
    for index, message in found:
        if not used[index]:
            continue
        variables = tuple(v for v in depends_on(tape, index) if v in wanted)
        if not variables:
            continue
        if len(notices) == MAX_NODE_NOTICES:
            skipped += 1
            continue
        text = tape.source_text(index)
        notices.append(Notice("kink", f"{text}: {message}", tape.name(index), text, variables))
    if skipped:
        notices.append(Notice("kink", f"{skipped} more nodes sit on a kink"))
    return notices


def _nonfinite_notices(evaluation: Evaluation, gradient: dict[str, float]) -> list[Notice]:
    bad = [name for name, value in gradient.items() if not math.isfinite(value)]
    if not bad:
        return []
    adjoints = evaluation.reverse_adjoints
    # Nodes with a non-zero adjoint first; when the adjoints cancelled (forward
    # mode met the inf or NaN that reverse mode's 0·∞ = 0 passed over), any
    # node the output depends on, so a non-finite answer never goes unexplained.
    notices = (_name_nonfinite_partials(evaluation, bad, [a != 0.0 for a in adjoints])
               or _name_nonfinite_partials(evaluation, bad, reaches_output(evaluation.tape)))
    explained = {name for notice in notices for name in notice.variables}
    # Every local partial finite, and still no finite answer: the products
    # along the chain (or their sum) left the doubles.
    return notices + [Notice("nonfinite-derivative", f"the partial derivative by {name} is not "
                             "finite: each local derivative on its paths is finite, but "
                             "their product overflows a double", variables=(name,))
                      for name in bad if name not in explained]


def _name_nonfinite_partials(evaluation: Evaluation, bad: list[str],
                             relevant: list[bool]) -> list[Notice]:
    tape = evaluation.tape
    notices = []
    for i in range(len(tape)):
        if not relevant[i] or len(notices) == MAX_NODE_NOTICES:
            continue
        for k, partial in enumerate(evaluation.partials[i]):
            if math.isfinite(partial):
                continue
            variables = tuple(v for v in depends_on(tape, tape.args[i][k]) if v in bad)
            if not variables:
                continue
            notices.append(_partial_notice(evaluation, i, k, variables,
                                           ", so the gradient is not finite there"))
            break
    return notices


def _partial_notice(evaluation: Evaluation, i: int, k: int, variables: tuple[str, ...],
                    consequence: str) -> Notice:
    """A notice that entry ``i``'s partial by its argument ``k`` is not finite."""
    tape = evaluation.tape
    arg = tape.args[i][k]
    kind = "infinite" if math.isinf(evaluation.partials[i][k]) else "undefined (NaN)"
    text = tape.source_text(i)
    arg_text = tape.source_text(arg, limit=40) or tape.name(arg)
    value = evaluate.format_number(evaluation.values[arg])
    return Notice("nonfinite-derivative",
                  f"{text}: its derivative with respect to {arg_text} is {kind} at "
                  f"{arg_text} = {value}{consequence}", tape.name(i), text, variables)


def _absorbed_notices(evaluation: Evaluation, gradient: dict[str, float]) -> list[Notice]:
    """Infinite or NaN partials on a path to a finite partial of the gradient.

    The sweeps take 0·∞ as 0 (forward.py, reverse.py), so such a partial met a
    zero factor: the gradient is finite by that convention (``sqrt(x^2)`` at
    0 is a kink of ``|x|``; ``0*sqrt(x)`` at 0 is exact), and the user is told.
    """
    finite = {name for name, value in gradient.items() if math.isfinite(value)}
    partials = evaluation.partials
    candidates = [(i, k) for i, row in enumerate(partials) for k, partial in enumerate(row)
                  if not math.isfinite(partial)]
    if not finite or not candidates:
        return []
    tape = evaluation.tape
    used = reaches_output(evaluation.tape)
    # reaches[i]: entry i depends on a variable whose partial came out finite.
    reaches = depends_on_variables(tape, finite)
    notices = []
    for i, k in candidates:
        arg = tape.args[i][k]
        if not used[i] or not reaches[arg]:
            continue
        if len(notices) == MAX_NODE_NOTICES:
            break
        variables = tuple(v for v in depends_on(tape, arg) if v in finite)
        notices.append(_partial_notice(
            evaluation, i, k, variables,
            "; it meets a zero factor in the chain rule and counts as 0 there (0·∞ = 0)"))
    return notices
