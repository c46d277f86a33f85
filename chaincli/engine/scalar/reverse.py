"""Reverse mode: adjoints swept down the tape, one sweep for every partial.

Starting from ``adjoint[output] = 1``, each entry passes its adjoint to its
arguments: ``adjoint[j] += partial[i][k] · adjoint[i]``. The ``+=`` is the
multivariable chain rule: an entry used twice collects both contributions.
Adjoints live in an array indexed like the tape, never on the nodes.

An entry whose adjoint is zero passes nothing on, even through an infinite or
NaN partial, and a zero partial passes nothing on even from an infinite
adjoint (the same symbolic-zero rule as forward mode, ``zero_rule.times``).
"""

from __future__ import annotations

from ...tape import Tape
from ...base.zero_rule import times


def adjoint_sweep(tape: Tape, partials: list[tuple[float, ...]],
                  output: int | None = None) -> list[float]:
    """∂output/∂v_i for every entry ``i``."""
    adjoint = [0.0] * len(tape)
    start = tape.output if output is None else output
    adjoint[start] = 1.0
    args = tape.args
    for i in range(start, -1, -1):
        a = adjoint[i]
        if a == 0.0:
            continue
        for j, partial in zip(args[i], partials[i]):
            adjoint[j] += times(partial, a)
    return adjoint


def reverse_gradient(tape: Tape, partials: list[tuple[float, ...]],
                     wrt: list[str]) -> dict[str, float]:
    """∂output/∂x for each ``x`` in ``wrt``, all from one adjoint sweep."""
    adjoint = adjoint_sweep(tape, partials)
    return {name: adjoint[tape.variable_index[name]] for name in wrt}
