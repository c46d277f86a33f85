"""Hessian (two ways), Jacobian, directional derivative and the gradient check."""

from __future__ import annotations

import math
import random

import pytest

import chaincli
from chaincli.calculus.derivatives import (STEP, check_gradient, directional, hessian, jacobian,
                                           relative_error)
from chaincli.base.errors import DomainError, PointError
from chaincli.primitives import ELEMENTWISE
from expressions import CORPUS, CORPUS_POINT


def gradient_differences(expr, point):
    """Central differences of the (reverse-mode) gradient: the Hessian's columns."""
    names = expr.variables
    columns = []
    for name in names:
        h = STEP * max(1.0, abs(point[name]))
        up = dict(point, **{name: point[name] + h})
        down = dict(point, **{name: point[name] - h})
        g_up, g_down = expr.gradient(up).gradient, expr.gradient(down).gradient
        columns.append([(g_up[v] - g_down[v]) / (up[name] - down[name]) for v in names])
    return [[columns[j][i] for j in range(len(names))] for i in range(len(names))]


def assert_matrix_close(a, b, tol):
    assert len(a) == len(b)
    for row_a, row_b in zip(a, b):
        for x, y in zip(row_a, row_b):
            assert math.isclose(x, y, rel_tol=tol, abs_tol=tol), (a, b)


def check_hessian(text, point):
    expr = chaincli.compile(text)
    point = {k: v for k, v in point.items() if k in expr.variables}
    ad = hessian(expr, point, "ad").hessian
    symbolic = hessian(expr, point, "symbolic").hessian
    assert_matrix_close(ad, symbolic, 1e-9)
    assert_matrix_close(ad, gradient_differences(expr, point), 1e-5)
    n = len(ad)
    for i in range(n):
        for j in range(i):
            assert math.isclose(ad[i][j], ad[j][i], rel_tol=1e-12, abs_tol=1e-12)


def test_hessian_done_criterion():
    expr = chaincli.compile("x^2*y + sin(y)")
    for method in ("ad", "symbolic"):
        result = hessian(expr, {"x": 1.0, "y": 2.0}, method)
        assert result.variables == ["x", "y"]
        assert_matrix_close(result.hessian, [[4.0, 2.0], [2.0, -math.sin(2.0)]], 1e-15)


@pytest.mark.parametrize("text", CORPUS)
def test_hessian_methods_agree_with_each_other_and_finite_differences(text):
    check_hessian(text, CORPUS_POINT)


