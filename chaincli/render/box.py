"""Tables as plain data, drawn by Rich or, when Rich would draw them plainly, here.

``render_table`` describes what it prints as ``Sheet`` items: lines of text
and ``Grid`` tables (a title, columns, rows, sections). On a terminal, with
colour, in a narrow window or an encoding without box-drawing characters,
Rich draws them (``to_rich``): it styles, folds and picks ASCII boxes. For
output that is not a terminal, where every table fits the width, ``draw``
writes the very characters Rich would (its heavy-head box, one space of
padding, titles centred over the table) without importing Rich, whose import
and layout cost more than the rest of a one-shot ``grad``. Anything ``draw``
is not sure to draw exactly as Rich does raises ``NotPlain``, and Rich draws
it instead; tests/test_render_box.py compares the two.
"""

from __future__ import annotations

import os
import sys

from ..base.terminal import output_width

# Rich's box.HEAVY_HEAD, its default for tables.
_TOP = "┏━┳┓"
_HEAD = "┃┃┃"
_HEAD_RULE = "┡━╇┩"
_ROW = "│││"
_SECTION = "├─┼┤"
_BOTTOM = "└─┴┘"
_BOX_CHARACTERS = _TOP + _HEAD + _HEAD_RULE + _ROW + _SECTION + _BOTTOM
# Characters that take one cell: printable ASCII and the explanation's glyphs.
_ONE_CELL = frozenset(chr(c) for c in range(32, 127)) | frozenset("∂→…")


class NotPlain(Exception):
    """``draw`` cannot promise Rich's output for this sheet: let Rich draw it."""


class Grid:
    """A table: columns ``(header, justify)``, rows of cell texts (may hold newlines)."""

    def __init__(self, title: str | None, columns: list[tuple[str, str]], *,
                 caption: str | None = None, show_header: bool = True, box: bool = True):
        self.title, self.columns, self.caption = title, columns, caption
        self.show_header, self.box = show_header, box
        self.rows: list[tuple[list[str], bool]] = []   # cells, a section rule above
        self._section = False

    def add_row(self, *cells: str) -> None:
        self.rows.append((list(cells), self._section))
        self._section = False

    def add_section(self) -> None:
        self._section = bool(self.rows)


# ----- Drawn here -----

def plain_width() -> int | None:
    """The width Rich would use for stdout, or None when Rich must draw.

    Rich draws plainly (no colour, no styles) only when stdout is not a
    terminal and nothing forces it to act as one; its width then comes from
    ``COLUMNS``, else from the first standard stream that is a terminal, else 80
    (``terminal.output_width``, which the Rich consoles are given too).
    """
    stream = sys.stdout
    if stream is None or os.name == "nt":
        return None
    environ = os.environ
    if any(environ.get(name) for name in ("FORCE_COLOR", "TTY_COMPATIBLE",
                                          "TTY_INTERACTIVE", "JUPYTER_COLUMNS")):
        return None
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError, OSError):
        return None
    encoding = (getattr(stream, "encoding", None) or "").lower()
    if not encoding.startswith("utf"):
        return None
    return output_width()


def _check(text: str) -> None:
    if not all(char in _ONE_CELL for char in text):
        raise NotPlain(text)


def draw_line(text: str, width: int) -> str:
    _check(text)
    if not text or len(text) > width or text != text.strip(" "):
        raise NotPlain("a line Rich would wrap or trim")
    return text + "\n"


def draw(grid: Grid, width: int) -> str:
    """The grid as Rich draws it on a plain console ``width`` columns wide."""
    if grid.caption is not None or not grid.box:
        raise NotPlain("captions and boxless tables are left to Rich")
    cells = [[cell.split("\n") for cell in cells] for cells, _ in grid.rows]
    headers = [header for header, _ in grid.columns]
    for text in [*headers, grid.title or ""]:
        _check(text)
    for row in cells:
        for lines in row:
            for line in lines:
                _check(line)
    widths = []
    for k, header in enumerate(headers):
        longest = len(header) if grid.show_header else 0
        for row in cells:
            longest = max(longest, *(len(line) for line in row[k]))
        widths.append(longest + 2)
    total = sum(widths) + len(widths) + 1
    if total > width or not widths or min(widths) <= 2:
        raise NotPlain("a table Rich would fold, or an empty column")
    out = []
    if grid.title is not None:
        if len(grid.title) > total:
            raise NotPlain("a title Rich would wrap")
        left = (total - len(grid.title)) // 2
        out.append(" " * left + grid.title + " " * (total - len(grid.title) - left))

    def rule(chars: str) -> str:
        return chars[0] + chars[2].join(chars[1] * w for w in widths) + chars[3]

    def line(chars: str, texts: list[str]) -> str:
        parts = []
        for (_, justify), w, text in zip(grid.columns, widths, texts):
            pad = w - 2 - len(text)
            parts.append(" " + (" " * pad + text if justify == "right" else text + " " * pad)
                         + " ")
        return chars[0] + chars[1].join(parts) + chars[2]

    out.append(rule(_TOP))
    if grid.show_header:
        out.append(line(_HEAD, headers))
        out.append(rule(_HEAD_RULE))
    for row, (_, section) in zip(cells, grid.rows):
        if section:
            out.append(rule(_SECTION))
        height = max(len(lines) for lines in row)
        for n in range(height):
            out.append(line(_ROW, [lines[n] if n < len(lines) else "" for lines in row]))
    out.append(rule(_BOTTOM))
    return "\n".join(out) + "\n"


# ----- Drawn by Rich -----

def to_rich(grid: Grid):
    """The grid as a Rich ``Table`` (user text as ``Text``, never markup)."""
    from rich.table import Table
    from rich.text import Text
    options = {} if grid.box else {"box": None}
    table = Table(title=Text(grid.title) if grid.title is not None else None,
                  caption=Text(grid.caption) if grid.caption is not None else None,
                  header_style="bold", show_header=grid.show_header, **options)
    for header, justify in grid.columns:
        table.add_column(header, justify=justify, overflow="fold")
    for cells, section in grid.rows:
        if section:
            table.add_section()
        table.add_row(*(Text(cell) for cell in cells))
    return table
