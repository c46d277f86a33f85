"""Long literals of plain numbers read in one pass give the tape, values and
errors that the grammar's token-by-token path gives."""

from __future__ import annotations

import random

import pytest

import chaincli
from chaincli.base.errors import ChaincliError
from chaincli.language import literals, parser
from chaincli.language.nodes import Numbers
from chaincli.tape import lower

NUMBERS = ["0", "-0", "+0", "7", "5.", ".5", "1e-999", "-1e-999", "1.25E+3", "2e3", "- 4",
           "+\n3", "12345678901234567890", "0.1", "-2.5e-3"]
SPACE = ["", " ", "\n", "\t", " \r\n "]


def _literal(rng: random.Random, depth: int) -> str:
    if depth == 0:
        return rng.choice(NUMBERS)
    count = rng.randint(1, 3)
    items = [_literal(rng, depth - 1) for _ in range(count)]
    sep = "," + rng.choice(SPACE)
    return "[" + rng.choice(SPACE) + sep.join(items) + ("," if rng.random() < 0.3 else "") + "]"


def _outcome(text: str, minimum: int, monkeypatch):
    monkeypatch.setattr(literals, "MINIMUM", minimum)
    try:
        program = parser.parse(text)
        tape = lower(program)
    except ChaincliError as error:
        return ("error", type(error).__name__, str(error), getattr(error, "span", None))
    try:
        value = chaincli.compile(text).value({})
    except ChaincliError as error:
        value = ("error", type(error).__name__, str(error))
    return tape.ops, tape.args, [repr(c) for c in tape.consts], repr(value), program.output


def _compare(text, monkeypatch):
    fast = _outcome(text, 1, monkeypatch)
    slow = _outcome(text, 10**9, monkeypatch)
    assert fast[:4] == slow[:4], text
    return fast


@pytest.mark.parametrize("seed", range(60))
def test_random_literals_agree_with_the_grammar(seed, monkeypatch):
    rng = random.Random(seed)
    text = "sum(" + _literal(rng, rng.randint(1, 4)) + ")"
    fast = _compare(text, monkeypatch)
    if fast[0] != "error":
        assert isinstance(fast[4].args[0], Numbers)


@pytest.mark.parametrize("text", [
    "sum([[1, 2], [3]])", "sum([[1, 2], 3])", "sum([1, [2, 3]])", "[1, 2, 1e999]",
    "[1, -1e999]", "[1,, 2]", "[,1]", "[1 2]", "[1 -2, 3]", "[1, --2]", "[1, 2e]",
    "[1, 2.3.4]", "[1, 2] [0]", "x[1, 2]", "[[1, 2], [3, 4]][1, 0]", "[1, 2]'", "([1, 2, 3])",
    "[1, pi, 3]", "[1, 2 # a comment\n, 3]", "[1, 2]^2 * [3, 4]", "[]", "[1, 2",
    "[" * 33 + "1" + "]" * 33, "[" * 32 + "1" + "]" * 32, "[[[1e-999, -0]], [[5., .5]]]",
])
def test_edge_cases_agree_with_the_grammar(text, monkeypatch):
    _compare(text, monkeypatch)


def test_a_million_numbers_are_one_node_and_the_same_tape():
    text = "sum([" + ",".join(str(i % 10 - 3) for i in range(999_000)) + "])"
    node = parser.parse(text).output.args[0]
    assert isinstance(node, Numbers) and len(node.values) == 999_000
    assert chaincli.compile(text).value({}) == sum(i % 10 - 3 for i in range(999_000))


def test_a_short_literal_keeps_the_grammar_path():
    assert not isinstance(parser.parse("[1, 2, 3]").output, Numbers)


def test_a_ragged_million_number_literal_is_refused_with_the_shape_message():
    row = "[" + ",".join(["1"] * 1000) + "]"
    text = "[" + ",".join([row] * 999) + ",[1]]"
    with pytest.raises(ChaincliError, match="must have one shape, not \\(1000,\\) and \\(1,\\)"):
        chaincli.compile(text).value({})


def test_a_huge_number_inside_is_named():
    text = "[" + ",".join(["1"] * 2000) + ",-1e999]"
    with pytest.raises(ChaincliError, match="the number 1e999 is too large"):
        parser.parse(text)


def test_deep_nesting_does_not_recurse(monkeypatch):
    monkeypatch.setattr(literals, "MINIMUM", 1)
    text = "[" * 50_000 + "1" + "]" * 50_000
    with pytest.raises(ChaincliError, match="at most 32 axes"):
        chaincli.compile(text).value({})
