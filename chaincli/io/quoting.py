"""How messages about input quote it: cut when long, JSON spelled as JSON.

The readers of ``chaincli.io`` (the ``--at`` parser, the array and file
readers, the point streamer) name the offending text or value in their
``PointError`` messages; they all quote it here, so a long argument is cut
the same way everywhere and a JSON value is shown as JSON writes it.
"""

from __future__ import annotations

import json


def abbreviate(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:24]}…{text[-8:]} ({len(text)} characters)"


def json_text(value) -> str:
    """``value`` as JSON writes it (``true``, ``null``, ``"2"``, ``{"y": 1}``), cut when long.

    Messages about JSON input quote it in JSON, never as Python would."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = {dict: "an object", list: "a list", float: repr(value)}.get(
            type(value), type(value).__name__)
    return abbreviate(text)
