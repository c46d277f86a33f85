"""Text to AST: the first stage of the pipeline.

The grammar lives in ``grammar/chaincli.lark`` and ships inside the package
(``chaincli/grammar/``); it is read from the installed package, never from a
source tree. Lark turns it into LALR tables when the wheel is built
(``parser_tables``, shipped as ``chaincli/language/_parser_tables.py``), and ``lalr``
runs them: no grammar compilation and no cache file at run time, and no
Lark import at all. Tables that do not match the shipped grammar (or are
missing, in a source tree) are made again from the grammar with Lark.

AST nodes are built as rules are reduced, on the parser's explicit stack: a
100,000-deep expression never touches Python's recursion limit. Syntax errors
become ``ParseError`` here, with the source line, a caret, and what was
expected in words.
"""

from __future__ import annotations

import os
import unicodedata

from .nodes import Array, Binary, Call, Let, Name, Number, Program, Subscript, Unary
from ..base.errors import ChaincliError, ParseError
from ..base.text import abbreviate, quoted
from .lalr import Parser, SyntaxProblem, Token
from .literals import LiteralRuns, too_large

# Terminal names of the grammar, as a user would say them.
_TERMINAL_WORDS = {
    "NUMBER": "a number", "NAME": "a name", "PLUS": '"+"', "MINUS": '"-"',
    "STAR": '"*"', "SLASH": '"/"', "POW": '"^"', "EQUALS": '"="', "COMMA": '","',
    "LPAR": '"("', "RPAR": '")"', "LSQB": '"["', "RSQB": '"]"', "AT": '"@"',
    "QUOTE": '"\'"',
    "_SEMI": '";"', "_NL": "a new line", "$END": "the end",
}
# Expected sets are long; these are the ones worth naming, in this order.
_WORD_ORDER = list(_TERMINAL_WORDS)

# Characters people paste from papers and what chaincli spells them as.
LOOKALIKES = {
    "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "−": "-", "–": "-", "—": "-",
    "√": "sqrt(...)", "π": "pi", "²": "^2", "³": "^3", "\u00a0": "a plain space",
    "∂": "chaincli grad", "（": "(", "）": ")", "，": ",", "＝": "=", "…": "...",
}

# The grammar ships at the package root (chaincli/grammar/), one folder up.
GRAMMAR_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "grammar",
                            "chaincli.lark")


def _span(token: Token) -> tuple[int, int]:
    return (token.start, token.end)


class _ASTBuilder:
    """Builds AST nodes as the parser reduces; methods named as the grammar's aliases."""

    def __init__(self, literals: "_Literals | None" = None):
        self._literals = literals

    def number(self, token: Token) -> Number:
        if token.text[0] == "[":
            # A literal of numbers read whole stands in for a NUMBER.
            return self._literals.taken.pop(token.start)
        value = float(token.text)
        if value == float("inf"):
            raise too_large(token.text, _span(token))
        return Number(value, token.text, _span(token))

    def name(self, token: Token) -> Name:
        return Name(token.text, _span(token))

    def unary(self, op: Token, operand) -> Unary:
        return Unary(op.text, operand, (op.start, operand.span[1]))

    def binary(self, left, op: Token, right) -> Binary:
        op_text = "^" if op.text == "**" else op.text
        return Binary(op_text, left, right, (left.span[0], right.span[1]), _span(op))

    def call(self, name: Token, lpar: Token, *rest) -> Call:
        rpar = rest[-1]
        args = tuple(item for item in rest[:-1] if not isinstance(item, Token))
        return Call(name.text, args, (name.start, rpar.end), _span(name))

    def group(self, lpar: Token, inner, rpar: Token):
        # Parentheses only group; the span widens so errors underline them too.
        return _with_span(inner, (lpar.start, rpar.end))

    def array(self, lsqb: Token, *rest):
        elements = tuple(item for item in rest if not isinstance(item, Token))
        return Array(elements, (lsqb.start, rest[-1].end))

    def index(self, *tokens: Token) -> tuple[int, Token]:
        number = tokens[-1]
        text = "".join(token.text for token in tokens)
        span = (tokens[0].start, number.end)
        if not number.text.isdigit():
            raise ParseError(f"an index is a whole number like 0 or -1, not "
                             f"{_short(text)}", span=span)
        if len(number.text) > 18:
            raise ParseError(f"the index {_short(text)} is too large", span=span)
        value = int(number.text)
        return (-value if len(tokens) == 2 else value, number)

    def subscript(self, operand, lsqb: Token, *rest):
        indices = tuple(item[0] for item in rest if not isinstance(item, Token))
        return Subscript(operand, indices, (operand.span[0], rest[-1].end))

    def transposed(self, operand, quote: Token) -> Call:
        # A' is transpose(A); the quote is where a shape error points.
        return Call("transpose", (operand,), (operand.span[0], quote.end), _span(quote))

    def let(self, name: Token, equals: Token, value) -> Let:
        return Let(name.text, value, (name.start, value.span[1]), _span(name))

    def start(self, *items):
        return items


def _with_span(node, span):
    fields = {f: getattr(node, f) for f in node.__slots__}
    fields["span"] = span
    return type(node)(**fields)


