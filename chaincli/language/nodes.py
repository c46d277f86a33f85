"""The abstract syntax tree: what ``syntax.parse`` returns and ``tape.lower`` reads.

Small frozen dataclasses, one per grammar alias. Each keeps ``span``, the
(start, end) character offsets of its text in the source, so later stages
can point at the subexpression an error is about.
"""

from __future__ import annotations

from dataclasses import dataclass

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Number:
    """``atom: NUMBER -> number``; ``text`` is the literal as written."""
    value: float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    """``atom: NAME -> name``: a variable, a let-bound name or a constant."""
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    """``unary: MINUS unary | PLUS unary -> unary``; ``op`` is ``"-"`` or ``"+"``."""
    op: str
    operand: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    """``sum/product/power ... -> binary``; ``op`` is one of ``+ - * / @ ^``."""
    op: str
    left: "Expr"
    right: "Expr"
    span: Span
    op_span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """``atom: NAME LPAR args RPAR -> call``."""
    function: str
    args: tuple["Expr", ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Array:
    """``atom: LSQB sum (COMMA sum)* RSQB -> array``: an array literal.

    Its elements are stacked along a new first axis: ``[[1, 2], [3, 4]]`` is
    an array of two rows."""
    elements: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Subscript:
    """``atom: atom LSQB index (COMMA index)* RSQB -> subscript``.

    ``indices`` are integer literals, negative ones counted from the end."""
    operand: "Expr"
    indices: tuple[int, ...]
    span: Span


# What one entry of ``Numbers.layout`` stands for.
NUMBERS_ROW = 0     # brackets around ``count`` numbers, the next ones of ``values``
NUMBERS_ONE = 1     # one number, the next of ``values``, beside bracketed ones
NUMBERS_GROUP = 2   # brackets around the ``count`` items laid out last


@dataclass(frozen=True, slots=True)
class Numbers:
    """A long array literal of plain numbers, read in one pass (``literals``).

    It stands for the ``Array`` nodes of the same text: ``values`` are its
    numbers in the order written, signs applied; ``layout`` is its brackets
    in post-order, each ``(kind, count, span)``, the last one the literal
    itself. Its items are not checked for one shape here: that stays the
    ``stack`` primitive's check, with the same message and place."""
    values: tuple[float, ...]
    layout: tuple[tuple[int, int, Span], ...]
    span: Span


Expr = Number | Name | Unary | Binary | Call | Array | Numbers | Subscript


@dataclass(frozen=True, slots=True)
class Let:
    """``let: NAME EQUALS sum``: binds ``name`` to one node of the graph."""
    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Program:
    """``start``: the let-bindings in order, then the output expression."""
    lets: tuple[Let, ...]
    output: Expr
    source: str
