"""The command line: parse arguments, call the library, pick a renderer.

This is the only module that prints or exits. Library errors arrive as
``ChaincliError`` and leave as one ``Error: …`` line on stderr (with the
source line and a caret when there is one) and the error's exit status:
0 ok, 1 math or domain error, 2 usage or parse error, 130 interrupted.
stdout carries only data; warnings and diagnostics go to stderr. Rich is
imported only when a table is printed, so the JSON path stays light.
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from typing import Callable, List, Optional

import typer

from . import __version__
from .errors import ChaincliError, ExitStatus, InputError, UsageError

app = typer.Typer(
    name="chaincli",
    help="Gradients from the shell, with the chain rule that computed them.\n\n"
         "Example: chaincli grad \"sin(x*y)\" --at x=1,y=2",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    table = "table"
    json = "json"
    plain = "plain"


class Mode(str, Enum):
    reverse = "reverse"
    forward = "forward"


class ExplainView(str, Enum):
    paths = "paths"
    forward = "forward"
    reverse = "reverse"
    none = "none"


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"chaincli {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", callback=_version,
                                       is_eager=True, help="Print the version and exit.")):
    """Gradients from the shell, with the chain rule that computed them.

    Example: chaincli grad "sin(x*y)" --at x=1,y=2
    """


# ----- Shared options -----

EXPR_HELP = "The expression; '-' reads it from stdin, '@file' from a file."
AT_HELP = ("Values of the variables: x=1,y=2 (repeatable; values may be constant "
           "expressions such as pi/2), or @point.json.")
FORMAT_HELP = "Output format: table (default), json or plain."
JSON_HELP = "Same as --format json."


def _handle_errors(command: Callable) -> Callable:
    """Turn library errors, Ctrl-C and closed pipes into messages and exit codes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            status = command(*args, **kwargs)
        except ChaincliError as error:
            _report(error)
            raise typer.Exit(int(error.exit_status))
        except KeyboardInterrupt:
            sys.stderr.write("Interrupted\n")
            raise typer.Exit(int(ExitStatus.INTERRUPTED))
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(int(ExitStatus.BROKEN_PIPE))
        except OSError as error:  # stdout closed or its disk full: no output possible
            _silence_stdout()
            _write_stderr(f"Error: cannot write the output: {error.strerror or error}\n")
            raise typer.Exit(int(ExitStatus.USAGE_ERROR))
        except typer.Exit:
            raise
        except Exception as error:  # a bug in chaincli: one line, not a traceback
            if os.environ.get("CHAINCLI_DEBUG"):
                raise
            sys.stderr.write(f"Error: internal error: {type(error).__name__}: {error} "
                             "(set CHAINCLI_DEBUG=1 for the traceback)\n")
            raise typer.Exit(int(ExitStatus.MATH_ERROR))
        raise typer.Exit(int(status or 0))

    return wrapper


def _report(error: ChaincliError) -> None:
    lines = [f"Error: {error.message}"]
    context = error.context()
    if context:
        lines.append(context)
    if error.hint:
        lines.append(f"Hint: {error.hint}")
    _write_stderr("\n".join(lines) + "\n")


def _warn(notices) -> None:
    for notice in notices:
        _write_stderr(f"Warning: {notice.message}\n")


def _write_stderr(text: str) -> None:
    # Messages quote the user's text: no escape sequence reaches the terminal.
    from .terminal import encodable, printable
    if sys.stderr is not None:  # started with stderr closed: nowhere to say it
        sys.stderr.write(encodable(printable(text), sys.stderr.encoding))


def _silence_stdout() -> None:
    # Further writes (and the interpreter's final flush) must not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# Parsing costs up to about 400 bytes of memory per input character; past this
# size an expression is refused rather than read (README, "Limits and hostile input").
MAX_INPUT_BYTES = 2_000_000


def read_expression(expr: str) -> str:
    """The expression text from argv, stdin ('-') or a file ('@path')."""
    if expr == "-":
        return _decode(sys.stdin.buffer.read(MAX_INPUT_BYTES + 1), "stdin")
    if expr.startswith("@") and len(expr) > 1:
        return read_text_file(expr[1:])
    # Python keeps bytes of argv that are not UTF-8 as lone surrogates; refuse
    # them as stdin and files are refused, rather than echo them into JSON.
    return _decode(os.fsencode(expr), "the expression") if not expr.isascii() else expr


