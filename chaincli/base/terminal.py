"""What reaches the user's terminal or pipe, written so it cannot misbehave.

The renderers and ``chaincli.cli`` hand their final text or bytes to this module:

* ``write_stdout_bytes`` writes all of a byte string to stdout. Under
  ``python -u`` or ``PYTHONUNBUFFERED`` stdout is a raw file whose ``write``
  may stop part-way (a reader that closes early); a silent short write would
  leave half a JSON document behind an exit status of 0.
* ``printable`` makes control characters visible as ``\\x1b``-style escapes
  (a comment in an expression may hold any character, and echoing an escape
  sequence into a terminal would let input repaint or retitle it).
* ``output_width`` is the width tables and plots are laid out for: a
  ``COLUMNS`` of 0, a negative, a non-number or a billion would otherwise have
  Rich print nothing at all, or pad lines past any screen.
* ``EncodingSafeStream`` wraps a text stream whose encoding lacks characters
  the tables use (``∂``, ``→``, ``…`` under ``PYTHONIOENCODING=ascii`` or the
  C locale): they are written as ASCII stand-ins instead of raising
  ``UnicodeEncodeError``.
"""

from __future__ import annotations

import codecs
import errno
import os
import sys
import unicodedata

# ASCII stand-ins for the non-ASCII characters chaincli itself prints.
ASCII_FALLBACKS = {
    "∂": "d", "→": "->", "←": "<-", "…": "...", "−": "-", "–": "-", "—": "-",
    "×": "*", "·": "*", "²": "^2", "³": "^3", "√": "sqrt", "π": "pi", "∇": "grad",
    "Σ": "sum", "∞": "inf", "≈": "~", "≤": "<=", "≥": ">=", "\u00a0": " ",
    "δ": "d", "⊙": "*", "★": "*",
}
_ERROR_HANDLER = "chaincli-ascii-fallback"

# The widths taken from COLUMNS or a terminal. Below MIN_COLUMNS a table
# breaks into a character per line, so a narrower setting is raised to it;
# a value that is not a number from 1 to MAX_COLUMNS is no terminal's and is
# ignored, as if unset.
MIN_COLUMNS, MAX_COLUMNS = 20, 10_000
DEFAULT_COLUMNS = 80


def _fallback(error: UnicodeEncodeError) -> tuple[str, int]:
    pieces = []
    for char in error.object[error.start:error.end]:
        if char in ASCII_FALLBACKS:
            pieces.append(ASCII_FALLBACKS[char])
            continue
        folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        pieces.append(folded or "?")
    return "".join(pieces), error.end


codecs.register_error(_ERROR_HANDLER, _fallback)


def can_encode(text: str, encoding: str | None) -> bool:
    """Whether ``encoding`` has every character of ``text``."""
    try:
        text.encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def encodable(text: str, encoding: str | None) -> str:
    """``text`` with the characters ``encoding`` lacks replaced by ASCII stand-ins."""
    if not encoding:
        return text
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.encode(encoding, _ERROR_HANDLER).decode(encoding)
    except LookupError:  # an encoding name Python does not know
        return text.encode("ascii", _ERROR_HANDLER).decode("ascii")


class EncodingSafeStream:
    """A text stream proxy whose ``write`` never raises ``UnicodeEncodeError``.

    Everything else (``isatty``, ``fileno``, ``encoding``) is the wrapped
    stream's, so Rich still sees the real terminal and its encoding, and
    picks ASCII table borders itself when the encoding is not UTF.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(encodable(text, getattr(self._stream, "encoding", None)))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def printable(text: str) -> str:
    """``text`` with control and bidi-override characters shown as escapes.

    Newlines and tabs stay; everything in Unicode categories Cc and Cf
    (ESC, BEL, NUL, right-to-left overrides, zero-width joiners) becomes
    ``\\x1b``, ``\\u202e`` and so on.
    """
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cf"):
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def stdout() -> object:
    """``sys.stdout``; an ``OSError`` when the process was started without one."""
    if sys.stdout is None:
        raise OSError(errno.EBADF, "stdout is closed")
    return sys.stdout


def write_stdout_bytes(data: bytes) -> None:
    """All of ``data`` to stdout, then flush; a closed pipe raises BrokenPipeError."""
    write_all(stdout().buffer, data)


def write_all(stream, data: bytes) -> None:
    """All of ``data`` to the binary ``stream``, then flush: a raw stream may take
    only part of a write, and a silent short write would cut a document."""
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written is None:  # a non-blocking stream that would block: retry
            continue
        view = view[written:]
    stream.flush()


def _sane_columns(text) -> int | None:
    text = str(text).strip()
    if not text.isdigit() or not text.isascii():
        return None
    columns = int(text)
    if not 1 <= columns <= MAX_COLUMNS:
        return None
    return max(columns, MIN_COLUMNS)


def columns_setting() -> int | None:
    """``COLUMNS`` as a width, or None when it is unset or no terminal's width."""
    return _sane_columns(os.environ.get("COLUMNS", ""))


def terminal_columns(fds=(0, 1, 2)) -> int | None:
    """The width of the first of ``fds`` that is a terminal, if it reports a sane one."""
    for fd in fds:
        try:
            columns = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        return _sane_columns(columns)
    return None


def output_width() -> int:
    """The width to lay output out for, as Rich picks it but never absurd:
    ``COLUMNS``, else the first standard stream that is a terminal, else 80."""
    return columns_setting() or terminal_columns() or DEFAULT_COLUMNS
