"""The 0·∞ = 0 rule of the chain rule, in every sweep (zero_rule.py).

An exact zero tangent, adjoint or partial passes nothing on, even through an
infinite or NaN factor. The scalar sweeps (forward, reverse, the Hessian's
dual numbers, the path products of the explanations) and the tensor sweeps
(both directions) share the one function, so they agree with each other and
with the element-by-element expansion of a tensor tape (scalarize.py); where
an answer rests on the rule, a ``nonfinite-derivative`` warning says so and
the exit code stays 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chaincli
from chaincli.engine.scalar import evaluate
from chaincli.base.errors import DomainError
from chaincli.engine.scalar.forward import tangent_sweep
from chaincli.engine.scalar.reverse import adjoint_sweep
from chaincli.engine.tensor.scalarize import element_name, scalarize
from chaincli.engine.tensor.program import shapes_at

# The vector v = [-1, 1]: relu(v) and its kin are 0 at v[0] (min(v, 0)^2 at
# v[1]) with slope 0 there, where the root's partial is infinite.
ROOTED = [
    ("sum(cbrt(relu(v)))", [0.0, 1 / 3]),
    ("sum(sqrt(relu(v)))", [0.0, 0.5]),
    ("sum(relu(v)^0.5)", [0.0, 0.5]),
    ("sum(sqrt(step(v)*v))", [0.0, 0.5]),
    ("sum(cbrt(step(v)*v))", [0.0, 1 / 3]),
    ("sum(sqrt(max(v, 0)))", [0.0, 0.5]),
    ("sum(cbrt(max(v, 0)))", [0.0, 1 / 3]),
    ("sum(sqrt(min(v, 0)^2))", [-1.0, 0.0]),
    ("sum(cbrt(min(v, 0)^2))", [-2 / 3, 0.0]),
    ("sum(log(1 + sqrt(relu(v))))", [0.0, 0.25]),
    ("u = relu(v); sum(sqrt(u))", [0.0, 0.5]),
    ("u = relu(v); sum(cbrt(u))", [0.0, 1 / 3]),
]
V = np.array([-1.0, 1.0])
MODES = ("reverse", "forward")


def scalar_gradients(text: str, point: dict) -> dict[str, list[float]]:
    """Each element's partial from the scalar sweeps, element by element:
    the expression with ``v`` replaced by each element's own scalar."""
    out = {}
    for mode in MODES:
        rows = []
        for k, x in enumerate(point["v"]):
            scalar = text.replace("sum(", "(")
            result = chaincli.compile(scalar).gradient({"v": float(x)}, mode=mode)
            rows.append(result.gradient["v"])
        out[mode] = rows
    return out


@pytest.mark.parametrize("text, expected", ROOTED)
@pytest.mark.parametrize("mode", MODES)
def test_tensor_sweeps_take_zero_times_infinity_as_zero(text, expected, mode):
    result = chaincli.compile(text).gradient({"v": V}, mode=mode)
    np.testing.assert_allclose(result.gradient["v"], expected, rtol=1e-15)
    assert result.all_finite
    absorbed = [w for w in result.warnings if w.kind == "nonfinite-derivative"]
    assert len(absorbed) == 1, result.warnings
    element = "[1]" if "min" in text else "[0]"  # where the root's argument is 0
    assert "counts as 0" in absorbed[0].message
    assert f"element {element}" in absorbed[0].message
    assert absorbed[0].variables == ("v",)


@pytest.mark.parametrize("text, expected", ROOTED)
def test_scalar_sweeps_agree_element_by_element(text, expected):
    for mode, rows in scalar_gradients(text, {"v": V}).items():
        assert rows == pytest.approx(expected, rel=1e-15), mode


@pytest.mark.parametrize("mode", MODES)
def test_a_matrix_product_under_the_root_keeps_the_whole_gradient_finite(mode):
    A = np.array([[1.0, 2.0], [-3.0, -1.0]])
    w = np.array([1.0, 1.0])
    result = chaincli.compile("sum(sqrt(relu(A @ w)))").gradient({"A": A, "w": w}, mode=mode)
    assert result.all_finite
    z = A @ w
    slope = np.where(z > 0, 0.5 / np.sqrt(np.maximum(z, 1e-300)), 0.0)
    np.testing.assert_allclose(result.gradient["w"], A.T @ slope, rtol=1e-14)
    np.testing.assert_allclose(result.gradient["A"], np.outer(slope, w), rtol=1e-14)
    assert [w.kind for w in result.warnings] == ["nonfinite-derivative"]


