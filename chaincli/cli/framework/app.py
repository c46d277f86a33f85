"""The Typer application: its options, shared helpers, and ``grad`` and ``eval``.

The top of ``chaincli.cli.framework``, the only Typer code: the command modules
beside it register on ``app`` and share ``handle_errors``, ``chosen_format`` and
the help texts; ``framework.main`` imports them all and runs the app. Commands
parse arguments and hand over to ``cli.commands`` and the library; errors arrive
as ``ChaincliError`` and leave, through ``cli.plumbing``, as one ``Error: …`` line
on stderr (with the source line and a caret when there is one) and the error's
exit status: 0 ok, 1 math or domain error, 2 usage or parse error, 130
interrupted. stdout carries only data; warnings and diagnostics go to stderr.
Rich is imported only when a table is printed, so the JSON path stays light.
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Callable, List, Optional

import typer
from typer.core import TyperGroup

from ... import __version__
from .. import commands
from ..args import arrange
from ..complete import at_file, file_name
from ..plumbing import write_text, run_guarded
from ...base.errors import UsageError


class ExpressionSettings(dict):
    """Context settings that mark a command as taking expressions (see ``EXPR_SETTINGS``)."""


# A command that takes expressions opts in to the expression rule of
# ``cli_args`` (a word starting with "-" that is not one of its options is an
# expression, wherever it stands) by being declared with these settings:
#     @app.command(context_settings=EXPR_SETTINGS)
# ``ChaincliGroup`` applies the rule to every such command, and only to them.
EXPR_SETTINGS = ExpressionSettings()


class ChaincliGroup(TyperGroup):
    """The app's group: sorts the words of an expression command before it parses them."""

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        # Shell completion comes here too, so it reads an expression that
        # starts with "-" as the command does.
        if command is not None and isinstance(command.context_settings, ExpressionSettings):
            rest = arrange_for(command, ctx, rest)
        return name, command, rest


def arrange_for(command, ctx, words: list[str]) -> list[str]:
    """``words`` sorted by ``cli_args.arrange`` with ``command``'s own option names."""
    takes_value: set[str] = set()
    flags: set[str] = set(command.get_help_option_names(ctx))
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        names = [*param.opts, *param.secondary_opts]
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            flags.update(names)
        else:
            takes_value.update(names)
    return arrange(words, takes_value, flags) or words


app = typer.Typer(
    name="chaincli",
    cls=ChaincliGroup,
    help="Gradients from the shell, with the chain rule that computed them.\n\n"
         "Example: chaincli grad \"sin(x*y)\" --at x=1,y=2",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    table = "table"
    json = "json"
    plain = "plain"


class GradFormat(str, Enum):
    """grad's formats: those of every command, and CSV for --points."""
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
        write_text(f"chaincli {__version__}\n")
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
           "expressions such as pi/2), or @point.json; tensors as x=[1,2,3], "
           "W=[[1,2],[3,4]], W=@w.npy, X=@data.csv, v=@v.json or @params.npz.")
FORMAT_HELP = "Output format: table (default), json or plain."
JSON_HELP = "Same as --format json."


