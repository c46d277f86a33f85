"""Strict JSON for stdout: the writer every ``--json`` path uses.

JSON has no NaN or Infinity, and parsers disagree on what to do with them
(Node and Go reject them, jq 1.6 turns them into null or 1.797e308), so
chaincli writes non-finite numbers as the strings ``"Infinity"``,
``"-Infinity"`` and ``"NaN"``. Finite numbers keep full round-trip precision
(Python's shortest repr). Output is ASCII-only, written as bytes, so no
terminal setting or ``PYTHONIOENCODING`` can change it.
"""

from __future__ import annotations

import json
import math
from typing import Any

NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by its string name."""
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return NON_FINITE.get(obj, "NaN")
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(item) for item in obj]
    return obj


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Strict, ASCII-only JSON text for ``obj``."""
    return json.dumps(json_safe(obj), allow_nan=False, ensure_ascii=True, indent=indent)
