"""Errors raised anywhere in the pipeline, each knowing its exit status.

The library (everything below ``chaincli.cli`` and ``chaincli.render``) never
prints or exits: every stage raises one of these, and ``cli.plumbing`` turns it into one ``Error: …`` line on stderr (plus the source
line and a caret when the error has a position) and the matching exit code.
"""

from __future__ import annotations

from .terminal import printable

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Callable


class ExitStatus:
    """The exit statuses, as plain ints (``enum`` would cost every run its import)."""

    OK = 0
    MATH_ERROR = 1
    USAGE_ERROR = 2
    BROKEN_PIPE = 141
    INTERRUPTED = 130


class Phrase(str):
    """A message that names parameters, spelled as the library's keyword arguments.

    A ``{field}`` of ``template`` that ``values`` does not fill is a parameter
    (``{wrt}``, ``{tol}``): the message names it as the Python API does
    (``wrt``, ``tol``), and ``spelled`` names it another way, as the command
    line does by its options. So the library never quotes an option, and the
    command line's messages still do."""

    template: str
    values: dict

    def __new__(cls, template: str, **values):
        self = super().__new__(cls, template.format_map(_Filled(values, str)))
        self.template, self.values = template, values
        return self

    def spelled(self, word: Callable[[str], str]) -> str:
        """The message with each parameter ``name`` written as ``word(name)``."""
        return self.template.format_map(_Filled(self.values, word))


class _Filled(dict):
    def __init__(self, values: dict, word: Callable[[str], str]):
        super().__init__(values)
        self.word = word

    def __missing__(self, name: str) -> str:
        return self.word(name)


def spelled(text: str, word: Callable[[str], str]) -> str:
    """``text`` with its parameters written by ``word`` if it is a ``Phrase``."""
    return text.spelled(word) if isinstance(text, Phrase) else text


class ChaincliError(Exception):
    """Base of every error chaincli reports to its user."""

    exit_status = ExitStatus.USAGE_ERROR

    def __init__(self, message: str, *, source: str | None = None,
                 span: tuple[int, int] | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.span = span
        self.hint = hint

    def context(self, max_width: int = 72) -> str | None:
        """The source line holding the error with carets under the span."""
        if self.source is None or self.span is None:
            return None
        return source_context(self.source, self.span, max_width)


class UsageError(ChaincliError):
    """Options that contradict each other or name nothing."""


class ParseError(ChaincliError):
    """The text is not a chaincli expression."""


class UnknownNameError(ChaincliError):
    """A function name that is not in the primitive table, or a misused name."""


class ArityError(ChaincliError):
    """A function called with the wrong number of arguments."""


class ShapeError(ChaincliError):
    """Arrays whose shapes an operation cannot take (found before any arithmetic)."""


class PointError(ChaincliError):
    """A missing, malformed or unusable value given with ``--at``."""


class InputError(ChaincliError):
    """An expression or point file that cannot be read."""


class DomainError(ChaincliError):
    """A value outside a function's domain, a pole, or an overflow.

    ``reason`` is the bare cause (``"division by zero"``), for messages that
    name the failing expression their own way."""

    exit_status = ExitStatus.MATH_ERROR

    def __init__(self, message: str, *, reason: str | None = None, **context):
        super().__init__(message, **context)
        self.reason = reason or message


def missing_values(names: list[str]) -> PointError:
    """The error for variables that were given no value."""
    given = ",".join(f"{name}=…" for name in names)
    noun, pronoun = ("variable", "it") if len(names) == 1 else ("variables", "them")
    return PointError(f"no value for the {noun} {', '.join(names)}; "
                      f"give {pronoun} with --at {given}")


def unknown_names(option: str, unknown: list[str], known: list[str]) -> PointError:
    """The error for a parameter (``"wrt"``) or an option spelled out (``"--direction"``)
    naming variables the expression does not use."""
    named = option if option.startswith("-") else "{" + option + "}"
    return PointError(Phrase(named + " names {unknown}, which the expression does not use "
                             "(its variables: {known})", unknown=", ".join(unknown),
                             known=", ".join(known) or "none"))


def source_context(source: str, span: tuple[int, int], max_width: int = 72) -> str:
    """Two lines: the source line around ``span`` and carets beneath it.

    Long lines (a generated expression can be megabytes on one line) are cut
    to a window around the span, marked with ``…``.
    """
    start, end = span
    start = max(0, min(start, len(source)))
    end = max(start + 1, min(end, len(source)))
    line_start = source.rfind("\n", 0, start) + 1
    line_end = source.find("\n", start)
    if line_end == -1:
        line_end = len(source)
    end = min(end, max(line_end, start + 1))
    line_no = source.count("\n", 0, start) + 1
    column = start - line_start

    window_start, window_end = line_start, line_end
    prefix = suffix = ""
    if line_end - line_start > max_width:
        before = max_width // 3
        window_start = max(line_start, start - before)
        window_end = min(line_end, window_start + max_width)
        if window_start > line_start:
            prefix = "…"
        if window_end < line_end:
            suffix = "…"
    # Each character as it will be shown: control characters (a comment may
    # hold any) become visible escapes, and the carets follow their widths.
    shown = [" " if char in "\t\r" else printable(char)
             for char in source[window_start:window_end]]
    text = "".join(shown)
    first, last = start - window_start, min(end, window_end) - window_start
    caret_from = len(prefix) + sum(map(len, shown[:first]))
    caret_len = max(1, sum(map(len, shown[first:last])))
    location = f"line {line_no}, column {column + 1}"
    return (f"  {prefix}{text}{suffix}\n"
            f"  {' ' * caret_from}{'^' * caret_len}  ({location})")
