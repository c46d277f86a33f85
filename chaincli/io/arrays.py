"""Tensor values for a point: bracket literals, nested lists, .npy, .npz and CSV files.

The array half of reading a point. ``point`` owns the ``--at`` syntax and
the scalar values, and calls in here only when a value is an array or a
file, so a scalar command line never imports NumPy.

Every value leaves here in one form: a ``float``, or a float64, C-contiguous
NumPy array with at least one axis, no empty axis and only finite elements
(``normalize``). Anything else is one ``PointError`` (exit 2) that says
where and why. Files are data, never code: ``.npy`` and ``.npz`` are read by
parsing their headers here and copying the raw bytes, so a pickle or an
object array is refused before any of it is loaded. Nested input (a bracket
literal, a JSON list) is walked level by level, never recursively, and at
most ``MAX_DIMS`` deep, NumPy's own limit.

Every file is read against a bound stated before it is read (README,
"Limits and hostile input"): a value holds at most ``MAX_ELEMENTS`` elements,
the bound on every intermediate, checked from a header's claim before any
memory is taken; an archive member may not claim more than its compressed
size can expand to; a CSV file is read to at most ``MAX_CSV_BYTES`` bytes in
lines of at most ``MAX_CSV_LINE`` characters.
"""

from __future__ import annotations

import math
import os
import io
import re
import warnings
from array import array as _doubles

import numpy as np

from ..base.errors import PointError
from ..base.shapes import shape_text
from ..engine.values import MAX_DIMS, checked_array, dtype_problem, from_nested
from .files import open_input
from ..base.text import abbreviate, is_name, quoted
from .quoting import json_text
from ..engine.tensor.sweeps import MAX_ELEMENTS

# NumPy's own bound on a header; a numeric array's needs a few hundred bytes.
MAX_NPY_HEADER = 10_000
MAX_CSV_BYTES = 256 * 1024 * 1024
MAX_CSV_LINE = 16 * 1024 * 1024
# Deflate emits at most 258 bytes for 2 bits of input, so a deflated member
# expands at most 1032-fold; a larger claim is a damaged (or forged) archive.
_DEFLATE_RATIO = 1032
# Data is copied in pieces of this size, so a reader that copies (a zip
# member) never holds a second copy of a large array.
_CHUNK = 1 << 22
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive
# The characters that structure a bracket literal; parentheses are tracked so
# that atan2(1, 2) inside an element keeps its comma.
_LITERAL_TOKEN = re.compile(r"[\[\](),]")


# ----- Bracket literals: x=[1, 2, 3], W=[[1, 2], [3, 4]] -----

def literal(name: str, text: str, option: str, parse_element) -> np.ndarray:
    """``[1, pi/2, [..]]`` as an array; ``parse_element(text)`` gives each element's float."""
    where = f"{option} {name}={abbreviate(text)}"
    stack: list[list] = []
    root = None
    last = None  # the previous structural token: "[", ",", "]" or None
    start = 0  # where the text of the current element begins
    parens = 0

    def element(end: int) -> None:
        piece = text[start:end].strip()
        if piece:
            if last == "]":
                raise PointError(f"{where}: {quoted(abbreviate(piece))} follows a closing bracket "
                                 "without a comma")
            stack[-1].append(parse_element(piece))
        elif last in ("[", ",") and not (last == "[" and token == "]"):
            raise PointError(f"{where}: an element is missing (two commas, or a comma "
                             "next to a bracket)")

    for match in _LITERAL_TOKEN.finditer(text):
        token, position = match.group(), match.start()
        if token == "(":
            parens += 1
            continue
        if token == ")":
            parens = max(0, parens - 1)
            continue
        if parens:
            continue
        if token == "[":
            if text[start:position].strip():
                raise PointError(f"{where}: {quoted(abbreviate(text[start:position].strip()))} is followed by "
                                 "'[' without a comma")
            if stack and last == "]":
                raise PointError(f"{where}: a comma is missing between ']' and '['")
            if root is not None and not stack:
                raise PointError(f"{where}: text after the closing bracket")
            new: list = []
            if stack:
                stack[-1].append(new)
            else:
                root = new
            stack.append(new)
            if len(stack) > MAX_DIMS:
                raise PointError(f"{where} is nested more than {MAX_DIMS} deep")
        else:
            if not stack:
                raise PointError(f"{where}: {quoted(token)} outside the brackets")
            element(position)
            if token == "]":
                stack.pop()
        last = token
        start = match.end()
    if stack or root is None:
        raise PointError(f"{where}: a closing ']' is missing")
    if text[start:].strip():
        raise PointError(f"{where}: text after the closing bracket")
    return from_nested(root, where)


# ----- Files -----

def extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