def _paren_newlines(stream):
    """Post-lexer: a newline inside parentheses or brackets is whitespace, not a separator."""
    depth = 0
    for token in stream:
        kind = token.type
        if kind == "LPAR" or kind == "LSQB":
            depth += 1
        elif kind == "RPAR" or kind == "RSQB":
            depth = max(0, depth - 1)
        elif kind == "_NL" and depth:
            continue
        yield token


def _grammar_text() -> str:
    with open(GRAMMAR_PATH, encoding="utf-8") as handle:
        return handle.read()


def load_tables():
    """The LALR tables: those shipped with the package when they were made from
    the shipped grammar, else made now from the grammar (this needs Lark)."""
    grammar = _grammar_text()
    try:
        from . import _parser_tables as tables
    except ImportError:
        tables = None
    if tables is not None and tables.GRAMMAR == grammar:
        return tables
    from types import SimpleNamespace

    from .tables import make_tables
    return SimpleNamespace(**make_tables(grammar))


def build_parser(strict: bool = False):
    """Lark's parser for the grammar, used to check the grammar itself.
    ``strict`` (it needs the ``interegular`` package) fails on any grammar
    conflict or terminal collision instead of resolving it silently."""
    from lark import Lark
    return Lark(_grammar_text(), parser="lalr", lexer="contextual", strict=strict,
                maybe_placeholders=False)


class _Literals(LiteralRuns):
    """Long literals of numbers read whole, handed to the driver as NUMBER tokens."""

    opening = "LSQB"
    stand_in = "NUMBER"

    def __init__(self, text: str, number_pattern: str):
        super().__init__(text, number_pattern)
        self.taken: dict[int, object] = {}

    def take(self, start: int):
        node = super().take(start)
        if node is not None:
            self.taken[start] = node
        return node


_PARSER: Parser | None = None
_NUMBER_PATTERN = ""


def _parser() -> Parser:
    global _PARSER, _NUMBER_PATTERN
    if _PARSER is None:
        tables = load_tables()
        _PARSER = Parser(tables, postlex=_paren_newlines)
        _NUMBER_PATTERN = dict(tables.TERMINALS)["NUMBER"]
    return _PARSER


def parse(text: str) -> Program:
    """Parse a chaincli program; raise ``ParseError`` with a caret when it is not one."""
    if not text.strip():
        raise ParseError("the expression is empty")
    try:
        parser = _parser()
        literals = _Literals(text, _NUMBER_PATTERN) if "[" in text else None
        items = parser.parse(text, _ASTBuilder(literals), literals)
    except ChaincliError as error:
        error.source = text
        raise
    except SyntaxProblem as problem:
        raise _describe(problem, text) from None
    lets = tuple(item for item in items if isinstance(item, Let))
    return Program(lets, items[-1], text)


def _short(text: str) -> str:
    # Parse messages quote one token or literal, beside the source line and its carets.
    return abbreviate(text, 24, head=12)


def _expected_words(expected) -> str:
    names = [name for name in _WORD_ORDER if name in expected]
    if {"NUMBER", "NAME", "LPAR"} <= set(names):
        # Any operand may start here; a sign is one too, but naming it is noise.
        names = [n for n in names if n not in ("MINUS", "PLUS")]
    words = [_TERMINAL_WORDS[n] for n in names]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe(problem: SyntaxProblem, text: str) -> ParseError:
    token = problem.token
    if token is None:
        char = text[problem.position]
        return ParseError(_describe_character(char), source=text,
                          span=(problem.position, problem.position + 1),
                          hint=_character_hint(char))
    expected = _expected_words(problem.expected)
    if token.type == "$END":
        end = len(text.rstrip())
        return ParseError("the expression ends too early"
                          + (f"; expected {expected}" if expected else ""),
                          source=text, span=(max(0, end - 1), end) if end else None)
    shown = "a new line" if token.type == "_NL" else f'"{_short(token.text)}"'
    message = f"unexpected {shown}"
    if expected:
        message += f"; expected {expected}"
    hint = None
    if token.type == "EQUALS":
        hint = 'a name is bound with "name = expression" at the start of a statement'
    elif token.type in ("NAME", "NUMBER", "LPAR") and "STAR" in problem.expected:
        hint = 'multiplication is written out: "2*x", not "2x" or "2 x"'
    return ParseError(message, source=text,
                      span=(token.start, token.start + max(1, len(token.text))), hint=hint)


def _describe_character(char: str) -> str:
    try:
        name = unicodedata.name(char)
    except ValueError:
        name = "a control character" if ord(char) < 32 else "an unnamed character"
    shown = quoted(char) if char.isprintable() and not char.isspace() else ""
    return f"unexpected character {shown + ' ' if shown else ''}(U+{ord(char):04X} {name})"


def _character_hint(char: str) -> str | None:
    if char in LOOKALIKES:
        return f"write {LOOKALIKES[char]} instead"
    folded = unicodedata.normalize("NFKC", char)
    if folded != char and folded.isascii() and folded.isprintable():
        return f"write the plain ASCII {quoted(folded)} instead"
    return None
