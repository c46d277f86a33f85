"""Values and gradients of programs with tensors, for ``CompiledExpression``.

``program`` hands a point here when the tape holds a tensor primitive or a
variable's value is an array. The shape pass runs first (a mismatch is a
usage error before any arithmetic), then the tensor sweeps (sweeps.py): one
adjoint sweep for the whole gradient in reverse mode; in forward mode one
tangent sweep per element of each variable, as forward mode costs, up to
``FORWARD_SWEEP_LIMIT`` sweeps. A value, and a reverse-mode gradient, at
shapes a plan has seen before run as the same sweeps written out as
straight-line Python (codegen.py), which hand back to the interpreter any
point where something is not finite.

A gradient entry has its variable's shape: a float for a scalar variable, a
float64 array otherwise. ``TensorEvaluation`` keeps what the sweep computed
at every node (value, shape, adjoint) for the explanations.
"""

from __future__ import annotations

from typing import Mapping

from . import codegen, sweeps
from .plan import TensorPlan
from ...base.errors import UsageError
from ...primitives.base import np
from ..results import MAX_NODE_NOTICES, Notice, TensorEvaluation
from ...tape import Tape, depends_on, depends_on_variables, reaches_output
from ...base.shapes import element_text, shape_text

# Forward mode takes one sweep per input element; past this it is refused.
FORWARD_SWEEP_LIMIT = 10_000


def shapes_at(tape: Tape, point: Mapping[str, object]) -> list[tuple[int, ...]]:
    """The shape of every entry at this point (``ShapeError`` on a mismatch)."""
    return sweeps.shapes(tape, {name: sweeps.shape_of(point[name]) for name in tape.variables})


def plan_at(tape: Tape, point: Mapping[str, object]) -> TensorPlan:
    """A plan for this point's shapes, for one evaluation (``PlanCache`` keeps them)."""
    return TensorPlan(tape, {name: sweeps.shape_of(point[name]) for name in tape.variables})


def value(tape: Tape, point: Mapping[str, object], plan: TensorPlan | None = None):
    """The output's value: a float, or an array."""
    if plan is None:
        return sweeps.primal(tape, point, shapes_at(tape, point))[tape.output]
    compiled = plan.compiled()
    if compiled is not None:
        try:
            return compiled.value(point)
        except codegen.FAILURES:
            pass  # the interpreter raises the exact error (codegen.py)
    return sweeps.primal(tape, point, plan.shapes)[tape.output]


def gradient(tape: Tape, point: Mapping[str, object], names: list[str], mode: str,
             text: str, plan: TensorPlan | None = None):
    """(value, gradient by name, evaluation, notices) of a scalar-valued program."""
    plan = plan or plan_at(tape, point)
    entry_shapes = plan.shapes
    output_shape = entry_shapes[tape.output]
    if output_shape:
        raise UsageError(f"the gradient needs a scalar output; this one has shape "
                         f"{shape_text(output_shape)}",
                         hint="sum(...) or mean(...) makes a scalar of it; chaincli jacobian "
                              "differentiates every element")
    wanted = plan.depends(names)
    adjoints = None
    # The edges whose partial was not finite somewhere, for the notices.
    nonfinite: set[tuple[int, int]] = set()
    swept = _compiled_gradient(plan, point, names, wanted) if mode == "reverse" else None
    if swept is not None:
        values, adjoints = swept
    else:
        values = sweeps.primal(tape, point, entry_shapes)
    if mode == "reverse":
        if adjoints is None:
            adjoints = sweeps.adjoint_sweep(tape, values, entry_shapes, wanted,
                                            nonfinite=nonfinite)
        result = {name: _as_gradient(adjoints[tape.variable_index[name]],
                                     entry_shapes[tape.variable_index[name]])
                  for name in names}
    else:
        result = _forward_gradient(tape, values, entry_shapes, names, nonfinite)
    evaluation = TensorEvaluation(tape, values, entry_shapes, adjoints)
    if swept is not None:  # its gradient is finite, and no partial was not
        notices = _quiet_kink_notices(evaluation, names, plan) if plan.watched else []
        return values[tape.output], result, evaluation, notices
    return values[tape.output], result, evaluation, _notices(evaluation, names, plan, result,
                                                             nonfinite)


@sweeps.quiet
def _notices(evaluation, names, plan, result, nonfinite) -> list[Notice]:
    return (_kink_notices(evaluation, names, plan) + _nonfinite_notices(evaluation, result)
            + _absorbed_notices(evaluation, result, nonfinite))


