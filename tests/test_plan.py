"""Repeated tensor evaluations at the same shapes reuse their plan, never their values.

``CompiledExpression`` keeps, per set of variable shapes, what the tensor
sweeps need that depends only on shapes (engine/tensor/plan.py). These tests
count the shape passes, change arrays in place between calls, and give
shapes that do not fit, to show what is reused and what is checked anew.
"""

from __future__ import annotations

import numpy as np
import pytest

import chaincli
from chaincli.base.errors import PointError, ShapeError
from chaincli.engine.tensor import plan as tensor_plan
from chaincli.engine.tensor import sweeps

TEXT = "h = tanh(W @ x + b); sum(h * h) + amax(h)"


def point(rows: int, cols: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(rows, cols)), "x": rng.normal(size=cols),
            "b": rng.normal(size=rows)}


@pytest.fixture
def shape_passes(monkeypatch):
    count = [0]
    original = sweeps.shapes

    def counted(tape, variable_shapes):
        count[0] += 1
        return original(tape, variable_shapes)

    monkeypatch.setattr(tensor_plan.sweeps, "shapes", counted)
    return count


def test_the_shape_pass_runs_once_per_set_of_shapes(shape_passes):
    expr = chaincli.compile(TEXT)
    first = point(3, 4)
    for _ in range(5):
        expr.gradient(first)
        expr.value(first)
    assert shape_passes[0] == 1
    expr.gradient(point(2, 5))
    expr.gradient(point(3, 4, seed=1))
    assert shape_passes[0] == 2


def test_values_are_never_reused():
    expr = chaincli.compile(TEXT)
    p = point(3, 4)
    before = expr.gradient(p)
    p["W"][0, 0] += 1.0          # the same array object, changed in place
    after = expr.gradient(p)
    fresh = chaincli.compile(TEXT).gradient(p)
    assert not np.array_equal(before.gradient["W"], after.gradient["W"])
    for name in ("W", "x", "b"):
        assert np.array_equal(after.gradient[name], fresh.gradient[name])
    p["W"][1, 2] = np.nan
    with pytest.raises(PointError, match=r"the element \[1, 2\] is nan"):
        expr.gradient(p)


def test_shapes_that_do_not_fit_are_refused_every_time():
    expr = chaincli.compile(TEXT)
    bad = {**point(3, 4), "x": np.ones(5)}
    for _ in range(2):
        with pytest.raises(ShapeError, match="do not align"):
            expr.gradient(bad)
    assert expr.value(point(3, 4)) == chaincli.compile(TEXT).value(point(3, 4))


def test_a_tie_is_reported_on_every_call_that_has_one():
    # The plan knows which entries can warn; whether one does is the values'.
    expr = chaincli.compile("amax(W @ x)")
    tie = {"W": np.array([[1.0, 0.0], [0.0, 1.0]]), "x": np.array([2.0, 2.0])}
    apart = {"W": tie["W"], "x": np.array([2.0, 1.0])}
    for _ in range(2):
        assert [n.kind for n in expr.gradient(tie).warnings] == ["kink"]
        assert expr.gradient(apart).warnings == []


def test_the_plans_kept_are_bounded():
    expr = chaincli.compile("sum(x * x)")
    for n in range(1, tensor_plan.MAX_PLANS + 10):
        assert expr.gradient({"x": np.ones(n)}).gradient["x"].tolist() == [2.0] * n
    assert len(expr._plans._plans) == tensor_plan.MAX_PLANS
