"""Opening the files chaincli reads, with one wording for why one cannot be read.

Expressions, points and streams (``cli.plumbing``), points and files of
array values (``io.point``, ``io.arrays``) all open their input through
``open_input``; a text file (an expression, a JSON point) is read whole, up
to ``MAX_INPUT_BYTES``, and decoded by ``read_text_file``.
"""

from __future__ import annotations

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
        raise InputError(f"cannot read {path}: it is a directory") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None


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