# One entry of a .npy header, a Python dict literal such as
# {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }. The header is
# matched entry by entry against this flat pattern, never evaluated: a shape
# is a parenthesised list of digits, nothing nests.
_HEADER_ENTRY = re.compile(
    r"""\s*(?:'(\w+)'|"(\w+)")\s*:\s*"""
    r"""(?:'([^'\\]*)'|"([^"\\]*)"|(True|False)|\(([^()]*)\))\s*(?:,|\Z)""",
    re.ASCII)
# A structured dtype's descr is a list of fields: refused as such, unparsed.
_STRUCTURED = re.compile(r"""['"]descr['"]\s*:\s*\[""", re.ASCII)
_HEADER_KEYS = ("descr", "fortran_order", "shape")
_SIZE = re.compile(r"\d{1,18}\Z", re.ASCII)


def _damaged(where: str, why: str) -> PointError:
    return PointError(f"{where} has a damaged .npy header ({why})")


def _npy_header(text: str, where: str) -> tuple[np.dtype, bool, tuple[int, ...]]:
    """The dtype, Fortran order and shape a .npy header states."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise _damaged(where, "it is not a dictionary of descr, fortran_order and shape")
    if _STRUCTURED.search(text):
        raise PointError(f"{where} holds structured data, not numbers")
    body = text[1:-1]
    entries = {}
    position = 0
    while body[position:].strip():
        match = _HEADER_ENTRY.match(body, position)
        if not match:
            raise _damaged(where, f"unreadable from character {position + 2}")
        key = match.group(1) or match.group(2)
        if key not in _HEADER_KEYS:
            raise _damaged(where, f"the unknown key {json_text(key)}")
        if key in entries:
            raise _damaged(where, f"{key} is given twice")
        entries[key] = match
        position = match.end()
    missing = [key for key in _HEADER_KEYS if key not in entries]
    if missing:
        raise _damaged(where, f"it lacks {' and '.join(missing)}")
    descr, order, shape = (entries[key] for key in _HEADER_KEYS)
    name = descr.group(3) if descr.group(3) is not None else descr.group(4)
    if name is None:
        raise _damaged(where, "descr must be a dtype such as '<f8'")
    if order.group(5) is None:
        raise _damaged(where, "fortran_order must be True or False")
    inner = shape.group(6)
    if inner is None:
        raise _damaged(where, "the shape must be a tuple such as (2, 3)")
    items = [item.strip() for item in inner.split(",")]
    if len(items) > 1 and not items[-1]:
        items.pop()  # the trailing comma of (3,)
    elif len(items) == 1 and items[0]:
        raise _damaged(where, "the shape must be a tuple such as (3,)")
    if items == [""]:
        items = []
    if len(items) > MAX_DIMS:
        raise PointError(f"{where} has {len(items)} dimensions; at most {MAX_DIMS} are allowed")
    for item in items:
        if not _SIZE.match(item):
            if item.isdigit():
                raise PointError(f"{where} has the size {abbreviate(item)} in its shape, "
                                 f"more than a value holds (at most {MAX_ELEMENTS:,} "
                                 "elements)")
            raise _damaged(where, f"its shape lists {abbreviate(item)}, not a whole "
                                  "number of elements")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy's deprecations speak of NumPy
            dtype = np.dtype(name)
    except (TypeError, ValueError, OverflowError):
        raise _damaged(where, f"{json_text(name)} is not a NumPy dtype") from None
    return dtype, order.group(5) == "True", tuple(map(int, items))


def _read_npy(handle, where: str, available: int | None,
              budget: int = MAX_ELEMENTS) -> np.ndarray:
    """One .npy array from ``handle``, which holds ``available`` bytes from here.

    The header is parsed and its dtype and size checked before any data is
    read; the data is then copied as raw bytes, so nothing in the file is
    ever run. At most ``budget`` elements are accepted."""
    if handle.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
        raise PointError(f"{where} is not a NumPy .npy array (it lacks the .npy signature)")
    version = tuple(handle.read(2))
    if len(version) != 2:
        raise PointError(f"{where} is a truncated .npy file")
    if version not in ((1, 0), (2, 0)):
        raise PointError(f"{where} is a .npy file of version "
                         f"{version[0]}.{version[1]}, which holds structured data; "
                         "chaincli reads numeric arrays (versions 1.0 and 2.0)")
    width = 2 if version == (1, 0) else 4
    length_bytes = handle.read(width)
    if len(length_bytes) != width:
        raise PointError(f"{where} is a truncated .npy file")
    length = int.from_bytes(length_bytes, "little")
    if length > MAX_NPY_HEADER:
        raise PointError(f"{where} has a .npy header of {length:,} bytes, more than the "
                         f"{MAX_NPY_HEADER:,} chaincli reads (a numeric array needs far fewer)")
    header = handle.read(length)
    if len(header) != length:
        raise PointError(f"{where} is a truncated .npy file")
    header_start = len(_NPY_MAGIC) + 2 + width + length
    dtype, fortran, shape = _npy_header(header.decode("latin-1"), where)
    problem = dtype_problem(dtype)
    if problem:
        raise PointError(f"{where} {problem}")
    count = math.prod(shape)
    if count == 0:
        raise PointError(f"{where} is empty (shape {abbreviate(shape_text(shape))}); a "
                         "value needs at least one element")
    size = count * dtype.itemsize
    if available is not None and size > available - header_start:
        raise PointError(f"{where} is truncated: its header promises "
                         f"{abbreviate(f'{size:,}')} bytes of data (shape "
                         f"{abbreviate(shape_text(shape))})")
    if count > budget:
        whole = "" if budget == MAX_ELEMENTS else " (counting the arrays before it)"
        raise PointError(f"{where} holds {count:,} elements{whole}; a file of values holds "
                         f"at most {MAX_ELEMENTS:,}")
    buffer = bytearray(size)
    view, filled = memoryview(buffer), 0
    while filled < size:
        got = handle.readinto(view[filled:filled + _CHUNK])
        if not got:
            raise PointError(f"{where} is truncated: {filled:,} of {size:,} bytes of data")
        filled += got
    data = np.frombuffer(buffer, dtype=dtype, count=count)
    return data.reshape(shape, order="F" if fortran else "C")


def read_npy(path: str, where: str) -> float | np.ndarray:
    with open_input(path) as handle:
        try:
            available = os.fstat(handle.fileno()).st_size
        except OSError:
            available = None
        return checked_array(_read_npy(handle, where, available), where)


def _check_claim(path: str, name: str, info, archive_size: int) -> None:
    """Refuse a member whose stated sizes its archive cannot hold, before reading it."""
    import zipfile
    claim = None
    if info.compress_size > archive_size:
        claim = f"{info.compress_size:,} compressed bytes in an archive of {archive_size:,}"
    elif info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        claim = (f"{info.file_size:,} bytes, stored uncompressed in "
                 f"{info.compress_size:,}")
    elif (info.compress_type == zipfile.ZIP_DEFLATED
          and info.file_size > _DEFLATE_RATIO * info.compress_size + 1024):
        claim = (f"{info.file_size:,} bytes, more than {info.compress_size:,} deflated "
                 "bytes can expand to")
    if claim:
        raise PointError(f"{path} is a damaged .npz archive: its array {name} claims {claim}")


def read_npz(path: str) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, by member name (``W1.npy`` gives ``W1``).

    The archive's arrays hold at most ``MAX_ELEMENTS`` elements together."""
    import zipfile
    import zlib
    values: dict[str, np.ndarray] = {}
    with open_input(path) as handle:
        if handle.read(4) not in _ZIP_MAGIC:
            raise PointError(f"{path} is not an .npz archive (it is not a zip file)")
        try:
            archive_size = handle.seek(0, os.SEEK_END)
            handle.seek(0)
        except OSError:  # a pipe: a zip is read from its end
            raise PointError(f"{path} is not a file chaincli can read as an .npz archive "
                             "(it cannot be read from the end)") from None
        budget = MAX_ELEMENTS
        try:
            with zipfile.ZipFile(handle) as archive:
                for info in archive.infolist():
                    member = info.filename
                    if not member.endswith(".npy") or info.is_dir():
                        raise PointError(f"{path} holds {json_text(member)}, which is not a "
                                         ".npy array; an .npz archive holds only arrays")
                    name = member[:-4]
                    if not is_name(name):
                        raise PointError(f"{path}: the array {json_text(name)} is not named "
                                         "like a variable (letters, digits and _)")
                    if name in values:
                        raise PointError(f"{path} holds {name} twice")
                    _check_claim(path, name, info, archive_size)
                    with archive.open(info) as stream:
                        array = _read_npy(stream, f"{path}: {name}", info.file_size, budget)
                    budget -= array.size
                    values[name] = checked_array(array, f"{path}: {name}")
        except PointError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ValueError) as error:
            raise PointError(f"{path} is not a readable .npz archive ({error})") from None
    if not values:
        raise PointError(f"{path} holds no arrays")
    return values


