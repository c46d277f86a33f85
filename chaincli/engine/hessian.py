"""Second derivatives: the Hessian by forward-over-reverse, or symbolically.

Forward-over-reverse runs the reverse sweep on dual numbers: alongside each
adjoint ``ā_i`` it carries the adjoint's tangent ``ȧ_i`` in the direction of
one variable, so one tangent sweep and one such reverse sweep give a column
of the Hessian:

    ā_j += p_ik · ā_i
    ȧ_j += p_ik · ȧ_i + ṗ_ik · ā_i,   ṗ_ik = Σ_m ∂p_ik/∂arg_m · tangent[arg_m]

The second partials ``∂p_ik/∂arg_m`` come from the primitive table too: each
partial formula is a small tape over ``a`` and ``b`` (the template symbolic
differentiation instantiates), and its gradient at the arguments' values is
one adjoint sweep over that template. No primitive needs a second-derivative
rule of its own.

``symbolic_hessian`` is the independent route: differentiate the tape twice
with ``symbolic.derivative`` and evaluate each entry. The tests hold the two
against each other and against finite differences of the gradient.
"""

from __future__ import annotations

import math
from typing import Mapping

from .scalar import evaluate
from ..base.errors import DomainError
from .scalar.forward import tangent_sweep
from ..printer import to_text
from .results import Evaluation
from .scalar.reverse import adjoint_sweep
from ..symbolic import FORMULA_ARGUMENTS, derivative, partial_template
from ..tape import CONST, VAR, Tape
from ..base.zero_rule import times

SecondPartials = list[tuple[tuple[float, ...], ...]]


def second_partials(tape: Tape, values: list[float]) -> SecondPartials:
    """``seconds[i][k][m]`` is ∂²v_i/∂arg_k∂arg_m at ``values``."""
    seconds: SecondPartials = [()] * len(tape)
    for i, op in enumerate(tape.ops):
        if op in (VAR, CONST):
            continue
        arguments = dict(zip(FORMULA_ARGUMENTS, (values[j] for j in tape.args[i])))
        seconds[i] = tuple(_formula_gradient(partial_template(op, k), arguments)
                           for k in range(len(tape.args[i])))
    return seconds


def _formula_gradient(template: Tape, arguments: dict[str, float]) -> tuple[float, ...]:
    names = FORMULA_ARGUMENTS[:len(arguments)]
    if not template.variables:
        return (0.0,) * len(names)
    try:
        values = evaluate.primal(template, arguments)
    except DomainError:
        # The partial itself is not finite here (sqrt at 0): so is its slope.
        return (math.nan,) * len(names)
    adjoint = adjoint_sweep(template, evaluate.local_partials(template, values))
    index = template.variable_index
    return tuple(adjoint[index[name]] if name in index else 0.0 for name in names)


def forward_over_reverse(evaluation: Evaluation, variables: list[str]) -> list[list[float]]:
    """``hessian[i][j]`` = ∂²output/∂x_i∂x_j, one dual reverse sweep per column,
    on the values, partials and adjoints of the evaluation of the gradient."""
    tape, partials = evaluation.tape, evaluation.partials
    seconds = second_partials(tape, evaluation.values)
    adjoint = evaluation.reverse_adjoints
    columns = []
    for name in variables:
        tangent = tangent_sweep(tape, partials, {tape.variable_index[name]: 1.0})
        adjoint_tangent = _adjoint_tangent_sweep(tape, partials, seconds, adjoint, tangent)
        columns.append([adjoint_tangent[tape.variable_index[v]] for v in variables])
    return [[column[i] for column in columns] for i in range(len(variables))]


def _adjoint_tangent_sweep(tape: Tape, partials, seconds: SecondPartials,
                           adjoint: list[float], tangent: list[float]) -> list[float]:
    # Zero adjoints, tangents and partials are symbolic zeros, as in the
    # first-order sweeps: they pass nothing on even through an infinite or
    # NaN factor.
    adjoint_tangent = [0.0] * len(tape)
    args = tape.args
    for i in range(tape.output, -1, -1):
        a, a_dot = adjoint[i], adjoint_tangent[i]
        if a == 0.0 and a_dot == 0.0:
            continue
        inputs = args[i]
        for k, j in enumerate(inputs):
            total = times(partials[i][k], a_dot)
            if a != 0.0:
                p_dot = 0.0
                for m, jm in enumerate(inputs):
                    p_dot += times(seconds[i][k][m], tangent[jm])
                total += times(p_dot, a)
            adjoint_tangent[j] += total
    return adjoint_tangent


def symbolic_hessian(tape: Tape, point: Mapping[str, float],
                     variables: list[str]) -> list[list[float]]:
    """The Hessian from the symbolic second derivatives, each evaluated at ``point``."""
    hessian = []
    for first in variables:
        gradient_entry = derivative(tape, first)
        row = []
        for second in variables:
            entry = derivative(gradient_entry, second)
            try:
                row.append(evaluate.primal(entry, point)[entry.output])
            except DomainError as error:
                # The formula's entries have no source text: name the formula instead.
                formula = to_text(entry)
                if len(formula) > 60:
                    formula = formula[:59] + "…"
                raise DomainError(f"the second derivative by {first} and {second} is not "
                                  f"defined here ({error.reason}); it is {formula}",
                                  reason=error.reason) from None
        hessian.append(row)
    return hessian
