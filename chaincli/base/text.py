"""Words as text: what a variable name is, and how a message cuts long input.

The grammar's ``NAME`` terminal (``grammar/chaincli.lark``) decides what the
parser takes as a name; the readers of points, archives, ``minimize``'s
initial shapes and element names check names given outside an expression
against the same pattern, taken from here. Messages that quote what they
were given cut it here, so a long argument is cut the same way everywhere.
"""

from __future__ import annotations

# The grammar's NAME terminal; tests/test_conventions.py holds the two equal.
NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def is_name(text: str) -> bool:
    """Whether ``text`` is a variable name, as the grammar spells one: NAME is
    what an ASCII Python identifier is, so no ``re`` is needed to check it."""
    return text.isascii() and text.isidentifier()


def quoted(text: str) -> str:
    """``text`` in single quotes as it was typed, for a message: a quote or a
    backslash in it stays as it is (where ``repr`` would double the backslash
    or change the quotes). A line break, a tab and every other control or
    format character are written as escapes (``\\n``, ``\\x00``, ``\\u202e``),
    so the message keeps to one line and shows what the input holds."""
    from .terminal import printable  # messages only: not at every start
    return "'" + printable(text.replace("\n", "\\n").replace("\r", "\\r")
                           .replace("\t", "\\t")) + "'"


def abbreviate(text: str, limit: int = 40, head: int = 24) -> str:
    """``text``, or when longer than ``limit`` its first ``head`` and last 8
    characters and its length."""
    return text if len(text) <= limit else f"{text[:head]}…{text[-8:]} ({len(text)} characters)"
