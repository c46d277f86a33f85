"""Plain text output: one ``name value`` line per partial, for shell scripts.

Numbers are written at full round-trip precision; non-finite ones as
``inf``, ``-inf`` and ``nan`` (what ``float()`` and ``awk`` read back).
A tensor gives one ``name[i,j] value`` line per element, in row-major
(C) order, so ``while read name value`` still reads every line.
"""

from __future__ import annotations

from itertools import product

from ..base.numbers import plain_number
from ..engine.results import GradientResult, is_tensor


def plain_lines(name: str, value) -> str:
    """``name value``, or for a tensor one ``name[i,j] value`` line per element."""
    if not is_tensor(value):
        return f"{name} {plain_number(value)}\n"
    axes = [[str(i) for i in range(size)] for size in value.shape]
    numbers = value.ravel().tolist()
    return "".join(f"{name}[{','.join(index)}] {plain_number(number)}\n"
                   for index, number in zip(product(*axes), numbers))


def plain_gradient(result: GradientResult) -> str:
    return "".join(plain_lines(name, value) for name, value in result.gradient.items())
