"""Opening the files chaincli reads, with one wording for why one cannot be read.

Expressions, points and streams (``cli_io``) and files of array values
(``array_input``) all open their input through ``open_input``.
"""

from __future__ import annotations

from ..base.errors import InputError


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
