"""The calculus commands: ``diff``, ``hessian``, ``jacobian`` and ``check``.

They register on the one Typer ``app`` of ``cli.framework.app`` (imported by
``cli.framework.main``) and share its options, error handling and writers;
like ``app``, this module only parses arguments, calls the library
(``chaincli.calculus.derivatives``) and picks a renderer.
"""

from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer

from .app import (AT_HELP, EXPR_HELP, EXPR_SETTINGS, FORMAT_HELP, JSON_HELP, Format, handle_errors,
                  chosen_format, app)
from ..complete import at_file
from ..plumbing import (load_expression, parse_wrt, warn, write_json, write_text, emit,
                        read_expression)
from ...base.errors import ExitStatus, UsageError


def _wrt_option(what: str):
    return typer.Option(None, "--wrt", "-w", show_default=False,
                        help=f"Only these variables, comma-separated ({what}); of a tensor "
                             "variable every element, or one element alone: W2[0,1].")


class DiffFormat(str, Enum):
    text = "text"
    latex = "latex"
    json = "json"
    table = "table"


class HessianMethod(str, Enum):
    ad = "ad"
    symbolic = "symbolic"


@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def diff(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR",
                               autocompletion=at_file),
    wrt: str = typer.Option(..., "--wrt", "-w", help="The variable to differentiate by.",
                            show_default=False),
    order: int = typer.Option(1, "--order", "-n", help="Differentiate this many times."),
    output_format: Optional[DiffFormat] = typer.Option(
        None, "--format", "-f", show_default=False,
        help="text (chaincli syntax, re-readable; the default), latex, or json; with "
             "--steps also table (its default)."),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
    steps: bool = typer.Option(False, "--steps",
                               help="Show the derivation rule by rule, from the rules "
                                    "that compute the derivative."),
    at: List[str] = typer.Option([], "--at", "-a", show_default=False,
                                 help="The shapes of a tensor expression's variables, "
                                      "as values (X=@X.npy); with --steps: also the value "
                                      "at this point (x=1,y=2), as grad computes it."),
):
    """The derivative of EXPR as a formula, in chaincli syntax or LaTeX.

    A subexpression the derivative uses more than once is printed once as a
    let-binding (u1 = ...; ...), so the text reads back with chaincli eval.
    With --steps, the derivation: each line one rule further, the last one
    the derivative itself.

    Example: chaincli diff "sin(x^2)" --wrt x --steps
    """
    from ...engine.program import compile_expression
    if steps:
        return _diff_steps(expr, wrt, order, output_format, json_flag, at)
    if output_format is DiffFormat.table:
        raise UsageError("--format table is for diff --steps")
    from ...calculus.derivatives import differentiate
    fmt = chosen_format(output_format, json_flag, DiffFormat.text)
    from ..plumbing import load_point
    program = compile_expression(read_expression(expr))
    result = differentiate(program, wrt.strip(), order, load_point(at) if at else None)
    if fmt is DiffFormat.json:
        write_json(result.to_dict())
    elif fmt is DiffFormat.latex:
        write_text(result.latex + "\n")
    else:
        write_text(result.text + "\n")
    return ExitStatus.OK


def _diff_steps(expr: str, wrt: str, order: int, output_format, json_flag: bool,
                at: List[str]):
    import math
    from ...calculus.derivatives import differentiate_steps
    from ..plumbing import load_point
    from ...engine.program import compile_expression
    fmt = chosen_format(output_format, json_flag, DiffFormat.table)
    program = compile_expression(read_expression(expr))
    point = load_point(at) if at else None
    result = differentiate_steps(program, wrt.strip(), order, point)
    from ...calculus.backprop_steps import BackpropSteps
    if isinstance(result, BackpropSteps):  # a tensor expression's backprop equations
        from ...render import backprop as shown
    else:
        warn(result.warnings)
        from ...render import derivation as shown
    if fmt is DiffFormat.json:
        write_json(result.to_dict())
    elif fmt is DiffFormat.latex:
        write_text(shown.latex(result))
    elif fmt is DiffFormat.text:
        write_text(shown.text(result))
    else:
        shown.print_table(result)
    if isinstance(result, BackpropSteps):
        return ExitStatus.OK
    finite = result.value is None or math.isfinite(result.value)
    return ExitStatus.OK if finite else ExitStatus.MATH_ERROR


