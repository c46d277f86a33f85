"""The parameters a fit reached, written to ``--out`` so ``--at @FILE`` reads them back.

``.npz``: NumPy's archive, one array per parameter (0-d for a scalar),
written without pickles. ``.json``: an object of name → number or nested
lists. Either way the file is written whole or not at all: to a temporary
file beside it, flushed to disk, then renamed over the target (a rename is
atomic on POSIX), so an interrupted or failed run never leaves half a file.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any, Mapping

from .errors import UsageError

FORMATS = (".npz", ".json")


def check_target(path: str) -> None:
    """Refuse, before any work, a file name or folder ``write`` could not use."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        raise UsageError(f"--out {path}: the file name must end in .npz or .json (the "
                         "format it is written in)")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"--out {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"--out {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out {path}: the folder {folder} is not writable")


def encode(path: str, parameters: Mapping[str, Any]) -> bytes:
    if path.lower().endswith(".json"):
        from .jsonout import dumps
        data = {name: value.tolist() if hasattr(value, "tolist") else float(value)
                for name, value in parameters.items()}
        return (dumps(data) + "\n").encode("ascii")
    import zipfile
    import numpy as np
    # The archive np.savez writes, built member by member: np.savez's keywords
    # would clash with parameters named ``file`` or ``allow_pickle``.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, value in parameters.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(value, dtype=np.float64),
                                          allow_pickle=False)
    return buffer.getvalue()


def write(path: str, parameters: Mapping[str, Any]) -> None:
    """``parameters`` to ``path`` atomically, in the format its suffix names."""
    check_target(path)
    data = encode(path, parameters)
    folder = os.path.dirname(path) or "."
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp",
                                             prefix=f".{os.path.basename(path)}.")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            # mkstemp makes the file private (0600); the fit gets the usual mode.
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(stream.fileno(), 0o666 & ~mask)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
        raise
