"""Telling a batch point (arrays) from a scalar one, without importing NumPy."""

from __future__ import annotations

from typing import Any, Mapping


def is_batch(point: Mapping[str, Any] | None) -> bool:
    """Whether any value of ``point`` is an array (or a list), not a number."""
    if not point:
        return False
    for value in point.values():
        if isinstance(value, (int, float)):
            continue
        if hasattr(value, "shape") or isinstance(value, (list, tuple)):
            return True
    return False
