"""Text to AST: the first stage of the pipeline.

The grammar lives in ``grammar/chaincli.lark`` and ships inside the package
(``chaincli/grammar/``); it is read from the installed package, never from a
source tree. Lark's LALR parser runs with an inline transformer, so AST nodes
are built as rules are reduced, on Lark's own explicit stack: a 100,000-deep
expression never touches Python's recursion limit.

Lark's exceptions are turned into ``ParseError`` here, with the source line,
a caret, and what was expected in words.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (UnexpectedCharacters, UnexpectedEOF, UnexpectedInput,
                             UnexpectedToken, VisitError)

from .ast_nodes import Binary, Call, Let, Name, Number, Program, Unary
from .errors import ChaincliError, ParseError

# Terminal names of the grammar, as a user would say them.
_TERMINAL_WORDS = {
    "NUMBER": "a number", "NAME": "a name", "PLUS": '"+"', "MINUS": '"-"',
    "STAR": '"*"', "SLASH": '"/"', "POW": '"^"', "EQUALS": '"="', "COMMA": '","',
    "LPAR": '"("', "RPAR": '")"', "_SEMI": '";"', "_NL": "a new line", "$END": "the end",
}
# Expected sets are long; these are the ones worth naming, in this order.
_WORD_ORDER = list(_TERMINAL_WORDS)

# Characters people paste from papers and what chaincli spells them as.
LOOKALIKES = {
    "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "−": "-", "–": "-", "—": "-",
    "√": "sqrt(...)", "π": "pi", "²": "^2", "³": "^3", "\u00a0": "a plain space",
    "∂": "chaincli grad", "（": "(", "）": ")", "，": ",", "＝": "=", "…": "...",
}


def _span(token: Token) -> tuple[int, int]:
    return (token.start_pos, token.end_pos)


@v_args(inline=True)
class _ASTBuilder(Transformer):
    """Builds AST nodes as the LALR parser reduces; methods named as the aliases."""

    def number(self, token: Token) -> Number:
        try:
            value = float(token)
        except (OverflowError, ValueError):  # pragma: no cover - float() returns inf
            value = float("inf")
        if value == float("inf"):
            raise ParseError(f"the number {_abbreviate(str(token))} is too large for a "
                             "double (at most about 1.8e308)", span=_span(token))
        return Number(value, str(token), _span(token))

    def name(self, token: Token) -> Name:
        return Name(str(token), _span(token))

    def unary(self, op: Token, operand) -> Unary:
        return Unary(str(op), operand, (op.start_pos, operand.span[1]))

    def binary(self, left, op: Token, right) -> Binary:
        op_text = "^" if str(op) == "**" else str(op)
        return Binary(op_text, left, right, (left.span[0], right.span[1]), _span(op))

    def call(self, name: Token, lpar: Token, *rest) -> Call:
        rpar = rest[-1]
        args = tuple(item for item in rest[:-1] if not isinstance(item, Token))
        return Call(str(name), args, (name.start_pos, rpar.end_pos), _span(name))

    def group(self, lpar: Token, inner, rpar: Token):
        # Parentheses only group; the span widens so errors underline them too.
        return _with_span(inner, (lpar.start_pos, rpar.end_pos))

    def let(self, name: Token, equals: Token, value) -> Let:
        return Let(str(name), value, (name.start_pos, value.span[1]), _span(name))

    def start(self, *items):
        return items


def _with_span(node, span):
    fields = {f: getattr(node, f) for f in node.__slots__}
    fields["span"] = span
    return type(node)(**fields)


class _ParenNewlines:
    """Post-lexer: a newline inside parentheses is whitespace, not a separator."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for token in stream:
            kind = token.type
            if kind == "LPAR":
                depth += 1
            elif kind == "RPAR":
                depth = max(0, depth - 1)
            elif kind == "_NL" and depth:
                continue
            yield token


def _grammar_text() -> str:
    from importlib.resources import files
    return files("chaincli").joinpath("grammar", "chaincli.lark").read_text(encoding="utf-8")


def build_parser(strict: bool = False) -> Lark:
    """A parser for the grammar. ``strict`` (used by the tests; it needs the
    ``interegular`` package) also fails on any grammar conflict or terminal
    collision instead of resolving it silently."""
    return Lark(_grammar_text(), parser="lalr", lexer="contextual", strict=strict,
                transformer=_ASTBuilder(), postlex=_ParenNewlines(),
                maybe_placeholders=False)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return build_parser()


def parse(text: str) -> Program:
    """Parse a chaincli program; raise ``ParseError`` with a caret when it is not one."""
    if not text.strip():
        raise ParseError("the expression is empty")
    try:
        items = _parser().parse(text)
    except ChaincliError as error:
        error.source = text
        raise
    except VisitError as error:
        inner = error.orig_exc
        if isinstance(inner, ChaincliError):
            inner.source = text
            raise inner from None
        raise
    except UnexpectedInput as error:
        raise _describe(error, text) from None
    lets = tuple(item for item in items if isinstance(item, Let))
    return Program(lets, items[-1], text)


def _abbreviate(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit - 12]}…{text[-8:]} ({len(text)} characters)"


def _expected_words(expected) -> str:
    names = [name for name in _WORD_ORDER if name in expected]
    if {"NUMBER", "NAME", "LPAR"} <= set(names):
        # Any operand may start here; a sign is one too, but naming it is noise.
        names = [n for n in names if n not in ("MINUS", "PLUS")]
    words = [_TERMINAL_WORDS[n] for n in names]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe(error: UnexpectedInput, text: str) -> ParseError:
    position = getattr(error, "pos_in_stream", None)
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream]
        return ParseError(_describe_character(char), source=text,
                          span=(error.pos_in_stream, error.pos_in_stream + 1),
                          hint=_character_hint(char))
    if isinstance(error, UnexpectedEOF) or (
            isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        expected = _expected_words(error.expected)
        end = len(text.rstrip())
        return ParseError("the expression ends too early"
                          + (f"; expected {expected}" if expected else ""),
                          source=text, span=(max(0, end - 1), end) if end else None)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    position = token.start_pos if token.start_pos is not None else position
    shown = "a new line" if token.type == "_NL" else f'"{_abbreviate(str(token))}"'
    expected = _expected_words(error.expected)
    message = f"unexpected {shown}"
    if expected:
        message += f"; expected {expected}"
    hint = None
    if token.type == "EQUALS":
        hint = 'a name is bound with "name = expression" at the start of a statement'
    elif token.type in ("NAME", "NUMBER", "LPAR") and "STAR" in error.expected:
        hint = 'multiplication is written out: "2*x", not "2x" or "2 x"'
    return ParseError(message, source=text,
                      span=(position, position + max(1, len(str(token)))), hint=hint)


def _describe_character(char: str) -> str:
    try:
        name = unicodedata.name(char)
    except ValueError:
        name = "a control character" if ord(char) < 32 else "an unnamed character"
    shown = repr(char) if char.isprintable() and not char.isspace() else ""
    return f"unexpected character {shown + ' ' if shown else ''}(U+{ord(char):04X} {name})"


def _character_hint(char: str) -> str | None:
    if char in LOOKALIKES:
        return f"write {LOOKALIKES[char]} instead"
    folded = unicodedata.normalize("NFKC", char)
    if folded != char and folded.isascii() and folded.isprintable():
        return f"write the plain ASCII {folded!r} instead"
    return None