@pytest.mark.parametrize("mode", MODES)
def test_a_zero_matrix_entry_blocks_an_infinite_adjoint_as_in_the_expansion(mode):
    # (M @ v)[0] = 0*1 + 1*0 sits where cbrt's slope is infinite; v[0] reaches
    # it only through the zero M[0,0], so its partial is the 1/3 of row 1.
    M, v = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([1.0, 0.0])
    result = chaincli.compile("sum(cbrt(M @ v))").gradient({"M": M, "v": v}, mode=mode)
    assert result.gradient["v"][0] == pytest.approx(1 / 3, rel=1e-15)
    assert math.isinf(result.gradient["v"][1])
    assert result.gradient["M"][0, 1] == 0.0 and math.isinf(result.gradient["M"][0, 0])
    np.testing.assert_allclose(result.gradient["M"][1], [1 / 3, 0.0], rtol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_the_tensor_twin_of_sqrt_of_x_squared(mode):
    result = chaincli.compile("sum(sqrt(v^2))").gradient({"v": np.array([0.0, 1.0])},
                                                         mode=mode)
    assert list(result.gradient["v"]) == [0.0, 1.0]
    kinds = [w.kind for w in result.warnings]
    assert kinds == ["nonfinite-derivative"]
    assert "sqrt(v^2)" in result.warnings[0].message
    scalar = chaincli.compile("sqrt(v^2)").gradient({"v": 0.0}, mode=mode)
    assert scalar.gradient["v"] == 0.0
    assert [w.kind for w in scalar.warnings] == ["nonfinite-derivative"]


@pytest.mark.parametrize("mode", MODES)
def test_a_gradient_the_rule_cannot_save_is_still_infinite_and_says_so(mode):
    result = chaincli.compile("sum(sqrt(v)) + sum(w * 0)").gradient(
        {"v": np.array([0.0, 1.0]), "w": np.array([1.0, 2.0])}, mode=mode)
    assert math.isinf(result.gradient["v"][0]) and result.gradient["v"][1] == 0.5
    assert not result.all_finite
    bad = [w for w in result.warnings if w.kind == "nonfinite-derivative"]
    # The infinite partial meets no zero on the way to v, and w does not
    # depend on it: one warning, for v's non-finite gradient, none for absorbing.
    assert [w.variables for w in bad] == [("v",)]
    assert "counts as 0" not in bad[0].message


@pytest.mark.parametrize("mode", MODES)
def test_a_kink_names_only_the_variables_it_depends_on(mode):
    result = chaincli.compile("sum(abs(v)) + sum(w)").gradient(
        {"v": np.array([0.0, 1.0]), "w": np.array([1.0, 2.0])}, mode=mode)
    kinks = [w for w in result.warnings if w.kind == "kink"]
    assert [w.variables for w in kinks] == [("v",)]


def test_the_cli_answers_with_the_rule_and_exit_0(run):
    for mode in MODES:
        code, out, err = run("grad", "sum(cbrt(relu(v)))", "--at", "v=[-1, 1]", "--mode",
                             mode, "--format", "plain")
        assert code == 0, err
        assert out.split() == ["v[0]", "0.0", "v[1]", "0.3333333333333333"]
        assert "counts as 0 there (0·∞ = 0)" in err
        assert "cbrt(relu(v))" in err and "not finite" not in err


def test_the_cli_still_exits_1_on_an_infinite_gradient(run):
    code, out, err = run("grad", "sum(sqrt(v))", "--at", "v=[0, 1]", "--format", "plain")
    assert code == 1
    assert out.split() == ["v[0]", "inf", "v[1]", "0.5"]
    assert "not finite" in err


def test_the_cli_kink_warning_in_json_names_v_alone(run):
    import json
    code, out, err = run("grad", "sum(abs(v)) + sum(w)", "--at", "v=[0, 1]", "--at",
                         "w=[1, 2]", "--json")
    assert code == 0
    warnings = json.loads(out)["warnings"]
    assert [(w["kind"], w["variables"]) for w in warnings] == [("kink", ["v"])]


# ----- The rule itself -----

def test_times_on_floats():
    from chaincli.base import zero_rule
    assert zero_rule.times(0.0, math.inf) == 0.0
    assert zero_rule.times(math.nan, 0.0) == 0.0
    assert zero_rule.times(-0.0, math.inf) == 0.0
    assert zero_rule.times(2.0, math.inf) == math.inf
    assert math.isnan(zero_rule.times(math.nan, 1.0))
    assert zero_rule.times(3.0, -0.5) == -1.5


def test_times_elementwise_broadcasts_and_fixes_only_the_exact_zeros():
    from chaincli.base import zero_rule
    product, finite = zero_rule.times_elementwise(np.array([0.0, 1.0, np.inf]),
                                                  np.array([[np.inf], [0.0]]))
    assert not finite
    np.testing.assert_array_equal(product, [[0.0, np.inf, np.inf], [0.0, 0.0, 0.0]])
    # Finite elements whose sum overflows are a finite product, left as it is.
    a = np.array([1e308, 1e308, -3.0])
    product, finite = zero_rule.times_elementwise(a, 1.5)
    assert finite
    np.testing.assert_array_equal(product, a * 1.5)


def test_the_hessian_dual_sweep_passes_nothing_through_a_zero_partial():
    # relu's partial at -1 is 0 and the adjoint arriving from cbrt is
    # infinite there: the second derivative is 0, not NaN.
    result = chaincli.compile("cbrt(relu(x))").gradient({"x": -1.0})
    assert result.gradient["x"] == 0.0
    from chaincli.engine.hessian import forward_over_reverse
    assert forward_over_reverse(result.evaluation, ["x"]) == [[0.0]]


# ----- Random tensor programs: reverse = forward = the element expansion -----

_VALUES = st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0])
_LEAVES = ["v", "w"]
_UNARY = ["relu({})", "abs({})", "sqrt(relu({}))", "cbrt({})", "step({})*{}", "max({}, 0)",
          "min({}, 0)^2", "({})^2", "tanh({})", "log(1 + sqrt(relu({})))", "sqrt({}^2)",
          "M @ {}", "0*sqrt(relu({}))", "sin({})", "cbrt(relu({}))", "transpose(M) @ {}",
          "softmax({})", "outer({}, w) @ v", "cbrt(M @ {})", "[{}[2], {}[0], 0]",
          "sum({}) * w"]
