"""Messages about --at and --direction values from the command line: one line
in chaincli's words, never the grammar's list of expected tokens or Python's
own wording."""

from __future__ import annotations

import pytest

from clicheck import check_run


def _usage_error(cli, *args: str) -> str:
    code, out, err = cli(*args)
    check_run(code, out, err, json_output=False)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("value, expected", [
    ("x=[1;2]", "Error: --at x=[…]: the element '1;2' is not a number (a value is one "
                "number or expression; separate elements with ',')"),
    ("x=1;2", "Error: --at x=1;2: '1;2' is not a number (a value is one number or "
              "expression; separate elements with ',')"),
    ("x=(1,2)", "Error: --at x=(1,2): '(1,2)' is not a number (unexpected \",\" at "
                "character 3; an array is written in brackets, [1, 2])"),
    ("x=()", "Error: --at x=(): '()' is not a number (unexpected \")\" at character 2)"),
    ("x=1+", "Error: --at x=1+: '1+' is not a number (it ends too early)"),
    ("x=[1 2]", "Error: --at x=[…]: the element '1 2' is not a number (unexpected \"2\" "
                "at character 3)"),
    ("x=foo()", "Error: --at x=foo(): 'foo()' is not a number (unknown function foo)"),
    ("=1", "Error: --at '=1': the name before '=' is missing"),
])
def test_a_bad_at_value_is_one_line_in_chaincli_words(cli, value, expected):
    line = _usage_error(cli, "eval", "sum(x)", "--at", value)
    assert line == expected
    assert "; expected" not in line and "''" not in line


@pytest.mark.parametrize("value", ["x=[1;2]", "x=(1,2)", "x=1,2", "x=@"])
def test_a_bad_direction_value_names_no_grammar_tokens(cli, value):
    line = _usage_error(cli, "grad", "x*y", "--at", "x=1,y=2", "--direction", value)
    assert line.startswith("Error: --direction x=")
    assert "; expected" not in line and "a new line" not in line


def test_an_array_direction_for_a_scalar_variable_is_a_usage_error(cli):
    line = _usage_error(cli, "grad", "x*y", "--at", "x=1,y=2", "--direction", "x=[1,2]")
    assert line == "Error: --direction x has shape (2,), but x is a number"
