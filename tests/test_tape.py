"""Lowering: a topological Wengert list with shared entries and let labels."""

from __future__ import annotations

import math

import pytest

import chaincli
from chaincli.base.errors import ArityError, PointError, UnknownNameError
from chaincli.language.parser import parse
from chaincli.tape import lower


def tape_of(text):
    return lower(parse(text))


def test_shared_subexpression_is_one_entry():
    tape = tape_of("sin(x*y) + cos(x*y)")
    assert tape.ops.count("mul") == 1
    assert sorted(tape.ops) == sorted(["var", "var", "mul", "sin", "cos", "add"])


def test_entries_are_in_topological_order():
    tape = tape_of("u = x*y; v = exp(u) - u; v*v + log(1 + u^2)")
    for i, args in enumerate(tape.args):
        assert all(j < i for j in args)
    assert tape.output == len(tape) - 1


def test_let_names_label_their_entries():
    tape = tape_of("u = x*y; sin(u) + u^2")
    assert tape.name(tape.ops.index("mul")) == "u"
    assert tape.variables == ["x", "y"]
    assert [tape.name(i) for i in range(len(tape)) if tape.ops[i] == "var"] == ["x", "y"]


def test_unnamed_entries_print_as_v_i_and_the_output_as_f():
    tape = tape_of("sin(x*y)")
    assert [tape.name(i) for i in range(len(tape))] == ["x", "y", "v2", "f"]
    tape = tape_of("f = x*y; v2 = f + 1; sin(v2)")
    assert [tape.name(i) for i in range(len(tape))] == ["x", "y", "f", "v3", "v2", "f_"]
    assert tape_of("x").name(0) == "x"


def test_variables_in_order_of_first_appearance():
    assert chaincli.compile("b + a*c + a").variables == ["b", "a", "c"]


def test_constants_are_not_variables():
    expr = chaincli.compile("pi*x + e")
    assert expr.variables == ["x"]
    assert expr.value({"x": 1.0}) == math.pi + math.e


@pytest.mark.parametrize("text, error, words", [
    ("sinn(x)", UnknownNameError, "sin"),
    ("foo(x)", UnknownNameError, "unknown function foo"),
    ("atan2(x)", ArityError, "atan2 takes 2 arguments, not 1"),
    ("sin(x, y)", ArityError, "sin takes 1 argument, not 2"),
    ("u = x; u = y; u", UnknownNameError, "bound twice"),
    ("pi = 3; pi", UnknownNameError, "constant"),
    ("sin + 1", UnknownNameError, "sin is a function"),
])
def test_name_errors(text, error, words):
    with pytest.raises(error) as caught:
        chaincli.compile(text)
    assert words in caught.value.message + (caught.value.hint or "")
    assert caught.value.exit_status == 2


def test_tape_is_not_changed_by_evaluation():
    expr = chaincli.compile("u = x*y; sin(u) + u^2")
    before = (list(expr.tape.ops), list(expr.tape.args), list(expr.tape.consts))
    expr.gradient({"x": 1.0, "y": 2.0}, mode="forward")
    expr.gradient({"x": 3.0, "y": 4.0})
    assert before == (expr.tape.ops, expr.tape.args, expr.tape.consts)


def test_api_value_and_gradient():
    expr = chaincli.compile("x^2*y + sin(y)")
    assert expr.value({"x": 1.0, "y": 2.0}) == 2.0 + math.sin(2.0)
    result = expr.gradient({"x": 1.0, "y": 2.0})
    assert result.value == 2.0 + math.sin(2.0)
    assert result.gradient == {"x": 4.0, "y": 1.0 + math.cos(2.0)}
    assert result.to_dict()["gradient"] == result.gradient


def test_api_rejects_missing_and_non_finite_values():
    expr = chaincli.compile("x + y")
    with pytest.raises(PointError, match="no value for the variable y"):
        expr.value({"x": 1.0})
    with pytest.raises(PointError, match="finite"):
        expr.value({"x": 1.0, "y": math.inf})


def test_deep_chain_evaluates_without_recursion():
    depth = 100_000
    expr = chaincli.compile("sin(" * depth + "x" + ")" * depth)
    result = expr.gradient({"x": 0.1})
    forward = expr.gradient({"x": 0.1}, mode="forward")
    assert result.gradient["x"] == pytest.approx(forward.gradient["x"], rel=1e-12)
    assert 0 < result.gradient["x"] < 1


def test_unnamed_entries_never_take_a_user_name():
    tape = tape_of("v3 = x*2; sin(x) + cos(x) + v3")
    names = [tape.name(i) for i in range(len(tape))]
    assert len(set(names)) == len(names)
    assert "v3" in names


@pytest.mark.parametrize("text", ["x + " * 40 + "y", "sin(" * 30 + "x" + ")" * 30,
                                  "x +" + " " * 2000 + "y", "x*y",
                                  "x" * 20 + " +" + " " * 300 + "y" * 37])
def test_source_text_reads_a_window_but_gives_the_same_text(text):
    tape = tape_of(text)
    for i in range(len(tape)):
        span = tape.spans[i]
        full = " ".join(tape.source[span[0]:span[1]].split())
        expected = full if len(full) <= 60 else full[:59] + "…"
        assert tape.source_text(i) == expected