def _is_header(fields: list[str], numbers_: list) -> bool:
    """A row of names: no field a number, and every field holding a letter."""
    return all(number is None and any(char.isalpha() for char in field)
               for field, number in zip(fields, numbers_))


def _fast_row(record: list[str]) -> list[float] | None:
    """The numbers of a CSV row of plain finite decimals, or None to take the slow path.

    ``float()`` of ASCII text without ``_`` is a plain decimal or ``inf``/``nan``
    (letters, which make the sum non-finite) or an error: the same numbers
    ``point.parse_decimal`` accepts, without a Python call per field."""
    text = "".join(record)
    if not text.isascii() or "_" in text:
        return None
    try:
        numbers_ = list(map(float, record))
    except ValueError:
        return None
    return numbers_ if math.isfinite(sum(numbers_)) else None


def _check_row(fields: list[str], numbers_: list, where: str) -> None:
    """The error for the first field that is not a finite plain decimal, if any."""
    for column, (field, number) in enumerate(zip(fields, numbers_)):
        if number is None:
            hint = (" (fields are separated by commas)"
                    if any(sep in field for sep in ";\t") else "")
            shown = "an empty field" if not field else f"{quoted(abbreviate(field))}"
            raise PointError(f"{where}, column {column + 1}: {shown} is not a number{hint}")
        if not math.isfinite(number):
            raise PointError(f"{where}, column {column + 1}: {quoted(abbreviate(field))} is not a "
                             "finite number")


