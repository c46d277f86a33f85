"""Rich output of the backward-pass table (``chaincli.explain.backward``).

Reads a ``BackwardPass`` and nothing else. One table row per node, from the
output down: the node and its definition, its shape, its rule (one line per
argument, as the primitive table writes it) and the adjoint that arrived
(its norm and first entries; a scalar or a small array whole). A line that
adds to a parameter's gradient is marked ``★``, and the parameter's own row
says its gradient is complete. Numbers are shown to 5 significant digits;
JSON carries them in full. All user text goes in as ``Text``, never markup;
columns fold rather than cut, so a 40-column terminal gets every character.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..explain.backward import AdjointSummary, BackwardPass, BackwardRow
from .table import Glyphs, glyphs_for, make_console, print_explanation
from ..base.numbers import short_number
from ..base.terminal import printable
from ..base.shapes import shape_text

MARK = "★"
# Below this width the rows are printed as blocks, not as a four-column table.
NARROW = 64
# The node, shape and adjoint columns take at most this much, with the borders
# and padding, the rule column 24 more: below that width the rule column
# gives way, or the table would be cropped (a 4-axis shape fills its column).
_CAPPED = 65


def adjoint_text(summary: AdjointSummary, ellipsis: str = "…") -> str:
    """``1.5`` for a scalar; ``norm 0.59833`` then ``[0.42308, -0.42308]`` for an array."""
    if not summary.shape:
        return short_number(summary.first[0])
    # + 0.0 shows an exact zero as 0, never as -0 (IEEE keeps the sign of a product).
    entries = ", ".join(short_number(v + 0.0) for v in summary.first)
    if not summary.complete:
        entries += f", {ellipsis} {summary.size - len(summary.first):,} more"
    return f"norm {short_number(summary.norm)}\n[{entries}]"


def _node_cell(row: BackwardRow) -> Text:
    if row.definition is None:
        return Text(printable(row.node), style="bold") + Text(" (parameter)", style="dim")
    return Text(printable(row.node), style="bold") + Text(f" = {printable(row.definition)}")


def _rule_cell(row: BackwardRow, output: str, glyphs: Glyphs, mark: str) -> Text:
    text = Text()
    if row.gradient_of is not None:
        d = glyphs.partial
        text.append(f"{mark} {d}{output}/{d}{printable(row.node)} = δ{printable(row.node)}",
                    style="bold green")
        text.append(" (complete)", style="dim")
        return text
    for number, line in enumerate(row.rules):
        if number:
            text.append("\n")
        if line.gradient_of is not None:
            text.append(printable(line.text), style="green")
            text.append(f"  {mark} {printable(line.gradient_of)}", style="bold green")
        else:
            text.append(printable(line.text))
    if row.omitted_rules:
        text.append(f"\n{glyphs.ellipsis} {row.omitted_rules:,} more arguments", style="dim")
    if not row.rules and not row.omitted_rules:
        text.append("(no argument needs an adjoint)", style="dim")
    return text


def backward_table(backward: BackwardPass, glyphs: Glyphs, width: int = 200) -> Table:
    """The table itself, for a console ``width`` columns wide to print."""
    table = Table(title=Text(f"backward pass: δ{backward.output} = 1 at the output, each "
                             "node's rule passes the adjoint to its arguments"),
                  header_style="bold")
    # The rule column gets the room: the others are capped.
    table.add_column("node", overflow="fold", max_width=20)
    table.add_column("shape", overflow="fold", max_width=12)
    table.add_column("rule", overflow="fold", min_width=min(24, max(width - _CAPPED, 1)))
    table.add_column("adjoint arriving", justify="right", overflow="fold", max_width=20)
    for position, row in enumerate(backward.rows):
        if position == backward.omitted_after:
            table.add_row(Text(f"{glyphs.ellipsis} {backward.omitted_rows:,} more nodes",
                               style="dim"), Text(""), Text(""), Text(""))
        table.add_row(_node_cell(row), Text(shape_text(row.shape)),
                      _rule_cell(row, backward.output, glyphs, MARK),
                      Text(adjoint_text(row.summary, glyphs.ellipsis)))
    table.caption = Text(_caption(backward, glyphs))
    return table


def _caption(backward: BackwardPass, glyphs: Glyphs) -> str:
    d = glyphs.partial
    notes = [f"δn = {d}{backward.output}/{d}n for each node n; ⊙ multiplies elementwise; "
             f"{MARK} adds to a parameter's gradient"]
    if backward.omitted_rows:
        notes.append(f"{backward.omitted_rows:,} of {backward.nodes:,} nodes left out "
                     "(the first and the last are shown)")
    if backward.no_adjoint == 1:
        notes.append("1 node depends on no parameter and gets no adjoint")
    elif backward.no_adjoint:
        notes.append(f"{backward.no_adjoint:,} nodes depend on no parameter and get no "
                     "adjoint")
    return "; ".join(notes)


def backward_blocks(backward: BackwardPass, glyphs: Glyphs) -> Group:
    """The same rows as indented blocks, for a terminal too narrow for four columns;
    a folded rule or adjoint keeps its indent."""
    parts: list = [Text(f"backward pass: δ{backward.output} = 1 at the output, each "
                        "node's rule passes the adjoint to its arguments", style="bold")]
    for position, row in enumerate(backward.rows):
        if position == backward.omitted_after:
            parts.append(Text(f"{glyphs.ellipsis} {backward.omitted_rows:,} more nodes",
                              style="dim"))
        parts.append(_node_cell(row) + Text(f"  {shape_text(row.shape)}"))
        for line in _rule_cell(row, backward.output, glyphs, MARK).split("\n"):
            parts.append(Padding(line, (0, 0, 0, 2), expand=False))
        adjoint = adjoint_text(row.summary, glyphs.ellipsis).replace("\n", " ")
        parts.append(Padding(Text(f"arriving: {adjoint}", style="cyan"), (0, 0, 0, 2),
                             expand=False))
    parts.append(Text(_caption(backward, glyphs), style="dim"))
    return Group(*parts)


def print_backward(backward: BackwardPass, console: Console) -> None:
    glyphs = glyphs_for(console)
    if console.width < NARROW:
        console.print(backward_blocks(backward, glyphs))
    else:
        console.print(backward_table(backward, glyphs, console.width))


def print_tensor_explanation(explanation, console: Console | None = None) -> None:
    """What a ``tensor_explain.TensorExplanation`` holds: the table, or the
    scalar paths or trace of the expansion into elements."""
    if explanation is None:
        return
    console = console or make_console()
    if explanation.scalar is not None:
        print_explanation(explanation.scalar, console)
    elif explanation.backward is not None:
        print_backward(explanation.backward, console)
