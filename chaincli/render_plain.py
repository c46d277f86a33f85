"""Plain text output: one ``name value`` line per partial, for shell scripts.

Numbers are written at full round-trip precision; non-finite ones as
``inf``, ``-inf`` and ``nan`` (what ``float()`` and ``awk`` read back).
"""

from __future__ import annotations

import math

from .results import GradientResult


def plain_number(value: float) -> str:
    if math.isfinite(value):
        return repr(value)
    return "nan" if value != value else ("inf" if value > 0 else "-inf")


def plain_gradient(result: GradientResult) -> str:
    return "".join(f"{name} {plain_number(value)}\n" for name, value in result.gradient.items())