def _compiled_gradient(plan: TensorPlan, point, names, wanted):
    """(values, adjoints) from the plan's straight-line sweeps, or None when the
    interpreter must answer (not compiled yet, or something to report)."""
    compiled = plan.compiled()
    if compiled is None:
        return None
    try:
        return compiled.gradient(point, names, wanted)
    except codegen.FAILURES:
        return None


def jacobian_rows(tape: Tape, point: Mapping[str, object], names: list[str]):
    """(output value, {name: array of shape output + variable}, notices) by one
    adjoint sweep per output element."""
    entry_shapes = shapes_at(tape, point)
    values = sweeps.primal(tape, point, entry_shapes)
    out_shape = entry_shapes[tape.output]
    wanted = depends_on_variables(tape, set(names))
    blocks = {name: np.zeros(out_shape + entry_shapes[tape.variable_index[name]])
              for name in names}
    for element in np.ndindex(*out_shape) if out_shape else [()]:
        seed = 1.0
        if out_shape:
            seed = np.zeros(out_shape)
            seed[element] = 1.0
        adjoints = sweeps.adjoint_sweep(tape, values, entry_shapes, wanted, seed=seed)
        for name in names:
            index = tape.variable_index[name]
            if adjoints[index] is not None:
                blocks[name][element] = adjoints[index]
    evaluation = TensorEvaluation(tape, values, entry_shapes, None)
    return values[tape.output], blocks, _nonfinite_notices(evaluation, blocks)


def _as_gradient(adjoint, shape):
    if adjoint is None:
        return np.zeros(shape) if shape else 0.0
    if not shape:
        return float(adjoint)
    if isinstance(adjoint, np.ndarray) and adjoint.flags.owndata and adjoint.flags.writeable:
        return adjoint
    return np.array(adjoint, dtype=float)  # a copy the caller owns, never a view


def _forward_gradient(tape: Tape, values: list, entry_shapes, names: list[str],
                      nonfinite: set | None = None) -> dict:
    sizes = {name: int(np.prod(entry_shapes[tape.variable_index[name]], dtype=np.int64))
             for name in names}
    total = sum(sizes.values())
    if total > FORWARD_SWEEP_LIMIT:
        raise UsageError(f"forward mode takes one sweep per input element, {total:,} here "
                         f"(at most {FORWARD_SWEEP_LIMIT:,})",
                         hint="reverse mode (the default) takes one sweep for all of them")
    result = {}
    for name in names:
        index = tape.variable_index[name]
        shape = entry_shapes[index]
        if not shape:
            tangents = sweeps.tangent_sweep(tape, values, entry_shapes, {index: 1.0},
                                            nonfinite)
            result[name] = _as_gradient(tangents[tape.output], ())
            continue
        column = np.zeros(shape)
        for element in np.ndindex(*shape):
            seed = np.zeros(shape)
            seed[element] = 1.0
            tangent = sweeps.tangent_sweep(tape, values, entry_shapes, {index: seed},
                                           nonfinite)
            column[element] = 0.0 if tangent[tape.output] is None else tangent[tape.output]
        result[name] = column
    return result


def _kink_notices(evaluation: TensorEvaluation, names: list[str],
                  plan: TensorPlan) -> list[Notice]:
    if not plan.watched:  # no primitive here can sit on a kink or warn
        return []
    tape = evaluation.tape
    depends = plan.depends(names)
    entries = [i for i in plan.watched if depends[i]]
    notices = []
    found = [(i, "kink", message) for i, message in sweeps.kinks(tape, evaluation.values,
                                                                 evaluation.shapes, entries)]
    found += [(i, kind, message) for i, kind, message
              in sweeps.tensor_notices(tape, evaluation.values, entries)]
    wanted = set(names)
    for i, kind, message in found[:MAX_NODE_NOTICES]:
        text = tape.source_text(i)
        variables = tuple(v for v in depends_on(tape, i) if v in wanted)
        notices.append(Notice(kind, f"{text}: {message}", tape.name(i), text, variables))
    if len(found) > MAX_NODE_NOTICES:
        notices.append(Notice("kink", f"{len(found) - MAX_NODE_NOTICES} more nodes sit on "
                                      "a kink"))
    return notices


_quiet_kink_notices = sweeps.quiet(_kink_notices)


def _nonfinite_notices(evaluation: TensorEvaluation, gradient: dict) -> list[Notice]:
    """For each variable with a non-finite partial, the elementwise node whose
    own partial is infinite or NaN there, in the scalar sweep's words
    (program.py); when none is, the chain of finite partials overflowed."""
    notices = []
    for name, g in gradient.items():
        if sweeps.all_finite(g):
            continue
        notice = _nonfinite_partial(evaluation, name)
        notices.append(notice or Notice(
            "nonfinite-derivative", f"the partial derivative by {name} is not finite "
            "(infinite or NaN) in some element", variables=(name,)))
    return notices


