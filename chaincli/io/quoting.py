"""How messages about input quote it: cut when long, JSON spelled as JSON.

The readers of ``chaincli.io`` (the ``--at`` parser, the array and file
readers, the point streamer) name the offending text or value in their
``PointError`` messages; a long argument is cut by ``base.text.abbreviate``,
as every message cuts one, and a JSON value is shown here as JSON writes it.
"""

from __future__ import annotations

from ..base.text import abbreviate


def json_text(value) -> str:
    """``value`` as JSON writes it (``true``, ``null``, ``"2"``, ``{"y": 1}``), cut when long.

    Messages about JSON input quote it in JSON, never as Python would."""
    import json  # for messages only: a plain point never needs it
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = {dict: "an object", list: "a list", float: repr(value)}.get(
            type(value), type(value).__name__)
    return abbreviate(text)
