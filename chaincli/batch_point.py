"""Telling a batch point (arrays) from a scalar one, without importing NumPy."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def is_batch(point: Mapping[str, Any] | None, variables: Iterable[str]) -> bool:
    """Whether the value of any of ``variables`` is an array (or a list), not a number.

    A NumPy scalar (``np.float64(2)``, a 0-d array) is a number; values of names
    that are not variables do not count (they are only reported as unused)."""
    if not point:
        return False
    for name in variables:
        value = point.get(name)
        if value is None or isinstance(value, (int, float)):
            continue
        if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0:
            return True
    return False
