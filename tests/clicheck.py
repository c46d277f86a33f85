"""The contract every run of the command line keeps, whatever its input.

Exit status 0, 1 or 2; on failure an ``Error:`` line on stderr; never a
traceback or an internal error; stdout holding JSON only as strict JSON.
The fuzz, hostile-input and regression-corpus tests all check it.
"""

from __future__ import annotations

import json


def _no_constant(name: str):
    raise ValueError(f"non-strict JSON constant {name}")


def strict_json(text: str):
    """Parse ``text`` as JSON, rejecting NaN and Infinity literals."""
    return json.loads(text, parse_constant=_no_constant)


def check_run(code: int, out: str, err: str, *, json_output: bool) -> None:
    context = f"exit {code}\nstdout: {out[:500]!r}\nstderr: {err[:1000]!r}"
    assert code in (0, 1, 2), context
    assert "Traceback" not in err and "internal error" not in err, context
    if code == 2:
        assert err.startswith("Error: "), context
    if code == 1:
        # A math error, or a result with a non-finite partial (then warned about).
        assert err.startswith("Error: ") or "Warning: " in err, context
    if json_output and out:
        assert out.endswith("\n") and out.count("\n") == 1, context
        strict_json(out)
    if code == 2:
        assert out == "", context
