"""Points: the values of the variables, from ``--at`` text or files.

``x=1,y=2`` and repeated ``--at`` options are merged; ``@point.json`` reads
a JSON object and ``@params.npz`` every array of a NumPy archive. A value
may be any constant chaincli expression (``x=pi/2``, ``y=-1e-3``), evaluated
with the same parser and primitives; a tensor is a bracket literal
(``x=[1, pi/2]``, ``W=[[1,2],[3,4]]``) or a file (``W=@w.npy``,
``X=@data.csv``, ``v=@v.json``). Scalars are Python floats and never import
NumPy; tensors are read and checked by ``array_input``. Every value must be
finite; anything else raises ``PointError``.
"""

from __future__ import annotations

import math
import os

from ..base.errors import ChaincliError, ParseError, PointError
from ..engine.values import finite_number
from ..base.text import NAME, abbreviate, is_name, quoted
from .quoting import json_text

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Any, Iterable

# The patterns below are compiled on first use (``re`` caches them): a point
# of plain numbers, ``x=1,y=2``, is read without the ``re`` module.
# A plain decimal literal, as the grammar spells one. float() alone would also
# take "1_000", "inf", "nan" and digits of other scripts ("١٢").
_DECIMAL = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z"
# A new "name=" pair starts here (white space, NAME, white space, "=").
_PAIR_START = r"\s*" + NAME + r"\s*="
_STRUCTURE = r"[\[\](),]"
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_PART = _NAME_START | frozenset("0123456789")


def parse_points(specs: Iterable[str], read_file=None, option: str = "--at",
                 notices: list[str] | None = None) -> dict[str, Any]:
    """Merge ``--at`` options into one ``{name: value}`` mapping.

    A value is a float, or for a tensor a float64 NumPy array (``normalize_value``).
    ``read_file(path)`` reads a JSON file's text (the CLI passes its size-limited
    reader); binary and CSV files are opened here. ``option`` names the option in
    messages (``--direction`` is written the same way). Remarks about the input
    that are not errors (a CSV header row skipped) are appended to ``notices``."""
    point: dict[str, Any] = {}
    for spec in specs:
        spec = spec.strip()
        if spec.startswith("@"):
            items = _read_point_file(spec[1:], read_file, option).items()
        else:
            items = (_split_pair(pair, option, read_file, notices)
                     for pair in _split_pairs(spec) if pair.strip())
        for name, value in items:
            if name in point:
                raise PointError(f"{name} is given twice in {option}")
            point[name] = value
    return point


def _split_pairs(spec: str) -> list[str]:
    """``x=[1,2],y=3`` as ``["x=[1,2]", "y=3"]``: a comma starts a new pair only
    when a ``name=`` follows it outside every bracket and parenthesis."""
    if "[" not in spec:
        # Every comma that a "name=" follows, parentheses or not: atan2(1, 2) stays whole.
        pairs, start = [], 0
        comma = spec.find(",")
        while comma != -1:
            if _pair_starts(spec, comma + 1):
                pairs.append(spec[start:comma])
                start = comma + 1
            comma = spec.find(",", comma + 1)
        pairs.append(spec[start:])
        return pairs
    import re
    start_pattern = re.compile(_PAIR_START)
    pairs, start, depth = [], 0, 0
    for match in re.finditer(_STRUCTURE, spec):
        char = match.group()
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and start_pattern.match(spec, match.end()):
            pairs.append(spec[start:match.start()])
            start = match.end()
    pairs.append(spec[start:])
    return pairs


def _pair_starts(spec: str, i: int) -> bool:
    """Whether ``_PAIR_START`` matches at ``spec[i]``, checked without ``re``."""
    end = len(spec)
    while i < end and spec[i].isspace():
        i += 1
    if i == end or spec[i] not in _NAME_START:
        return False
    i += 1
    while i < end and spec[i] in _NAME_PART:
        i += 1
    while i < end and spec[i].isspace():
        i += 1
    return i < end and spec[i] == "="


def _split_pair(pair: str, option: str, read_file=None,
                notices: list[str] | None = None) -> tuple[str, Any]:
    if "=" not in pair:
        raise PointError(f"{option} {quoted(abbreviate(pair.strip()))} is not name=value (for "
                         "example x=1,y=2)")
    name, _, text = pair.partition("=")
    name = name.strip()
    if not name:
        raise PointError(f"{option} {quoted(pair.strip())}: the name before '=' is missing")
    if not is_name(name):
        raise PointError(f"{option} {quoted(abbreviate(pair.strip()))}: {quoted(abbreviate(name))} is "
                         "not a variable name")
    text = text.strip()
    if text.startswith("["):
        from ..engine.values import checked_array
        from .arrays import literal
        where = f"{option} {name}"
        label = f"{option} {name}=[…]: the element"
        return name, checked_array(literal(name, text, option,
                                           lambda piece: parse_value(name, piece, option,
                                                                     label)),
                                   where)
    if text.startswith("@") and len(text) > 1:
        return name, _read_value_file(name, text[1:], read_file, notices, option)
    return name, parse_value(name, text, option)


