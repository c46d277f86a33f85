"""Every primitive in the table, checked against central finite differences.

These tests iterate over the table: a new primitive is covered by adding it.
"""

from __future__ import annotations

import math
import random

import pytest

import chaincli
from chaincli.primitives import FUNCTIONS, PRIMITIVES
from chaincli.primitives.base import Primitive

# The scalar definitions of the elementwise primitives; tests/test_tensor_rules.py
# checks every primitive, these included, on arrays.
ALL = sorted((p for p in PRIMITIVES.values() if p.elementwise), key=lambda p: p.name)
POINTS_PER_PRIMITIVE = 25


def sample_points(prim: Primitive, count: int = POINTS_PER_PRIMITIVE):
    rng = random.Random(f"chaincli-{prim.name}")
    regions = list(prim.smooth_region) * prim.arity
    for _ in range(count):
        yield tuple(rng.uniform(*regions[k]) for k in range(prim.arity))


def central_difference(f, args, k):
    h = 6.055e-06 * max(1.0, abs(args[k]))  # cbrt(eps) scaled to the argument
    up = list(args)
    down = list(args)
    up[k] += h
    down[k] -= h
    return (f(*up) - f(*down)) / (up[k] - down[k])


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_partials_match_central_differences(prim):
    assert len(prim.partials) == prim.arity == len(prim.partial_formulas)
    for args in sample_points(prim):
        out = prim.value(*args)
        for k in range(prim.arity):
            analytic = prim.partials[k](*args, out)
            numeric = central_difference(prim.value, args, k)
            assert math.isclose(analytic, numeric, rel_tol=1e-6, abs_tol=1e-7), \
                (prim.name, args, k, analytic, numeric)


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_partial_formulas_equal_numeric_partials(prim):
    """The formula shown to users (and used symbolically) is the same derivative."""
    names = ("a", "b")[:prim.arity]
    for k, formula in enumerate(prim.partial_formulas):
        compiled = chaincli.compile(formula)
        assert set(compiled.variables) <= set(names), formula
        for args in sample_points(prim, 10):
            expected = prim.partials[k](*args, prim.value(*args))
            got = compiled.value(dict(zip(names, args)))
            assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12), \
                (prim.name, formula, args)


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_smooth_region_is_inside_domain_and_off_kinks(prim):
    for args in sample_points(prim):
        if prim.domain:
            assert prim.domain(*args) is None
        if prim.kink:
            assert prim.kink(*args) is None
        assert math.isfinite(prim.value(*args))


@pytest.mark.parametrize("name", sorted(n for n, p in FUNCTIONS.items() if p.elementwise))
def test_every_function_is_callable_from_an_expression(name):
    prim = FUNCTIONS[name]
    args = next(sample_points(prim, 1))
    arg_names = ["x", "y"][:prim.arity]
    expr = chaincli.compile(f"{name}({', '.join(arg_names)})")
    point = dict(zip(arg_names, args))
    result = expr.gradient(point)
    assert result.value == pytest.approx(prim.value(*args), rel=1e-15)
    for k, var in enumerate(arg_names):
        assert result.gradient[var] == pytest.approx(
            prim.partials[k](*args, prim.value(*args)), rel=1e-15)


def test_ln_is_log():
    assert chaincli.compile("ln(x)").value({"x": 2.0}) == math.log(2.0)


@pytest.mark.parametrize("z", [-1000.0, -40.0, 0.0, 40.0, 1000.0])
def test_sigmoid_and_softplus_are_overflow_safe(z):
    sig = PRIMITIVES["sigmoid"]
    soft = PRIMITIVES["softplus"]
    s = sig.value(z)
    assert 0.0 <= s <= 1.0 and math.isfinite(s)
    assert math.isfinite(soft.value(z)) and soft.value(z) >= 0.0
    assert soft.value(z) == pytest.approx(max(z, 0.0) + math.log1p(math.exp(-abs(z))))
    assert math.isfinite(sig.partials[0](z, s))


@pytest.mark.parametrize("value, root", [(27.0, 3.0), (-8.0, -2.0), (0.0, 0.0), (2.0, 2 ** (1 / 3))])
def test_cbrt(value, root):
    assert PRIMITIVES["cbrt"].value(value) == pytest.approx(root, rel=1e-15)
