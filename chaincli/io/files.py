"""Opening the files chaincli reads, with one wording for why one cannot be
read, and one for why a file cannot be written.

Expressions, points and streams (``cli.plumbing``), points and files of
array values (``io.point``, ``io.arrays``) all open their input through
``open_input``; a text file (an expression, a JSON point) is read whole, up
to ``MAX_INPUT_BYTES``, and decoded by ``read_text_file``. The files
``minimize`` writes (``--out``, ``--trace``) are looked at first by
``unwritable``.
"""

from __future__ import annotations

import os

from ..base.errors import InputError

# Parsing costs up to about 400 bytes of memory per input character; past this
# size an expression is refused rather than read (README, "Limits and hostile input").
MAX_INPUT_BYTES = 2_000_000


def open_input(path: str):
    """``path`` opened for reading bytes, or an ``InputError`` saying why not."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {path}: it is a folder") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None


def unwritable(path: str) -> str | None:
    """Why no file can be written at ``path``, as far as its folder shows
    before anything is written; None when nothing stands in the way yet."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            return f"{folder} is not a folder"
        return f"the folder {folder} does not exist"
    if os.path.isdir(path):
        return "it is a folder"
    return None


def read_text_file(path: str) -> str:
    with open_input(path) as handle:
        try:
            data = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror}") from None
    return decode_text(data, path)


def decode_text(data: bytes, where: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{where} is larger than {MAX_INPUT_BYTES:,} bytes, the most "
                         "chaincli reads")
    try:
        # A byte-order mark (Windows editors write one) is not part of the text.
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InputError(f"{where} is not UTF-8 text (byte 0x{data[error.start]:02x} at "
                         f"offset {error.start})") from None
