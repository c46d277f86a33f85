"""The abstract syntax tree: what ``syntax.parse`` returns and ``tape.lower`` reads.

Small frozen records (``base.record``), one per grammar alias. Each keeps
``span``, the (start, end) character offsets of its text in the source, so
later stages can point at the subexpression an error is about.
"""

from __future__ import annotations

from ..base.record import Frozen

Span = tuple[int, int]


class Number(Frozen):
    """``atom: NUMBER -> number``; ``text`` is the literal as written."""
    __slots__ = ("value", "text", "span")

    def __init__(self, value: float, text: str, span: Span):
        self.value = value
        self.text = text
        self.span = span


class Name(Frozen):
    """``atom: NAME -> name``: a variable, a let-bound name or a constant."""
    __slots__ = ("name", "span")

    def __init__(self, name: str, span: Span):
        self.name = name
        self.span = span


class Unary(Frozen):
    """``unary: MINUS unary | PLUS unary -> unary``; ``op`` is ``"-"`` or ``"+"``."""
    __slots__ = ("op", "operand", "span")

    def __init__(self, op: str, operand: "Expr", span: Span):
        self.op = op
        self.operand = operand
        self.span = span


class Binary(Frozen):
    """``sum/product/power ... -> binary``; ``op`` is one of ``+ - * / @ ^``."""
    __slots__ = ("op", "left", "right", "span", "op_span")

    def __init__(self, op: str, left: "Expr", right: "Expr", span: Span, op_span: Span):
        self.op = op
        self.left = left
        self.right = right
        self.span = span
        self.op_span = op_span


class Call(Frozen):
    """``atom: NAME LPAR args RPAR -> call``."""
    __slots__ = ("function", "args", "span", "name_span")

    def __init__(self, function: str, args: tuple["Expr", ...], span: Span, name_span: Span):
        self.function = function
        self.args = args
        self.span = span
        self.name_span = name_span


class Array(Frozen):
    """``atom: LSQB sum (COMMA sum)* RSQB -> array``: an array literal.

    Its elements are stacked along a new first axis: ``[[1, 2], [3, 4]]`` is
    an array of two rows."""
    __slots__ = ("elements", "span")

    def __init__(self, elements: tuple["Expr", ...], span: Span):
        self.elements = elements
        self.span = span


class Subscript(Frozen):
    """``atom: atom LSQB index (COMMA index)* RSQB -> subscript``.

    ``indices`` are integer literals, negative ones counted from the end."""
    __slots__ = ("operand", "indices", "span")

    def __init__(self, operand: "Expr", indices: tuple[int, ...], span: Span):
        self.operand = operand
        self.indices = indices
        self.span = span


# What one entry of ``Numbers.layout`` stands for.
NUMBERS_ROW = 0     # brackets around ``count`` numbers, the next ones of ``values``
NUMBERS_ONE = 1     # one number, the next of ``values``, beside bracketed ones
NUMBERS_GROUP = 2   # brackets around the ``count`` items laid out last


class Numbers(Frozen):
    """A long array literal of plain numbers, read in one pass (``literals``).

    It stands for the ``Array`` nodes of the same text: ``values`` are its
    numbers in the order written, signs applied; ``layout`` is its brackets
    in post-order, each ``(kind, count, span)``, the last one the literal
    itself. Its items are not checked for one shape here: that stays the
    ``stack`` primitive's check, with the same message and place."""
    __slots__ = ("values", "layout", "span")

    def __init__(self, values: tuple[float, ...], layout: tuple[tuple[int, int, Span], ...],
                 span: Span):
        self.values = values
        self.layout = layout
        self.span = span


Expr = Number | Name | Unary | Binary | Call | Array | Numbers | Subscript


class Let(Frozen):
    """``let: NAME EQUALS sum``: binds ``name`` to one node of the graph."""
    __slots__ = ("name", "value", "span", "name_span")

    def __init__(self, name: str, value: Expr, span: Span, name_span: Span):
        self.name = name
        self.value = value
        self.span = span
        self.name_span = name_span


class Program(Frozen):
    """``start``: the let-bindings in order, then the output expression."""
    __slots__ = ("lets", "output", "source")

    def __init__(self, lets: tuple[Let, ...], output: Expr, source: str):
        self.lets = lets
        self.output = output
        self.source = source
