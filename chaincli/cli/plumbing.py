"""Command-line plumbing that needs no CLI framework: reading inputs, writing results,
reporting errors.

Both the Typer app (``cli``) and the fast path for plain command lines
(``cli_fast``) use these, so the two cannot differ in what they read or write.
"""

from __future__ import annotations

import os
import sys

from ..base.errors import ChaincliError, ExitStatus, UsageError, spelled
from ..io.files import MAX_INPUT_BYTES, decode_text, read_text_file, unwritable

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Callable, List, Optional


# The parameters whose option is not their name with two dashes.
_OPTIONS = {"start": "--from", "stop": "--to"}


def option(parameter: str) -> str:
    """How the command line spells a parameter the library names: ``tol`` is ``--tol``."""
    return _OPTIONS.get(parameter) or "--" + parameter.replace("_", "-")


def worded(message: str) -> str:
    """A library message with its parameters named by their options."""
    return spelled(message, option)


def _report(error: ChaincliError) -> None:
    lines = [f"Error: {worded(error.message)}"]
    context = error.context()
    if context:
        lines.append(context)
    if error.hint:
        lines.append(f"Hint: {error.hint}")
    write_stderr("\n".join(lines) + "\n")


def warn(notices) -> None:
    for notice in notices:
        write_stderr(f"Warning: {notice.message}\n")


def write_stderr(text: str) -> None:
    # Messages quote the user's text: no escape sequence reaches the terminal.
    from ..base.terminal import encodable, printable
    if sys.stderr is not None:  # started with stderr closed: nowhere to say it
        sys.stderr.write(encodable(printable(text), sys.stderr.encoding))


def _silence_stdout() -> None:
    # Further writes (and the interpreter's final flush) must not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run_guarded(command: Callable[[], object], passthrough: tuple = ()) -> int:
    """Run ``command``; its exit status, with every failure turned into a message.

    Library errors, Ctrl-C, a closed pipe and an unwritable stdout each get
    one line on stderr (or none, for the pipe) and their exit status; any
    other exception is a bug in chaincli and gets one ``internal error`` line
    (``CHAINCLI_DEBUG=1`` shows the traceback). ``passthrough`` exceptions
    (the CLI framework's own exits) are re-raised untouched.
    """
    try:
        return int(command() or 0)
    except passthrough:
        raise
    except ChaincliError as error:
        _report(error)
        return int(error.exit_status)
    except MemoryError:
        write_stderr("Error: not enough memory for this computation\n")
        return int(ExitStatus.MATH_ERROR)
    except KeyboardInterrupt:
        write_stderr("Interrupted\n")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return int(ExitStatus.BROKEN_PIPE)
    except OSError as error:  # stdout closed or its disk full: no output possible
        _silence_stdout()
        write_stderr(f"Error: cannot write the output: {error.strerror or error}\n")
        return int(ExitStatus.USAGE_ERROR)
    except Exception as error:  # a bug in chaincli: one line, not a traceback
        if os.environ.get("CHAINCLI_DEBUG"):
            raise
        write_stderr(f"Error: internal error: {type(error).__name__}: {error} "
                      "(set CHAINCLI_DEBUG=1 for the traceback)\n")
        return int(ExitStatus.MATH_ERROR)


def read_expression(expr: str) -> str:
    """The expression text from argv, stdin ('-') or a file ('@path')."""
    if expr == "-":
        return decode_text(sys.stdin.buffer.read(MAX_INPUT_BYTES + 1), "stdin")
    if expr.startswith("@") and len(expr) > 1:
        return read_text_file(expr[1:])
    # Python keeps bytes of argv that are not UTF-8 as lone surrogates; refuse
    # them as stdin and files are refused, rather than echo them into JSON.
    return decode_text(os.fsencode(expr), "the expression") if not expr.isascii() else expr


def open_output(path: str, option: str):
    """``path`` opened for writing bytes, or a ``UsageError`` naming ``option``."""
    problem = unwritable(path)
    if problem is not None:
        raise UsageError(f"{option} {path}: {problem}")
    try:
        return open(path, "wb")
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write it ({error.strerror})") from None


def parse_wrt(wrt: Optional[str]) -> Optional[list[str]]:
    if wrt is None:
        return None
    import re  # only for --wrt, which a plain grad does not have
    # Commas inside brackets belong to an element: --wrt W1[0,1],b1
    names = [name.strip() for name in re.split(r",(?![^\[]*\])", wrt) if name.strip()]
    if not names:
        raise UsageError("--wrt needs at least one variable name")
    return names


def write_json(data) -> None:
    from ..base.jsonout import dumps
    from ..base.terminal import write_stdout_bytes
    write_stdout_bytes(dumps(data).encode("ascii") + b"\n")


def write_text(text: str) -> None:
    # Through the byte layer, like JSON: a short write must not pass as done.
    from ..base.terminal import encodable, stdout, write_stdout_bytes
    stream = stdout()
    stream.flush()
    encoding = stream.encoding or "utf-8"
    write_stdout_bytes(encodable(text, encoding).encode(encoding, "replace"))


def emit(fmt: str, data: Callable[[], object], plain: Callable[[], str],
         table: Callable[[], None]) -> None:
    """Write a result in ``fmt``: JSON of ``data()``, the text ``plain()``, or ``table()``.

    The callables are called only for the format chosen, so a renderer (and
    Rich under it) is imported only when its output is asked for."""
    if fmt == "json":
        write_json(data())
    elif fmt == "plain":
        write_text(plain())
    else:
        table()


def load_point(at: List[str]) -> dict:
    """The ``--at`` options as a point; remarks on the input go to stderr as warnings."""
    from ..io.point import parse_points
    notices: list[str] = []
    point = parse_points(at, read_file=read_text_file, notices=notices)
    for notice in notices:
        write_stderr(f"Warning: {notice}\n")
    return point


def load_expression(expr: str, at: List[str]):
    from ..engine.program import compile_expression
    text = read_expression(expr)
    program = compile_expression(text)
    point = load_point(at)
    return program, point
