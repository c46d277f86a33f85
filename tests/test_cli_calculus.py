"""diff, hessian, jacobian, check and grad --direction on the command line."""

from __future__ import annotations

import json
import math

import pytest

from roundtrip import run_diff


def test_diff_done_criterion_reads_back(run):
    code, out, err = run_diff(run, "sin(x*y)", "--wrt", "x")
    assert code == 0, err
    formula = out.strip()
    code, out, err = run("eval", formula, "--at", "x=1,y=2", "--json")
    assert code == 0, err
    assert math.isclose(json.loads(out)["value"], 2 * math.cos(2.0), rel_tol=1e-15)


def test_diff_of_a_100000_deep_file(run, tmp_path):
    depth = 100_000
    path = tmp_path / "deep.txt"
    path.write_text("-(" * depth + "x*y" + ")" * depth)
    code, out, err = run_diff(run, f"@{path}", "--wrt", "x")
    assert (code, out, err) == (0, "y\n", "")


def test_diff_formats(cli):
    code, out, _ = run_diff(cli, "sin(x*y)", "--wrt", "x", "--format", "latex")
    assert (code, out) == (0, "\\cos\\left(x y\\right) y\n")
    code, out, _ = run_diff(cli, "x^3", "--wrt", "x", "--order", "2", "--json")
    assert json.loads(out) == {"expression": "x^3", "wrt": "x", "order": 2,
                               "derivative": "6*x", "latex": "6 x", "operations": 1}
    code, out, _ = run_diff(cli, "-x^2", "--wrt", "x")
    assert out == "-2*x\n"


@pytest.mark.parametrize("args, message", [
    (["diff", "sin(x)", "--wrt", "y"], "--wrt names y, which the expression does not use"),
    (["diff", "sin(x", "--wrt", "x"], "ends too early"),
    (["diff", "sin(x)", "--wrt", "x", "--order", "21"], "--order"),
    (["diff", "sin(x)", "--wrt", "x", "--format", "latex", "--json"], "disagree"),
    (["hessian", "x*y", "--at", "x=1"], "no value for the variable y"),
    (["jacobian", "x", "-", "-", "--at", "x=1"], "stdin"),
    (["grad", "x*y", "--at", "x=1,y=2", "--direction", "q=1"], "--direction names q"),
    (["grad", "x*y", "--at", "x=1,y=2", "--direction", "x"], "--direction 'x' is not name=value"),
    (["grad", "x*y", "--at", "x=1,y=2", "--direction", "x=abc"], "--direction x=abc"),
    (["grad", "x*y", "--at", "x=1,y=2", "--direction", ""], "needs at least one component"),
])
def test_usage_errors_exit_2(cli, args, message):
    code, out, err = run_diff(cli, *args[1:]) if args[0] == "diff" else cli(*args)
    assert code == 2
    assert out == ""
    assert message in err and "Traceback" not in err


def test_hessian_done_criterion(run):
    code, out, err = run("hessian", "x^2*y + sin(y)", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["variables"] == ["x", "y"]
    assert data["hessian"] == [[4.0, 2.0], [2.0, -math.sin(2.0)]]


def test_hessian_symbolic_method_and_plain(cli):
    code, out, _ = cli("hessian", "x^2*y + sin(y)", "--at", "x=1,y=2", "--method",
                       "symbolic", "--format", "plain")
    assert code == 0
    assert out == f"4.0 2.0\n2.0 {-math.sin(2.0)!r}\n"


def test_hessian_table(cli):
    code, out, _ = cli("hessian", "x^2*y + sin(y)", "--at", "x=1,y=2")
    assert code == 0
    assert "Hessian" in out and repr(-math.sin(2.0)) in out


def test_hessian_domain_error_exits_1(cli):
    code, out, err = cli("hessian", "log(x)", "--at", "x=-1")
    assert code == 1 and out == "" and "log" in err


def test_hessian_not_finite_exits_1_with_strict_json(cli):
    code, out, err = cli("hessian", "sqrt(x)", "--at", "x=0", "--json")
    assert code == 1
    assert json.loads(out)["hessian"] == [["NaN"]] or "Infinity" in out
    assert "Warning" in err


def test_jacobian_done_criterion(run):
    code, out, err = run("jacobian", "x*y", "x + y", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["outputs"] == ["x*y", "x + y"]
    assert data["variables"] == ["x", "y"]
    assert data["jacobian"] == [[2.0, 1.0], [1.0, 1.0]]


def test_jacobian_table_plain_and_stdin(cli):
    code, out, _ = cli("jacobian", "x*y", "-", "--at", "x=1,y=2", "--format", "plain",
                       input="x + y\n")
    assert (code, out) == (0, "2.0 1.0\n1.0 1.0\n")
    code, out, _ = cli("jacobian", "x*y", "-x", "--at", "x=1,y=2")
    assert code == 0 and "Jacobian" in out and "-1.0" in out


def test_jacobian_rows_are_not_named_as_a_variable(cli):
    code, out, _ = cli("jacobian", "x*y", "x + y", "--at", "x=1,y=2")
    assert code == 0 and "f1 = x*y" in out and "f2 = x + y" in out
    code, out, _ = cli("jacobian", "f2*x", "x", "--at", "x=1,f2=3")
    assert code == 0
    assert "g1 = f2*x" in out and "g2 = x" in out and "f1 =" not in out


def test_jacobian_row_labels_avoid_every_variable():
    from chaincli.render.calculus import output_labels
    assert output_labels(2, ["x"]) == ["f1", "f2"]
    assert output_labels(3, ["f3", "g1"]) == ["h1", "h2", "h3"]
    every = [f"{p}1" for p in ("f", "g", "h", "F", "G", "H", "out", "out_")]
    assert output_labels(2, every) == ["out__1", "out__2"]


def test_check_passes(cli):
    code, out, err = cli("check", "sin(x*y) + exp(x)/y", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["agree"] is True and data["tolerance"] == 1e-6
    assert [row["variable"] for row in data["variables"]] == ["x", "y"]
    for row in data["variables"]:
        assert set(row) == {"variable", "reverse", "forward", "numeric", "step",
                            "relative_error", "agree"}
        assert row["relative_error"] < 1e-8


def test_check_fails_on_a_kink_with_a_warning(cli):
    code, out, err = cli("check", "relu(x)", "--at", "x=0", "--format", "plain")
    assert code == 1
    assert out.startswith("x 0.0 0.0 0.5 0.5 FAIL")
    assert "kink" in err and "finite differences" in err


def test_check_table_and_tolerance(cli):
    code, out, _ = cli("check", "exp(x)", "--at", "x=1")
    assert code == 0 and "ok" in out
    code, out, _ = cli("check", "exp(x)", "--at", "x=1", "--tolerance", "1e-16")
    assert code == 1 and "FAIL" in out
    code, _, err = cli("check", "exp(x)", "--at", "x=1", "--tolerance", "-1")
    assert code == 2 and "tolerance" in err


def test_grad_direction(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--direction", "x=1,y=0",
                       "--json")
    data = json.loads(out)
    assert data["directional_derivative"] == data["gradient"]["x"]
    assert data["direction"] == {"x": 1.0, "y": 0.0}
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "-d", "y=2", "--format", "plain")
    assert out.splitlines()[-1] == f"directional_derivative {2 * math.cos(2.0)!r}"
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "-d", "x=1")
    assert "directional derivative" in out and repr(2 * math.cos(2.0)) in out
