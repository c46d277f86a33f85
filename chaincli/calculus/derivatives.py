"""The library side of ``diff``, ``hessian``, ``jacobian``, ``check`` and ``--direction``.

Each function takes compiled expressions and a point, runs the sweeps or the
symbolic differentiation, and returns a plain result for the renderers. The
CLI (``cli_calculus``) is a thin layer over this module.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..engine.scalar import evaluate
from ..engine.tensor import program as tensor_program
from .results import (CheckResult, CheckRow, DerivativeResult, HessianResult, JacobianResult,
                      MatrixDerivativeResult)
from ..primitives.base import np
from ..base.errors import DomainError, Phrase, PointError, UsageError, unknown_names
from ..base.text import is_name
from ..base.shapes import element_name, element_text, shape_text, size as _size
from ..engine.scalar.forward import directional_derivative as _directional_sweep
from ..engine.hessian import forward_over_reverse, symbolic_hessian
from ..io.point import parse_points
from ..engine.program import CompiledExpression
from ..engine.results import GradientResult, Notice, TensorEvaluation, unused_values
from ..symbolic import derivative, simplified

HESSIAN_METHODS = ("ad", "symbolic")

# Central differences with h = cbrt(eps)·max(1, |x|) balance truncation error
# (about h²·f''') against rounding (about eps·|f|/h); both are near 1e-11 for
# values of order one, so 1e-6 leaves room for curvature and larger values.
STEP = float.fromhex("0x1p-52") ** (1.0 / 3.0)
DEFAULT_TOLERANCE = 1e-6
EPSILON = float.fromhex("0x1p-52")
# The tensor check widens its tolerance by the rounding error of the finite
# difference (a sum of 10⁶ terms is rounded well past 1e-6 of each); past this
# relative error the difference holds too few digits to check anything.
MAX_ROUNDING = 1e-2

MAX_ORDER = 20


# A Hessian or Jacobian of tensor variables is refused past this many entries.
MAX_MATRIX_ENTRIES = 1_000_000

# check compares at most this many elements of each tensor variable with
# finite differences, drawn at random with a fixed seed; smaller ones whole.
CHECK_SAMPLE = 200


def differentiate(program: CompiledExpression, wrt: str, order: int = 1,
                  point=None) -> DerivativeResult:
    """The ``order``-th derivative of ``program`` with respect to ``wrt``, as text.

    A tensor expression (a tensor operation, or a tensor value in ``point``)
    gets its gradient as a matrix formula written for the shapes ``point``
    gives (``matrix_formula``)."""
    if not 0 <= order <= MAX_ORDER:
        raise UsageError(Phrase("{order} must be between 0 and {most}, not {given}",
                                most=MAX_ORDER, given=order))
    # A variable the expression does not use has derivative 0; a typo is likelier.
    program.require_variables([wrt], "wrt")
    used = program.check_point(point)[0] if point is not None else None
    if program.has_tensor_operations or (used is not None and program.is_tensor_point(used)):
        return _matrix_derivative(program, wrt, order, used)
    if point is not None:
        raise UsageError("--at gives the value at a point with --steps, or the shapes of a "
                         "tensor expression's variables; for the value alone use grad")
    tape = derivative(program.tape, wrt, order) if order else simplified(program.tape)
    return DerivativeResult(program.text, wrt, order, tape)


def _matrix_derivative(program: CompiledExpression, wrt: str, order: int,
                       used) -> MatrixDerivativeResult:
    from .matrix_formula import (formula_shapes, gradient_formula, hessian_formula,
                                 variable_shapes_of)
    if used is None:
        raise UsageError("the gradient formula of a tensor expression is written for its "
                         "variables' shapes; give them with --at, as for grad",
                         hint='chaincli diff "sum((X@w - y)^2)" --wrt w --at @data.npz')
    if order not in (1, 2):
        raise UsageError(Phrase("a tensor expression's derivative is written as a formula "
                                "for {order} 1 (the gradient) or 2 (the Hessian of a vector "
                                "variable), not {given}", given=order),
                         hint="chaincli hessian computes the Hessian at a point")
    shapes = tensor_program.shapes_at(program.tape, used)
    output_shape = shapes[program.tape.output]
    if output_shape:
        raise UsageError(f"the gradient formula needs a scalar output; this one has shape "
                         f"{shape_text(output_shape)}",
                         hint="sum(...) or mean(...) makes a scalar of it")
    shape = tuple(shapes[program.tape.variable_index[wrt]])
    if order == 2:
        tape = hessian_formula(program.tape, shapes, wrt)
        shape = shape + shape
    else:
        tape = gradient_formula(program.tape, shapes, wrt)
    return MatrixDerivativeResult(program.text, wrt, order, tape, shape,
                                  formula_shapes(tape, variable_shapes_of(program.tape, shapes)))


def _backprop_steps(program: CompiledExpression, wrt: str, order: int, used):
    """``diff --steps`` of a tensor expression: the backprop lines (``backprop_steps``)."""
    from .backprop_steps import backprop_steps
    if order != 1:
        raise UsageError(Phrase("diff --steps of a tensor expression derives its gradient, "
                                "{order} 1, not {given}", given=order),
                         hint="chaincli diff --order 2 without --steps writes the Hessian "
                              "of a vector variable as a matrix formula")
    if used is None:
        raise UsageError("the steps of a tensor expression are written for its variables' "
                         "shapes; give them with --at, as for grad",
                         hint='chaincli diff "sum((X@w - y)^2)" --wrt w --steps --at @data.npz')
    shapes = tensor_program.shapes_at(program.tape, used)
    if shapes[program.tape.output]:
        raise UsageError(f"the gradient formula needs a scalar output; this one has shape "
                         f"{shape_text(shapes[program.tape.output])}",
                         hint="sum(...) or mean(...) makes a scalar of it")
    return backprop_steps(program.tape, shapes, wrt, program.text)


def differentiate_steps(program: CompiledExpression, wrt: str, order: int = 1,
                        point: Mapping[str, float] | None = None):
    """``differentiate`` shown step by step (``diff --steps``), with the value at ``point``.

    The value is the sweeps' answer: ``grad``'s partial for the first derivative,
    the forward-over-reverse Hessian's diagonal for the second; other orders
    evaluate the derivative's formula.
    """
    from ..explain.derivation import StepsResult, derive, restate
    if not 0 <= order <= MAX_ORDER:
        raise UsageError(Phrase("{order} must be between 0 and {most}, not {given}",
                                most=MAX_ORDER, given=order))
    program.require_variables([wrt], "wrt")
    used = program.check_point(point)[0] if point is not None else None
    if program.has_tensor_operations or (used is not None and program.is_tensor_point(used)):
        return _backprop_steps(program, wrt, order, used)
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
            method: str = "ad", wrt: Sequence[str] | None = None) -> HessianResult:
    """Value and Hessian at ``point``, by forward-over-reverse or symbolically;
    with ``wrt`` (as ``--wrt``: variables, elements) only those rows and columns."""
    if method not in HESSIAN_METHODS:
        raise UsageError(f"method must be one of {', '.join(HESSIAN_METHODS)}, not {method!r}")
    used, ignored = program.check_point(point)
    chosen = _columns(_selection(wrt, _variable_shapes(used)))
    output = program.tape.output_name()  # the expansion's tape has lost the user's names
    if program.is_tensor_point(used):
        # The expansion's point names only the elements: the notices for names
        # that are not variables come from the point as given.
        program, point = _element_program(program, used, chosen)
    else:
        ignored = []
    variables = program.variables if chosen is None else chosen
    first = program.gradient(point, wrt=variables)
    evaluation = first.evaluation
    if method == "ad":
        matrix = forward_over_reverse(evaluation, variables)
    else:
        matrix = symbolic_hessian(program.tape, first.point, variables)
    warnings = ignored + list(first.warnings)
    if not all(math.isfinite(v) for row in matrix for v in row):
        warnings.append(Notice("nonfinite-derivative",
                               "a second derivative is not finite at this point"))
    return HessianResult(program.text, first.point, first.value, variables, matrix, method,
                         warnings, output)


def _element_program(program: CompiledExpression, used, chosen=None):
    """The program expanded element by element (scalarize), with its point: every
    element of a tensor variable is then a variable of its own (``W[0,1]``).
    ``chosen``: the Hessian's variables, when not all of them."""
    from ..engine.tensor.scalarize import scalarize
    shapes = tensor_program.shapes_at(program.tape, used)
    output_shape = shapes[program.tape.output]
    if output_shape:
        raise UsageError(f"the Hessian needs a scalar output; this one has shape "
                         f"{output_shape}", hint="sum(...) or mean(...) makes a scalar of it")
    size = sum(_size(shapes[program.tape.variable_index[name]]) for name in program.variables) \
        if chosen is None else len(chosen)
    if size * size > MAX_MATRIX_ENTRIES:
        raise UsageError(f"the Hessian of {size:,} variables would have {size * size:,} "
                         f"entries, more than {MAX_MATRIX_ENTRIES:,}")
    tape, point = scalarize(program.tape, shapes, used)
    return CompiledExpression(program.text, tape), point


