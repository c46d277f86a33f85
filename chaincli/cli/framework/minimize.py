"""The ``minimize`` command: follow the gradient of EXPR down to a minimum.

It registers on the one Typer ``app`` of ``cli.framework.app`` (imported by
``cli.framework.main``) and shares its options and error handling. Like
``app`` it parses arguments, calls the library (``chaincli.optimize.problem``),
writes the result and picks the exit status; it also owns what only a
command line has: Ctrl-C, the progress bar, the trace file and ``--out``.
"""

from __future__ import annotations

import os
import signal
import sys
from enum import Enum
from typing import List, Optional

import typer

from .app import (AT_HELP, EXPR_HELP, EXPR_SETTINGS, FORMAT_HELP, JSON_HELP, Format, handle_errors,
                  chosen_format, app)
from ..plumbing import load_expression, parse_wrt, warn, worded, write_stderr, write_text, emit
from ...base.errors import UsageError


class Method(str, Enum):
    gd = "gd"
    momentum = "momentum"
    adam = "adam"
    lbfgs = "lbfgs"
    newton = "newton"


@app.command(context_settings=EXPR_SETTINGS)
@handle_errors
def minimize(
    expr: str = typer.Argument(..., help=EXPR_HELP, show_default=False, metavar="EXPR"),
    wrt: Optional[str] = typer.Option(
        None, "--wrt", "-w", show_default=False,
        help="The variables to optimize, comma-separated (default: every variable); the "
             "others keep their --at values."),
    at: List[str] = typer.Option([], "--at", "-a", help=AT_HELP + " The variables of --wrt "
                                 "start from these values.", show_default=False),
    method: Method = typer.Option(
        Method.lbfgs, "--method",
        help="gd (gradient descent), momentum (μ = 0.9), adam (β = 0.9, 0.999), lbfgs "
             "(SciPy's L-BFGS-B) or newton (chaincli's Hessian, with a line search)."),
    lr: Optional[float] = typer.Option(
        None, "--lr", show_default=False,
        help="Learning rate of gd, momentum and adam (default 0.01, 0.01, 0.001)."),
    steps: int = typer.Option(1000, "--steps", help="Take at most this many steps."),
    tol: float = typer.Option(1e-8, "--tol", help="Stop when the gradient's 2-norm is at "
                              "most this."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the random starting values "
                             "of --init."),
    init: List[str] = typer.Option(
        [], "--init", show_default=False, metavar="NAME=SHAPE",
        help="Start these variables of --wrt at random values of the given shape (W=4x2, "
             "b=4, c=scalar), normal with standard deviation 1/sqrt(last dimension)."),
    out: Optional[str] = typer.Option(
        None, "--out", show_default=False, metavar="FILE",
        help="Also write the parameters to FILE (.npz or .json, readable by --at @FILE), "
             "atomically, however the run ends."),
    trace: Optional[str] = typer.Option(
        None, "--trace", show_default=False, metavar="FILE",
        help="Write one JSON line per step to FILE ('-': stdout, before the result, with "
             "--format json or plain): step, loss, gradient_norm, lr."),
    plot: bool = typer.Option(False, "--plot", help="Draw the loss by step after the table "
                              "(log scale)."),
    output_format: Optional[Format] = typer.Option(None, "--format", "-f", help=FORMAT_HELP,
                                                   show_default=False),
    json_flag: bool = typer.Option(False, "--json", help=JSON_HELP),
):
    """Minimize EXPR over the variables of --wrt, from their --at values.

    Stops when the gradient norm is at most --tol (converged), after --steps
    steps, when a step no longer lowers the loss, or when the loss or
    gradient stops being finite (diverged: exit 1, the last finite step is
    reported). A loss with no minimum along the way the steps went is
    reported as such (exit 1). Ctrl-C stops between steps and reports the
    best parameters reached (exit 130).

    Example: chaincli minimize "(1 - x)^2 + 100*(y - x^2)^2" --at x=-1.2,y=1
    """
    from ...io import fitfile
    from ...optimize.problem import Problem, check_settings, parse_init
    fmt = chosen_format(output_format, json_flag)
    check_settings(method.value, lr, steps, tol)
    if trace == "-" and fmt is Format.table:
        raise UsageError("--trace - writes JSON lines to stdout; give --format json or "
                         "plain for the result, or a file name")
    if plot and fmt is not Format.table:
        raise UsageError("--plot draws after the table; with --format json or plain, "
                         "stdout carries only data")
    if out is not None:
        fitfile.check_target(out)
        if trace not in (None, "-") and os.path.realpath(trace) == os.path.realpath(out):
            raise UsageError("--out and --trace name the same file; the parameters would "
                             "overwrite the trace")
    shapes = parse_init(init)
    program, point = load_expression(expr, at)
    problem = Problem(program, point, parse_wrt(wrt), shapes, seed)
    result = _run_reporting(problem, method.value, lr, steps, tol, seed, trace)
    result.message = worded(result.message)  # "at most --tol 1e-08" on every output
    if out is not None:
        fitfile.write(out, result.parameters)
    warn(result.warnings)
    if result.stopped in ("diverged", "no-minimum"):
        write_stderr(f"Warning: {result.message}\n")
    elif result.stopped == "interrupted":
        write_stderr(f"Interrupted: {result.message}\n")
    elif fmt is Format.plain:
        write_stderr(f"minimize: {result.message}\n")
    from ...render import minimize as shown
    emit(fmt.value, result.to_dict, lambda: shown.plain_result(result),
         lambda: shown.print_result(result))
    if plot:
        from .pictures import plot_size, use_colour
        width, height = plot_size()
        write_text(shown.loss_plot(result.history, width, min(height, 20), use_colour()))
    return result.exit_status


def _run_reporting(problem, method: str, lr, steps: int, tol: float, seed: int,
                   trace: Optional[str]):
    """Run the optimizer with the trace and progress bar attached, Ctrl-C caught."""
    from ..plumbing import open_output
    from ...optimize.problem import run
    from ...render.minimize import StepReporter
    stream = None
    if trace == "-":
        from ...base.terminal import stdout
        stream = stdout().buffer
    elif trace is not None:
        stream = _TraceFile(open_output(trace, "--trace"), trace)
    on_terminal = bool(getattr(sys.stderr, "isatty", lambda: False)())
    reporter = StepReporter(stream, progress=on_terminal, total=steps)
    # The console script stops at once on Ctrl-C (cli_fast); here Ctrl-C must
    # end the run between steps instead, with the best parameters kept.
    try:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: Ctrl-C is not ours to catch
        previous = None
    try:
        return run(problem, method, lr=lr, steps=steps, tol=tol, seed=seed,
                   report=reporter if (stream is not None or on_terminal) else None)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        reporter.close()
        if stream is not None and trace != "-":
            stream.close()


class _TraceFile:
    """The ``--trace`` file, whose write failures name the option and the path.

    The first line (step 0, before any step) is flushed at once, so a file
    that takes nothing (a full disk, ``/dev/full``) stops the run before it
    starts rather than after it ends."""

    def __init__(self, stream, path: str):
        self._stream, self._path, self._first = stream, path, True

    def _failed(self, error: OSError) -> UsageError:
        return UsageError(f"--trace {self._path}: cannot write it "
                          f"({error.strerror or error})")

    def write(self, data: bytes) -> None:
        try:
            self._stream.write(data)
            if self._first:
                self._first = False
                self._stream.flush()
        except OSError as error:
            raise self._failed(error) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise self._failed(error) from None

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError as error:
            raise self._failed(error) from None