def handle_errors(command: Callable) -> Callable:
    """Turn library errors, Ctrl-C and closed pipes into messages and exit codes."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        status = run_guarded(lambda: command(*args, **kwargs), passthrough=(typer.Exit,))
        raise typer.Exit(status)

    return wrapper


def chosen_format(fmt: Optional[Enum], json_flag: bool, default: Enum = Format.table):
    """The format chosen by --format or --json (which must agree), else ``default``.

    ``fmt`` and ``default`` are members of the command's own format enum,
    which has a ``json`` member."""
    json_choice = type(default)("json")
    if json_flag and fmt not in (None, json_choice):
        raise UsageError(f"--json and --format {fmt.value} disagree; give one of them")
    if json_flag:
        return json_choice
    return fmt or default


# ----- Commands -----

@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def grad(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR",
                               autocompletion=at_file),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP, show_default=False,
                                 autocompletion=at_file),
    mode: Mode = typer.Option(Mode.reverse, "--mode", "-m",
                              help="Differentiation mode: reverse (one sweep for all "
                                   "partials) or forward (one sweep per variable)."),
    wrt: Optional[str] = typer.Option(None, "--wrt", "-w",
                                      help="Only these variables, comma-separated; "
                                           "with --explain paths on tensors, also "
                                           "elements: W1[0,1].",
                                      show_default=False),
    output_format: Optional[GradFormat] = typer.Option(
        None, "--format", "-f", show_default=False,
        help="Output format: table (default), json or plain; with --points, json (JSON "
             "lines) or csv."),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
    explain_view: Optional[ExplainView] = typer.Option(
        None, "--explain", "-e", show_default=False,
        help="What the table shows besides value and gradient: paths (the chain rule, "
             "path by path), forward (tangent trace, one sweep per variable), reverse "
             "(adjoint trace, one sweep) or none (default: paths). With tensors the "
             "default and reverse are the backward-pass table (each node's rule and the "
             "adjoint arriving), and paths lists one element's paths (--wrt W1[0,1]) "
             "of a small network. JSON gets a chain key unless none, and a trace key "
             "for forward and reverse."),
    max_paths: Optional[int] = typer.Option(
        None, "--max-paths", min=0, max=10_000, metavar="N", show_default=False,
        help="List at most N paths per variable (default 16); the rest are counted and "
             "summed from the adjoints."),
    direction: Optional[str] = typer.Option(
        None, "--direction", "-d", show_default=False,
        help="Also the directional derivative along this vector (x=1,y=0; names left "
             "out are 0; not normalized), by one forward sweep; with --explain "
             "forward the trace shows that sweep."),
    points: Optional[str] = typer.Option(
        None, "--points", autocompletion=file_name,
        help="Every point of FILE ('-' for stdin): JSON lines, or CSV "
        "with a header (a .csv file or --points-format csv); one output line per input "
        "line, as JSON lines or --format csv.", show_default=False, metavar="FILE"),
    points_format: Optional[str] = typer.Option(None, "--points-format",
                                                help="jsonl or csv.", show_default=False),
):
    """Value and gradient of EXPR at a point, with the chain rule that gave them, or at
    every point of a file (--points).

    Example: chaincli grad "sin(x*y)" --at x=1,y=2 --explain reverse
    """
    fmt = chosen_format(output_format, json_flag, GradFormat.table)
    if points is not None:
        _check_points_options(fmt, output_format, explain_view, max_paths, direction)
        return commands.grad_points(expr, at, points, points_format,
                                    "csv" if fmt is GradFormat.csv else "jsonl", mode.value,
                                    wrt)
    if points_format is not None:
        raise UsageError("--points-format describes the file of --points; give --points too")
    if fmt is GradFormat.csv:
        raise UsageError("--format csv is for grad --points")
    return commands.grad(expr, at, mode=mode.value, wrt=wrt, fmt=fmt.value,
                         explain_view=explain_view.value if explain_view else None,
                         max_paths=16 if max_paths is None else max_paths,
                         direction=direction)


def _check_points_options(fmt, output_format, explain_view, max_paths, direction) -> None:
    """Options that have no meaning for a stream of points are refused, not ignored."""
    if output_format is not None and fmt not in (GradFormat.json, GradFormat.csv):
        raise UsageError("with --points the output is JSON lines (--json) or CSV "
                         "(--format csv)")
    given = [name for name, value in (("--explain", explain_view), ("--max-paths", max_paths),
                                      ("--direction", direction)) if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)} cannot be used with --points; the stream "
                         "writes values and gradients only")


@app.command("eval", context_settings=EXPR_SETTINGS)
@handle_errors
def eval_command(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR",
                               autocompletion=at_file),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP, show_default=False,
                                 autocompletion=at_file),
    output_format: Optional[Format] = typer.Option(None, "--format", "-f", help=FORMAT_HELP,
                                                   show_default=False),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """Value of EXPR at a point.

    Example: chaincli eval "u = x*y; sin(u) + u^2" --at x=1,y=2
    """
    return commands.evaluate(expr, at, fmt=chosen_format(output_format, json_flag).value)