_BINARY = ["({} + {})", "({} * {})", "({} - {})", "max({}, {})"]


@st.composite
def vector_programs(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(_LEAVES))
    if draw(st.booleans()):
        inner = draw(vector_programs(depth - 1))
        return "(" + draw(st.sampled_from(_UNARY)).format(inner, inner) + ")"
    a, b = draw(vector_programs(depth - 1)), draw(vector_programs(depth - 1))
    return draw(st.sampled_from(_BINARY)).format(a, b)


@st.composite
def programs_and_points(draw):
    body = draw(vector_programs())
    reduce = draw(st.sampled_from(["sum({})", "mean({})", "sum(cbrt({}))",
                                   "sum({} * v)", "sum(sqrt(relu({})))"]))
    point = {"v": np.array(draw(st.lists(_VALUES, min_size=3, max_size=3))),
             "w": np.array(draw(st.lists(_VALUES, min_size=3, max_size=3))),
             "M": np.array(draw(st.lists(_VALUES, min_size=9, max_size=9))).reshape(3, 3)}
    return reduce.format(body), point


def _agree(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _same_where_one_is_finite(a: float, b: float) -> bool:
    if not (math.isfinite(a) or math.isfinite(b)):
        return True
    return _agree(a, b)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=programs_and_points())
def test_random_tensor_programs_agree_with_their_element_expansion(case):
    """Each tensor sweep equals the scalar sweep of the same direction on the
    element expansion wherever one of the two is finite; the two directions
    agree wherever both are. (Where infinite partials would cancel, ∞ − ∞,
    the directions group the chain rule differently, as the README says: at
    ``sum(cbrt(v + v*w))`` with v = w = -1 forward mode answers 0 for v and
    reverse mode NaN. Both answers then carry a warning.)"""
    text, point = case
    expr = chaincli.compile(text)
    point = {name: value for name, value in point.items() if name in expr.variables}
    try:
        reverse = expr.gradient(point)
    except DomainError:
        return  # sqrt and log of negative elements: no answer to compare
    forward = expr.gradient(point, mode="forward")
    tape, flat = scalarize(expr.tape, shapes_at(expr.tape, point), point)
    values = evaluate.primal(tape, flat)
    partials = evaluate.local_partials(tape, values)
    adjoints = adjoint_sweep(tape, partials)
    for name in expr.variables:
        for index in np.ndindex(*point[name].shape):
            j = tape.variable_index.get(element_name(name, index))
            expanded = adjoints[j] if j is not None else 0.0
            expanded_forward = (tangent_sweep(tape, partials, {j: 1.0})[tape.output]
                                if j is not None else 0.0)
            r = float(reverse.gradient[name][index])
            f = float(forward.gradient[name][index])
            where = (text, point, name, index, r, f, expanded, expanded_forward)
            assert _same_where_one_is_finite(r, expanded), where
            assert _same_where_one_is_finite(f, expanded_forward), where
            if math.isfinite(r) and math.isfinite(f):
                assert _agree(r, f), where
            elif math.isfinite(r) or math.isfinite(f):
                for result in (reverse, forward):
                    assert any(w.kind == "nonfinite-derivative" for w in result.warnings), \
                        where


def test_infinities_that_cancel_are_nan_with_a_warning_and_no_numpy_noise(run):
    # v + v*w is 0 at v = w = -1: reverse mode meets ∞ − ∞ adding up v's adjoint.
    code, out, err = run("grad", "sum(cbrt(v + v*w))", "--at", "v=[-1, -1]", "--at",
                         "w=[-1, -1]", "--format", "plain")
    assert code == 1
    assert out.split() == ["v[0]", "nan", "v[1]", "nan", "w[0]", "-inf", "w[1]", "-inf"]
    assert "RuntimeWarning" not in err
    # The warning names the node whose partial is infinite, as the scalar one does.
    assert ("Warning: cbrt(v + v*w): its derivative with respect to v + v*w is infinite "
            "at element [0]") in err