def _variable_shapes(used) -> dict[str, tuple]:
    return {name: tuple(getattr(value, "shape", ())) for name, value in used.items()}


def _selection(wrt: Sequence[str] | None, shapes: Mapping[str, tuple]):
    """What ``--wrt`` picks among the variables of ``shapes`` (name → shape):
    ``[(variable, [element index, ...]), ...]`` in the order given. A variable
    named brings every element (``[()]`` for a number), ``W[0,1]`` that one
    element alone. None without ``wrt``: every variable."""
    if wrt is None:
        return None
    from ..explain.tensor import resolve_elements, split_wrt
    wrt = list(wrt)
    if not wrt:
        raise UsageError(Phrase("{wrt} needs at least one variable name"))
    variables, _ = split_wrt(wrt)
    unknown = [name for name in variables if name not in shapes]
    if unknown:
        raise unknown_names("wrt", unknown, list(shapes))
    picked: dict[str, list | None] = {}  # None: the whole variable
    for entry in wrt:
        (name,), elements = split_wrt([entry])
        if not elements:
            picked[name] = None
            continue
        resolve_elements(elements, shapes)  # refuses an index that is not there
        if name in picked and picked[name] is None:
            continue
        index = tuple(k % size for k, size in zip(elements[0][1], shapes[name]))
        indices = picked.setdefault(name, [])
        if index not in indices:
            indices.append(index)
    return [(name, list(np.ndindex(*shapes[name])) if indices is None else indices)
            for name, indices in picked.items()]