@pytest.mark.parametrize("prim", sorted(ELEMENTWISE.values(), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_hessian_of_every_primitive(prim):
    # Each primitive on two variables (or a product of them) so that mixed
    # second partials and the second partials of the table are all exercised.
    args = ["x*y", "y + x^2"][:prim.arity]
    symbol = prim.symbol if prim.symbol and prim.arity == 2 else None
    text = f"({args[0]}) {symbol} ({args[1]})" if symbol else \
        f"{'-' if prim.symbol else prim.name}({', '.join(args)})"
    rng = random.Random(f"hessian-{prim.name}")
    checked = 0
    for _ in range(3):
        # Points where the arguments x*y and y + x^2 land inside the smooth region.
        lo, hi = prim.smooth_region[0]
        x = rng.uniform(0.6, 0.9)
        y = rng.uniform(lo, hi) / x
        point = {"x": x, "y": y}
        expr = chaincli.compile(text)
        try:
            expr.value(point)
        except DomainError:
            continue
        if prim.kink and any(prim.kink(*v) for v in [(x * y, y + x * x)[:prim.arity]]):
            continue
        check_hessian(text, point)
        checked += 1
    assert checked, "no point inside the smooth region was drawn"


def test_hessian_warns_and_fails_where_not_finite():
    result = hessian(chaincli.compile("sqrt(x)*y"), {"x": 0.0, "y": 1.0})
    assert not result.all_finite
    assert any(w.kind == "nonfinite-derivative" for w in result.warnings)


def test_jacobian_done_criterion():
    result = jacobian([chaincli.compile("x*y"), chaincli.compile("x + y")],
                      {"x": 1.0, "y": 2.0})
    assert result.variables == ["x", "y"]
    assert result.jacobian == [[2.0, 1.0], [1.0, 1.0]]
    assert result.values == [2.0, 3.0]


def test_jacobian_columns_are_the_union_in_order_of_appearance():
    exprs = [chaincli.compile(t) for t in ("sin(y)", "x*z", "y + w")]
    result = jacobian(exprs, {"x": 1.0, "y": 0.0, "z": 3.0, "w": 5.0, "q": 1.0})
    assert result.variables == ["y", "x", "z", "w"]
    assert result.jacobian == [[1.0, 0.0, 0.0, 0.0], [0.0, 3.0, 1.0, 0.0],
                               [1.0, 0.0, 0.0, 1.0]]
    assert [w.variables for w in result.warnings if w.kind == "unused-value"] == [("q",)]


def test_jacobian_needs_every_variable():
    with pytest.raises(PointError, match="z"):
        jacobian([chaincli.compile("x"), chaincli.compile("z")], {"x": 1.0})


def test_directional_derivative_is_one_sweep_of_the_gradient():
    expr = chaincli.compile("sin(x*y) + z^2")
    result = expr.gradient({"x": 1.0, "y": 2.0, "z": 3.0})
    along = directional(result, "x=1,y=-2")
    g = result.gradient
    assert along["direction"] == {"x": 1.0, "y": -2.0, "z": 0.0}
    assert math.isclose(along["directional_derivative"], g["x"] - 2 * g["y"], rel_tol=1e-15)
    with pytest.raises(PointError, match="--direction names w"):
        directional(result, "w=1")
    with pytest.raises(PointError, match="--direction"):
        directional(result, "x")


def test_check_agrees_on_the_corpus():
    for text in CORPUS:
        expr = chaincli.compile(text)
        point = {k: v for k, v in CORPUS_POINT.items() if k in expr.variables}
        result = check_gradient(expr, point)
        assert result.agree, (text, result.rows)
        for row in result.rows:
            assert row.step == STEP * max(1.0, abs(point[row.variable]))
            assert row.error == max(relative_error(row.reverse, row.numeric),
                                    relative_error(row.forward, row.numeric))


def test_check_fails_and_warns_on_a_kink():
    result = check_gradient(chaincli.compile("relu(x) + y"), {"x": 0.0, "y": 1.0})
    assert not result.agree
    assert [row.agree for row in result.rows] == [False, True]
    assert any("finite differences" in w.message for w in result.warnings)


def test_check_fails_with_a_tolerance_below_rounding():
    result = check_gradient(chaincli.compile("exp(x)"), {"x": 1.0}, tolerance=1e-15)
    assert not result.agree


def test_check_reports_undefined_differences():
    result = check_gradient(chaincli.compile("sqrt(x)"), {"x": 0.0})
    assert not result.agree
    assert math.isnan(result.rows[0].numeric)
    assert any(w.kind == "finite-difference" for w in result.warnings)


def test_relative_error_is_absolute_near_zero():
    assert relative_error(1e-9, 0.0) == 1e-9
    assert math.isclose(relative_error(2e6, 2e6 + 2), 1e-6, rel_tol=1e-5)
    assert math.isnan(relative_error(1.0, math.nan))


@pytest.mark.parametrize("text, reason", [("sqrt(x)*y", "division by zero"),
                                          ("acosh(x)*y", "division by zero"),
                                          ("cbrt(x)*y", "division by zero")])
def test_symbolic_hessian_names_why_a_second_derivative_is_undefined(text, reason):
    point = {"x": 1.0 if "acosh" in text else 0.0, "y": 1.0}
    with pytest.raises(DomainError) as caught:
        hessian(chaincli.compile(text), point, "symbolic")
    message = caught.value.message
    assert message.startswith("the second derivative by x and x is not defined here "
                              f"({reason})")
    assert caught.value.reason == reason