def parse_value(name: str, text: str, option: str = "--at", label: str | None = None) -> float:
    """A finite float from ``text``: a number or a constant expression.

    ``label`` starts the messages (default ``--at x=TEXT:``)."""
    if not text:
        raise PointError(f"{option} {name}= has no value")
    value = parse_decimal(text)
    if value is None:
        value = _constant_expression(name, text, option, label)
    if not math.isfinite(value):
        if label:
            raise PointError(f"{label} {quoted(abbreviate(text))} is not a finite number (at most "
                             "about 1.8e308)")
        raise PointError(f"{option} {name}={abbreviate(text)}: the value must be a finite "
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
                                               or _is_decimal(text.strip())):
        return value
    return None


def _is_decimal(text: str) -> bool:
    import re
    return re.match(_DECIMAL, text, re.ASCII) is not None


def _constant_expression(name: str, text: str, option: str, label: str | None) -> float:
    from ..engine.program import compile_expression
    short = abbreviate(text)
    label = label or f"{option} {name}={short}:"
    try:
        program = compile_expression(text)
        if program.variables:
            raise PointError(f"{label} {quoted(short)} is not a number")
        return program.value({})
    except PointError:
        raise
    except ParseError as error:
        raise PointError(f"{label} {quoted(short)} is not a number ({_parse_reason(text, error)})") \
            from None
    except ChaincliError as error:
        raise PointError(f"{label} {quoted(short)} is not a number ({error.message})")


def _parse_reason(text: str, error: ParseError) -> str:
    """A value's syntax error in one phrase: the grammar's list of what could
    come next speaks of programs, not of numbers."""
    if ";" in text or "\n" in text:
        return "a value is one number or expression; separate elements with ','"
    reason = error.message.split("; expected")[0]
    if error.span and not reason.startswith("the expression ends"):
        reason += f" at character {error.span[0] + 1}"
    if reason.startswith('unexpected ","'):
        reason += "; an array is written in brackets, [1, 2]"
    return reason.replace("the expression ends", "it ends")


def _read_point_file(path: str, read_file, option: str) -> dict[str, Any]:
    """``--at @path``: an .npz archive (every array a variable) or a JSON object."""
    kind = os.path.splitext(path)[1].lower().lstrip(".")
    if kind == "npz":
        from .arrays import read_npz
        return read_npz(path)
    if kind in ("npy", "csv"):
        raise PointError(f"{option} @{path}: a .{kind} file holds one array; give it a "
                         f"name: {option} NAME=@{path}")
    return _read_json_point(path, read_file)


def _read_value_file(name: str, path: str, read_file, notices, option: str) -> Any:
    """``--at name=@path``: one value from a .npy, .csv or .json file."""
    from . import arrays as array_input
    from ..engine.values import normalize
    where = f"{option} {name}=@{path}"
    kind = array_input.extension(path)
    if kind == ".npy":
        return array_input.read_npy(path, where)
    if kind == ".csv":
        return array_input.read_csv(path, where, notices, parse_decimal)
    if kind == ".json":
        data = _load_json(path, read_file)
        if isinstance(data, dict):
            raise PointError(f"{where}: the file holds a JSON object; {option} @{path} "
                             "reads it as a point (name: value)")
        return normalize(name, data, where, describe=json_text)
    if kind == ".npz":
        raise PointError(f"{where}: an .npz archive holds named arrays; read all of them "
                         f"with {option} @{path}")
    raise PointError(f"{where}: cannot tell the format of {path} from its name; chaincli "
                     "reads .npy, .csv and .json files")


def _read_json_point(path: str, read_file) -> dict[str, Any]:
    return point_from_mapping(_load_json(path, read_file), source=path)


def _load_json(path: str, read_file):
    import json
    text = read_file(path) if read_file else _read_text(path)

    def pairs(items: list) -> dict:
        data = dict(items)
        if len(data) < len(items):
            seen = set()
            twice = next(key for key, _ in items if key in seen or seen.add(key))
            raise PointError(f"{path}: the name {json_text(twice)} is given twice")
        return data

    try:
        # Integers are read as floats: a 5,000-digit one is then too large
        # (rejected below), never Python big-integer work or its digit limit.
        data = json.loads(text, parse_int=float, object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        raise PointError(f"{path} is not valid JSON ({error.msg} at line {error.lineno})")
    except RecursionError:
        raise PointError(f"{path} is not a usable point: it is nested too deeply (arrays "
                         "have at most 32 axes)") from None
    except ValueError:
        raise PointError(f"{path} is not valid JSON") from None
    return data


def _read_text(path: str) -> str:
    from .files import read_text_file
    return read_text_file(path)


def point_from_mapping(data, source: str = "the point") -> dict[str, Any]:
    """Validate a decoded JSON object as a point."""
    if not isinstance(data, dict):
        raise PointError(f"{source} must be a JSON object of name: value (a number or "
                         "a nested list of numbers)")
    point = {}
    for name, value in data.items():
        if not isinstance(name, str) or not is_name(name):
            raise PointError(f"{source}: {json_text(name)} is not a variable name")
        if isinstance(value, list):
            from ..engine.values import checked_array, from_nested
            where = f"{source}: the value of {name}"
            point[name] = checked_array(from_nested(value, where, json_text), where)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PointError(f"{source}: the value of {name} must be a number or a list of "
                             f"numbers, not {json_text(value)}")
        point[name] = finite_number(value, f"{source}: the value of {name}")
    return point
