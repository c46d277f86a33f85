"""Points: the values of the variables, from ``--at`` text or a JSON file.

``x=1,y=2`` and repeated ``--at`` options are merged; ``@point.json`` reads
a JSON object. A value may be any constant chaincli expression
(``x=pi/2``, ``y=-1e-3``), evaluated with the same parser and primitives.
Every value must be a finite number; anything else raises ``PointError``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Iterable

from .errors import ChaincliError, PointError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# A plain decimal literal, as the grammar spells one. float() alone would also
# take "1_000", "inf", "nan" and digits of other scripts ("١٢").
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z", re.ASCII)
# Split on commas that start a new "name=" pair, so values like atan2(1, 2) stay whole.
_PAIR_SPLIT = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")


def parse_points(specs: Iterable[str], read_file=None, option: str = "--at") -> dict[str, float]:
    """Merge ``--at`` options into one ``{name: value}`` mapping.

    ``option`` names the option in messages (``--direction`` is written the same way)."""
    point: dict[str, float] = {}
    for spec in specs:
        spec = spec.strip()
        if spec.startswith("@"):
            items = _read_json_point(spec[1:], read_file).items()
        else:
            items = (_split_pair(pair, option) for pair in _PAIR_SPLIT.split(spec)
                     if pair.strip())
        for name, value in items:
            if name in point:
                raise PointError(f"{name} is given twice in {option}")
            point[name] = value
    return point


def _split_pair(pair: str, option: str) -> tuple[str, float]:
    if "=" not in pair:
        raise PointError(f"{option} {pair.strip()!r} is not name=value (for example x=1,y=2)")
    name, _, text = pair.partition("=")
    name = name.strip()
    if not _NAME.match(name):
        raise PointError(f"{option} {pair.strip()!r}: {name!r} is not a variable name")
    return name, parse_value(name, text.strip(), option)


def parse_value(name: str, text: str, option: str = "--at") -> float:
    """A finite float from ``text``: a number or a constant expression."""
    if not text:
        raise PointError(f"{option} {name}= has no value")
    value = parse_decimal(text)
    if value is None:
        value = _constant_expression(name, text, option)
    if not math.isfinite(value):
        raise PointError(f"{option} {name}={_abbreviate(text)}: the value must be a finite "
                         "number (at most about 1.8e308)")
    return value


def parse_decimal(text: str) -> float | None:
    """``text`` as a float if it is a plain decimal literal (``-1.5e3``), else None.

    ``float()`` alone would also take ``1_000``, ``inf``, ``nan`` and digits
    of other scripts; every point chaincli reads goes through here."""
    try:
        value = float(text)
    except ValueError:
        return None
    # A finite result from ASCII without "_" is a plain decimal; only the rest
    # (inf, nan, 1e999) needs the pattern. This runs once per CSV field.
    if text.isascii() and "_" not in text and (value - value == 0.0
                                               or _DECIMAL.match(text.strip())):
        return value
    return None


def _abbreviate(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:24]}…{text[-8:]} ({len(text)} characters)"


def _constant_expression(name: str, text: str, option: str) -> float:
    from .program import compile_expression
    try:
        program = compile_expression(text)
        if program.variables:
            short = _abbreviate(text)
            raise PointError(f"{option} {name}={short}: {short!r} is not a number")
        return program.value({})
    except PointError:
        raise
    except ChaincliError as error:
        short = _abbreviate(text)
        raise PointError(f"{option} {name}={short}: {short!r} is not a number "
                         f"({error.message})")


def _read_json_point(path: str, read_file) -> dict[str, float]:
    text = read_file(path) if read_file else open(path, encoding="utf-8").read()
    try:
        # Integers are read as floats: a 5,000-digit one is then too large
        # (rejected below), never Python big-integer work or its digit limit.
        data = json.loads(text, parse_int=float)
    except json.JSONDecodeError as error:
        raise PointError(f"{path} is not valid JSON ({error.msg} at line {error.lineno})")
    except (ValueError, RecursionError) as error:  # deeply nested arrays
        raise PointError(f"{path} is not a usable point ({type(error).__name__})")
    return point_from_mapping(data, source=path)


def point_from_mapping(data, source: str = "the point") -> dict[str, float]:
    """Validate a decoded JSON object as a point."""
    if not isinstance(data, dict):
        raise PointError(f"{source} must be a JSON object of name: number")
    point = {}
    for name, value in data.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise PointError(f"{source}: {name!r} is not a variable name")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PointError(f"{source}: the value of {name} must be a number, not {value!r}")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise PointError(f"{source}: the value of {name} must be a finite number")
        point[name] = value
    return point