def read_text_file(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {path}: it is a directory") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    return _decode(data, path)


def _decode(data: bytes, where: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{where} is larger than {MAX_INPUT_BYTES:,} bytes, the most "
                         "chaincli reads")
    try:
        # A byte-order mark (Windows editors write one) is not part of the text.
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InputError(f"{where} is not UTF-8 text (byte 0x{data[error.start]:02x} at "
                         f"offset {error.start})") from None


def _output_format(fmt: Optional[Format], json_flag: bool) -> Format:
    if json_flag and fmt not in (None, Format.json):
        raise UsageError(f"--json and --format {fmt.value} disagree; give one of them")
    if json_flag:
        return Format.json
    return fmt or Format.table


def _parse_wrt(wrt: Optional[str]) -> Optional[list[str]]:
    if wrt is None:
        return None
    names = [name.strip() for name in wrt.split(",") if name.strip()]
    if not names:
        raise UsageError("--wrt needs at least one variable name")
    return names


def _write_json(data) -> None:
    from .jsonout import dumps
    from .terminal import write_stdout_bytes
    write_stdout_bytes(dumps(data).encode("ascii") + b"\n")


def _write_text(text: str) -> None:
    # Through the byte layer, like JSON: a short write must not pass as done.
    from .terminal import encodable, stdout, write_stdout_bytes
    stream = stdout()
    stream.flush()
    encoding = stream.encoding or "utf-8"
    write_stdout_bytes(encodable(text, encoding).encode(encoding, "replace"))


def _load(expr: str, at: List[str]):
    from .point import parse_points
    from .program import compile_expression
    text = read_expression(expr)
    program = compile_expression(text)
    point = parse_points(at, read_file=read_text_file)
    return program, point


# ----- Commands -----

# An expression may start with "-" ("-x^2"): unknown options are taken as EXPR.
EXPR_SETTINGS = {"ignore_unknown_options": True}


@app.command(context_settings=EXPR_SETTINGS)
@_handle_errors
def grad(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR"),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP, show_default=False),
    mode: Mode = typer.Option(Mode.reverse, "--mode", "-m",
                              help="Differentiation mode: reverse (one sweep for all "
                                   "partials) or forward (one sweep per variable)."),
    wrt: Optional[str] = typer.Option(None, "--wrt", "-w",
                                      help="Only these variables, comma-separated.",
                                      show_default=False),
    output_format: Optional[Format] = typer.Option(None, "--format", "-f", help=FORMAT_HELP,
                                                   show_default=False),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
    explain_view: ExplainView = typer.Option(
        ExplainView.paths, "--explain", "-e",
        help="What the table shows besides value and gradient: paths (the chain rule, "
             "path by path), forward (tangent trace, one sweep per variable), reverse "
             "(adjoint trace, one sweep) or none. JSON gets a chain key unless none, "
             "and a trace key for forward and reverse."),
    max_paths: int = typer.Option(16, "--max-paths", min=0, max=10_000,
                                  help="List at most N paths per variable; the rest "
                                       "are counted and summed from the adjoints.",
                                  metavar="N"),
    direction: Optional[str] = typer.Option(
        None, "--direction", "-d", show_default=False,
        help="Also the directional derivative along this vector (x=1,y=0; names left "
             "out are 0; not normalized), by one forward sweep; with --explain "
             "forward the trace shows that sweep."),
):
    """Value and gradient of EXPR at a point, with the chain rule that gave them.

    Example: chaincli grad "sin(x*y)" --at x=1,y=2 --explain reverse
    """
    fmt = _output_format(output_format, json_flag)
    program, point = _load(expr, at)
    result = program.gradient(point, mode=mode.value, wrt=_parse_wrt(wrt))
    along = None
    if direction is not None:
        from .calculus import directional
        along = directional(result, direction)
    _warn(result.warnings)
    if fmt is not Format.plain:
        from .explain import explain
        explanation = explain(result, explain_view.value, max_paths=max_paths,
                              with_chain=fmt is Format.json,
                              direction=along["direction"] if along else None)
    if fmt is Format.json:
        _write_json({**result.to_dict(), **(along or {}), **explanation.to_dict()})
    elif fmt is Format.plain:
        from .render_plain import plain_gradient
        text = plain_gradient(result)
        if along:
            from .render_calculus import plain_directional
            text += plain_directional(along)
        _write_text(text)
    else:
        from .render_table import print_gradient
        print_gradient(result, explanation)
        if along:
            from .render_calculus import print_directional
            print_directional(along)
    return ExitStatus.OK if result.all_finite else ExitStatus.MATH_ERROR


@app.command("eval", context_settings=EXPR_SETTINGS)
@_handle_errors
def eval_command(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR"),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP, show_default=False),
    output_format: Optional[Format] = typer.Option(None, "--format", "-f", help=FORMAT_HELP,
                                                   show_default=False),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """Value of EXPR at a point.

    Example: chaincli eval "u = x*y; sin(u) + u^2" --at x=1,y=2
    """
    fmt = _output_format(output_format, json_flag)
    program, point = _load(expr, at)
    result = program.evaluate(point)
    _warn(result.warnings)
    if fmt is Format.json:
        _write_json({"value": result.value})
    elif fmt is Format.plain:
        from .render_plain import plain_number
        _write_text(plain_number(result.value) + "\n")
    else:
        from .render_table import print_value
        print_value(result)
    return ExitStatus.OK


from . import cli_calculus  # noqa: E402,F401 - registers diff, hessian, jacobian, check
from . import cli_pictures  # noqa: E402,F401 - registers graph, plot


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted\n")
        sys.exit(int(ExitStatus.INTERRUPTED))
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(int(ExitStatus.BROKEN_PIPE))