def _nonfinite_partial(evaluation: TensorEvaluation, name: str) -> Notice | None:
    from ...base.numbers import format_number
    from ...primitives import PRIMITIVES
    tape, values, shapes = evaluation.tape, evaluation.values, evaluation.shapes
    used = reaches_output(tape)
    depends = depends_on_variables(tape, {name})
    for i, op in enumerate(tape.ops):
        prim = PRIMITIVES.get(op)
        if prim is None or not prim.elementwise or not used[i] or not depends[i]:
            continue
        inputs = [values[j] for j in tape.args[i]]
        for k, j in enumerate(tape.args[i]):
            if not depends[j]:
                continue
            partial = sweeps.elementwise_partial(prim, k, inputs, values[i])
            if sweeps.all_finite(partial):
                continue
            bad = ~np.isfinite(np.broadcast_to(partial, shapes[i]))
            if evaluation.adjoints is not None and evaluation.adjoints[i] is not None:
                # Where the adjoint is 0, 0·∞ passed nothing on (tensor_sweeps).
                bad &= np.broadcast_to(evaluation.adjoints[i], shapes[i]) != 0.0
            if not bad.any():
                continue
            element = tuple(np.argwhere(bad)[0]) if shapes[i] else ()
            number = float(np.broadcast_to(partial, shapes[i])[element])
            argument = float(np.broadcast_to(values[j], shapes[i])[element])
            kind = "infinite" if np.isinf(number) else "undefined (NaN)"
            text = tape.source_text(i) or tape.name(i)
            arg_text = tape.source_text(j, limit=40) or tape.name(j)
            where = f" at element {element_text(element)}" if shapes[i] else ""
            return Notice("nonfinite-derivative",
                          f"{text}: its derivative with respect to {arg_text} is {kind}"
                          f"{where} ({arg_text} = {format_number(argument)}), so the "
                          "gradient is not finite there", tape.name(i), text, (name,))
    return None


def _absorbed_notices(evaluation: TensorEvaluation, gradient: dict,
                      nonfinite: set[tuple[int, int]]) -> list[Notice]:
    """Infinite or NaN partials on a path to a gradient that came out finite.

    As in the scalar sweeps (program.py), such a partial met an exact zero
    tangent or adjoint and counted as 0 there (0·∞ = 0, zero_rule.py): the
    answer rests on that rule, and the user is told where."""
    if not nonfinite:  # the common case: no partial was infinite or NaN
        return []
    finite = {name for name, g in gradient.items() if sweeps.all_finite(g)}
    if not finite:
        return []
    tape = evaluation.tape
    used = reaches_output(tape)
    notices = []
    for i, k in sorted(nonfinite):
        arg = tape.args[i][k]
        variables = tuple(v for v in depends_on(tape, arg) if v in finite)
        if not used[i] or not variables:
            continue
        if len(notices) == MAX_NODE_NOTICES:
            notices.append(Notice("nonfinite-derivative",
                                  "more infinite or NaN partials count as 0 (0·∞ = 0)"))
            break
        notices.append(_absorbed_notice(evaluation, i, k, variables))
    return notices


def _absorbed_notice(evaluation: TensorEvaluation, i: int, k: int,
                     variables: tuple[str, ...]) -> Notice:
    from ...base.numbers import format_number
    from ...primitives import PRIMITIVES
    tape, values = evaluation.tape, evaluation.values
    arg = tape.args[i][k]
    prim = PRIMITIVES[tape.ops[i]]
    inputs = [values[j] for j in tape.args[i]]
    partial = np.broadcast_to(sweeps.elementwise_partial(prim, k, inputs, values[i]),
                              evaluation.shapes[i])
    bad = np.argwhere(~np.isfinite(partial))
    index = tuple(bad[0]) if len(bad) else ()
    kind = "infinite" if np.isinf(partial[index]) else "undefined (NaN)"
    where = f" at element {element_text(index)}" if index else ""
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    text = tape.source_text(i)
    arg_text = tape.source_text(arg, limit=40) or tape.name(arg)
    element = float(np.broadcast_to(values[arg], evaluation.shapes[i])[index])
    return Notice("nonfinite-derivative",
                  f"{text}: its derivative with respect to {arg_text} is {kind}{where}{more} "
                  f"({arg_text} = {format_number(element)}); it meets a zero factor in the "
                  "chain rule and counts as 0 there (0·∞ = 0)", tape.name(i), text, variables)
