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
# Split on commas that start a new "name=" pair, so values like atan2(1, 2) stay whole.
_PAIR_SPLIT = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")


def parse_points(specs: Iterable[str], read_file=None) -> dict[str, float]:
    """Merge ``--at`` options into one ``{name: value}`` mapping."""
    point: dict[str, float] = {}
    for spec in specs:
        spec = spec.strip()
        if spec.startswith("@"):
            items = _read_json_point(spec[1:], read_file).items()
        else:
            items = (_split_pair(pair) for pair in _PAIR_SPLIT.split(spec) if pair.strip())
        for name, value in items:
            if name in point:
                raise PointError(f"{name} is given twice in --at")
            point[name] = value
    return point


def _split_pair(pair: str) -> tuple[str, float]:
    if "=" not in pair:
        raise PointError(f"--at {pair.strip()!r} is not name=value (for example x=1,y=2)")
    name, _, text = pair.partition("=")
    name = name.strip()
    if not _NAME.match(name):
        raise PointError(f"--at {pair.strip()!r}: {name!r} is not a variable name")
    return name, parse_value(name, text.strip())


def parse_value(name: str, text: str) -> float:
    """A finite float from ``text``: a number or a constant expression."""
    if not text:
        raise PointError(f"--at {name}= has no value")
    try:
        value = float(text)
    except ValueError:
        value = _constant_expression(name, text)
    if not math.isfinite(value):
        raise PointError(f"--at {name}={text}: the value must be a finite number")
    return value


def _constant_expression(name: str, text: str) -> float:
    from .program import compile_expression
    try:
        program = compile_expression(text)
        if program.variables:
            raise PointError(f"--at {name}={text}: {text!r} is not a number")
        return program.value({})
    except PointError:
        raise
    except ChaincliError as error:
        raise PointError(f"--at {name}={text}: {text!r} is not a number ({error.message})")


def _read_json_point(path: str, read_file) -> dict[str, float]:
    text = read_file(path) if read_file else open(path, encoding="utf-8").read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PointError(f"{path} is not valid JSON ({error.msg} at line {error.lineno})")
    except ValueError as error:  # e.g. an integer beyond Python's digit limit
        raise PointError(f"{path} is not a usable point ({error})")
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
