"""Strict JSON for stdout: the writer every ``--json`` path uses.

JSON has no NaN or Infinity, and parsers disagree on what to do with them
(Node and Go reject them, jq 1.6 turns them into null or 1.797e308), so
chaincli writes non-finite numbers as the strings ``"Infinity"``,
``"-Infinity"`` and ``"NaN"``. Finite numbers keep full round-trip precision
(Python's shortest repr). Output is ASCII-only, written as bytes, so no
terminal setting or ``PYTHONIOENCODING`` can change it.

Tensors reach here as nested lists (``results.plain_data``) or as NumPy
arrays and scalars; both are made safe without a Python step per element
when every element is finite, the usual case.
"""

from __future__ import annotations

import json
import math
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Any

NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by its string name."""
    if isinstance(obj, float):
        if type(obj) is not float:  # a NumPy float64: json would write its repr
            obj = float(obj)
        if math.isfinite(obj):
            return obj
        return NON_FINITE.get(obj, "NaN")
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        if _finite_floats(obj):
            return obj
        return [json_safe(item) for item in obj]
    if hasattr(obj, "dtype") and hasattr(obj, "tolist"):
        return _array_safe(obj)
    return obj


def _finite_floats(items) -> bool:
    """Whether ``items`` is a list of plain finite floats (a row of a tensor)."""
    if type(items) is not list or not items or type(items[0]) is not float:
        return False
    # The sum of finite floats is finite unless it overflows, which only sends
    # an all-finite row down the slow path.
    return all(type(item) is float for item in items) and math.isfinite(sum(items))


def _array_safe(arr) -> Any:
    """A NumPy array or scalar as JSON data: nested lists, non-finite elements named."""
    import numpy as np
    arr = np.asarray(arr)
    if arr.dtype.kind != "f" or np.isfinite(arr).all():
        return json_safe(arr.tolist()) if arr.ndim == 0 else arr.tolist()
    named = arr.astype(object)
    named[np.isnan(arr)] = "NaN"
    named[arr == np.inf] = "Infinity"
    named[arr == -np.inf] = "-Infinity"
    return named.tolist()


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Strict, ASCII-only JSON text for ``obj``."""
    return json.dumps(json_safe(obj), allow_nan=False, ensure_ascii=True, indent=indent)
