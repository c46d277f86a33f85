"""Long array literals of plain numbers, read in one pass: a part of ``parser``.

The LALR driver spends a token, a shift and a few reductions on every element
of ``[0.5, -1.25, ...]``; for a literal of a million numbers that is seconds.
Where the driver is about to read ``[`` as the start of an array literal, it
asks ``LiteralRuns.take`` first: a bracketed run of at least ``MINIMUM``
numbers, each a NUMBER of the grammar with at most one sign, nested in
brackets in any way the grammar allows, becomes one ``Numbers`` node holding
the values and the layout of its brackets. Anything else (a name, a call, an
operator between numbers, a comment, a second sign, a syntax error) is left
to the grammar, which then reads the literal token by token as always.

The NUMBER pattern comes from the tables made from the grammar, so the one
definition of a number stays ``grammar/chaincli.lark``. Numbers are read with
``float``, as ``parser`` reads a NUMBER token, and a sign is applied after
reading, as the unary minus would be. Nothing here recurses on the nesting.
"""

from __future__ import annotations

import math
import re

from ..base.errors import ParseError
from ..base.text import abbreviate
from .nodes import NUMBERS_GROUP, NUMBERS_ONE, NUMBERS_ROW, Numbers

# Fewer numbers than this parse faster through the grammar than the cost of
# the checks here; tests lower it to send every literal this way.
MINIMUM = 1000

# Whitespace inside brackets, as the grammar sees it: the ignored characters
# and newlines (which ``_paren_newlines`` drops inside brackets). Not ``\s``,
# which would also take other characters the grammar refuses.
_W = r"[ \t\f\r\n]"
_WHITESPACE = str.maketrans("", "", " \t\f\r\n")
# Characters a run of plain numbers can hold; a maximal stretch of them is
# where candidate literals are looked for.
# (Compiled when a text has a bracket: most expressions have none.)
_RUN = r"[\[\]0-9eE.+\-, \t\f\r\n]+"
_BRACKET = r"[\[\]]"


def too_large(text: str, span: tuple[int, int]) -> ParseError:
    """The error for a NUMBER that is infinite as a double."""
    return ParseError(f"the number {abbreviate(text, 24, head=12)} is too large for a "
                      "double (at most about 1.8e308)", span=span)


class LiteralRuns:
    """The candidate literals of one text, found once, and how to read one."""

    def __init__(self, text: str, number_pattern: str):
        self.text = text
        # Atomic: a long run of digits is matched once, never re-split on
        # backtracking (the lexer also takes the pattern's first match).
        # Its groups do not capture here: group numbers below name the kinds.
        number = "(?>" + re.sub(r"(?<!\\)\((?!\?)", "(?:", number_pattern) + ")"
        signed = f"[-+]?{_W}*{number}"
        self._number = re.compile(number)
        # A row: brackets around numbers only, the grammar's
        # ``LSQB sum (COMMA sum)* COMMA? RSQB`` with every ``sum`` a number.
        self._row = re.compile(rf"\[{_W}*({signed}(?:{_W}*,{_W}*{signed})*+){_W}*(?:,{_W}*)?\]")
        # Between rows: brackets, commas, whitespace and numbers on their own.
        self._gap = re.compile(rf"(\[)|(\])|(,)|({signed})|{_W}+|(.)", re.S)
        self._ends: dict[int, int] | None = None

    def starts(self) -> dict[int, int]:
        """Where each candidate literal starts, and where it ends."""
        if self._ends is None:
            self._ends = _candidates(self.text)
        return self._ends

    def take(self, start: int) -> Numbers | None:
        """The literal at ``start`` as one node, or None to leave it to the grammar."""
        end = self.starts().get(start)
        if end is None or self.text.count(",", start, end) + 1 < MINIMUM:
            return None
        return self._read(start, end)

    def _read(self, start: int, end: int) -> Numbers | None:
        text = self.text
        pieces: list[str] = []
        layout: list[tuple[int, int, tuple[int, int]]] = []
        # Open brackets above the current position: [start, elements so far,
        # whether an element may follow (after "[" or ","), whether "]" may].
        frames: list[list] = []
        position = start
        for row in self._row.finditer(text, start, end):
            if not _gap(self._gap, text, position, row.start(), frames, pieces, layout):
                return None
            if frames:
                frame = frames[-1]
                if not frame[2]:
                    return None
                frame[1] += 1
                frame[2], frame[3] = False, True
            elif row.start() != start or row.end() != end:
                return None
            inner = row.group(1)
            pieces.append(inner)
            layout.append((NUMBERS_ROW, inner.count(",") + 1, row.span()))
            position = row.end()
        if not _gap(self._gap, text, position, end, frames, pieces, layout) or frames \
                or not layout:
            return None
        values = list(map(float, ",".join(pieces).translate(_WHITESPACE).split(",")))
        if len(values) < MINIMUM:
            return None
        if math.inf in values or -math.inf in values:
            self._too_large(start, end, values)
        return Numbers(tuple(values), tuple(layout), (start, end))

    def _too_large(self, start: int, end: int, values: list[float]) -> None:
        first = next(k for k, value in enumerate(values) if math.isinf(value))
        for k, found in enumerate(self._number.finditer(self.text, start, end)):
            if k == first:
                raise too_large(found.group(), found.span())
        raise AssertionError("every value is one number of the text")  # pragma: no cover


def _gap(pattern, text, position, stop, frames, pieces, layout) -> bool:
    """Read brackets, commas and lone numbers between two rows; False if the
    grammar would not take them as part of one literal of numbers."""
    for found in pattern.finditer(text, position, stop):
        kind = found.lastindex
        if kind is None:        # whitespace
            continue
        if kind == 1:           # "["
            if frames:
                if not frames[-1][2]:
                    return False
                frames[-1][2] = frames[-1][3] = False
            elif found.start() != position or layout:
                return False
            frames.append([found.start(), 0, True, False])
        elif kind == 2:         # "]"
            if not frames or not frames[-1][3]:
                return False
            begin, count, _, _ = frames.pop()
            layout.append((NUMBERS_GROUP, count, (begin, found.end())))
            if frames:
                frames[-1][1] += 1
                frames[-1][2], frames[-1][3] = False, True
        elif kind == 3:         # ","
            if not frames or frames[-1][2]:
                return False
            frames[-1][2], frames[-1][3] = True, True
        elif kind == 4 and frames and frames[-1][2]:     # a number on its own
            pieces.append(found.group())
            layout.append((NUMBERS_ONE, 1, found.span()))
            frames[-1][1] += 1
            frames[-1][2], frames[-1][3] = False, True
        else:
            return False
    return True


def _candidates(text: str) -> dict[int, int]:
    """Bracket groups that stretches of number characters hold, outermost first:
    start -> end. A group inside a longer one is not a candidate of its own
    unless that longer one is not closed within the stretch."""
    ends: dict[int, int] = {}
    bracket_pattern = re.compile(_BRACKET)
    for run in re.finditer(_RUN, text):
        if run.end() - run.start() < 2 * MINIMUM - 1 and MINIMUM > 1:
            continue
        # Each open bracket with the closed groups right inside it.
        opened: list[tuple[int, list[tuple[int, int]]]] = []
        for bracket in bracket_pattern.finditer(text, run.start(), run.end()):
            if bracket.group() == "[":
                opened.append((bracket.start(), []))
            elif opened:
                begin, _ = opened.pop()
                if opened:
                    opened[-1][1].append((begin, bracket.end()))
                else:
                    ends[begin] = bracket.end()
        for _, inside in opened:
            ends.update(inside)
    return ends
