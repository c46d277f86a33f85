"""Table output: value and gradient tables, chain-rule paths, traces.

A renderer only reads results and explanations (``chaincli.explain``). Each
print function describes its output as lines and ``render_box.Grid`` tables;
``_show`` has them drawn without Rich when Rich would draw them plainly (not
a terminal, everything fits), else by Rich. All user text goes into Rich as
``Text`` objects, never as markup, so an expression like ``[bold]x`` prints
as written. Colour only on a terminal;
``NO_COLOR`` and the terminal width are honoured by Rich's console. Columns
fold rather than cut, so every digit survives a narrow terminal. When the
output's encoding cannot carry ``∂`` or ``→``, ASCII stands in (``d``,
``->``), and Rich draws ASCII boxes.

The value and gradient are printed at full precision; numbers inside the
explanation tables to 5 significant digits, enough to follow the arithmetic.
"""

from __future__ import annotations

import errno
from collections import namedtuple

from ..explain.chain import approximate_count
from .box import Grid, NotPlain, draw, draw_line, plain_width, to_rich
from ..base.numbers import plain_number, short_number
from ..engine.results import GradientResult, ValueResult
from ..base.terminal import (EncodingSafeStream, can_encode, encodable, output_width, printable,
                             stdout)


# The symbols a table draws with: the partial sign, the path arrow, the ellipsis.
Glyphs = namedtuple("Glyphs", ("partial", "arrow", "ellipsis"))


UNICODE = Glyphs("∂", "→", "…")
ASCII = Glyphs("d", "->", "...")

_CONSOLE_CLASS = None


def make_console(file=None, width: int | None = None):
    """A Rich console on stdout (or ``file``) that reports a closed pipe to the CLI."""
    global _CONSOLE_CLASS
    if _CONSOLE_CLASS is None:
        from rich.console import Console

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # Rich would exit with status 1; the CLI reports a closed pipe itself.
                raise BrokenPipeError(errno.EPIPE, "stdout was closed")
        _CONSOLE_CLASS = _Console
    if width is None:
        # Rich would take COLUMNS=0 or 10**9 as given and print nothing, or pad
        # every line to that width.
        width = output_width()
    return _CONSOLE_CLASS(file=EncodingSafeStream(file or stdout()), width=width,
                          highlight=False, soft_wrap=False)


def glyphs_for(console) -> Glyphs:
    symbols = UNICODE.partial + UNICODE.arrow + UNICODE.ellipsis
    return UNICODE if can_encode(symbols, console.encoding) else ASCII


def console_encodable(text: str, console) -> str:
    # Expression text may carry any character in a comment; one the output
    # cannot encode gets an ASCII stand-in rather than raising.
    return encodable(text, console.encoding)


