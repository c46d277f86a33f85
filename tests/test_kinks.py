"""Kinks, non-finite values and singular points: documented answers, always flagged.

Conventions (README, "Numerical conventions"): abs, relu, step, sign take
derivative 0 at 0; max/min give 1/2 to each side of a tie; hypot takes 0 at
(0, 0); sqrt at 0 has an infinite partial (a warning and exit 1); 0^0 = 1;
a zero tangent, adjoint or partial is an exact zero (0·∞ = 0), so forward
and reverse mode agree at singular points.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chaincli
from chaincli.base.errors import ChaincliError
from clicheck import check_run, strict_json

MODES = ("reverse", "forward")


def grad(cli, expr, at, mode="reverse", *extra):
    code, out, err = cli("grad", expr, "--at", at, "--json", "--mode", mode, *extra)
    check_run(code, out, err, json_output=True)
    return code, strict_json(out) if out else None, err


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("expr, at, gradient, node_text, variables", [
    ("abs(x)", "x=0", {"x": 0.0}, "abs(x)", ["x"]),
    ("relu(x)", "x=0", {"x": 0.0}, "relu(x)", ["x"]),
    ("max(x, y)", "x=1,y=1", {"x": 0.5, "y": 0.5}, "max(x, y)", ["x", "y"]),
    ("min(x, y)", "x=2,y=2", {"x": 0.5, "y": 0.5}, "min(x, y)", ["x", "y"]),
    ("max(x, x)", "x=3", {"x": 1.0}, "max(x, x)", ["x"]),
    ("hypot(x, y)", "x=0,y=0", {"x": 0.0, "y": 0.0}, "hypot(x, y)", ["x", "y"]),
    ("step(x) + sign(y)", "x=0,y=1", {"x": 0.0, "y": 0.0}, "step(x)", ["x"]),
    ("u = x - y; 3*abs(u)", "x=2,y=2", {"x": 0.0, "y": 0.0}, "abs(u)", ["x", "y"]),
])
def test_kinks_follow_the_convention_and_are_flagged(cli, mode, expr, at, gradient,
                                                     node_text, variables):
    code, data, err = grad(cli, expr, at, mode)
    assert code == 0, err
    assert data["gradient"] == gradient
    kinks = [w for w in data["warnings"] if w["kind"] == "kink"]
    assert len(kinks) == 1, data["warnings"]
    kink = kinks[0]
    assert kink["variables"] == variables
    assert (kink["node"] == "f" or kink["node"].startswith("v")) and kink["expression"] == node_text
    assert "not differentiable" in kink["message"] or "tie" in kink["message"]
    # The same warning on stderr, once per run, for the table too.
    code, out, err = cli("grad", expr, "--at", at, "--mode", mode)
    assert code == 0 and err.count("Warning: ") == 1 and kink["message"] in err


def test_kink_warnings_name_only_the_wrt_variables(cli):
    code, data, _ = grad(cli, "max(x, y) + z", "x=1,y=1,z=0", "reverse", "--wrt", "x,z")
    (kink,) = [w for w in data["warnings"] if w["kind"] == "kink"]
    assert kink["variables"] == ["x"]
    code, data, _ = grad(cli, "max(x, y) + z", "x=1,y=1,z=0", "reverse", "--wrt", "z")
    assert not [w for w in data["warnings"] if w["kind"] == "kink"]


def test_no_kink_warning_away_from_kinks(cli):
    code, data, err = grad(cli, "abs(x) + relu(y) + max(x, y) + hypot(x, y)", "x=1,y=-2")
    assert code == 0 and data["warnings"] == [] and err == ""


@pytest.mark.parametrize("mode", MODES)
def test_sqrt_at_zero_has_an_infinite_partial_flagged_with_exit_1(cli, mode):
    code, data, err = grad(cli, "sqrt(x) + y", "x=0,y=1", mode)
    assert code == 1
    assert data["value"] == 1.0 and data["gradient"] == {"x": "Infinity", "y": 1.0}
    (warning,) = data["warnings"]
    assert warning["kind"] == "nonfinite-derivative" and warning["variables"] == ["x"]
    assert warning["expression"] == "sqrt(x)"
    assert "Warning: sqrt(x)" in err


# ----- Non-finite values: the same answer every time, strict JSON -----

@pytest.mark.parametrize("expr, message", [
    ("exp(1000)", "overflows a double"), ("0^-1", "pole"), ("1/0", "division by zero"),
    ("log(0)", "pole"), ("2^1024", "overflows"), ("exp(x)*0", "overflows"),
    ("(-8)^(1/3)", "not real"), ("sqrt(-1)", "non-negative"),
])
def test_nonfinite_values_are_math_errors(cli, expr, message):
    for command in ("grad", "eval"):
        code, out, err = cli(command, expr, "--at", "x=1000", "--json")
        check_run(code, out, err, json_output=True)
        assert code == 1 and out == "" and message in err


@pytest.mark.parametrize("mode", MODES)
def test_zero_to_the_zero_is_one(cli, mode):
    code, data, err = grad(cli, "x^y", "x=0,y=0", mode)
    assert code == 0 and data["value"] == 1.0 and data["gradient"] == {"x": 0.0, "y": 0.0}
    code, out, _ = cli("eval", "0^0", "--json")
    assert code == 0 and strict_json(out) == {"value": 1.0}


def test_tan_at_the_double_nearest_pi_over_2_is_finite(cli):
    # pi/2 is not exactly representable: tan there is large but finite.
    code, data, _ = grad(cli, "tan(x)", "x=pi/2")
    assert code == 0
    assert data["value"] == math.tan(math.pi / 2)
    assert data["gradient"]["x"] == pytest.approx(1 + math.tan(math.pi / 2) ** 2)


def test_a_nonfinite_partial_is_written_as_a_json_string(cli):
    code, out, _ = cli("grad", "asin(x)", "--at", "x=1", "--json")
    assert code == 1
    data = strict_json(out)
    assert data["gradient"] == {"x": "Infinity"}


# ----- Stable formulas at the extremes, through the CLI -----

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("z", [-1000.0, -40.0, 0.0, 40.0, 1000.0])
def test_sigmoid_and_softplus_gradients_at_the_extremes(cli, mode, z):
    code, data, err = grad(cli, "sigmoid(x) + softplus(y)", f"x={z},y={z}", mode)
    assert code == 0, err
    s = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    assert data["gradient"]["x"] == pytest.approx(s * (1.0 - s), abs=1e-300)
    assert data["gradient"]["y"] == pytest.approx(s, abs=1e-300)
    assert math.isfinite(data["value"])


def test_log_of_one_plus_exp_overflows_where_softplus_does_not(cli):
    code, _, err = grad(cli, "log(1 + exp(x))", "x=1000")
    assert code == 1 and "overflows" in err
    code, data, _ = grad(cli, "softplus(x)", "x=1000")
    assert code == 0 and data["value"] == 1000.0 and data["gradient"]["x"] == 1.0


# ----- Forward mode at singular points agrees with reverse mode -----

@pytest.mark.parametrize("expr, at, gradient, absorbed", [
    ("x^y", "x=0,y=0", {"x": 0.0, "y": 0.0}, False),
    ("x^y + y", "x=0,y=2", {"x": 0.0, "y": 1.0}, False),
    ("sqrt(y) + x", "x=1,y=0", {"x": 1.0}, False),
    ("0*sqrt(x) + y", "x=0,y=1", {"x": 0.0, "y": 1.0}, True),
    ("sqrt(x^2)", "x=0", {"x": 0.0}, True),
    ("cbrt(x)*0 + log(y)", "x=0,y=1", {"x": 0.0, "y": 1.0}, True),
    ("asin(y) * x", "x=0,y=1", {"x": math.pi / 2}, False),
])
def test_forward_and_reverse_agree_at_singular_points(cli, expr, at, gradient, absorbed):
    wrt = ",".join(gradient)
    results = {}
    for mode in MODES:
        code, data, err = grad(cli, expr, at, mode, "--wrt", wrt)
        assert code == 0, err
        assert data["gradient"] == gradient, mode
        results[mode] = data
        flagged = [w for w in data["warnings"] if w["kind"] == "nonfinite-derivative"]
        assert bool(flagged) == absorbed, data["warnings"]
        if absorbed:
            assert "0·∞ = 0" in flagged[0]["message"] and flagged[0]["variables"]
    assert results["forward"]["warnings"] == results["reverse"]["warnings"]


# ----- Random expressions at singular points -----

_SINGULAR_LEAVES = st.sampled_from(["x", "y", "0", "1", "-1", "0.5"])


def _singular_extend(children):
    unary = st.sampled_from(["abs", "relu", "sqrt", "cbrt", "sin", "exp", "log", "asin",
                             "sign", "tanh", "atanh", "acos"])
    binary = st.sampled_from(["max", "min", "hypot", "atan2", "pow"])
    return st.one_of(
        st.builds(lambda f, a: f"{f}({a})", unary, children),
        st.builds(lambda a, op, b: f"({a}){op}({b})", children,
                  st.sampled_from(["+", "-", "*", "/", "^"]), children),
        st.builds(lambda f, a, b: f"{f}({a}, {b})", binary, children, children))


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=st.recursive(_SINGULAR_LEAVES, _singular_extend, max_leaves=8),
       point=st.fixed_dictionaries({"x": st.sampled_from([0.0, 1.0, -1.0, 0.5]),
                                    "y": st.sampled_from([0.0, 1.0, -1.0])}))
def test_singular_points_are_answered_alike_or_flagged(text, point):
    """Where infinite partials cancel (∞ − ∞) the modes may differ: then both
    answers carry a warning, and a non-finite partial is never unexplained."""
    try:
        expr = chaincli.compile(text)
        point = {name: value for name, value in point.items() if name in expr.variables}
        results = [expr.gradient(point, mode=mode) for mode in MODES]
    except ChaincliError:
        return
    for result in results:
        if not result.all_finite:
            flagged = {v for w in result.warnings if w.kind == "nonfinite-derivative"
                       for v in w.variables}
            bad = {n for n, v in result.gradient.items() if not math.isfinite(v)}
            assert bad <= flagged or any(not w.variables for w in result.warnings), \
                (text, point, result.mode, result.warnings)
    reverse, forward = results
    for name in reverse.gradient:
        a, b = reverse.gradient[name], forward.gradient[name]
        agree = a == b or (math.isnan(a) and math.isnan(b)) or (
            math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=1e-12))
        if not agree:
            assert reverse.warnings and forward.warnings, (text, point, name, a, b)
