"""The grammar: conflict-free, the documented precedence, numbers and statements."""

from __future__ import annotations

import math

import pytest

import chaincli
from chaincli.base.errors import ChaincliError, ParseError
from chaincli.language.parser import build_parser, parse


def value(text: str, **point: float) -> float:
    return chaincli.compile(text).value(point)


def test_grammar_builds_in_strict_mode():
    # strict=True turns any LALR conflict or terminal collision into an error.
    build_parser(strict=True)


def test_grammar_ships_inside_the_package():
    from importlib.resources import files
    assert files("chaincli").joinpath("grammar", "chaincli.lark").is_file()


@pytest.mark.parametrize("text, expected", [
    ("2", 2.0), ("2.5", 2.5), (".5", 0.5), ("1e-3", 1e-3), ("2.5E2", 250.0), ("2.", 2.0),
    ("1 + 2 * 3", 7.0), ("(1 + 2) * 3", 9.0), ("8 / 4 / 2", 1.0), ("8 - 4 - 2", 2.0),
    ("2^3^2", 512.0), ("2**3**2", 512.0), ("-2^2", -4.0), ("2^-1", 0.5), ("--2", 2.0),
    ("+2", 2.0), ("-2*3", -6.0), ("2*-3", -6.0), ("pi", math.pi), ("e", math.e),
    ("pow(2, 10)", 1024.0), ("atan2(1, 1)", math.pi / 4), ("hypot(3, 4)", 5.0),
])
def test_constant_expressions(text, expected):
    assert value(text) == pytest.approx(expected, rel=1e-15)


def test_power_is_right_associative_and_binds_tighter_than_unary_minus():
    assert value("x^2^3", x=1.1) == pytest.approx(1.1 ** 8)
    assert value("-x^2", x=3.0) == -9.0
    assert value("2^-x", x=1.0) == 0.5


@pytest.mark.parametrize("name", ["x", "x1", "x_1", "theta", "_y", "Alpha2"])
def test_variable_names(name):
    assert chaincli.compile(f"{name} * 2").variables == [name]


@pytest.mark.parametrize("text", [
    "u = x*y; sin(u) + u^2",
    "u = x*y\nsin(u) + u^2",
    "u = x*y;\n\n sin(u) + u^2\n",
    "# a comment\nu = x*y  # bound once\nsin(u) + u^2",
    "u = x*y; sin(u) + u^(\n 2\n)",
])
def test_let_bindings_and_separators(text):
    x, y = 0.3, 0.7
    assert value(text, x=x, y=y) == pytest.approx(math.sin(x * y) + (x * y) ** 2)


def test_newline_inside_parentheses_is_whitespace():
    assert value("sin(x\n + 1)", x=0.5) == pytest.approx(math.sin(1.5))


@pytest.mark.parametrize("text", ["", "   ", "x +", "(x", "x)", "sin()", "u = ; x", "x = 1",
                                  "2x", "x y", "1 + * 2", "u = x; ", "x ^^ 2", "f(x"])
def test_malformed_input_is_a_parse_error(text):
    with pytest.raises(ChaincliError) as caught:
        chaincli.compile(text)
    assert caught.value.exit_status == 2


def test_parse_error_has_position():
    with pytest.raises(ParseError) as caught:
        parse("sin(x) + * 2")
    assert caught.value.span[0] == 9
    assert "^" in caught.value.context()


def test_deeply_nested_parentheses_parse_without_recursion():
    depth = 100_000
    text = "(" * depth + "x" + ")" * depth
    assert value(text, x=2.0) == 2.0


def test_deeply_nested_calls_and_unary_minus():
    depth = 100_000
    assert value("sin(" * depth + "x" + ")" * depth, x=0.0) == 0.0
    assert value("-" * depth + "x", x=2.0) == 2.0
    assert value("-" * (depth + 1) + "x", x=2.0) == -2.0


def test_long_sum():
    text = " + ".join(f"x{i}" for i in range(20_000))
    expr = chaincli.compile(text)
    point = {f"x{i}": float(i) for i in range(20_000)}
    assert expr.value(point) == sum(range(20_000))