def _columns(selection) -> list[str] | None:
    """The names of a selection's elements, as the expansion calls them."""
    if selection is None:
        return None
    return [element_name(name, index) if index else name
            for name, indices in selection for index in indices]


def _element_names(name: str, shape) -> list[str]:
    if not shape:
        return [name]
    return [element_name(name, index) for index in np.ndindex(*shape)]


def jacobian(programs: Sequence[CompiledExpression],
             point: Mapping[str, float], wrt: Sequence[str] | None = None) -> JacobianResult:
    """One row per output (per element of an array output), one column per
    variable of any output (per element of an array variable); with ``wrt``
    (as ``--wrt``: variables, elements) only those columns."""
    variables = list(dict.fromkeys(v for program in programs for v in program.variables))
    row_maps, outputs, values, warnings, used = [], [], [], [], {}
    owns = []
    for program in programs:
        own = {name: point[name] for name in program.variables if name in point}
        checked, _ = program.check_point(own)
        used.update(checked)
        owns.append((own, checked))
    selection = _selection(wrt, _variable_shapes(used))
    if selection is None:
        columns = [element for name in variables
                   for element in _element_names(name, getattr(used[name], "shape", ()))]
        differentiated = set(variables)
    else:
        columns = _columns(selection)
        differentiated = {name for name, _ in selection}
    for program, (own, checked) in zip(programs, owns):
        wanted = [name for name in program.variables if name in differentiated]
        if not program.is_tensor_point(checked):
            result = program.gradient(own, wrt=wanted)
            row_maps.append(dict(result.gradient))
            outputs.append(program.text)
            values.append(result.value)
            warnings.extend(result.warnings)
            continue
        # The size is known from the shapes: refuse before one sweep per row.
        shapes = tensor_program.shapes_at(program.tape, checked)
        _check_size(len(row_maps) + _size(shapes[program.tape.output]), len(columns))
        value, blocks, notices = tensor_program.jacobian_rows(program.tape, checked, wanted)
        warnings.extend(notices)
        out_shape = np.shape(value)
        text = program.text.strip()
        if not (is_name(text) or program.tape.ops[program.tape.output] == "stack"
                and text.startswith("[") and text.endswith("]")):
            text = f"({text})"  # so that text[i] is that element, in chaincli syntax
        for index in np.ndindex(*out_shape) if out_shape else [()]:
            row = {}
            for name, block in blocks.items():
                names = _element_names(name, np.shape(checked[name]))
                # + 0.0: an exact zero prints as 0, never as -0.
                row.update(zip(names, (np.asarray(block[index], dtype=float).ravel() + 0.0)
                               .tolist()))
            row_maps.append(row)
            outputs.append(text + (element_text(index) if index else ""))
            values.append(float(np.asarray(value)[index]))
    warnings.extend(unused_values(point, variables, "any expression"))
    rows = [[row.get(column, 0.0) for column in columns] for row in row_maps]
    shown_point = {}
    for name in variables:
        value = used[name]
        if isinstance(value, float):
            shown_point[name] = value
        else:
            shown_point.update(zip(_element_names(name, value.shape), value.ravel().tolist()))
    return JacobianResult(outputs, shown_point, values, columns, rows, warnings)


