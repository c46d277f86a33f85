"""The one-pass finiteness checks (base/finite.py, and the compiled sweeps' own
forms in engine/tensor/codegen.py) against ``np.isfinite(a).all()``.

A sum of squares that overflows although every element is finite (1e200) must
not count as a non-finite element; layouts other than C order, other dtypes
and 0-d arrays take the general way and give the same answer.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import chaincli
from chaincli.base.errors import PointError
from chaincli.base.finite import all_finite_array
from chaincli.engine.tensor import codegen

# An overflowing sum of squares is no overflow of the user's: no warning may escape.
pytestmark = pytest.mark.filterwarnings("error")

_ELEMENTS = st.one_of(st.floats(-10.0, 10.0), st.sampled_from(
    [0.0, -0.0, 1e200, -1e200, 1.7e308, 5e-324, np.inf, -np.inf, np.nan]))


def _layouts(a):
    """``a`` as it is, transposed, and every other element along the first axis."""
    yield a
    if a.ndim >= 2:
        yield a.T
    if a.ndim >= 1:
        yield a[::2]


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
                  elements=_ELEMENTS))
def test_the_one_pass_check_is_isfinite_all(array):
    for a in _layouts(array):
        expected = bool(np.isfinite(a).all())
        assert all_finite_array(np, a) is expected
        with np.errstate(all="ignore"):  # as inside a sweep
            if a.ndim:
                assert _passes(codegen._checked_array, a) is expected
            assert _passes(codegen._finite_adjoint, a) is expected


def _passes(check, a) -> bool:
    try:
        check(a)
    except codegen.Fallback:
        return False
    return True


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int8, np.bool_])
def test_other_dtypes_are_checked_element_by_element(dtype):
    big = np.full(1000, np.iinfo(np.int64).max if dtype == np.int64 else 1, dtype=dtype)
    assert all_finite_array(np, big)   # an integer dot product would have wrapped
    if dtype == np.float32:
        assert not all_finite_array(np, np.array([1.0, np.nan], dtype=dtype))


def test_a_point_takes_elements_whose_squares_overflow():
    expr = chaincli.compile("sum(x) * 1e-300")
    x = np.array([[1e300, -1e300], [1.7e308, 2.0]])
    assert expr.value({"x": x}) == pytest.approx(1.7e8)
    with pytest.raises(PointError, match=r"the element \[1, 0\] is inf"):
        expr.value({"x": np.array([[1e300, -1e300], [np.inf, 2.0]])})
