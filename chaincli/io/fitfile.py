"""The parameters a fit reached, written to ``--out`` so ``--at @FILE`` reads them back.

``.npz``: NumPy's archive, one array per parameter (0-d for a scalar),
written without pickles. ``.json``: an object of name → number or nested
lists. Either way the file is written whole or not at all: to a temporary
file beside it, flushed to disk, then renamed over the target (a rename is
atomic on POSIX), so an interrupted or failed run never leaves half a file.
Ctrl-C and termination signals wait while the temporary file exists: the
write ends whole or removed, and the signal then takes effect.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
import threading
from typing import Any, Mapping

from ..base.errors import UsageError
from .files import unwritable

FORMATS = (".npz", ".json")


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait (they are not lost) until the block ends.

    Python-level handlers, not a signal mask: NumPy's BLAS threads do not
    share the main thread's mask, and the kernel may hand a signal to one of
    them. Once the block is over the first signal that came is sent again,
    to the handlers that were there before."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    held = [getattr(signal, name) for name in names if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {number: signal.signal(number, lambda number, frame: came.append(number))
                for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if came:
            os.kill(os.getpid(), came[0])


def check_target(path: str) -> None:
    """Refuse, before any work, a file name or folder ``write`` could not use."""
    name = os.path.basename(path)
    suffix = os.path.splitext(path)[1].lower()
    if name.lower() in FORMATS:
        raise UsageError(f"--out {path}: the name is only the extension; give a name before "
                         f"it (fit{name.lower()})")
    if suffix not in FORMATS:
        raise UsageError(f"--out {path}: the file name must end in .npz or .json (the "
                         "format it is written in)")
    problem = unwritable(path)
    if problem is not None:
        raise UsageError(f"--out {path}: {problem}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"--out {path}: the file is read-only")
    # Permissions do not tell everything (a read-only file system, root): a
    # file made and removed in the folder does.
    folder = os.path.dirname(path) or "."
    with _signals_held():
        try:
            handle, probe = tempfile.mkstemp(dir=folder, suffix=".tmp", prefix=f".{name}.")
        except OSError as error:
            raise UsageError(f"--out {path}: cannot write in the folder {folder} "
                             f"({error.strerror or error})") from None
        os.close(handle)
        os.unlink(probe)


def encode(path: str, parameters: Mapping[str, Any]) -> bytes:
    if path.lower().endswith(".json"):
        from ..base.jsonout import dumps
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
        mode = os.stat(path).st_mode & 0o7777   # a file replaced keeps its permissions
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        mode = 0o666 & ~mask
    # From the temporary file's creation to its rename or removal, a signal
    # would end the process (or raise) with the file left behind: it waits.
    with _signals_held():
        try:
            handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp",
                                                 prefix=f".{os.path.basename(path)}.")
        except OSError as error:
            raise UsageError(f"--out {path}: cannot write it ({error.strerror or error})") \
                from None
        try:
            with os.fdopen(handle, "wb") as stream:
                # mkstemp makes the file private (0600); the fit gets the mode of
                # the file it replaces, or the usual one.
                os.fchmod(stream.fileno(), mode)
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
                raise UsageError(f"--out {path}: cannot write it "
                                 f"({error.strerror or error})") from None
            raise
