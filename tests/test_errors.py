"""Bad input: a clear message on stderr, the right exit code, nothing on stdout."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("args, status, words", [
    (["grad", "sin(", "--at", "x=1"], 2, "ends too early"),
    (["grad", "x +* y", "--at", "x=1,y=2"], 2, "unexpected \"*\""),
    (["grad", "sinn(x)", "--at", "x=1"], 2, "did you mean sin?"),
    (["grad", "atan2(x)", "--at", "x=1"], 2, "atan2 takes 2 arguments, not 1"),
    (["grad", "x*y", "--at", "x=1"], 2, "no value for the variable y"),
    (["grad", "x", "--at", "x=abc"], 2, "'abc' is not a number"),
    # Quoted as typed: no doubled backslash, no change of quotes.
    (["grad", "x", "--at", "x=a\\b"], 2, "'a\\b' is not a number (unexpected character '\\'"),
    (["grad", "x", "--at", "x=a'b"], 2, "'a'b' is not a number"),
    (["grad", "x", "--at", "x=[1,\tq]"], 2, "the element 'q' is not a number"),
    (["grad", "x", "--at", "x"], 2, "is not name=value"),
    (["grad", "x", "--at", "x=1,x=2"], 2, "given twice"),
    (["grad", "x", "--at", "x=1", "--wrt", "y"], 2, "--wrt names y"),
    (["grad", "log(x)", "--at", "x=-1"], 1, "log needs a positive argument"),
    (["grad", "1/(x-1)", "--at", "x=1"], 1, "division by zero"),
    (["grad", "sqrt(x)", "--at", "x=-4"], 1, "sqrt needs a non-negative argument"),
    (["grad", "asin(x)", "--at", "x=2"], 1, "asin needs an argument in [-1, 1]"),
    (["grad", "exp(x)", "--at", "x=1000"], 1, "overflows"),
    (["grad", "x[/]y", "--at", "x=1"], 2, 'unexpected "/"'),
    (["grad", "[bold]x", "--at", "x=1"], 2, "  [bold]x\n"),
    (["grad", "ｘ + 1", "--at", "x=1"], 2, "FULLWIDTH LATIN SMALL LETTER X"),
    (["grad", "@/nonexistent/expr.txt"], 2, "no such file"),
    (["grad", "@/"], 2, "cannot read /: it is a folder"),
    (["grad", "1e999999"], 2, "too large"),
    (["grad", "x", "--at", "x=1", "--json", "--format", "plain"], 2, "disagree"),
])
def test_errors_go_to_stderr_with_exit_code(cli, args, status, words):
    code, out, err = cli(*args)
    assert code == status, err
    assert out == ""
    assert words in err
    assert "Traceback" not in err


def test_domain_error_names_subexpression_and_input(cli):
    code, out, err = cli("grad", "x + log(x - 2)", "--at", "x=1")
    assert code == 1
    assert "log(x - 2): log needs a positive argument at x - 2 = -1" in err
    assert "^^^^^^^^^^" in err  # the caret span under log(x - 2)


def test_parse_error_shows_caret_under_column(cli):
    code, out, err = cli("grad", "sin(x) + * 2", "--at", "x=1")
    lines = err.splitlines()
    assert lines[0].startswith("Error: unexpected \"*\"")
    assert lines[1] == "  sin(x) + * 2"
    assert lines[2].index("^") == 2 + 9


def test_unknown_variable_in_point_warns(cli):
    code, out, err = cli("grad", "x^2", "--at", "x=3,z=1", "--json")
    assert code == 0
    assert "z is not a variable of the expression" in err
    assert json.loads(out)["gradient"] == {"x": 6.0}


def test_infinite_derivative_is_reported_and_exit_one(cli):
    code, out, err = cli("grad", "sqrt(x)", "--at", "x=0", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["value"] == 0.0
    assert data["gradient"] == {"x": "Infinity"}
    assert data["warnings"][0]["kind"] == "nonfinite-derivative"
    assert "infinite" in err


def test_stdin_that_is_not_utf8(cli):
    code, out, err = cli("grad", "-", "--at", "x=1", input=b"x + \xff\xfe")
    assert code == 2
    assert "not UTF-8" in err


def test_subprocess_error_has_no_traceback(run):
    code, out, err = run("grad", "log(x)", "--at", "x=0")
    assert code == 1 and out == ""
    assert err.startswith("Error: log(x)")
    assert "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["grad", "x", "--mode", "foo"],
     "Error: Invalid value for '--mode' / '-m': 'foo' is not one of 'reverse', 'forward'"),
    (["grad"], "Error: Missing argument 'EXPR'"),
    (["grad", "x", "--at", "x=1", "--bogus"], "Error: No such option: --bogus"),
    (["nosuch"], "Error: No such command 'nosuch'"),
])
def test_framework_usage_errors_are_one_error_line_and_a_hint(run, args, message):
    code, out, err = run(*args)
    assert code == 2 and out == ""
    first, second = err.splitlines()
    assert first == message and second.startswith("Hint: chaincli")
