"""Printed output against a stored copy (a gallery page, a README example).

NumPy picks its SIMD kernels for ``tanh``, ``exp``, ``log`` and the rest by
the CPU it runs on (AVX-512 or not), and OpenBLAS its kernels for ``@``;
they may round differently in the last bit, so a number printed to full
precision on one machine can differ in its 16th digit on another. A stored
copy is therefore compared token by token: each number to a stated
tolerance, every other character exactly.

Numbers agree when ``|a − b| ≤ tolerance · max(1, |a|, |b|)``: relative for
large values, absolute near 0 (where a small result is the difference of
numbers of order one, and a last-bit change in those is a large relative
change in it), as ``chaincli check`` measures its error. ``REL`` is for
results of arithmetic; ``FINITE_DIFFERENCE`` for central differences, which
divide a last-bit change of the function (about 1e-16) by a step of about
6e-6, and for the relative errors computed from them.

Table layout follows the width of the numbers printed (Rich pads a column to
its widest entry, a title is centred over the table), so a run of blanks, or
of one rule character (``━``, ``─``), is compared by what it is made of, not
by its length; everything else byte for byte. A cell that wraps (a long
summary in a parameter table) wraps at another word when a number in it is
printed a digit longer or shorter; so where the numbers differ in width, the
copies also match when their content does: the numbers to the tolerance and
the text exactly, read past the blanks, rules and line ends that lay it out.
The page width is checked by the tests that need it, separately.
"""

from __future__ import annotations

import re

REL = 1e-12
FINITE_DIFFERENCE = 1e-9

_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_RULE_CHARACTERS = " ─━═│┃"
_TOKEN = re.compile(rf"(?P<number>{_NUMBER})|(?P<run>([{_RULE_CHARACTERS}])\3*)|(?P<other>.)",
                    re.S)


def tokens(text: str) -> list[tuple[str, str]]:
    """``text`` as (kind, token) pairs: numbers, runs of one rule character, the rest."""
    found = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup if match.lastgroup != "other" else "text"
        if kind == "text" and found and found[-1][0] == "text":
            found[-1] = ("text", found[-1][1] + match.group())
        else:
            found.append((kind, match.group()))
    return found


def numbers_agree(a: float, b: float, tolerance: float = REL) -> bool:
    return a == b or abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def content(text: str) -> list[tuple[str, str]]:
    """The numbers and the text of ``text``, without the blanks, rules and line ends."""
    found: list[tuple[str, str]] = []
    for kind, token in tokens(text):
        if kind == "run":
            continue
        if kind == "text":
            token = "".join(c for c in token if c not in _RULE_CHARACTERS and c != "\n")
            if not token:
                continue
            if found and found[-1][0] == "text":
                found[-1] = ("text", found[-1][1] + token)
                continue
        found.append((kind, token))
    return found


def _same_content(expected: str, actual: str, tolerance: float) -> bool:
    """Whether the content agrees and some number is printed in another width."""
    want, got = content(expected), content(actual)
    if len(want) != len(got):
        return False
    resized = False
    for (kind, a), (other, b) in zip(want, got):
        if kind != other:
            return False
        if kind == "number":
            if not numbers_agree(float(a), float(b), tolerance):
                return False
            resized |= len(a) != len(b)
        elif a != b:
            return False
    return resized


def _token_difference(expected: str, actual: str, tolerance: float) -> str | None:
    """Where ``actual`` first leaves ``expected`` token by token, or None."""
    want, got = tokens(expected), tokens(actual)
    line = 1
    for (kind, a), (other, b) in zip(want, got):
        same = kind == other and (
            numbers_agree(float(a), float(b), tolerance) if kind == "number"
            else a[0] == b[0] if kind == "run" else a == b)
        if not same:
            return (f"line {line}: expected {a!r}, got {b!r} "
                    f"(numbers to {tolerance:g}, other text exactly)")
        line += a.count("\n")
    if len(want) != len(got):
        return f"line {line}: one text ends before the other"
    return None


def first_difference(expected: str, actual: str, tolerance: float = REL) -> str | None:
    """None when ``actual`` matches ``expected`` as the module says; else where not."""
    if expected == actual:
        return None
    difference = _token_difference(expected, actual, tolerance)
    if difference is None or _same_content(expected, actual, tolerance):
        return None
    return difference


def assert_matches(expected: str, actual: str, tolerance: float = REL, what: str = "output"):
    """Fail, saying where, unless ``actual`` matches ``expected`` (see ``first_difference``)."""
    difference = first_difference(expected, actual, tolerance)
    assert difference is None, f"{what} differs from the stored copy at {difference}"
