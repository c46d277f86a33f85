"""Rich output for results that hold tensors: the value, then each gradient as a table.

The tensor counterpart of ``render_table`` (whose console, glyphs and
number formats it shares). A scalar partial is listed in a small table as
``render_table`` lists it, at full precision. A tensor partial (or an
array value of ``eval``) gets a heading line with its shape, norm, min and
max, then a table of its elements:

* a vector as one column, labelled by index;
* a matrix as rows and columns, labelled by index;
* an array of 3 or more axes flattened per leading index: one row per
  ``i,j`` of the leading axes, one column per index of the last axis.

Elements are shown to 6 significant digits (``--format plain`` and
``--json`` give every digit). Rows past ``MAX_ROWS`` and columns past the
terminal's width are elided: the first and last ones are kept around a
``…`` row or column, and a line under the table counts what was left out.
"""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..base.numbers import plain_number, rounded_number as element
from ..base.shapes import shape_text
from .table import console_encodable, glyphs_for, header_text, make_console
from ..engine.results import GradientResult, ValueResult, is_tensor

# At most this many rows of a tensor are printed: half from the top, half from the bottom.
MAX_ROWS = 16
# Cell widths are measured on at most this many columns from each end.
_MEASURED_COLUMNS = 64
# A 1-D value of at most this many elements is written out in the "at" line.
_INLINE_ELEMENTS = 6


def _split(count: int, limit: int) -> tuple[list[int], int]:
    """The indices to show out of ``count`` (first and last ones), and how many are left out."""
    if count <= limit:
        return list(range(count)), 0
    head = (limit + 1) // 2
    tail = limit - head
    return list(range(head)) + list(range(count - tail, count)), count - limit


def _fill(pieces: list[str], width: int, separator: str) -> str:
    """``pieces`` joined by ``separator``, broken into lines of at most ``width``
    between pieces, never inside one (``min -1.2`` stays together)."""
    lines, line = [], ""
    for piece in pieces:
        joined = f"{line}{separator}{piece}" if line else piece
        if line and len(joined) > width:
            lines.append(line + separator.rstrip())
            line = piece
        else:
            line = joined
    lines.append(line)
    return "\n".join(lines)


def _statistics(array: np.ndarray) -> list[str]:
    with np.errstate(all="ignore"):  # a NaN is printed as it is
        # Scaled by the largest magnitude, so 1e200-sized elements do not overflow.
        scale = float(np.max(np.abs(array)))
        norm = scale * float(np.sqrt(np.sum(np.square(array / scale)))) if (
            scale and math.isfinite(scale)) else scale
    return [f"shape {shape_text(array.shape)}", f"norm {element(norm)}",
            f"min {element(float(array.min()))}", f"max {element(float(array.max()))}"]