def _fields(count: int) -> str:
    return f"{count} field" + ("" if count == 1 else "s")


class _Capped(io.RawIOBase):
    """A binary file read to at most ``limit`` bytes; reading past them is refused."""

    def __init__(self, raw, limit: int, where: str):
        self.raw, self.left, self.where = raw, limit, where
        self.limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer)
        got = self.raw.readinto(view[:min(len(view), self.left + 1)])
        self.left -= got or 0
        if self.left < 0:
            raise PointError(f"{self.where} is larger than {self.limit:,} bytes, the most "
                             "chaincli reads from a CSV file (store larger arrays as .npy)")
        return got


def _lines(text, where: str):
    """The lines of ``text``, each at most ``MAX_CSV_LINE`` characters."""
    number = 0
    while True:
        line = text.readline(MAX_CSV_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_CSV_LINE:
            raise PointError(f"{where} line {number} is longer than {MAX_CSV_LINE:,} "
                             "characters, the most chaincli reads in one line")
        yield line


def read_csv(path: str, where: str, notices: list[str] | None,
             parse_number) -> np.ndarray:
    """A CSV file of numbers: a matrix, or a vector of shape (n,) for one row or column.

    Read a line at a time into a packed array of doubles (8 bytes a number).
    ``parse_number`` is ``point.parse_decimal``: plain decimals only.
    A first row with no number in it is a header: skipped, with a notice."""
    import csv
    values = _doubles("d")
    columns = None
    rows = 0
    header = None
    with open_input(path) as raw:
        capped = io.BufferedReader(_Capped(raw, MAX_CSV_BYTES, f"{where}: {path}"))
        text = io.TextIOWrapper(capped, encoding="utf-8-sig", newline="")
        reader = csv.reader(_lines(text, f"{where}: {path}"))
        try:
            for record in reader:
                if len(record) > 1 and not record[-1].strip():
                    record.pop()  # one trailing comma, as some tools write
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # a blank line
                numbers_ = _fast_row(record)
                if numbers_ is None:
                    fields = [field.strip() for field in record]
                    numbers_ = [parse_number(field) for field in fields]
                    if None in numbers_ and rows == 0 and columns is None and _is_header(
                            fields, numbers_):
                        columns = len(fields)
                        header = abbreviate(", ".join(fields), 60)
                        if notices is not None:
                            notices.append(f"{where}: skipped the header row of {path} "
                                           f"({header})")
                        continue
                    _check_row(fields, numbers_, f"{where}: {path} line {reader.line_num}")
                if columns is None:
                    columns = len(numbers_)
                elif len(numbers_) != columns:
                    raise PointError(f"{where}: {path} line {reader.line_num} has "
                                     f"{_fields(len(numbers_))}, the first row {columns}; "
                                     "every row must have the same number")
                values.extend(numbers_)
                rows += 1
                if len(values) > MAX_ELEMENTS:
                    raise PointError(f"{where}: {path} holds more than {MAX_ELEMENTS:,} "
                                     f"numbers (at line {reader.line_num}), the most a file "
                                     "of values holds")
        except UnicodeDecodeError as error:
            raise PointError(f"{where}: {path} is not UTF-8 text (byte 0x"
                             f"{error.object[error.start]:02x}); is it a CSV file?") from None
        except csv.Error as error:
            raise PointError(f"{where}: {path} is not a CSV file of numbers "
                             f"(line {reader.line_num}: {error})") from None
    if not rows:
        if header is not None:
            # The notice would be lost with the error: the error says it.
            raise PointError(f"{where}: {path} holds no numbers: its one row ({header}) was "
                             "taken for a header of column names; numbers are plain "
                             "decimals such as 16 or -2.5e3")
        raise PointError(f"{where}: {path} holds no numbers")
    data = np.frombuffer(values, dtype=np.float64)
    if rows > 1 and columns > 1:
        data = data.reshape(rows, columns)
    # One row or one column is a vector, never (n, 1): a column of labels must
    # not broadcast into an n×n matrix against a vector.
    return checked_array(data, where)
