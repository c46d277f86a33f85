"""Rich output for a terminal: value and gradient tables, chain-rule paths, traces.

A renderer only reads results and explanations (``chaincli.explain``). All
user text goes into Rich as ``Text`` objects, never as markup, so an
expression like ``[bold]x`` prints as written. Colour only on a terminal;
``NO_COLOR`` and the terminal width are honoured by Rich's console. Columns
fold rather than cut, so every digit survives a narrow terminal. When the
output's encoding cannot carry ``∂`` or ``→``, ASCII stands in (``d``,
``->``), and Rich draws ASCII boxes.

The value and gradient are printed at full precision; numbers inside the
explanation tables to 5 significant digits, enough to follow the arithmetic.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .explain import approximate_count
from .render_plain import plain_number
from .results import GradientResult, ValueResult
from .terminal import EncodingSafeStream, can_encode, encodable, printable, stdout


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # Rich would exit with status 1; the CLI reports a closed pipe itself.
        raise BrokenPipeError(errno.EPIPE, "stdout was closed")


@dataclass(frozen=True)
class Glyphs:
    partial: str
    arrow: str
    ellipsis: str


UNICODE = Glyphs("∂", "→", "…")
ASCII = Glyphs("d", "->", "...")


def make_console(file=None, width: int | None = None) -> Console:
    return _Console(file=EncodingSafeStream(file or stdout()), width=width,
                    highlight=False, soft_wrap=False)


def glyphs_for(console: Console) -> Glyphs:
    symbols = UNICODE.partial + UNICODE.arrow + UNICODE.ellipsis
    return UNICODE if can_encode(symbols, console.encoding) else ASCII


def _encodable(text: str, console: Console) -> str:
    # Expression text may carry any character in a comment; one the output
    # cannot encode gets an ASCII stand-in rather than raising.
    return encodable(text, console.encoding)


def short_number(value: float) -> str:
    """A number to 5 significant digits, for explanation tables: ``-0.41615``."""
    return format(value, ".5g")


def _expression_line(text: str, glyphs: Glyphs = UNICODE, limit: int = 200) -> Text:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit - len(glyphs.ellipsis)] + glyphs.ellipsis
    return Text(printable(flat))  # a comment may hold escape sequences


def print_value(result: ValueResult, console: Console | None = None) -> None:
    console = console or make_console()
    glyphs = glyphs_for(console)
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("expression", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    table.add_row(_expression_line(_encodable(result.expression, console), glyphs),
                  Text(plain_number(result.value)))
    console.print(table)


def print_gradient(result: GradientResult, explanation=None,
                   console: Console | None = None) -> None:
    """Value and gradient, then the paths or the trace ``explanation`` holds."""
    console = console or make_console()
    glyphs = glyphs_for(console)
    d = glyphs.partial
    console.print(Text("f = ") + _expression_line(_encodable(result.expression, console),
                                                  glyphs))
    if result.point:
        console.print(Text("at ") + Text(", ".join(
            f"{name} = {plain_number(value)}" for name, value in result.point.items())))
    console.print(Text(f"f = {plain_number(result.value)}"))
    table = Table(title=Text(f"gradient ({result.mode} mode)"), header_style="bold")
    table.add_column("variable", overflow="fold")
    table.add_column(f"{d}f/{d}variable", justify="right", overflow="fold")
    for name, value in result.gradient.items():
        table.add_row(Text(name), Text(plain_number(value)))
    console.print(table)
    if explanation is not None:
        print_explanation(explanation, console)


def print_explanation(explanation, console: Console | None = None) -> None:
    """The paths or the trace an ``explain.Explanation`` holds."""
    console = console or make_console()
    glyphs = glyphs_for(console)
    if explanation.chain is not None:
        _print_chain(explanation.chain, console, glyphs)
    if explanation.trace is not None:
        _print_trace(explanation.trace, console, glyphs)


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


def _path_cell(path, glyphs: Glyphs) -> Text:
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
    return Text("\n".join([f" {glyphs.arrow} ".join(nodes), *lines]))


def _print_chain(chain, console: Console, glyphs: Glyphs) -> None:
    if chain.legend:
        legend = Table(title=Text("where"), header_style="bold")
        legend.add_column("node", overflow="fold")
        legend.add_column("stands for", overflow="fold")
        legend.add_column("value", justify="right", overflow="fold")
        for entry in chain.legend:
            legend.add_row(Text(entry.node), Text(entry.definition),
                           Text(short_number(entry.value)))
        if chain.omitted_legend:
            legend.add_row(Text(glyphs.ellipsis),
                           Text(f"{_plural(chain.omitted_legend, 'more node')}; "
                                "--explain forward shows the sweep"), Text(""))
        console.print(legend)
    for variable in chain.variables:
        console.print(_variable_table(chain, variable, glyphs))
    if chain.omitted_variables:
        console.print(Text(f"Paths are shown for the first {len(chain.variables)} "
                           f"variables; {_plural(chain.omitted_variables, 'more variable')} "
                           "not shown (choose with --wrt)."))


def _variable_table(chain, variable, glyphs: Glyphs) -> Table:
    d = glyphs.partial
    name = variable.variable
    title = f"{d}{chain.output}/{d}{name}: {_plural(variable.path_count, 'path')}"
    table = Table(title=Text(title), header_style="bold")
    table.add_column("#", justify="right", overflow="fold")
    table.add_column("path, local partials", overflow="fold")
    table.add_column("product", justify="right", overflow="fold")
    for number, path in enumerate(variable.paths, 1):
        table.add_row(Text(str(number)), _path_cell(path, glyphs),
                      Text(short_number(path.product)))
    if not variable.path_count:
        table.add_row(Text(""), Text(f"no path: {chain.output} does not depend on {name}"),
                      Text("0"))
    if variable.truncated:
        table.add_row(Text(""), Text(f"{_plural(variable.unlisted_count, 'more path')}, "
                                     "summed from the adjoints"),
                      Text(short_number(variable.unlisted_contribution)))
    table.add_section()
    table.add_row(Text(""), Text(f"sum = {d}{chain.output}/{d}{name}"),
                  Text(short_number(variable.total)))
    if variable.truncated:
        why = ("--max-paths" if len(variable.paths) >= chain.max_paths
               else "the paths are long, so the search stopped early")
        table.caption = Text(f"{len(variable.paths)} of {_plural(variable.path_count, 'path')} "
                             f"listed ({why}); --explain reverse shows the whole "
                             "computation in one sweep.")
    return table


# ----- Traces -----

def _entry_cell(row, glyphs: Glyphs) -> Text:
    """``v2 = x*y``, then the local partials it passes on, one per line."""
    head = f"{row.node} (input)" if row.definition is None else f"{row.node} = {row.definition}"
    lines = [f"  {_factor_line(factor, glyphs)}" for factor in row.partials]
    return Text("\n".join([head, *lines]))


def _trace_table(trace, title: str, caption: str, last_column: str, last_values,
                 glyphs: Glyphs) -> Table:
    table = Table(title=Text(title), caption=Text(caption), header_style="bold")
    table.add_column("entry, local partials", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    table.add_column(last_column, justify="right", overflow="fold")
    for position, (row, last) in enumerate(zip(trace.rows, last_values)):
        if position == trace.omitted_after:
            table.add_row(Text(f"{glyphs.ellipsis} "
                               + _plural(trace.omitted_entries, "more entry", "more entries")),
                          Text(""), Text(""))
        table.add_row(_entry_cell(row, glyphs), Text(short_number(row.value)),
                      Text(short_number(last)))
    return table


def _seed_text(seed: dict[str, float]) -> str:
    if not seed:
        return "0 (every tangent is 0)"
    return ", ".join(f"{name} = {short_number(value)}" for name, value in seed.items())


def _print_trace(trace, console: Console, glyphs: Glyphs) -> None:
    if not trace.rows:  # a constant: nothing is swept
        return
    d = glyphs.partial
    if trace.kind == "reverse":
        console.print(_trace_table(
            trace, "reverse sweep, from the output down",
            f"adjoint of v = {d}{trace.output}/{d}v, passed down times each local partial: "
            "one sweep gives every partial",
            "adjoint", [row.adjoint for row in trace.rows], glyphs))
        return
    shown = len(trace.seeds)
    for index, seed in enumerate(trace.seeds):
        console.print(_trace_table(
            trace, f"forward sweep {index + 1} of {trace.sweeps}: seed {_seed_text(seed)}",
            "tangent = sum over the arguments of local partial times their tangent",
            "tangent", [row.tangents[index] for row in trace.rows], glyphs))
    if shown < trace.sweeps:
        console.print(Text(f"Forward mode needs one sweep per variable: {trace.sweeps} "
                           f"sweeps; the first {shown} are shown."))
