"""Streams of points: ``grad --points FILE`` evaluates every row, in chunks.

Rows come as JSON lines (one object per line) or as CSV with a header row.
Each chunk of rows is checked, turned into one array per variable and handed
to the batch evaluator (``batch``), so memory stays bounded by the chunk size
whatever the length of the input. Output is one line per input row, in order:
a JSON object per line, or CSV with a header. A bad row (not an object, a
missing or non-numeric value, a point outside the domain) does not stop the
stream: its output line carries ``"error"`` with the message a single point
would give, and the run ends with exit status 1.

Kink warnings are not reported per row (the answers follow the same kink
conventions as single points).
"""

from __future__ import annotations

import csv
import io
import json
from itertools import islice
from typing import IO, Iterator, Mapping

from ..base.errors import ChaincliError, ExitStatus, PointError, UsageError
from ..base.jsonout import json_safe
from .point import parse_decimal
from ..base.text import abbreviate, quoted
from .quoting import json_text
from ..base.numbers import plain_number
from ..base.terminal import write_all

CHUNK_ROWS = 8192
FORMATS = ("jsonl", "csv")
# A stream may be endless, but one row is a point: a line past this is no
# point (``/dev/zero`` is one endless line) and stops the stream.
MAX_LINE_CHARS = 1_000_000


class Row:
    """One input row: its line number and its point, or why it has none."""

    __slots__ = ("line", "point", "error")

    def __init__(self, line: int, point: dict | None = None, error: str | None = None):
        self.line = line
        self.point = point
        self.error = error


def input_format(path: str, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise UsageError(f"--points-format must be jsonl or csv, not {json_text(given)}")
        return given
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def read_rows(handle: IO[bytes], fmt: str) -> Iterator[list[Row]]:
    """Chunks of rows from a binary stream."""
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="strict", newline="")
    if fmt == "csv":
        yield from _csv_chunks(_bounded_lines(text))
    else:
        yield from _jsonl_chunks(_bounded_lines(text))


def _bounded_lines(text: IO[str]) -> Iterator[str]:
    """The lines of ``text``, each read to at most ``MAX_LINE_CHARS``."""
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise PointError(f"line {number:,} of the points is longer than "
                             f"{MAX_LINE_CHARS:,} characters")
        yield line


def _jsonl_chunks(text: Iterator[str]) -> Iterator[list[Row]]:
    line_number = 0
    while True:
        lines = _read_lines(text, CHUNK_ROWS)
        if not lines:
            return
        first = line_number + 1
        line_number += len(lines)
        try:
            # One parse for the whole chunk; a bad line sends it line by line.
            decoded = json.loads("[" + ",".join(lines) + "]")
            if len(decoded) != len(lines):
                raise ValueError("a line holds more than one value")
        except (ValueError, RecursionError):
            decoded = [_decode_line(line) for line in lines]
        yield [_row(first + k, item) for k, item in enumerate(decoded)]


def _read_lines(text: Iterator[str], count: int) -> list[str]:
    try:
        return [line.strip() for line in islice(text, count)]
    except UnicodeDecodeError as error:
        raise PointError(f"the points are not UTF-8 text ({error.reason})") from None


class _BadLine:
    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def _decode_line(line: str):
    if not line:
        return _BadLine("the line is empty")
    try:
        return json.loads(line)
    except ValueError as error:
        return _BadLine(f"not valid JSON ({getattr(error, 'msg', error)})")
    except RecursionError:
        return _BadLine("not valid JSON (nested too deeply)")


def _row(line: int, item) -> Row:
    if isinstance(item, _BadLine):
        return Row(line, error=item.message)
    if not isinstance(item, dict):
        return Row(line, error="a point must be a JSON object of name: number")
    for name, value in item.items():
        kind = type(value)
        if kind is float:
            continue
        if kind is not int:
            return Row(line, error=f"the value of {name} must be a number, not "
                                   f"{json_text(value)}")
        if abs(value) >= 2 ** 1024:
            return Row(line, error=f"the value of {name} is too large for a double")
    return Row(line, item)


