"""``chaincli.freeze``: an array checked once, which no later check looks at.

A frozen array is a copy nothing can write to; it gives the answers a plain
array gives, to the bit; a point holding it skips its scan, and only it:
another array, a view of it or an unfrozen copy are checked as always.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import chaincli
from chaincli.base.errors import PointError
from chaincli.engine import values

NETWORK = "h = tanh(X @ W + b); sum(h * h)"


def _point(seed=0):
    rng = np.random.default_rng(seed)
    return {"X": rng.normal(size=(5, 4)), "W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}


def test_a_frozen_array_gives_the_plain_arrays_bits():
    point = _point()
    frozen = {name: chaincli.freeze(value) for name, value in point.items()}
    expr = chaincli.compile(NETWORK)
    for _ in range(3):  # interpreted, then compiled
        plain, held = expr.gradient(point), expr.gradient(frozen)
        assert plain.value == held.value
        for name in point:
            assert np.array_equal(plain.gradient[name], held.gradient[name])
        assert expr.value(point) == expr.value(frozen)


def test_a_frozen_array_cannot_be_written_or_unlocked():
    original = np.arange(6.0).reshape(2, 3)
    frozen = chaincli.freeze(original)
    assert np.array_equal(frozen, original) and frozen is not original
    assert frozen.dtype == np.float64 and frozen.flags.c_contiguous
    original[0, 0] = np.nan           # a copy: the source may change
    assert frozen[0, 0] == 0.0
    with pytest.raises(ValueError):
        frozen[0, 0] = 1.0
    with pytest.raises(ValueError):
        frozen.flags.writeable = True
    with pytest.raises(ValueError):
        frozen.base.flags.writeable = True


def test_freeze_takes_what_a_point_takes_and_refuses_the_rest():
    assert chaincli.freeze(2) == 2.0 and type(chaincli.freeze(2)) is float
    assert chaincli.freeze([[1, 2], [3, 4]]).shape == (2, 2)
    assert chaincli.freeze(np.arange(3, dtype=np.int32)).dtype == np.float64
    frozen = chaincli.freeze([1.0, 2.0])
    assert chaincli.freeze(frozen) is frozen
    for bad, words in ((np.array([1.0, np.nan]), r"to freeze: the element \[1\] is nan"),
                       ([1.0, float("inf")], "finite"), (True, "must be a number"),
                       (np.zeros((2, 0)), "empty"), ("text", "must be a number")):
        with pytest.raises(PointError, match=words):
            chaincli.freeze(bad)


def test_a_point_does_not_scan_a_frozen_array_again(monkeypatch):
    point = _point()
    frozen = {name: chaincli.freeze(value) for name, value in point.items()}
    expr = chaincli.compile(NETWORK)
    expr.gradient(frozen)
    scanned = []
    real_check = values.all_finite_array

    def counting_check(np_, a, quiet=False):
        scanned.append(a.size)
        return real_check(np_, a, quiet)

    monkeypatch.setattr(values, "all_finite_array", counting_check)
    expr.check_point(point)              # the probe sees the scans of plain arrays
    assert sorted(scanned) == sorted(v.size for v in point.values())
    scanned.clear()
    real_checked_array = values.checked_array
    monkeypatch.setattr(values, "checked_array", lambda *a, **k: pytest.fail("checked"))
    expr.check_point(frozen)
    assert scanned == []
    monkeypatch.setattr(values, "checked_array", real_checked_array)
    monkeypatch.undo()
    # One value fresh: that one alone is looked at, and a NaN in it refused.
    fresh = dict(frozen, b=np.array([0.0, np.nan, 1.0]))
    with pytest.raises(PointError, match="the value of b: the element \\[1\\] is nan"):
        expr.gradient(fresh)


def test_a_view_or_a_copy_of_a_frozen_array_is_checked_as_any_array():
    frozen = chaincli.freeze(np.array([[1.0, 2.0], [3.0, 4.0]]))
    expr = chaincli.compile("sum(x * x)")
    assert expr.value({"x": frozen[0]}) == 5.0
    assert expr.value({"x": frozen.T}) == 30.0
    copy = frozen.copy()
    copy[0, 0] = np.inf
    with pytest.raises(PointError, match="inf"):
        expr.value({"x": copy})


def test_the_record_of_frozen_arrays_forgets_a_freed_one():
    frozen = chaincli.freeze(np.ones(4))
    key = id(frozen)
    assert key in values._FROZEN
    del frozen
    gc.collect()
    assert key not in values._FROZEN


def test_minimize_keeps_its_fixed_data_frozen():
    from chaincli.optimize.problem import Problem
    expr = chaincli.compile("sum((X @ w - y)^2)")
    rng = np.random.default_rng(3)
    problem = Problem(expr, {"X": rng.normal(size=(6, 2)), "y": rng.normal(size=6),
                             "w": np.zeros(2)}, ["w"])
    for name in ("X", "y"):
        assert id(problem.fixed[name]) in values._FROZEN
        with pytest.raises(ValueError):
            problem.fixed[name].flags.writeable = True
