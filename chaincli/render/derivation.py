"""Output of ``diff --steps``: a Rich table, plain text, or a LaTeX ``align*`` block.

Renderers only read a ``StepsResult`` (``chaincli.explain.derivation``); the JSON
shape is its ``to_dict``. Each line is ``d/dx(…)`` or ``= expression`` with
the rule that gave it beside it; a derivation's named pieces are listed
first (``where u = x*y``), and one that left steps out says how many.
"""

from __future__ import annotations

from ..base.numbers import latex_number
from ..explain.derivation import Derivation, Step, StepsResult, pending_text

# In plain text, the rule column starts after at most this many characters.
TEXT_COLUMN = 40
# In the table, the rule column is at most this wide (it folds).
RULE_WIDTH = 40

_ORDINALS = ("zeroth", "first", "second", "third")


def _title(result: StepsResult, derivation: Derivation) -> str | None:
    """A heading for each derivation when there is more than one order."""
    if result.order < 2:
        return None
    n = derivation.order
    name = _ORDINALS[n] if n < len(_ORDINALS) else f"{n}th"
    return f"{name} derivative"


def _rule(step: Step) -> str:
    if step.rule and step.detail:
        return f"{step.rule}: {step.detail}"
    return step.rule or step.detail


def _omitted(derivation: Derivation) -> str | None:
    if not derivation.omitted_steps:
        return None
    names = [pending_text(derivation.wrt, n) for n in derivation.omitted_pieces[:3]]
    more = len(derivation.omitted_pieces) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more else "")
    return (f"{derivation.omitted_steps} steps left out: {listed}, derived the same way "
            "(their results are in the simplified lines)")


def _rows(result: StepsResult, derivation: Derivation, last: bool):
    """(marker, expression, rule) per line of one derivation, with blank rows between parts."""
    rows = []
    for k, step in enumerate(derivation.steps):
        if step.first and k:
            rows.append(None)
        rows.append(("  " if step.first else "= ", step.expression, _rule(step)))
    value = result.value_step() if last else None
    if value is not None:
        rows.append(("= ", value.expression, _rule(value)))
    return rows


# ----- Plain text -----

def text(result: StepsResult) -> str:
    out: list[str] = []
    for n, derivation in enumerate(result.derivations):
        if out:
            out.append("")
        title = _title(result, derivation)
        if title:
            out.append(f"{title}:")
        note = _omitted(derivation)
        if note:
            out.append(f"({note})")
        for binding in derivation.bindings:
            out.append(f"where {binding.name} = {binding.expression}")
        if derivation.bindings or note:
            out.append("")
        rows = _rows(result, derivation, n == len(result.derivations) - 1)
        width = min(TEXT_COLUMN, max((len(r[1]) for r in rows if r), default=0))
        for row in rows:
            if row is None:
                out.append("")
                continue
            marker, expression, rule = row
            line = marker + expression
            if rule:
                line = line.ljust(len(marker) + width) + "  " + rule
            out.append(line.rstrip())
    return "\n".join(out) + "\n"


# ----- Rich table -----

def print_table(result: StepsResult, console=None) -> None:
    from rich.table import Table
    from rich.text import Text
    from .table import make_console
    from ..base.terminal import printable
    console = console or make_console()
    for n, derivation in enumerate(result.derivations):
        title = _title(result, derivation)
        note = _omitted(derivation)
        if note:
            console.print(Text(f"({note})"))
        for binding in derivation.bindings:
            console.print(Text(f"where {binding.name} = ") + Text(printable(binding.expression)))
        table = Table(title=Text(title) if title else None, show_header=False, box=None,
                      pad_edge=False, padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold", ratio=3)
        table.add_column(overflow="fold", ratio=2, max_width=RULE_WIDTH)
        for row in _rows(result, derivation, n == len(result.derivations) - 1):
            if row is None:
                table.add_row("", "", "")
                continue
            marker, expression, rule = row
            table.add_row(Text(marker.strip() or " "), Text(printable(expression)),
                          Text(rule, style="dim"))
        console.print(table)


# ----- LaTeX -----

def latex(result: StepsResult) -> str:
    """One ``align*`` block per derivation (amsmath), a ``&=`` per step."""
    from ..printer import latex_name
    blocks = []
    for n, derivation in enumerate(result.derivations):
        lines: list[str] = []
        before = [_latex_text(t) for t in (_title(result, derivation), _omitted(derivation))
                  if t]
        for binding in derivation.bindings:
            lines.append(rf"{latex_name(binding.name)} &= {binding.latex} "
                         rf"&& \text{{{_latex_text(_binding_rule(binding.kind))}}}")
        steps = list(derivation.steps)
        value = result.value_step() if n == len(result.derivations) - 1 else None
        if value is not None:
            where = ", ".join(f"{latex_name(name)} = {_number(v)}"
                              for name, v in result.point.items())
            steps.append(Step(value.expression, value.latex, "", "", first=False))
        left = ""
        for k, step in enumerate(steps):
            if step.first:
                left = step.latex
                continue
            rule = step.rule
            note_text = rf"\text{{{_latex_text(rule)}}}" if rule else ""
            if value is not None and step is steps[-1]:
                note_text = rf"\text{{at }} {where}"
            # diff's own output may bind pieces first (u_{1} = … \\ body): the body
            # goes on the step's row, each binding on a row of its own below it.
            *where_rows, body = step.latex.split(" \\\\\n")
            lines.append(rf"{left} &= {body} && {note_text}".rstrip())
            lines.extend(rf"&\phantom{{=}} \text{{where }} {row}" for row in where_rows)
            left = ""
        prose = "".join(f"{t}\n\n" for t in before)
        blocks.append(prose + "\\begin{align*}\n" + " \\\\\n".join(lines)
                      + "\n\\end{align*}\n")
    return "".join(blocks)


def _binding_rule(kind: str) -> str:
    return {"let": "let-binding", "repeated": "repeated subexpression",
            "folded": "named piece"}.get(kind, kind)


def _number(value: float) -> str:
    return latex_number(value)


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$",
                   "&": r"\&", "#": r"\#", "^": r"\^{}", "_": r"\_", "%": r"\%",
                   "~": r"\~{}"}


def _latex_text(text: str) -> str:
    """Plain words for ``\\text{…}``, with TeX's special characters escaped."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)