def _csv_chunks(text: Iterator[str]) -> Iterator[list[Row]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except UnicodeDecodeError as error:
        raise PointError(f"the points are not UTF-8 text ({error.reason})") from None
    names = [name.strip() for name in header]
    if not names or not all(names) or len(set(names)) != len(names):
        raise PointError("the CSV header must name each column once")
    chunk: list[Row] = []
    try:
        for fields in reader:
            chunk.append(_csv_row(reader.line_num, names, fields))
            if len(chunk) == CHUNK_ROWS:
                yield chunk
                chunk = []
    except UnicodeDecodeError as error:
        raise PointError(f"the points are not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        chunk.append(Row(reader.line_num, error=f"not valid CSV ({error})"))
    if chunk:
        yield chunk


def _csv_row(line: int, names: list[str], fields: list[str]) -> Row:
    if len(fields) != len(names):
        return Row(line, error=f"{len(fields)} fields where the header has {len(names)}")
    point = {}
    for name, field in zip(names, fields):
        value = parse_decimal(field)
        if value is None:
            return Row(line, error=f"the value of {name} must be a number, not "
                                   f"{quoted(abbreviate(field))}")
        point[name] = value
    return Row(line, point)


class _Writer:
    """Output lines for results and errors, JSON lines or CSV."""

    def __init__(self, out: IO[bytes], fmt: str, names: list[str]):
        self.out = out
        self.fmt = fmt
        self.names = names
        if fmt == "csv":
            header = ["line", "value", *(f"d/d{name}" for name in names), "error"]
            write_all(out, (",".join(header) + "\r\n").encode("ascii"))
            self.template = "%d," + ",".join(["%s"] * (len(names) + 1)) + ",\r\n"
        else:
            keys = ", ".join(f"{json.dumps(name)}: %s" for name in names)
            self.template = '{"line": %d, "value": %s, "gradient": {' + keys + "}}\n"
        # For rows whose numbers are all finite: %r is repr, JSON's own float format.
        self.finite_template = self.template.replace("%s", "%r")

    def number(self, value: float) -> str:
        if value - value == 0.0:  # finite
            return repr(value)
        if self.fmt == "csv":
            return plain_number(value)
        return json.dumps(json_safe(value))

    def result(self, line: int, value: float, partials: list[float]) -> str:
        return self.template % (line, self.number(value), *map(self.number, partials))

    def error(self, line: int, message: str) -> str:
        if self.fmt == "csv":
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerow([message])
            return f"{line}," + "," * (len(self.names) + 1) + buffer.getvalue()
        return '{"line": %d, "error": %s}\n' % (line, json.dumps(message, ensure_ascii=True))

    def write(self, lines: list[str]) -> None:
        write_all(self.out, "".join(lines).encode("ascii", "backslashreplace"))


def stream_gradient(program, chunks: Iterator[list[Row]], out: IO[bytes], out_format: str,
                    mode: str, wrt: list[str] | None, defaults: Mapping[str, float]) -> int:
    """Evaluate every row; write one line each; the exit status."""
    from ..engine.batch import program as batch
    import numpy as np

    names = program._wrt(wrt)
    variables = program.variables
    writer = _Writer(out, out_format, names)
    status = ExitStatus.OK
    for chunk in chunks:
        lines: list[str | None] = [None] * len(chunk)
        good: list[int] = []
        points: list[dict] = []
        for k, row in enumerate(chunk):
            if row.error is None:
                point = {**defaults, **row.point} if defaults else row.point
                missing = [name for name in variables if name not in point]
                if missing:
                    row.error = f"no value for {', '.join(missing)}"
                else:
                    good.append(k)
                    points.append(point)
            if row.error is not None:
                lines[k] = writer.error(row.line, row.error)
                status = ExitStatus.MATH_ERROR
        if good:
            arrays = {name: np.array([point[name] for point in points], dtype=np.float64)
                      for name in variables}
            result = batch.gradient(program, arrays, mode, names)
            values = result.value.tolist()
            columns = [result.gradient[name].tolist() for name in names]
            finite = np.isfinite(result.value)
            for gradient in result.gradient.values():
                finite &= np.isfinite(gradient)
            finite = finite.tolist()
            template = writer.finite_template
            for n, k in enumerate(good):
                if finite[n]:
                    lines[k] = template % (chunk[k].line, values[n],
                                           *[column[n] for column in columns])
                    continue
                value = values[n]
                if value - value != 0.0:
                    lines[k] = writer.error(chunk[k].line,
                                            _scalar_error(program, points[n], mode, names))
                else:   # a finite value with an infinite partial
                    lines[k] = writer.result(chunk[k].line, value,
                                             [column[n] for column in columns])
                status = ExitStatus.MATH_ERROR
        writer.write(lines)
    return int(status)


def _scalar_error(program, point: dict, mode: str, names: list[str]) -> str:
    """What a single evaluation at this row says (a domain error, or a bad value)."""
    try:
        program.gradient({name: point[name] for name in program.variables},
                         mode=mode, wrt=names)
    except ChaincliError as error:
        return error.message
    return "the value is not finite"  # pragma: no cover - the batch found NaN