def _check_size(rows: int, columns: int) -> None:
    if rows * columns > MAX_MATRIX_ENTRIES:
        raise UsageError(f"the Jacobian would have {rows:,} × {columns:,} entries, more than "
                         f"{MAX_MATRIX_ENTRIES:,}")


def relative_error(a: float, b: float) -> float:
    """``|a − b| / max(1, |a|, |b|)``: relative for large values, absolute near 0."""
    if a == b:
        return 0.0
    return abs(a - b) / max(1.0, abs(a), abs(b))


def check_gradient(program: CompiledExpression, point: Mapping[str, float],
                   tolerance: float = DEFAULT_TOLERANCE,
                   wrt: Sequence[str] | None = None) -> CheckResult:
    """Both AD modes against central finite differences, variable by variable;
    with ``wrt`` (as ``--wrt``: variables, elements) only those."""
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise UsageError(Phrase("{tolerance} must be a positive number"))
    checked, _ = program.check_point(point)
    selection = _selection(wrt, _variable_shapes(checked))
    if program.is_tensor_point(checked):
        return _check_tensor_gradient(program, point, tolerance, selection)
    names = program.variables if selection is None else [name for name, _ in selection]
    reverse = program.gradient(point, mode="reverse", wrt=names)
    forward = program.gradient(point, mode="forward", wrt=names)
    used = reverse.point
    warnings = list(reverse.warnings)
    if any(w.kind == "kink" for w in warnings):
        warnings.append(Notice("kink", "the point sits on a kink, where finite differences "
                               "do not approximate the derivative; a disagreement there "
                               "is expected"))
    rows = []
    for name in names:
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
    return CheckResult(program.text, used, reverse.value, tolerance, rows, warnings,
                       program.tape.output_name())


def _check_tensor_gradient(program: CompiledExpression, point, tolerance: float,
                           selection=None) -> CheckResult:
    """The gradient check of neural-network practice: elements of every gradient
    against central differences (a fixed-seed sample of ``CHECK_SAMPLE`` of
    each larger variable), both modes; each row is a variable's worst element.
    ``selection`` (see ``_selection``): only those variables and elements."""
    import random

    from ..engine.tensor.sweeps import tangent_sweep
    picked = dict(selection) if selection is not None else None
    reverse = program.gradient(point, mode="reverse",
                               wrt=None if picked is None else list(picked))
    evaluation = reverse.evaluation
    tape, used = program.tape, reverse.point
    warnings = list(reverse.warnings)
    if any(w.kind == "kink" for w in warnings):
        warnings.append(Notice("kink", "the point sits on a kink, where finite differences "
                               "do not approximate the derivative; a disagreement there "
                               "is expected"))
    rng = random.Random(0)
    rows = []
    noise = _rounding_noise(evaluation)
    blurred = []
    for name in program.variables if picked is None else picked:
        value = used[name]
        shape = np.shape(value)
        elements = list(np.ndindex(*shape)) if shape else [()]
        if picked is not None and len(picked[name]) < len(elements):
            sample = picked[name]  # elements named in --wrt: each of them
        else:
            sample = elements if len(elements) <= CHECK_SAMPLE else \
                sorted(rng.sample(elements, CHECK_SAMPLE))
        index = tape.variable_index[name]
        worst = None
        all_agree = True
        for element in sample:
            seed = 1.0
            if shape:
                seed = np.zeros(shape)
                seed[element] = 1.0
            tangent = tangent_sweep(tape, evaluation.values, evaluation.shapes,
                                    {index: seed})[tape.output]
            f = 0.0 if tangent is None else float(tangent)
            r = float(np.asarray(reverse.gradient[name])[element])
            x = float(np.asarray(value)[element])
            step = STEP * max(1.0, abs(x))
            numeric = _tensor_difference(program, used, name, element, step)
            error = max(relative_error(r, numeric), relative_error(f, numeric))
            if math.isnan(error):
                error = math.inf
            # Each of the two evaluations is rounded by up to about eps·noise.
            rounding = 2 * EPSILON * noise / step / max(1.0, abs(r), abs(numeric))
            if rounding > MAX_ROUNDING and name not in blurred:
                blurred.append(name)
            agree = error <= tolerance + rounding and rounding <= MAX_ROUNDING and \
                relative_error(r, f) <= tolerance
            all_agree = all_agree and agree
            row = CheckRow(element_name(name, element) if shape else name, r, f, numeric,
                           step, error, agree, checked=len(sample), size=len(elements))
            if worst is None or error > worst.error:
                worst = row
        worst.agree = all_agree
        rows.append(worst)
        if math.isinf(worst.error) and math.isnan(worst.numeric):
            warnings.append(Notice("finite-difference", f"{worst.variable}: the expression is "
                                   "not defined a step away, so there is no finite difference",
                                   variables=(name,)))
    for name in blurred:
        warnings.append(Notice("finite-difference", f"{name}: the finite difference is lost "
                               "in the rounding of terms of size up to "
                               f"{noise:.3g}, so it cannot check this gradient"
                               if math.isfinite(noise) else f"{name}: the finite "
                               "difference is lost in the rounding of terms past the "
                               "range of the doubles, so it cannot check this gradient",
                               variables=(name,)))
    return CheckResult(program.text, used, reverse.value, tolerance, rows, warnings,
                       program.tape.output_name())


