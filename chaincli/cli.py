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
from . import commands
from .cli_io import (_load, _silence_stdout, _warn, _write_json, _write_text,  # noqa: F401
                     read_expression, read_text_file, run_guarded, stream_points)
from .errors import ExitStatus, UsageError

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
    csv = "csv"


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
FORMAT_HELP = "Output format: table (default), json or plain (csv with grad --points)."
JSON_HELP = "Same as --format json."


def _handle_errors(command: Callable) -> Callable:
    """Turn library errors, Ctrl-C and closed pipes into messages and exit codes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        status = run_guarded(lambda: command(*args, **kwargs), passthrough=(typer.Exit,))
        raise typer.Exit(status)

    return wrapper


def _output_format(fmt: Optional[Format], json_flag: bool) -> Format:
    if json_flag and fmt not in (None, Format.json):
        raise UsageError(f"--json and --format {fmt.value} disagree; give one of them")
    if json_flag:
        return Format.json
    return fmt or Format.table


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
    points: Optional[str] = typer.Option(
        None, "--points", help="Every point of FILE ('-' for stdin): JSON lines, or CSV "
        "with a header (a .csv file or --points-format csv); one output line per input "
        "line, as JSON lines or --format csv.", show_default=False, metavar="FILE"),
    points_format: Optional[str] = typer.Option(None, "--points-format",
                                                help="jsonl or csv.", show_default=False),
):
    """Value and gradient of EXPR at a point, with the chain rule that gave them, or at
    every point of a file (--points).

    Example: chaincli grad "sin(x*y)" --at x=1,y=2 --explain reverse
    """
    fmt = _output_format(output_format, json_flag)
    if points is not None:
        if fmt not in (Format.json, Format.csv) and output_format is not None:
            raise UsageError("with --points the output is JSON lines (--json) or CSV "
                             "(--format csv)")
        return stream_points(expr, at, points, points_format,
                             "csv" if fmt is Format.csv else "jsonl", mode.value, wrt)
    if fmt is Format.csv:
        raise UsageError("--format csv is for grad --points")
    return commands.grad(expr, at, mode=mode.value, wrt=wrt, fmt=fmt.value,
                         explain_view=explain_view.value, max_paths=max_paths,
                         direction=direction)


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
    if fmt is Format.csv:
        raise UsageError("--format csv is for grad --points")
    return commands.evaluate(expr, at, fmt=fmt.value)


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
