"""Output of ``minimize``: the result as a table or plain lines, the loss curve,
and what is shown while it runs (a progress bar on a terminal, the trace).

As elsewhere, user text enters Rich as ``Text``, never as markup, and
numbers are printed at full round-trip precision. The trace is JSON lines,
one per step: ``{"step", "loss", "gradient_norm", "lr"}``.
"""

from __future__ import annotations

import math
import time
from typing import Any, Optional

import numpy as np

from ..optimize.results import MinimizeResult
from ..base.numbers import plain_number, rounded_number

# A tensor parameter with at most this many elements is printed in full in
# the table; a larger one is summarized (--json, --format plain and --out
# have every element).
MAX_SHOWN_ELEMENTS = 64


def _elements(name: str, value: Any):
    """``(label, number)`` for each element: ``x``, or ``W[0,1]`` in row-major order."""
    if np.ndim(value) == 0:
        yield name, float(value)
        return
    array = np.asarray(value)
    for index in np.ndindex(*array.shape):
        yield f"{name}[{','.join(map(str, index))}]", float(array[index])


def plain_result(result: MinimizeResult) -> str:
    """One ``name value`` line per parameter element, for ``while read``."""
    return "".join(f"{label} {plain_number(number)}\n"
                   for name, value in result.parameters.items()
                   for label, number in _elements(name, value))


def print_result(result: MinimizeResult, console=None) -> None:
    from rich.table import Table
    from rich.text import Text
    from .table import header_text, make_console
    console = console or make_console()
    console.print(Text("minimize " + header_text(result.output, result.expression)))
    summary = Table(show_header=False, box=None)
    summary.add_column(overflow="fold")
    summary.add_column(overflow="fold")
    for label, value in (("method", result.method), ("stopped", result.message),
                         ("loss", plain_number(result.loss)),
                         ("gradient norm", plain_number(result.gradient_norm)),
                         ("steps", f"{result.steps:,}"),
                         ("evaluations", f"{result.evaluations:,}")):
        summary.add_row(Text(label), Text(value))
    console.print(summary)
    table = Table(title=Text("parameters"), header_style="bold")
    table.add_column("parameter", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    for name, value in result.parameters.items():
        size = int(np.size(value))
        if size > MAX_SHOWN_ELEMENTS:
            array = np.asarray(value)
            table.add_row(Text(f"{name} {tuple(array.shape)}"),
                          Text(f"norm {plain_number(float(np.linalg.norm(array)))}, min "
                               f"{plain_number(float(array.min()))}, max "
                               f"{plain_number(float(array.max()))} (every element: --json, "
                               "--format plain or --out)"))
            continue
        for label, number in _elements(name, value):
            table.add_row(Text(label), Text(plain_number(number)))
    console.print(table)


def trace_line(step: int, loss: float, gradient_norm: float, lr: Optional[float]) -> bytes:
    from ..base.jsonout import dumps
    return (dumps({"step": step, "loss": loss, "gradient_norm": gradient_norm,
                   "lr": lr}) + "\n").encode("ascii")


class StepReporter:
    """Writes each step to the trace and moves the progress bar.

    ``trace`` is a binary stream or None; ``progress`` is True for a Rich
    progress bar on stderr (the caller decides: only on a terminal). The bar
    is redrawn at most ten times a second, so it costs a fast loop nothing."""

    def __init__(self, trace=None, progress: bool = False, total: int = 0):
        self.trace = trace
        self._bar = None
        self._next_draw = 0.0
        if progress:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            from ..base.terminal import output_width
            self._bar = Progress(TextColumn("step"), MofNCompleteColumn(), BarColumn(),
                                 TextColumn("loss {task.fields[loss]}  |grad| "
                                            "{task.fields[norm]}"),
                                 TimeRemainingColumn(),
                                 console=Console(stderr=True, width=output_width()),
                                 transient=True)
            self._task = self._bar.add_task("minimize", total=max(total, 1), loss="",
                                            norm="")
            self._bar.start()

    def __call__(self, step: int, loss: float, gradient_norm: float,
                 lr: Optional[float]) -> None:
        if self.trace is not None:
            self.trace.write(trace_line(step, loss, gradient_norm, lr))
        if self._bar is not None:
            now = time.monotonic()
            if now >= self._next_draw:
                self._next_draw = now + 0.1
                self._bar.update(self._task, completed=step, loss=rounded_number(loss),
                                 norm=format(gradient_norm, ".3g"))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.trace is not None:
            self.trace.flush()


def loss_plot(history: list[tuple[int, float]], width: int, height: int,
              color: bool) -> str:
    """The loss against the step, on a log scale when every loss is positive."""
    import plotext as plt
    from .plot import thinned
    plt.clear_figure()
    plt.limitsize(False, False)
    plt.plotsize(width, height)
    plt.theme("clear")
    kept = [history[i] for i in thinned(0, len(history), max(2, 4 * width))]
    losses = [loss for _, loss in history]
    positive = all(loss > 0 for loss in losses)
    plt.plot([step for step, _ in kept], [loss for _, loss in kept], marker="braille",
             color="blue")
    if positive and len(losses) > 1 and min(losses) < max(losses):
        plt.yscale("log")
        plt.title("loss by step (log scale)")
        # plotext labels a log axis in fixed point (0.000000000); powers of ten read better.
        low, high = math.floor(math.log10(min(losses))), math.ceil(math.log10(max(losses)))
        stride = max(1, math.ceil((high - low) / 6))
        ticks = [10.0 ** k for k in range(low, high + 1, stride)]
        plt.yticks(ticks, [f"1e{k}" for k in range(low, high + 1, stride)])
    else:
        plt.title("loss by step" + ("" if positive else " (linear scale: a loss is not "
                                    "positive)"))
    last = history[-1][0]
    steps = sorted({round(last * k / 4) for k in range(5)})
    plt.xticks(steps, [f"{step:,}" for step in steps])
    plt.xlabel("step")
    plt.ylabel("loss")
    text = plt.build()
    plt.clear_figure()
    if not color:
        text = plt.uncolorize(text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"