def _rounding_noise(evaluation) -> float:
    """About how far rounding moves the output, in units of eps: the sum of
    |adjoint · value| over the computed elements of every entry (each is
    rounded by up to eps of itself, and moves the output by its adjoint).
    For ``sum(x*x)`` it is about 2·sum(x*x), which grows with the size, and
    the finite difference's tolerance grows with it (``_check_tensor_gradient``)."""
    total = 0.0
    tape = evaluation.tape
    with np.errstate(all="ignore"):
        for i, op in enumerate(tape.ops):
            adjoint = evaluation.adjoints[i]
            if not tape.args[i] or adjoint is None:
                continue
            total += float(np.sum(np.abs(np.multiply(adjoint, evaluation.values[i]))))
    return total if math.isfinite(total) else math.inf


def _tensor_difference(program: CompiledExpression, point, name: str, element, step: float):
    value = point[name]
    if element == ():
        up, down = value + step, value - step
        taken = up - down
    else:
        up, down = np.array(value, dtype=float), np.array(value, dtype=float)
        up[element] += step
        down[element] -= step
        taken = up[element] - down[element]
    try:
        high = tensor_program.value(program.tape, dict(point, **{name: up}))
        low = tensor_program.value(program.tape, dict(point, **{name: down}))
    except DomainError:
        return math.nan
    return (float(high) - float(low)) / float(taken)


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
    evaluation = result.evaluation
    if isinstance(evaluation, TensorEvaluation):
        value = _tensor_directional(evaluation, full)
    else:
        for name, component in full.items():
            if not isinstance(component, float):   # an array for a scalar variable
                raise PointError(f"--direction {name} has shape {component.shape}, but "
                                 f"{name} is a number")
        value = _directional_sweep(tape, evaluation.partials, full)
    if not math.isfinite(value):
        # As a non-finite partial is: a notice, and exit status 1 (commands.grad).
        cause = ("∇f · direction overflows a double" if result.all_finite
                 else "the gradient is not finite")
        result.warnings.append(Notice("nonfinite-derivative",
                                      f"--direction: the directional derivative is "
                                      f"{'infinite' if math.isinf(value) else 'NaN'}: "
                                      f"{cause}"))
    return {"direction": full, "directional_derivative": value}


def _tensor_directional(evaluation, direction) -> float:
    """One forward sweep along ``direction``, whose components have the variables' shapes
    (a scalar component of an array variable is that number in every element)."""
    from ..engine.tensor.sweeps import shape_of, tangent_sweep
    tape = evaluation.tape
    seed = {}
    for name, component in direction.items():
        index = tape.variable_index[name]
        shape = evaluation.shapes[index]
        if shape_of(component) not in (shape, ()):
            raise PointError(f"--direction {name} has shape {shape_of(component)}, but {name} "
                             f"has shape {shape}")
        seed[index] = np.broadcast_to(component, shape).copy() if shape else float(component)
    tangent = tangent_sweep(tape, evaluation.values, evaluation.shapes, seed)[tape.output]
    return 0.0 if tangent is None else float(tangent)
