"""The picture commands: ``graph`` (the computational graph) and ``plot``.

They register on the one Typer ``app`` of ``cli.framework.app`` (imported by
``cli.framework.main``) and share its options, error handling and writers;
like ``app``, this module only parses arguments, calls the library
(``chaincli.explain.graph``, ``chaincli.calculus.curve``) and picks a renderer.
"""

from __future__ import annotations

import os
import shutil
from enum import Enum
from typing import List, Optional

import typer

from .app import AT_HELP, EXPR_HELP, EXPR_SETTINGS, JSON_HELP, handle_errors, chosen_format, app
from ..complete import at_file
from ..plumbing import load_expression, warn, write_json, write_text
from ...base.errors import ExitStatus, PointError, UsageError
from ...base.text import quoted


class GraphFormat(str, Enum):
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


class PlotFormat(str, Enum):
    text = "text"
    csv = "csv"


@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def graph(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR",
                               autocompletion=at_file),
    at: List[str] = typer.Option([], "--at", "-a", autocompletion=at_file,
                                 help=AT_HELP + " With a point, each node "
                                 "shows its value and adjoint, each edge its local partial.",
                                 show_default=False),
    output_format: Optional[GraphFormat] = typer.Option(
        None, "--format", "-f", show_default=False,
        help="tree (in the terminal; the default), dot (Graphviz), mermaid (a flowchart "
             "for Markdown) or json."),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """The computational graph of EXPR: one node per operation, shared ones once.

    Nodes are named as in grad's chain-rule tables: f for the output, v0 ... vn
    for the rest (variables and let-bound names keep their names); edges go
    from an input to the operation using it. At a point where a partial is not
    finite, the graph is drawn and the exit status is 1, as for grad.
    Render DOT with: chaincli graph EXPR --format dot | dot -Tsvg > g.svg

    Example: chaincli graph "sin(x*y) + cos(x*y)" --at x=1,y=2
    """
    from ...explain.graph import graph_of
    fmt = chosen_format(output_format, json_flag, GraphFormat.tree)
    program, point = load_expression(expr, at)
    pictured, warnings = graph_of(program, point if at else None)
    warn(warnings)
    if fmt is GraphFormat.json:
        write_json(pictured.to_dict())
    elif fmt is GraphFormat.dot:
        from ...render.graph import to_dot
        write_text(to_dot(pictured))
    elif fmt is GraphFormat.mermaid:
        from ...render.graph import to_mermaid
        write_text(to_mermaid(pictured))
    else:
        from ...render.graph import print_graph_tree
        print_graph_tree(pictured)
    # A partial that is not finite at the point exits 1, as it does for grad.
    return ExitStatus.OK if pictured.gradient_finite else ExitStatus.MATH_ERROR


def _bound(option: str, text: str) -> float:
    from ...io.point import parse_value
    try:
        return parse_value(option.lstrip("-"), text.strip())
    except PointError:
        raise UsageError(f"{option} {quoted(text.strip())} is not a finite number or constant "
                         "expression (such as -pi/2)") from None


def plot_size() -> tuple[int, int]:
    """Width and height: the terminal's, or 80×24 when stdout is not one; COLUMNS wins."""
    from ...base.terminal import columns_setting, stdout, terminal_columns
    stream = stdout()
    on_terminal = bool(getattr(stream, "isatty", lambda: False)())
    height = shutil.get_terminal_size((80, 24)).lines if on_terminal else 24
    height = max(12, min(height - 2, 30)) if on_terminal else height
    # Not shutil's width: it takes COLUMNS=10**9 as given.
    width = columns_setting() or (terminal_columns((1,)) if on_terminal else None) or 80
    return max(40, min(width, 400)), height


def use_colour() -> bool:
    from ...base.terminal import stdout
    stream = stdout()
    return (bool(getattr(stream, "isatty", lambda: False)())
            and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb")


@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def plot(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR",
                               autocompletion=at_file),
    wrt: str = typer.Option(..., "--wrt", "-w", help="The variable along the x axis.",
                            show_default=False),
    start: str = typer.Option(..., "--from", help="Left end of the interval (a number or "
                              "constant expression such as -pi).", show_default=False),
    stop: str = typer.Option(..., "--to", help="Right end of the interval.",
                             show_default=False),
    at: List[str] = typer.Option([], "--at", "-a", autocompletion=at_file,
                                 help="Values of the other variables, "
                                 "held fixed: y=2 (repeatable), or @point.json.",
                                 show_default=False),
    samples: int = typer.Option(201, "--samples", "-n",
                                help="Evenly spaced sample points, ends included."),
    output_format: PlotFormat = typer.Option(
        PlotFormat.text, "--format", "-f",
        help="text (a plot in the terminal) or csv (x,f,df/dx; empty cells where "
             "undefined)."),
):
    """Plot EXPR and its derivative along one variable, in the terminal or as CSV.

    Where EXPR is undefined the curves have gaps. Not on a terminal, the plot
    is 80 columns wide (COLUMNS overrides) and has no colour codes.

    Example: chaincli plot "sin(x)" --wrt x --from -3 --to 3
    """
    from ...calculus.curve import sample_curve
    program, point = load_expression(expr, at)
    curve = sample_curve(program, wrt.strip(), _bound("--from", start), _bound("--to", stop),
                         samples, point)
    warn(curve.warnings)
    if output_format is PlotFormat.csv:
        from ...render.plot import plot_csv
        write_text(plot_csv(curve))
    else:
        from ...render.plot import plot_text
        from ...base.terminal import can_encode, stdout
        width, height = plot_size()
        encoding = getattr(stdout(), "encoding", None) or "utf-8"
        partial = "∂" if can_encode("∂", encoding) else "d"
        write_text(plot_text(curve, width, height, use_colour(), partial))
    return ExitStatus.OK

