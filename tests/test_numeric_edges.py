"""Numbers at the edges of the doubles, with tensors: overflow, underflow, rounding.

stderr carries chaincli's own lines only (never a NumPy warning), whether a
command answers or refuses; ``norm`` is scaled as ``hypot`` is; the element
expansion keeps softmax's shift; non-finite derivatives are warned about and
exit 1, tensor as scalar; ``check`` tells rounding from a wrong rule.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import chaincli
from chaincli.calculus import derivatives as calculus
from chaincli.primitives import PRIMITIVES
from clicheck import check_run, strict_json

BIG = "[1e308,1e308]"

# (arguments, exit status): answers, refusals and warnings, each through a
# different sweep, rule or renderer.
EDGE_CASES = [
    (["eval", "x*1", "--at", f"x={BIG}", "--json"], 0),
    (["eval", "sum(x)", "--at", f"x={BIG}", "--json"], 1),
    (["eval", "sum(x*x)", "--at", "x=[1e154,1e154]"], 1),
    (["eval", "softmax(x*1e308)", "--at", "x=[1,0.5]"], 0),
    (["eval", "softmax(x*1e308)", "--at", "x=[1,2]"], 1),
    (["eval", "x*1e-308*1e-308", "--at", "x=[1,2]", "--json"], 0),
    (["eval", "exp(x)", "--at", "x=[1000,1]"], 1),
    (["eval", "log(x)", "--at", "x=[-1,1]"], 1),
    (["eval", "x @ x", "--at", f"x={BIG}"], 1),
    (["eval", "logsoftmax(x)", "--at", "x=[1e308,-1e308]"], 1),
    (["grad", "sum(x*1e300)", "--at", "x=[1e8,1e8]"], 1),
    (["grad", "sum(1e300*sqrt(x))", "--at", "x=[1e-20,1]"], 1),
    (["grad", "sum(x*1e300)", "--at", "x=[1,1]"], 0),
    (["grad", "sum(x*1e300)", "--at", "x=[1,1]", "--json"], 0),
    (["grad", "sum(exp(x))", "--at", "x=[709.7,1]"], 0),
    (["grad", "sum(x*x)", "--at", "x=[1,2]", "--direction", f"x={BIG}"], 1),
    (["grad", "sum(x*x)", "--at", "x=[1,2]", "--mode", "forward", "--direction",
      f"x={BIG}", "--json"], 1),
    (["grad", "x*x", "--at", "x=1", "--direction", "x=1e308"], 1),
    (["grad", "sum(sqrt(x))", "--at", "x=[0,1]", "--mode", "forward"], 1),
    (["grad", "softmax(x)[0]", "--at", "x=[1e308,-1e308]", "--explain", "paths"], 0),
    (["grad", "norm(x)", "--at", "x=[1e200,1e200]"], 0),
    (["hessian", "norm(x)", "--at", "x=[1e200,1e200]"], 0),
    (["hessian", "logsumexp(x)", "--at", "x=[1e308,-1e308]"], 0),
    (["hessian", "logsoftmax(x)[0]", "--at", "x=[1e308,-1e308]"], 1),
    (["jacobian", "sqrt(x)", "--at", "x=[0,1]"], 1),
    (["jacobian", "softmax(x)", "--at", "x=[1e308,-1e308]", "--json"], 0),
    (["check", "sum(x*x)", "--at", "x=[1e200,1]"], 1),
    (["check", "softmax(x)[0]", "--at", "x=[1e308,-1e308]"], 0),
    (["graph", "sum(x)", "--at", f"x={BIG}"], 1),
]

# chaincli's own stderr lines: a message, a hint, or an error's source line and caret.
OWN_LINE = re.compile(r"(Warning: |Error: |Hint: |  )")


@pytest.mark.parametrize("args, status", EDGE_CASES, ids=[" ".join(a) for a, _ in EDGE_CASES])
def test_stderr_holds_only_chaincli_lines(run, args, status):
    code, out, err = run(*args)
    check_run(code, out, err, json_output="--json" in args)
    assert code == status, err
    assert "RuntimeWarning" not in err and not re.search(r"\.py:\d+", err), err
    for line in err.splitlines():
        assert OWN_LINE.match(line), err


def test_tensor_overflow_is_worded_as_the_scalar_one(run):
    _, _, scalar = run("eval", "x*1e308*10", "--at", "x=1")
    code, _, tensor = run("eval", "x*1e308*10", "--at", "x=[1,2]")
    assert code == 1 and "mul overflows a double at x*1e308 = 1e+308" in scalar
    assert "x*1e308: mul overflows a double at element [1] (x = 2" in tensor
    assert "or is undefined" not in tensor


# ----- norm, scaled as hypot is -----

def _gradient(text: str, point: dict, mode: str = "reverse"):
    result = chaincli.compile(text).gradient(point, mode=mode)
    return result.value, result.gradient


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_norm_of_tiny_and_huge_vectors(mode):
    value, gradient = _gradient("norm(x)", {"x": np.array([1e-200, 0.0])}, mode)
    assert value == 1e-200
    assert gradient["x"].tolist() == [1.0, 0.0]
    value, gradient = _gradient("norm(x)", {"x": np.array([3e200, 4e200])}, mode)
    assert value == pytest.approx(5e200, rel=1e-15)
    assert gradient["x"] == pytest.approx([0.6, 0.8], rel=1e-15)


def test_norm_of_ordinary_vectors_matches_numpy():
    rng = np.random.default_rng(7)
    for size in (1, 2, 5, 100, 10_000):
        for scale in (1e-100, 1e-3, 1.0, 1e100):
            x = rng.normal(size=size) * scale
            value, gradient = _gradient("norm(x)", {"x": x})
            assert value == pytest.approx(np.linalg.norm(x), rel=4e-16 * math.log2(size + 2))
            assert gradient["x"] == pytest.approx(x / np.linalg.norm(x), rel=1e-14, abs=1e-300)


def test_norm_keeps_its_bits_in_the_ordinary_range():
    x = np.random.default_rng(8).normal(size=50)
    value, _ = _gradient("norm(x)", {"x": x})
    assert value == float(np.sqrt(np.sum(x * x)))


def test_hessian_of_norm_far_from_one(run):
    code, out, err = run("hessian", "norm(x)", "--at", "x=1e200", "--json")
    assert code == 0 and err == ""
    data = strict_json(out)
    assert data["value"] == 1e200 and data["hessian"] == [[0.0]]
    code, out, err = run("hessian", "norm(x)", "--at", "x=[3e-200,4e-200]", "--json")
    assert code == 0 and err == ""
    hessian = np.array(strict_json(out)["hessian"])
    # (I - u uᵀ)/|x| with u = x/|x| = (0.6, 0.8), |x| = 5e-200.
    expected = (np.eye(2) - np.outer([0.6, 0.8], [0.6, 0.8])) / 5e-200
    assert hessian == pytest.approx(expected, rel=1e-12)


# ----- softmax and logsumexp expanded element by element -----

def test_element_paths_of_softmax_past_the_range_of_its_shift(run):
    code, out, err = run("grad", "softmax(x)[0]", "--at", "x=[1e308,-1e308]",
                         "--explain", "paths", "--json")
    assert code == 0 and err == "", err
    assert strict_json(out)["gradient"]["x"] == [0.0, 0.0]


def test_hessian_of_logsumexp_past_the_range_of_its_shift(run):
    code, out, err = run("hessian", "logsumexp(x)", "--at", "x=[1e308,-1e308]", "--json")
    assert code == 0 and err == "", err
    data = strict_json(out)
    assert data["value"] == 1e308 and data["hessian"] == [[0.0, 0.0], [0.0, 0.0]]


def test_hessian_of_logsumexp_at_ordinary_points_is_unchanged():
    point = {"x": np.array([0.5, -1.0, 2.0])}
    result = calculus.hessian(chaincli.compile("logsumexp(x)"), point)
    p = np.exp(point["x"]) / np.exp(point["x"]).sum()
    assert np.array(result.hessian) == pytest.approx(np.diag(p) - np.outer(p, p), abs=1e-15)


# ----- Non-finite derivatives: tensor as scalar -----

def test_tensor_jacobian_warns_of_an_infinite_entry_as_the_scalar_one(run):
    code, _, scalar = run("jacobian", "sqrt(x)", "--at", "x=0")
    assert code == 1
    assert "sqrt(x): its derivative with respect to x is infinite at x = 0" in scalar
    code, _, tensor = run("jacobian", "sqrt(x)", "--at", "x=[0,1]")
    assert code == 1
    assert tensor.startswith("Warning: sqrt(x): its derivative with respect to x is infinite "
                             "at element [0] (x = 0), so the gradient is not finite there")


@pytest.mark.parametrize("at, direction", [("x=1", "x=1e308"), ("x=[1,2]", f"x={BIG}")])
def test_a_non_finite_directional_derivative_is_warned_about_and_exits_1(run, at, direction):
    expr = "x*x" if "[" not in at else "sum(x*x)"
    code, out, err = run("grad", expr, "--at", at, "--direction", direction, "--json")
    assert code == 1
    assert err.startswith("Warning: --direction: the directional derivative is infinite")
    data = strict_json(out)
    assert data["directional_derivative"] == "Infinity"
    assert any("--direction" in w["message"] for w in data["warnings"])
    # A finite one stays exit 0, silent.
    code, out, err = run("grad", expr, "--at", at, "--direction", "x=1", "--json")
    assert code == 0 and err == ""


# ----- check: rounding of large sums is not a wrong gradient -----

SIZE = 1_000_000


def test_check_passes_an_exact_gradient_of_a_sum_of_a_million_terms():
    x = np.random.default_rng(5).normal(size=SIZE)
    result = calculus.check_gradient(chaincli.compile("sum(x*x)"), {"x": x})
    assert result.agree, result.rows[0]


def test_check_still_fails_a_wrong_rule_on_a_sum_of_a_million_terms(monkeypatch):
    """A sum rule 1% off in both modes: the rounding allowance does not hide it."""
    right = PRIMITIVES["sum"]
    wrong = right.replace(
        vjp=lambda g, args, out, options, wanted=(True,):
        tuple(1.01 * a for a in right.vjp(g, args, out, options, wanted)),
        jvp=lambda tangents, args, out, options: 1.01 * right.jvp(tangents, args, out, options))
    monkeypatch.setitem(PRIMITIVES, "sum", wrong)
    x = np.random.default_rng(5).normal(size=SIZE)
    result = calculus.check_gradient(chaincli.compile("sum(x*x)"), {"x": x})
    assert not result.agree


def test_check_says_when_rounding_leaves_no_digits_to_check():
    result = calculus.check_gradient(chaincli.compile("sum(x*x)"),
                                     {"x": np.array([1e154, 1.0])})
    assert not result.agree
    assert any(w.kind == "finite-difference" and "rounding" in w.message
               for w in result.warnings)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_a_chain_of_finite_partials_that_overflows_is_explained(mode):
    # 1e300 · (0.5/sqrt(1e-20)) leaves the doubles though each factor is finite.
    result = chaincli.compile("1e300*sqrt(x)").gradient({"x": 1e-20}, mode=mode)
    assert math.isinf(result.gradient["x"])
    notices = [w for w in result.warnings if w.kind == "nonfinite-derivative"]
    assert [w.variables for w in notices] == [("x",)]
    assert "their product overflows a double" in notices[0].message


def test_an_infinite_partial_is_named_without_the_overflow_notice():
    result = chaincli.compile("sqrt(x) + y").gradient({"x": 0.0, "y": 1.0})
    messages = [w.message for w in result.warnings if w.kind == "nonfinite-derivative"]
    assert len(messages) == 1 and messages[0].startswith("sqrt(x): its derivative")


_TINY_W = np.random.default_rng(3).normal(size=(3, 4)) * 1e-160
NONFINITE_GRADIENTS = [
    ("1e300*sqrt(x)", {"x": 1e-20}),
    ("sqrt(x) + y", {"x": 0.0, "y": 1.0}),
    ("sqrt(x^2) + y", {"x": 0.0, "y": 1.0}),   # 0·∞ absorbed: finite, with a notice
    ("sum(sqrt(x))", {"x": np.array([0.0, 1.0])}),
    ("sum(1e308 * tanh(x)) + sum(1e308 * tanh(x * y))",
     {"x": np.array([0.0, 0.5]), "y": np.array([1.0, 1.0])}),
    ("sum(c * tanh(W @ x))", {"W": _TINY_W, "x": np.full(4, 1e150), "c": 1e200}),
]


@pytest.mark.parametrize("text, point", NONFINITE_GRADIENTS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_a_partial_that_is_not_finite_always_has_its_notice(text, point, mode):
    """What minimize relies on to skip a pass over each gradient (optimize/problem.py):
    a variable whose partial is not finite is named by a nonfinite-derivative
    notice, interpreted and compiled (the later calls at the same point)."""
    expr = chaincli.compile(text)
    for _ in range(10):
        result = expr.gradient(point, mode=mode)
        named = {v for w in result.warnings if w.kind == "nonfinite-derivative"
                 for v in w.variables}
        for name, partial in result.gradient.items():
            if not np.isfinite(partial).all():
                assert name in named, (text, mode, name, result.warnings)


@pytest.mark.parametrize("text, point", NONFINITE_GRADIENTS)
def test_minimize_stops_at_a_gradient_that_is_not_finite(text, point):
    from chaincli.optimize.methods import NotFinite
    from chaincli.optimize.problem import Problem
    problem = Problem(chaincli.compile(text), point, None)
    finite = all(np.isfinite(g).all()
                 for g in chaincli.compile(text).gradient(point).gradient.values())
    for _ in range(10):
        if finite:
            assert np.isfinite(problem.value_and_gradient(problem.x0)[1]).all()
        else:
            with pytest.raises(NotFinite, match="the gradient is not finite"):
                problem.value_and_gradient(problem.x0)