def tensor_table(array: np.ndarray, width: int, ellipsis: str,
                 header: str) -> tuple[Table, str | None]:
    """The elements of ``array`` as a table at most ``width`` wide, and a line
    counting what was left out (None when every element is shown).

    ``header`` heads the one column of a vector."""
    if array.ndim == 1:
        grid = array.reshape(-1, 1)
        row_labels = [str(i) for i in range(grid.shape[0])]
    else:
        grid = array.reshape(-1, array.shape[-1])
        leading = array.shape[:-1]
        row_labels = None  # made for the shown rows only: there may be millions
    rows, hidden_rows = _split(grid.shape[0], MAX_ROWS)

    def label(row: int) -> str:
        if row_labels is not None:
            return row_labels[row]
        return ",".join(map(str, np.unravel_index(row, leading)))

    labels = [label(row) for row in rows]
    columns = grid.shape[1]
    measured = sorted(set(range(min(columns, _MEASURED_COLUMNS)))
                      | set(range(max(0, columns - _MEASURED_COLUMNS), columns)))
    block = grid[np.ix_(rows, measured)]
    cell = max(max(len(element(v)) for v in block.ravel().tolist()),
               len(str(columns - 1)) if array.ndim > 1 else len(header))
    label_width = max(len(text) for text in labels + [ellipsis])
    # Each column costs its text plus a space of padding on each side and a border.
    room = width - 1 - (label_width + 3)
    if columns * (cell + 3) <= room:
        shown, hidden_columns = list(range(columns)), 0
    else:
        fit = max(1, (room - (len(ellipsis) + 3)) // (cell + 3))
        shown, hidden_columns = _split(columns, fit)

    # Where the "…" column goes: at the jump from the first columns to the last
    # ones, or after them all when only first ones fit.
    gap = None
    if hidden_columns:
        gap = next((position for position in range(1, len(shown))
                    if shown[position] != shown[position - 1] + 1), len(shown))
    headers = [header if array.ndim == 1 else str(column) for column in shown]
    if gap is not None:
        headers.insert(gap, ellipsis)
    table = Table(header_style="bold")
    table.add_column("", justify="right", overflow="fold")
    for text in headers:
        table.add_column(text, justify="center" if text == ellipsis else "right",
                         overflow="fold")
    values = grid[np.ix_(rows, shown)].tolist()
    for position, (label_text, row_values) in enumerate(zip(labels, values)):
        if hidden_rows and position and rows[position] != rows[position - 1] + 1:
            table.add_row(*[Text(ellipsis)] * (len(headers) + 1))
        cells = [Text(element(v)) for v in row_values]
        if gap is not None:
            cells.insert(gap, Text(ellipsis))
        table.add_row(Text(label_text), *cells)

    left_out = []
    if hidden_rows:
        noun = "rows" if array.ndim < 3 else "rows (leading indices)"
        left_out.append(f"{hidden_rows:,} of {grid.shape[0]:,} {noun}")
    if hidden_columns:
        left_out.append(f"{hidden_columns:,} of {columns:,} columns")
    note = None
    if left_out:
        note = (f"{ellipsis} {' and '.join(left_out)} not shown; --format plain lists "
                "every element")
    return table, note


def _print_tensor(label: str, array: np.ndarray, console: Console, header: str) -> None:
    ellipsis = glyphs_for(console).ellipsis
    console.print(Text(_fill([label, *_statistics(array)], console.width, "  ")))
    table, note = tensor_table(array, console.width, ellipsis, header)
    console.print(table)
    if note:
        _print_words(note, console)


def point_text(name: str, value) -> str:
    if not is_tensor(value):
        return f"{name} = {plain_number(value)}"
    if value.ndim == 1 and value.size <= _INLINE_ELEMENTS:
        return f"{name} = [{', '.join(plain_number(v) for v in value.tolist())}]"
    return f"{name}: array of shape {shape_text(value.shape)}"


def _print_words(text: str, console: Console) -> None:
    console.print(Text(_fill(text.split(" "), console.width, " ")))


def _precision_note(console: Console) -> None:
    _print_words("Tensor elements are shown to 6 significant digits; --format plain or "
                 "--json gives every digit.", console)


def print_tensor_gradient(result: GradientResult, console: Console | None = None) -> None:
    """The value, the scalar partials in one table, then a table per tensor partial."""
    console = console or make_console()
    glyphs = glyphs_for(console)
    d = glyphs.partial
    # The output's name in the backward-pass table too (f_ if the user bound f).
    f = result.evaluation.tape.output_name() if result.evaluation is not None else "f"
    console.print(Text(header_text(f, console_encodable(result.expression, console), glyphs)))
    if result.point:
        pieces = [point_text(name, value) for name, value in result.point.items()]
        pieces[0] = "at " + pieces[0]
        console.print(Text(_fill(pieces, console.width, ", ")))
    if is_tensor(result.value):
        _print_tensor(f, result.value, console, f)
    else:
        console.print(Text(f"{f} = {plain_number(result.value)}"))
    console.print(Text(f"gradient ({result.mode} mode)"))
    scalars = {name: value for name, value in result.gradient.items() if not is_tensor(value)}
    if scalars:
        table = Table(header_style="bold")
        table.add_column("variable", overflow="fold")
        table.add_column(f"{d}{f}/{d}variable", justify="right", overflow="fold")
        for name, value in scalars.items():
            table.add_row(Text(name), Text(plain_number(value)))
        console.print(table)
    tensors = [(name, value) for name, value in result.gradient.items() if is_tensor(value)]
    for name, value in tensors:
        _print_tensor(f"{d}{f}/{d}{name}", value, console, f"{d}{f}/{d}{name}")
    if tensors or is_tensor(result.value):
        _precision_note(console)


def print_tensor_value(result: ValueResult, console: Console | None = None) -> None:
    """``eval`` of an expression whose value is an array."""
    console = console or make_console()
    glyphs = glyphs_for(console)
    console.print(Text(header_text(result.output, console_encodable(result.expression, console),
                                   glyphs)))
    _print_tensor("value", result.value, console, result.output)
    _precision_note(console)