class _Sheet:
    """What a print function prints: lines of text and ``Grid`` tables, in order."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.items: list = []

    def line(self, text: str) -> None:
        self.items.append(text)

    def table(self, grid: Grid) -> None:
        self.items.append(grid)


def _show(build, console=None) -> None:
    """Print what ``build(sheet, glyphs)`` describes: drawn here when Rich would
    draw it plainly (see ``render_box``), else by Rich on ``console``."""
    if console is None:
        width = plain_width()
        if width is not None:
            sheet = _Sheet((stdout().encoding or "utf-8").lower())
            build(sheet, UNICODE)
            try:
                text = "".join(draw(item, width) if isinstance(item, Grid)
                               else draw_line(item, width) for item in sheet.items)
            except NotPlain:
                pass
            else:
                stream = EncodingSafeStream(stdout())
                stream.write(text)
                stream.flush()
                return
        console = make_console()
    from rich.text import Text
    sheet = _Sheet(console.encoding)
    build(sheet, glyphs_for(console))
    for item in sheet.items:
        console.print(to_rich(item) if isinstance(item, Grid) else Text(item))


def _expression_text(text: str, glyphs: Glyphs = UNICODE, limit: int = 200) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit - len(glyphs.ellipsis)] + glyphs.ellipsis
    return printable(flat)  # a comment may hold escape sequences


def header_text(output: str, expression: str, glyphs: Glyphs = UNICODE,
                limit: int = 200) -> str:
    """Every command's header, ``f = expression``: the output by the name the
    tables below give it (``Tape.output_name``: ``f_`` when the user bound ``f``)."""
    return f"{output} = " + _expression_text(expression, glyphs, limit)


def expression_line(text: str, glyphs: Glyphs = UNICODE, limit: int = 200):
    """The expression as a Rich ``Text``, one line, shortened past ``limit``."""
    from rich.text import Text
    return Text(_expression_text(text, glyphs, limit))


def print_value(result: ValueResult, console=None) -> None:
    def build(sheet: _Sheet, glyphs: Glyphs) -> None:
        grid = Grid(None, [("expression", "left"), ("value", "right")], box=False)
        grid.add_row(_expression_text(encodable(result.expression, sheet.encoding), glyphs),
                     plain_number(result.value))
        sheet.table(grid)
    _show(build, console)


def print_gradient(result: GradientResult, explanation=None, console=None) -> None:
    """Value and gradient, then the paths or the trace ``explanation`` holds."""
    def build(sheet: _Sheet, glyphs: Glyphs) -> None:
        d = glyphs.partial
        # The output's name in the chain tables below (f_ if the user bound f).
        f = result.evaluation.tape.output_name() if result.evaluation is not None else "f"
        sheet.line(header_text(f, encodable(result.expression, sheet.encoding), glyphs))
        if result.point:
            sheet.line("at " + ", ".join(
                f"{name} = {plain_number(value)}" for name, value in result.point.items()))
        sheet.line(f"{f} = {plain_number(result.value)}")
        grid = Grid(f"gradient ({result.mode} mode)",
                    [("variable", "left"), (f"{d}{f}/{d}variable", "right")])
        for name, value in result.gradient.items():
            grid.add_row(name, plain_number(value))
        sheet.table(grid)
        if explanation is not None:
            _explanation_items(explanation, sheet, glyphs)
    _show(build, console)


def print_explanation(explanation, console=None) -> None:
    """The paths or the trace an ``explain.Explanation`` holds."""
    _show(lambda sheet, glyphs: _explanation_items(explanation, sheet, glyphs), console)


def _explanation_items(explanation, sheet: "_Sheet", glyphs: Glyphs) -> None:
    if explanation.chain is not None:
        _print_chain(explanation.chain, sheet, glyphs)
    if explanation.trace is not None:
        _print_trace(explanation.trace, sheet, glyphs)


# ----- Paths -----

def _count(count: int) -> str:
    return f"{count:,}" if count < 10 ** 18 else f"about {approximate_count(count)}"


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{_count(count)} " + (noun if count == 1 else nouns or noun + "s")


def _factor_line(factor, glyphs: Glyphs) -> str:
    d = glyphs.partial
    label = f"{d}{factor.of}/{d}{factor.wrt}"
    if factor.repeated:
        label += f" (arg {factor.argument + 1})"
    number = short_number(factor.value)
    if factor.formula == number:
        return f"{label} = {number}"
    return f"{label} = {factor.formula} = {number}"


def _path_cell(path, glyphs: Glyphs) -> str:
    """The path as a chain of nodes, then its local partials one per line."""
    nodes = list(path.nodes)
    if path.omitted_steps:
        gap = len(path.factors) // 2 + 1
        nodes[gap:gap] = [glyphs.ellipsis]
    lines = [f"  {_factor_line(factor, glyphs)}" for factor in path.factors]
    if path.omitted_steps:
        lines.insert(len(path.factors) // 2,
                     f"  {glyphs.ellipsis} {_plural(path.omitted_steps, 'more step')}")
    if not lines:
        lines.append(f"  (no steps: {path.nodes[0]} is the output)")
    return "\n".join([f" {glyphs.arrow} ".join(nodes), *lines])


def _print_chain(chain, sheet: _Sheet, glyphs: Glyphs) -> None:
    if chain.legend:
        legend = Grid("where", [("node", "left"), ("stands for", "left"), ("value", "right")])
        for entry in chain.legend:
            legend.add_row(entry.node, entry.definition, short_number(entry.value))
        if chain.omitted_legend:
            legend.add_row(glyphs.ellipsis,
                           f"{_plural(chain.omitted_legend, 'more node')}; "
                           "--explain forward shows the sweep", "")
        sheet.table(legend)
    for variable in chain.variables:
        sheet.table(_variable_table(chain, variable, glyphs))
    if chain.omitted_variables:
        sheet.line(f"Paths are shown for the first {len(chain.variables)} "
                   f"variables; {_plural(chain.omitted_variables, 'more variable')} "
                   "not shown (choose with --wrt).")


def _variable_table(chain, variable, glyphs: Glyphs) -> Grid:
    d = glyphs.partial
    name = variable.variable
    title = f"{d}{chain.output}/{d}{name}: {_plural(variable.path_count, 'path')}"
    table = Grid(title, [("#", "right"), ("path, local partials", "left"),
                         ("product", "right")])
    for number, path in enumerate(variable.paths, 1):
        table.add_row(str(number), _path_cell(path, glyphs), short_number(path.product))
    if not variable.path_count:
        table.add_row("", f"no path: {chain.output} does not depend on {name}", "0")
    if variable.truncated:
        table.add_row("", f"{_plural(variable.unlisted_count, 'more path')}, "
                          "summed from the adjoints",
                      short_number(variable.unlisted_contribution))
    table.add_section()
    table.add_row("", f"sum = {d}{chain.output}/{d}{name}", short_number(variable.total))
    if variable.truncated:
        why = ("--max-paths" if len(variable.paths) >= chain.max_paths
               else "the paths are long, so the search stopped early")
        table.caption = (f"{len(variable.paths)} of {_plural(variable.path_count, 'path')} "
                         f"listed ({why}); --explain reverse shows the whole "
                         "computation in one sweep.")
    return table


# ----- Traces -----

def _entry_cell(row, glyphs: Glyphs) -> str:
    """``v2 = x*y``, then the local partials it passes on, one per line."""
    head = f"{row.node} (input)" if row.definition is None else f"{row.node} = {row.definition}"
    lines = [f"  {_factor_line(factor, glyphs)}" for factor in row.partials]
    return "\n".join([head, *lines])


def _trace_table(trace, title: str, caption: str, last_column: str, last_values,
                 glyphs: Glyphs) -> Grid:
    table = Grid(title, [("entry, local partials", "left"), ("value", "right"),
                         (last_column, "right")], caption=caption)
    for position, (row, last) in enumerate(zip(trace.rows, last_values)):
        if position == trace.omitted_after:
            table.add_row(f"{glyphs.ellipsis} "
                          + _plural(trace.omitted_entries, "more entry", "more entries"),
                          "", "")
        table.add_row(_entry_cell(row, glyphs), short_number(row.value), short_number(last))
    return table


def _seed_text(seed: dict[str, float]) -> str:
    if not seed:
        return "0 (every tangent is 0)"
    return ", ".join(f"{name} = {short_number(value)}" for name, value in seed.items())


def _print_trace(trace, sheet: _Sheet, glyphs: Glyphs) -> None:
    if not trace.rows:  # a constant: nothing is swept
        return
    d = glyphs.partial
    if trace.kind == "reverse":
        sheet.table(_trace_table(
            trace, "reverse sweep, from the output down",
            f"adjoint of v = {d}{trace.output}/{d}v, passed down times each local partial: "
            "one sweep gives every partial",
            "adjoint", [row.adjoint for row in trace.rows], glyphs))
        return
    shown = len(trace.seeds)
    for index, seed in enumerate(trace.seeds):
        sheet.table(_trace_table(
            trace, f"forward sweep {index + 1} of {trace.sweeps}: seed {_seed_text(seed)}",
            "tangent = sum over the arguments of local partial times their tangent",
            "tangent", [row.tangents[index] for row in trace.rows], glyphs))
    if shown < trace.sweeps:
        sheet.line(f"Forward mode needs one sweep per variable: {trace.sweeps} "
                   f"sweeps; the first {shown} are shown.")