@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def hessian(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR",
                               autocompletion=at_file),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP, show_default=False,
                                 autocompletion=at_file),
    method: HessianMethod = typer.Option(
        HessianMethod.ad, "--method",
        help="ad: forward-over-reverse on the graph; symbolic: differentiate the "
             "formula twice, then evaluate."),
    wrt: Optional[str] = _wrt_option("the rows and columns"),
    output_format: Optional[Format] = typer.Option(None, "--format", "-f", help=FORMAT_HELP,
                                                   show_default=False),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """The matrix of second partial derivatives of EXPR at a point.

    Example: chaincli hessian "x^2*y + sin(y)" --at x=1,y=2
    """
    from ...calculus.derivatives import hessian as compute_hessian
    fmt = chosen_format(output_format, json_flag)
    program, point = load_expression(expr, at)
    result = compute_hessian(program, point, method.value, wrt=parse_wrt(wrt))
    warn(result.warnings)
    from ...render import calculus as shown
    emit(fmt.value, result.to_dict, lambda: shown.plain_matrix(result.hessian),
         lambda: shown.print_hessian(result))
    return ExitStatus.OK if result.all_finite else ExitStatus.MATH_ERROR


@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def jacobian(
    exprs: List[str] = typer.Argument(..., autocompletion=at_file,
                                      help="The expressions, one per output; "
                                      "'-' reads one from stdin, '@file' from a file.",
                                      show_default=False, metavar="EXPR..."),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP, show_default=False,
                                 autocompletion=at_file),
    wrt: Optional[str] = _wrt_option("the columns"),
    output_format: Optional[Format] = typer.Option(None, "--format", "-f", help=FORMAT_HELP,
                                                   show_default=False),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """The Jacobian of several expressions: a row per expression, a column per variable.

    Example: chaincli jacobian "x*y" "x + y" --at x=1,y=2
    """
    from ...calculus.derivatives import jacobian as compute_jacobian
    from ..plumbing import load_point
    from ...engine.program import compile_expression
    fmt = chosen_format(output_format, json_flag)
    if list(exprs).count("-") > 1:
        raise UsageError("only one expression can be read from stdin ('-')")
    programs = [compile_expression(read_expression(expr)) for expr in exprs]
    point = load_point(at)
    result = compute_jacobian(programs, point, wrt=parse_wrt(wrt))
    warn(result.warnings)
    from ...render import calculus as shown
    emit(fmt.value, result.to_dict, lambda: shown.plain_matrix(result.jacobian),
         lambda: shown.print_jacobian(result))
    return ExitStatus.OK if result.all_finite else ExitStatus.MATH_ERROR


@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def check(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR",
                               autocompletion=at_file),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP, show_default=False,
                                 autocompletion=at_file),
    tolerance: Optional[float] = typer.Option(
        None, "--tolerance", "-t", show_default=False,
        help="Largest accepted |analytic - numeric| / max(1, |analytic|, |numeric|) "
             "(default 1e-6)."),
    wrt: Optional[str] = _wrt_option("the rows"),
    output_format: Optional[Format] = typer.Option(None, "--format", "-f", help=FORMAT_HELP,
                                                   show_default=False),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """Check the gradient (both modes) against central finite differences.

    Exits 0 when every partial agrees within the tolerance, 1 otherwise.

    Example: chaincli check "sin(x*y)" --at x=1,y=2
    """
    from ...calculus.derivatives import DEFAULT_TOLERANCE, check_gradient
    fmt = chosen_format(output_format, json_flag)
    program, point = load_expression(expr, at)
    result = check_gradient(program, point,
                            DEFAULT_TOLERANCE if tolerance is None else tolerance,
                            wrt=parse_wrt(wrt))
    warn(result.warnings)
    from ...render import calculus as shown
    emit(fmt.value, result.to_dict, lambda: shown.plain_check(result),
         lambda: shown.print_check(result))
    return ExitStatus.OK if result.agree else ExitStatus.MATH_ERROR
