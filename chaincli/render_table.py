"""Rich output for a terminal: value and gradient tables.

All user text goes into Rich as ``Text`` objects, never as markup, so an
expression like ``[bold]x`` prints as written. Colour only on a terminal;
``NO_COLOR`` and the terminal width are honoured by Rich's console.
"""

from __future__ import annotations

import errno

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .render_plain import plain_number
from .results import GradientResult, ValueResult
from .terminal import EncodingSafeStream, printable, stdout


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # Rich would exit with status 1; the CLI reports a closed pipe itself.
        raise BrokenPipeError(errno.EPIPE, "stdout was closed")


def make_console(file=None, width: int | None = None) -> Console:
    return _Console(file=EncodingSafeStream(file or stdout()), width=width,
                    highlight=False, soft_wrap=False)


def _expression_line(text: str, limit: int = 200) -> Text:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit - 1] + "…"
    return Text(printable(flat))  # a comment may hold escape sequences


def print_value(result: ValueResult, console: Console | None = None) -> None:
    console = console or make_console()
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("expression", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    table.add_row(_expression_line(result.expression), Text(plain_number(result.value)))
    console.print(table)


def print_gradient(result: GradientResult, console: Console | None = None) -> None:
    console = console or make_console()
    console.print(Text("f = ") + _expression_line(result.expression))
    if result.point:
        console.print(Text("at ") + Text(", ".join(
            f"{name} = {plain_number(value)}" for name, value in result.point.items())))
    console.print(Text(f"f = {plain_number(result.value)}"))
    table = Table(title=Text(f"gradient ({result.mode} mode)"), header_style="bold")
    table.add_column("variable", overflow="fold")
    table.add_column("∂f/∂variable", justify="right", overflow="fold")
    for name, value in result.gradient.items():
        table.add_row(Text(name), Text(plain_number(value)))
    console.print(table)
