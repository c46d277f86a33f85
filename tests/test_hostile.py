"""Hostile input: huge, deep, oversized numbers, code, bad encodings, look-alikes.

Every case goes through the command line (in process) and keeps the contract
in ``clicheck``: a correct answer, or a clear message and exit status 1 or 2.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import chaincli
from chaincli.cli.plumbing import MAX_INPUT_BYTES
from clicheck import check_run, strict_json

DEPTH = 100_000


def grad_json(cli, expr: str, at: str, *extra: str, input=None):
    code, out, err = cli("grad", expr, "--at", at, "--json", *extra, input=input)
    check_run(code, out, err, json_output=True)
    return code, (strict_json(out) if out else None), err


# ----- Size and depth: nothing recurses on the depth of the input -----

def nested_sin_reference(x: float, depth: int) -> tuple[float, float]:
    value, slope = x, 1.0
    for _ in range(depth):
        slope *= math.cos(value)
        value = math.sin(value)
    return value, slope


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_100000_nested_sin(cli, tmp_path, mode):
    path = tmp_path / "deep.txt"
    path.write_text("sin(" * DEPTH + "x" + ")" * DEPTH)
    code, data, err = grad_json(cli, f"@{path}", "x=0.5", "--mode", mode)
    value, slope = nested_sin_reference(0.5, DEPTH)
    assert code == 0, err
    assert data["value"] == value
    assert data["gradient"]["x"] == pytest.approx(slope, rel=1e-12)


@pytest.mark.parametrize("text, value, slope", [
    ("(" * DEPTH + "x" + ")" * DEPTH, 0.5, 1.0),
    ("-" * (DEPTH + 1) + "x", -0.5, -1.0),
    ("+".join(["x"] * DEPTH), 0.5 * DEPTH, float(DEPTH)),
], ids=["parentheses", "unary-minus", "sum"])
def test_deep_and_long_expressions(cli, tmp_path, text, value, slope):
    path = tmp_path / "expr.txt"
    path.write_text(text)
    code, data, err = grad_json(cli, f"@{path}", "x=0.5")
    assert code == 0, err
    assert data["value"] == value
    assert data["gradient"]["x"] == slope


def test_deep_expression_renders_as_a_table(cli, tmp_path):
    path = tmp_path / "deep.txt"
    path.write_text("sin(" * DEPTH + "x" + ")" * DEPTH)
    value, _ = nested_sin_reference(0.5, DEPTH)
    code, out, err = cli("grad", f"@{path}", "--at", "x=0.5")
    check_run(code, out, err, json_output=False)
    assert code == 0 and repr(value) in out


def test_deep_error_points_into_the_deep_expression(cli, tmp_path):
    path = tmp_path / "deep.txt"
    path.write_text("log(" * DEPTH + "x - 1" + ")" * DEPTH)
    code, out, err = cli("grad", f"@{path}", "--at", "x=1", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 1 and "log(x - 1)" in err
    assert len(err) < 2000  # the message quotes a window, not the megabyte


def test_input_over_the_size_limit_is_refused_before_parsing(cli, tmp_path):
    text = "x+" * (MAX_INPUT_BYTES // 2) + "x"
    code, out, err = cli("grad", "-", "--at", "x=1", "--json", input=text.encode())
    check_run(code, out, err, json_output=True)
    assert code == 2 and "larger than 2,000,000 bytes" in err
    path = tmp_path / "huge.txt"
    path.write_text(text)
    code, out, err = cli("grad", f"@{path}", "--at", "x=1")
    assert code == 2 and f"{path} is larger than" in err


def test_input_just_under_the_limit_is_read(cli):
    text = "x" + " " * (MAX_INPUT_BYTES - 2) + "\n"
    code, data, err = grad_json(cli, "-", "x=3", input=text.encode())
    assert code == 0 and data["gradient"] == {"x": 1.0}


# ----- Numbers too large for a double, and Python's big integers -----

@pytest.mark.parametrize("literal", ["1e999999", "9" * 5000, "1" * 4400, "1" * 400 + ".5"])
def test_literals_beyond_a_double_are_parse_errors(cli, literal):
    code, out, err = cli("grad", f"x*{literal}", "--at", "x=1", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 2 and "too large for a double" in err
    assert "int_max_str_digits" not in err and len(err) < 600


@pytest.mark.parametrize("literal, value", [("0." + "3" * 5000, 0.3333333333333333),
                                            ("1e-999999", 0.0),
                                            ("0" * 4400 + "7", 7.0),
                                            ("1" * 300, float("1" * 300))])
def test_long_literals_that_fit_are_read(cli, literal, value):
    code, data, err = grad_json(cli, f"x*{literal}", "x=1")
    assert code == 0, err
    assert data["value"] == value and data["gradient"]["x"] == value


def test_power_towers_overflow_at_once(cli):
    code, out, err = cli("eval", "9^9^9^9", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 1 and "overflows a double" in err and out == ""
    code, data, err = grad_json(cli, "x^9^9^9", "x=9")
    assert code == 1 and data is None


def test_point_values_beyond_a_double(cli, tmp_path):
    digits = "1" * 4400
    code, out, err = cli("grad", "x", "--at", f"x={digits}", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 2 and "finite number" in err and len(err) < 300
    point = tmp_path / "point.json"
    point.write_text(f'{{"x": {digits}}}')
    code, out, err = cli("grad", "x", "--at", f"@{point}", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 2 and "finite number" in err
    assert "digits" not in err and "int_max_str" not in err
    point.write_text('{"x": 12345678901234567890123}')
    code, data, err = grad_json(cli, "x", f"@{point}")
    assert code == 0 and data["point"]["x"] == 1.2345678901234568e22


def test_point_json_nested_too_deep(cli, tmp_path):
    point = tmp_path / "point.json"
    point.write_text("[" * DEPTH)
    code, out, err = cli("grad", "x", "--at", f"@{point}", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 2


@pytest.mark.parametrize("value", ["inf", "nan", "1_000", "١", "0x10", "1e400", "Infinity"])
def test_point_values_are_plain_decimal_numbers(cli, value):
    code, out, err = cli("grad", "x", "--at", f"x={value}", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 2


# ----- No code runs from input -----

@pytest.mark.parametrize("text", [
    "__import__('os').system('touch PWNED')",
    "exec(x)", "eval(x)", "x.__class__", "open(x)", "x; import os", "`touch PWNED`",
    "$(touch PWNED)", "{x}", "[x for x in y]", "lambda: 0",
])
def test_code_is_only_ever_a_parse_error(cli, tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("grad", "--at", "x=1,y=2", "--json", "--", text)
    check_run(code, out, err, json_output=True)
    assert code == 2
    assert not (tmp_path / "PWNED").exists()


# The three codegen.py modules compile straight-line code they write themselves
# from the tape: only names they make and float literals, never the user's text
# (tests/test_codegen.py, tests/test_tensor_codegen.py and tests/test_batch.py
# check the generated source). They are the only modules allowed to call exec.
EXEC_ALLOWED = {"engine/scalar/codegen.py", "engine/tensor/codegen.py",
                "engine/batch/codegen.py"}


def test_the_package_never_loads_pickles_or_evaluates_text():
    package = Path(chaincli.__file__).parent
    forbidden = re.compile(r"\b(pickle|marshal|shelve|dill|joblib|__import__|exec|eval)\s*\(|"
                           r"\bimport (pickle|marshal|shelve|dill|joblib)\b|yaml\.load\(")
    sources = sorted(package.rglob("*.py"))
    assert sources
    exec_calls = []
    for source in sources:
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            match = forbidden.search(line)
            where = source.relative_to(package).as_posix()
            if match and match.group(1) == "exec" and where in EXEC_ALLOWED:
                exec_calls.append(where)
                continue
            assert not match, f"{source.name}:{number}: {line.strip()}"
    assert sorted(exec_calls) == sorted(EXEC_ALLOWED)


# ----- Encodings and look-alike characters -----

@pytest.mark.parametrize("data, offset", [(b"sin(x)\xff", 6), (b"\xe9t\xe9", 0),
                                          (b"\xff\xfes\x00i\x00n\x00", 0),
                                          (b"x + \xc3", 4)])
def test_bytes_that_are_not_utf8(cli, tmp_path, data, offset):
    code, out, err = cli("grad", "-", "--at", "x=1", "--json", input=data)
    check_run(code, out, err, json_output=True)
    assert code == 2 and f"stdin is not UTF-8 text" in err and f"offset {offset}" in err
    path = tmp_path / "latin1.txt"
    path.write_bytes(data)
    code, out, err = cli("grad", f"@{path}", "--at", "x=1")
    assert code == 2 and f"{path} is not UTF-8 text" in err


def test_a_utf8_byte_order_mark_is_not_part_of_the_text(cli, tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfsin(x)\r\n")
    code, data, err = grad_json(cli, f"@{path}", "x=0")
    assert code == 0 and data["gradient"] == {"x": 1.0}
    code, data, err = grad_json(cli, "-", "x=0", input=b"\xef\xbb\xbfx")
    assert code == 0


@pytest.mark.parametrize("text, char, column, hint", [
    ("ｘ + 1", "U+FF58", 1, "'x'"),
    ("√x", "U+221A", 1, "sqrt"),
    ("2*π", "U+03C0", 3, "pi"),
    ("x²", "U+00B2", 2, "^2"),
    ("x +\u00a01", "U+00A0", 4, "plain space"),
    ("x − 1", "U+2212", 3, '-'),
    ("2×x", "U+00D7", 2, "*"),
    ("x*٢", "U+0662", 3, None),
    ("x*𝟐", "U+1D7D0", 3, "'2'"),
    ("x\u200b+1", "U+200B", 2, None),
])
def test_lookalikes_are_named_with_their_position(cli, text, char, column, hint):
    code, out, err = cli("grad", text, "--at", "x=1", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 2
    assert char in err and f"column {column}" in err
    if hint:
        assert "Hint:" in err and hint in err


@pytest.mark.parametrize("text", ["x # \x1b]0;owned\x07\x1b[2J", "abs(x # \x1b[31m\n)",
                                  "x # \u202e evil", "x\x1b[2J"])
def test_control_characters_never_reach_the_terminal(cli, text):
    for fmt in ("table", "json", "plain"):
        code, out, err = cli("grad", text, "--at", "x=0", "--format", fmt)
        check_run(code, out, err, json_output=fmt == "json")
        for stream in (out, err):
            assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    if "#" in text:
        code, data, err = grad_json(cli, text, "x=0")
        assert data["expression"] == text  # JSON keeps the text exactly (escaped)
