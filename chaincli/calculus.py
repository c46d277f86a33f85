"""The library side of ``diff``, ``hessian``, ``jacobian``, ``check`` and ``--direction``.

Each function takes compiled expressions and a point, runs the sweeps or the
symbolic differentiation, and returns a plain result for the renderers. The
CLI (``cli_calculus``) is a thin layer over this module.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from . import evaluate
from .calculus_results import (CheckResult, CheckRow, DerivativeResult, HessianResult,
                               JacobianResult)
from .errors import DomainError, PointError, UsageError, unknown_names
from .forward import directional_derivative as _directional_sweep
from .hessian import forward_over_reverse, symbolic_hessian
from .point import parse_points
from .program import CompiledExpression
from .results import GradientResult, Notice, unused_values
from .symbolic import derivative, simplified

HESSIAN_METHODS = ("ad", "symbolic")

# Central differences with h = cbrt(eps)·max(1, |x|) balance truncation error
# (about h²·f''') against rounding (about eps·|f|/h); both are near 1e-11 for
# values of order one, so 1e-6 leaves room for curvature and larger values.
STEP = float.fromhex("0x1p-52") ** (1.0 / 3.0)
DEFAULT_TOLERANCE = 1e-6

MAX_ORDER = 20


def differentiate(program: CompiledExpression, wrt: str, order: int = 1) -> DerivativeResult:
    """The ``order``-th derivative of ``program`` with respect to ``wrt``, as text."""
    if not 0 <= order <= MAX_ORDER:
        raise UsageError(f"--order must be between 0 and {MAX_ORDER}, not {order}")
    # A variable the expression does not use has derivative 0; a typo is likelier.
    program.require_variables([wrt], "--wrt")
    tape = derivative(program.tape, wrt, order) if order else simplified(program.tape)
    return DerivativeResult(program.text, wrt, order, tape)


def differentiate_steps(program: CompiledExpression, wrt: str, order: int = 1,
                        point: Mapping[str, float] | None = None):
    """``differentiate`` shown step by step (``diff --steps``), with the value at ``point``.

    The value is the sweeps' answer: ``grad``'s partial for the first derivative,
    the forward-over-reverse Hessian's diagonal for the second; other orders
    evaluate the derivative's formula.
    """
    from .derivation import StepsResult, derive, restate
    if not 0 <= order <= MAX_ORDER:
        raise UsageError(f"--order must be between 0 and {MAX_ORDER}, not {order}")
    program.require_variables([wrt], "--wrt")
    derivations = [restate(program.tape, wrt)] if order == 0 else []
    tape = program.tape
    for k in range(1, order + 1):
        derivations.append(derive(tape, wrt, k))
        tape = derivations[-1].tape
    result = StepsResult(program.text, wrt, order, derivations)
    if point is None:
        return result
    if order == 1:
        swept = program.gradient(point)
        value, source = swept.gradient[wrt], "the adjoint sweep, as grad computes it"
    elif order == 2:
        swept = hessian(program, point)
        index = swept.variables.index(wrt)
        value = swept.hessian[index][index]
        source = "forward-over-reverse, as hessian computes it"
    else:
        swept = program.evaluate(point)
        value = evaluate.primal(tape, swept.point)[tape.output] if order else swept.value
        source = "the derivative evaluated" if order else "the expression evaluated"
    result.point, result.value = dict(swept.point), value
    result.value_source = source
    result.warnings = list(swept.warnings)
    if not math.isfinite(value) and not any(w.kind == "nonfinite-derivative"
                                            for w in result.warnings):
        result.warnings.append(Notice("nonfinite-derivative",
                                      "the derivative is not finite at this point"))
    return result


def hessian(program: CompiledExpression, point: Mapping[str, float],
            method: str = "ad") -> HessianResult:
    """Value and Hessian at ``point``, by forward-over-reverse or symbolically."""
    if method not in HESSIAN_METHODS:
        raise UsageError(f"method must be one of {', '.join(HESSIAN_METHODS)}, not {method!r}")
    first = program.gradient(point)
    evaluation = first.evaluation
    variables = program.variables
    if method == "ad":
        matrix = forward_over_reverse(evaluation, variables)
    else:
        matrix = symbolic_hessian(program.tape, first.point, variables)
    warnings = list(first.warnings)
    if not all(math.isfinite(v) for row in matrix for v in row):
        warnings.append(Notice("nonfinite-derivative",
                               "a second derivative is not finite at this point"))
    return HessianResult(program.text, first.point, first.value, variables, matrix, method,
                         warnings)


def jacobian(programs: Sequence[CompiledExpression],
             point: Mapping[str, float]) -> JacobianResult:
    """One row per output, one column per variable of any output."""
    variables = list(dict.fromkeys(v for program in programs for v in program.variables))
    rows, values, warnings = [], [], []
    for program in programs:
        own = {name: point[name] for name in program.variables if name in point}
        result = program.gradient(own)
        rows.append([result.gradient.get(name, 0.0) for name in variables])
        values.append(result.value)
        warnings.extend(result.warnings)
    warnings.extend(unused_values(point, variables, "any expression"))
    used = {name: float(point[name]) for name in variables}
    return JacobianResult([p.text for p in programs], used, values, variables, rows, warnings)


def relative_error(a: float, b: float) -> float:
    """``|a − b| / max(1, |a|, |b|)``: relative for large values, absolute near 0."""
    if a == b:
        return 0.0
    return abs(a - b) / max(1.0, abs(a), abs(b))


def check_gradient(program: CompiledExpression, point: Mapping[str, float],
                   tolerance: float = DEFAULT_TOLERANCE) -> CheckResult:
    """Both AD modes against central finite differences, variable by variable."""
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise UsageError("--tolerance must be a positive number")
    reverse = program.gradient(point, mode="reverse")
    forward = program.gradient(point, mode="forward")
    used = reverse.point
    warnings = list(reverse.warnings)
    if any(w.kind == "kink" for w in warnings):
        warnings.append(Notice("kink", "the point sits on a kink, where finite differences "
                               "do not approximate the derivative; a disagreement there "
                               "is expected"))
    rows = []
    for name in program.variables:
        step = STEP * max(1.0, abs(used[name]))
        numeric = _central_difference(program, used, name, step)
        if math.isnan(numeric):
            warnings.append(Notice("finite-difference", f"{name}: the expression is not "
                                   f"defined at {name} ± {step:.3g}, so there is no finite "
                                   "difference", variables=(name,)))
        r, f = reverse.gradient[name], forward.gradient[name]
        error = max(relative_error(r, numeric), relative_error(f, numeric))
        agree = error <= tolerance and relative_error(r, f) <= tolerance
        rows.append(CheckRow(name, r, f, numeric, step, error, agree))
    return CheckResult(program.text, used, reverse.value, tolerance, rows, warnings)


def _central_difference(program: CompiledExpression, point: dict[str, float], name: str,
                        step: float) -> float:
    up = dict(point, **{name: point[name] + step})
    down = dict(point, **{name: point[name] - step})
    try:
        high = evaluate.primal(program.tape, up)[program.tape.output]
        low = evaluate.primal(program.tape, down)[program.tape.output]
    except DomainError:
        return math.nan
    # Divide by the step actually taken: x + h and x - h are rounded.
    return (high - low) / (up[name] - down[name])


def directional(result: GradientResult, direction: str) -> dict[str, Any]:
    """``{"direction": …, "directional_derivative": ∇f · direction}`` for ``--direction``.

    ``direction`` is written like ``--at`` (``x=1,y=0``); names left out are 0.
    One tangent sweep over the partials ``result`` already computed.
    """
    vector = parse_points([direction], option="--direction")
    tape = result.evaluation.tape
    unknown = [name for name in vector if name not in tape.variable_index]
    if unknown:
        raise unknown_names("--direction", unknown, tape.variables)
    if not vector:
        raise PointError("--direction needs at least one component, such as x=1")
    full = {name: vector.get(name, 0.0) for name in tape.variables}
    value = _directional_sweep(tape, result.evaluation.partials, full)
    return {"direction": full, "directional_derivative": value}
