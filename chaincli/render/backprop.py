"""Output of ``diff --steps`` for a tensor expression: the backprop equations.

Renderers only read a ``BackpropSteps`` (``chaincli.calculus.backprop_steps``);
the JSON shape is its ``to_dict``. The named pieces of the forward pass come
first (``where h = tanh(u1)``), then one equation per line, ``δh = W2'@δz``,
with the rules that gave it beside it, and last the variable's gradient as
``diff`` writes it, in the pieces' names.
"""

from __future__ import annotations

from ..base.shapes import shape_text
from .derivation import RULE_WIDTH, TEXT_COLUMN, _latex_text


def _final_rule(result) -> str:
    shape = f"of shape {shape_text(result.shape)}" if result.shape else "a number"
    return f"the gradient by {result.wrt}, {shape}, as diff writes it"


def _omitted(result) -> str | None:
    notes = []
    if result.omitted_lines:
        notes.append(f"{result.omitted_lines} lines left out between the first and the last, "
                     "derived the same way")
    if result.omitted_pieces:
        notes.append(f"{result.omitted_pieces} named pieces of the forward pass not listed")
    if result.final is None:
        notes.append("the gradient as diff writes it is left out, as it is written in more "
                     "pieces than are listed; chaincli diff without --steps prints it")
    return "; ".join(notes) if notes else None


def _rows(result) -> list[tuple[str, str, str]]:
    """(left side, expression, rule) per line; the last line's left side is blank."""
    rows = [(line.adjoint, line.expression, line.rule) for line in result.lines]
    if result.final is not None:
        rows.append(("", result.final, _final_rule(result)))
    return rows


def text(result) -> str:
    out: list[str] = []
    note = _omitted(result)
    if note:
        out.append(f"({note})")
    for piece in result.pieces:
        out.append(f"where {piece.name} = {piece.expression}")
    if out:
        out.append("")
    rows = _rows(result)
    left = max(len(row[0]) for row in rows)
    width = min(TEXT_COLUMN, max(len(row[1]) for row in rows))
    for adjoint, expression, rule in rows:
        line = f"{adjoint.ljust(left)} = {expression}"
        line = line.ljust(left + 3 + width) + "  " + rule
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


def print_table(result, console=None) -> None:
    from rich.table import Table
    from rich.text import Text
    from .table import make_console
    from ..base.terminal import printable
    console = console or make_console()
    note = _omitted(result)
    if note:
        console.print(Text(f"({note})"))
    for piece in result.pieces:
        console.print(Text(f"where {piece.name} = ") + Text(printable(piece.expression)))
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold", ratio=3)
    table.add_column(overflow="fold", ratio=2, max_width=RULE_WIDTH)
    for adjoint, expression, rule in _rows(result):
        table.add_row(Text(f"{adjoint} =" if adjoint else "="), Text(printable(expression)),
                      Text(rule, style="dim"))
    console.print(table)


def latex(result) -> str:
    """One ``align*`` block (amsmath): the pieces, then an ``&=`` per equation."""
    from ..calculus.backprop_steps import delta_latex
    from ..printer import latex_name
    lines = [rf"{latex_name(piece.name)} &= {piece.latex} && \text{{{_piece_rule(piece)}}}"
             for piece in result.pieces]
    for line in result.lines:
        rule = rf"\text{{{_rule_latex(line.rule)}}}" if line.rule else ""
        lines.append(rf"{delta_latex(line.of)} &= {line.latex} && {rule}".rstrip())
    if result.final_latex is not None:
        *where_rows, body = result.final_latex.split(" \\\\\n")
        lines.append(rf"&= {body} && \text{{{_latex_text(_final_rule(result))}}}")
        lines.extend(rf"&\phantom{{=}} \text{{where }} {row}" for row in where_rows)
    note = _omitted(result)
    prose = f"{_latex_text(note)}\n\n" if note else ""
    return prose + "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"


def _rule_latex(text: str) -> str:
    """A rule for ``\\text{…}``: TeX's specials escaped, δ and ∂ as math."""
    escaped = _latex_text(text)
    return escaped.replace("δ", r"$\delta$").replace("∂", r"$\partial$")


def _piece_rule(piece) -> str:
    return "let-binding" if piece.kind == "let" else "named piece"
