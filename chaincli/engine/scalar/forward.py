"""Forward mode: tangents swept up the tape, one sweep per seed direction.

``tangent[i] = Σ_k partial[i][k] · tangent[args[i][k]]``. A sweep seeded
with 1 at variable ``x`` gives ∂output/∂x at the output entry, so the full
gradient takes one sweep per variable; a sweep seeded with a direction gives
the directional derivative in one go.

A zero tangent and a zero partial are symbolic zeros: their product with an
infinite or NaN factor contributes nothing (0·∞ is taken as 0 on the chain),
so forward mode agrees with reverse mode, which applies the same rule, at
points like ``x^y`` at (0, 0), ``sqrt(x^2)`` or ``0*sqrt(x)`` at 0. The rule
is ``zero_rule.times``, shared by every sweep.
"""

from __future__ import annotations

from ...tape import Tape
from ...base.zero_rule import times

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Mapping


def tangent_sweep(tape: Tape, partials: list[tuple[float, ...]],
                  seed: Mapping[int, float]) -> list[float]:
    """Tangents of every entry for the seed ``{entry index: tangent}``."""
    tangent = [0.0] * len(tape)
    for index, value in seed.items():
        tangent[index] = float(value)
    args = tape.args
    for i in range(len(tangent)):
        inputs = args[i]
        if not inputs:
            continue
        total = 0.0
        for j, partial in zip(inputs, partials[i]):
            total += times(partial, tangent[j])
        tangent[i] = total
    return tangent


def forward_gradient(tape: Tape, partials: list[tuple[float, ...]],
                     wrt: list[str]) -> dict[str, float]:
    """∂output/∂x for each ``x`` in ``wrt``, one tangent sweep each."""
    gradient = {}
    for name in wrt:
        tangent = tangent_sweep(tape, partials, {tape.variable_index[name]: 1.0})
        gradient[name] = tangent[tape.output]
    return gradient


def directional_derivative(tape: Tape, partials: list[tuple[float, ...]],
                           direction: Mapping[str, float]) -> float:
    """The derivative along ``direction`` (variable → component), in one sweep."""
    seed = {tape.variable_index[name]: value for name, value in direction.items()
            if name in tape.variable_index}
    return tangent_sweep(tape, partials, seed)[tape.output]
