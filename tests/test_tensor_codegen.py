"""The straight-line tensor sweeps (engine/tensor/codegen.py) against the interpreter.

Every primitive of the table, on the random shapes and values the rule tests
draw (test_tensor_rules.py), so a new primitive is covered without a new
test: the compiled value and gradient are the interpreter's bits, or the
compiled sweep hands the point back. Through ``chaincli.compile``: the
second evaluation at the same shapes runs compiled, and a point where
something is not finite gets the interpreter's exact error or notices.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import chaincli
from chaincli.base.errors import DomainError, PointError
from chaincli.engine.tensor import codegen, sweeps
from chaincli.tape import depends_on_variables
from test_tensor_rules import ALL, _fill, draw_case, weighted_tape

CASES = 6


def _same(a, b) -> bool:
    """The same type and the same bits (None, a float, or an array)."""
    if a is None or b is None:
        return a is b
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.shape == b.shape and np.array_equal(a, b)
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _interpreter(tape, point, entry_shapes, wanted):
    values = sweeps.primal(tape, point, entry_shapes)
    nonfinite: set = set()
    adjoints = sweeps.adjoint_sweep(tape, values, entry_shapes, wanted, nonfinite=nonfinite)
    return values, adjoints, nonfinite


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_compiled_sweeps_give_the_interpreters_bits(prim):
    rng = random.Random(f"codegen-{prim.name}")
    compiled_cases = 0
    for _ in range(CASES):
        shapes, options, values = draw_case(prim, rng)
        tape, out = weighted_tape(prim, len(shapes), options)
        point = {f"a{k}": v for k, v in enumerate(values)}
        variable_shapes = {n: sweeps.shape_of(v) for n, v in point.items()}
        out_shape = sweeps.shapes(tape, {**variable_shapes, "G": ()})[out]
        point["G"] = _fill(out_shape, (-1.0, 1.0), rng)
        entry_shapes = sweeps.shapes(tape, {n: sweeps.shape_of(v) for n, v in point.items()})
        if not codegen.compilable(tape):
            # Only a rule told that its adjoint is a multiple keeps the interpreter.
            assert prim.vjp_of_multiple is not None
            continue
        names = [f"a{k}" for k in range(len(shapes))]
        wanted = depends_on_variables(tape, set(names))
        values_at, adjoints, nonfinite = _interpreter(tape, point, entry_shapes, wanted)
        compiled = codegen.CompiledSweeps(tape, entry_shapes)
        try:
            fast_values, fast_adjoints = compiled.gradient(point, names, wanted)
        except codegen.FAILURES:
            # Handed back only where the interpreter has something to report.
            assert nonfinite or not all(sweeps.all_finite(v) for v in values_at
                                        if v is not None), (prim.name, shapes, options)
            continue
        assert len(fast_values) == len(values_at)
        for i, (a, b) in enumerate(zip(fast_values, values_at)):
            assert _same(a, b), (prim.name, shapes, options, "value", i)
        for i, (a, b) in enumerate(zip(fast_adjoints, adjoints)):
            assert _same(a, b), (prim.name, shapes, options, "adjoint", i)
        assert _same(compiled.value(point), values_at[tape.output])
        compiled_cases += 1
    if prim.vjp_of_multiple is None:
        assert compiled_cases >= CASES - 1, prim.name


CONSTANT_PARTIALS = [p for p in ALL if p.elementwise and any(
    codegen._constant_partial(p, k) is not None for k in range(p.arity))]


def test_the_arithmetic_operators_have_constant_partials():
    assert {"add", "sub", "neg"} <= {p.name for p in CONSTANT_PARTIALS}


@pytest.mark.parametrize("prim", CONSTANT_PARTIALS, ids=lambda p: p.name)
def test_a_partial_inlined_as_a_constant_is_that_constant_everywhere(prim):
    rng = random.Random(f"constant-{prim.name}")
    for k in range(prim.arity):
        constant = codegen._constant_partial(prim, k)
        if constant is None:
            continue
        for _ in range(20):
            shapes, _, values = draw_case(prim, rng)
            out = sweeps.apply(prim, values, ())
            partial = sweeps.elementwise_partial(prim, k, values, out)
            assert type(partial) is float and partial == constant, (prim.name, k, partial)


NETWORK = "h = tanh(X @ W1 + b1); z = h @ W2 + b2; mean(logsumexp(z) - sum(z * T, 1))"


def _network_point(seed=0):
    rng = np.random.default_rng(seed)
    return {"X": rng.random((6, 5)), "W1": rng.normal(size=(5, 4)), "b1": np.zeros(4),
            "W2": rng.normal(size=(4, 3)), "b2": np.zeros(3),
            "T": np.eye(3)[rng.integers(0, 3, 6)]}


def _plan_of(expr):
    (plan,) = expr._plans._plans.values()
    return plan


def test_the_second_evaluation_at_the_same_shapes_runs_compiled_with_the_same_bits():
    expr = chaincli.compile(NETWORK)
    point = _network_point()
    first = expr.gradient(point, wrt=["W1", "b1", "W2", "b2"])
    assert _plan_of(expr)._compiled is None
    second = expr.gradient(point, wrt=["W1", "b1", "W2", "b2"])
    assert isinstance(_plan_of(expr)._compiled, codegen.CompiledSweeps)
    assert first.value == second.value
    for name in first.gradient:
        assert _same(first.gradient[name], second.gradient[name]), name
    assert expr.value(point) == first.value
    # The evaluation kept for the explanations is the interpreter's too.
    for a, b in zip(first.evaluation.adjoints, second.evaluation.adjoints):
        assert _same(a, b)


def test_an_array_changed_in_place_is_evaluated_and_checked_anew():
    expr = chaincli.compile(NETWORK)
    point = _network_point()
    for _ in range(3):
        expr.gradient(point)
    point["W1"][0, 0] += 1.0
    fresh = chaincli.compile(NETWORK).gradient(point)
    assert _same(expr.gradient(point).gradient["W1"], fresh.gradient["W1"])
    point["W1"][1, 2] = np.nan
    with pytest.raises(PointError, match=r"element \[1, 2\]"):
        expr.gradient(point)


def _compiled_expression(text, point, calls=3):
    expr = chaincli.compile(text)
    for _ in range(calls):
        expr.gradient(point)
    assert isinstance(_plan_of(expr)._compiled, codegen.CompiledSweeps)
    return expr


def test_a_domain_error_after_compiling_is_the_interpreters():
    good = {"x": np.array([1.0, 2.0, 3.0])}
    bad = {"x": np.array([1.0, -2.0, 3.0])}
    expr = _compiled_expression("sum(log(x) * x)", good)
    with pytest.raises(DomainError) as compiled_error:
        expr.gradient(bad)
    with pytest.raises(DomainError) as interpreted:
        chaincli.compile("sum(log(x) * x)").gradient(bad)
    assert str(compiled_error.value) == str(interpreted.value)
    with pytest.raises(DomainError) as compiled_value_error:
        expr.value(bad)
    assert str(compiled_value_error.value) == str(interpreted.value)


def test_an_infinite_partial_after_compiling_gets_the_interpreters_notices():
    # sqrt's partial is infinite at 0; times the zero adjoint from 0*x it counts as 0.
    text = "sum(sqrt(x) * w)"
    good = {"x": np.array([1.0, 2.0]), "w": np.array([1.0, 1.0])}
    bad = {"x": np.array([0.0, 2.0]), "w": np.array([0.0, 1.0])}
    expr = _compiled_expression(text, good)
    compiled = expr.gradient(bad)
    interpreted = chaincli.compile(text).gradient(bad)
    assert [w.message for w in compiled.warnings] == [w.message for w in interpreted.warnings]
    assert compiled.warnings, "the 0·∞ notice"
    for name in ("x", "w"):
        assert _same(compiled.gradient[name], interpreted.gradient[name])


def test_an_overflowing_adjoint_after_compiling_is_the_interpreters():
    text = "sum(exp(x) * exp(y))"
    good = {"x": np.array([1.0, 2.0]), "y": np.array([0.5, 0.5])}
    bad = {"x": np.array([1.0, 400.0]), "y": np.array([0.5, 400.0])}
    expr = _compiled_expression(text, good)
    with pytest.raises(DomainError) as compiled_error:
        expr.gradient(bad)
    with pytest.raises(DomainError) as interpreted:
        chaincli.compile(text).gradient(bad)
    assert str(compiled_error.value) == str(interpreted.value)


def test_a_later_check_stands_for_the_values_before_it():
    """In the network, the value the mean's check covers and the one tanh reads are
    checked: every other computed entry is certified by a later check."""
    expr = _compiled_expression(NETWORK, _network_point())
    tape, shapes = expr.tape, _plan_of(expr).shapes
    covered = codegen.certified(tape, shapes)
    by_op = sorted(tape.ops[i] for i, c in enumerate(covered) if c)
    assert by_op == sorted(["matmul", "matmul", "add", "logsumexp", "mul", "sum", "sub"])
    checked = [tape.ops[i] for i, c in enumerate(covered) if not c
               and tape.ops[i] not in ("var", "const", "tanh")]
    assert checked == ["add", "mean"]   # X @ W1 + b1, read by tanh; the output


def test_a_value_that_leaves_no_trace_downstream_keeps_its_check():
    """exp(-inf) is 0: a value read only by exp is checked itself."""
    tape = chaincli.compile("sum(exp(x * y))").tape
    covered = codegen.certified(tape, sweeps.shapes(tape, {"x": (3,), "y": (3,)}))
    assert not any(covered[i] for i, op in enumerate(tape.ops) if op == "mul")


@pytest.mark.parametrize("scale, where", [(1e200, "X @ W1"), (1e160, "z * T")])
def test_an_overflow_in_a_certified_value_is_the_interpreters_error(scale, where):
    """A certified value that overflows is found at the later check, and the
    interpreter names the entry where it happened, as without compiling."""
    expr = _compiled_expression(NETWORK, _network_point())
    bad = dict(_network_point())
    if where == "X @ W1":
        bad["X"] = bad["X"] * scale
        bad["W1"] = bad["W1"] * scale
    else:
        bad["W2"] = bad["W2"] * scale
        bad["T"] = bad["T"] * scale
    errors = []
    for e in (expr, chaincli.compile(NETWORK)):
        for call in (lambda: e.gradient(bad), lambda: e.value(bad)):
            with pytest.raises(DomainError) as error:
                call()
            errors.append(str(error.value))
    assert len(set(errors)) == 1 and where in errors[0], errors


def test_a_gradient_that_overflows_after_compiling_gets_the_interpreters_notice():
    """Finite values and partials, but two adjoints of 1e308 add to inf: the
    compiled sweeps hand the point back, and the notice is the interpreter's."""
    text = "sum(1e308 * tanh(x)) + sum(1e308 * tanh(x * y))"
    good = {"x": np.array([0.0, 0.5]), "y": np.array([1.0, 1.0])}
    expr = _compiled_expression(text, {"x": np.array([0.0, 0.5]), "y": np.array([0.0, 0.0])})
    compiled = expr.gradient(good)
    interpreted = chaincli.compile(text).gradient(good)
    assert not np.isfinite(compiled.gradient["x"]).all()
    assert [w.message for w in compiled.warnings] == [w.message for w in interpreted.warnings]
    assert any("not finite" in w.message for w in compiled.warnings)
    for name in ("x", "y"):
        assert _same(compiled.gradient[name], interpreted.gradient[name])


def test_a_weight_gradient_is_checked_from_its_factors_norms():
    """W's gradient is outer(δ, x), larger than both factors: where their norms
    bound it below overflow it is taken as finite; where they do not, its elements
    are read, and an overflow there hands the point back for the interpreter's
    notice. Both answers are the interpreter's bits."""
    text = "sum(c * tanh(W @ x))"
    rng = np.random.default_rng(3)
    good = {"W": rng.normal(size=(3, 4)), "x": rng.random(4), "c": 2.0}
    expr = _compiled_expression(text, good)
    assert "finite_product(d" in _plan_of(expr)._compiled.sources["gradient"]
    overflowing = {"W": good["W"] * 1e-160, "x": good["x"] * 1e150 + 1e150, "c": 1e200}
    for point in (good, {**good, "c": 1e150}, overflowing):
        compiled = expr.gradient(point)
        interpreted = chaincli.compile(text).gradient(point)
        assert [w.message for w in compiled.warnings] == \
            [w.message for w in interpreted.warnings]
        for name in ("W", "x", "c"):
            assert _same(compiled.gradient[name], interpreted.gradient[name])
    assert not np.isfinite(compiled.gradient["W"]).all()
    assert any("not finite" in w.message for w in compiled.warnings)


def test_the_generated_text_never_holds_the_users_text():
    expr = _compiled_expression("weird_name = sum(tanh(W @ x)); weird_name * 2",
                                {"W": np.eye(2), "x": np.array([0.5, 1.0])})
    sources = "\n".join(_plan_of(expr)._compiled.sources.values())
    assert "weird_name" not in sources and "W" not in sources and "tanh" not in sources


# ----- Random expressions: the compiled sweeps against the interpreter -----

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from expressions import expressions  # noqa: E402

_SHAPES = {"x": (3, 2), "y": (2,), "z": (3, 1)}   # broadcast together to 3×2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=expressions(max_leaves=8), seed=st.integers(0, 2**32 - 1))
def test_random_expressions_compile_to_the_interpreters_answers(body, seed):
    """Any expression of the property tests over broadcast arrays (and any point,
    including ones where it leaves a domain or overflows): the compiled sweeps
    give the interpreter's value and gradient to the bit, or its exact error."""
    text = f"sum(w * ({body}))"
    rng = np.random.default_rng(seed)
    expr = chaincli.compile(text)
    point = {name: rng.uniform(-2.5, 2.5, _SHAPES.get(name, (3, 2))) for name in expr.variables}

    def answer(e):
        try:
            result = e.gradient(point)
        except DomainError as error:
            return ("error", str(error))
        return ("ok", result.value, result.gradient, [w.message for w in result.warnings])

    interpreted = answer(expr)
    compiled_first = answer(expr)     # the second evaluation: compiled
    assert isinstance(_plan_of(expr)._compiled, (codegen.CompiledSweeps, bool))
    for got in (compiled_first, answer(expr)):
        assert got[0] == interpreted[0]
        if got[0] == "error":
            assert got[1] == interpreted[1]
            continue
        assert _same(got[1], interpreted[1])
        assert got[2].keys() == interpreted[2].keys()
        for name in got[2]:
            assert _same(got[2][name], interpreted[2][name]), name
        assert got[3] == interpreted[3]


def test_a_long_tape_is_compiled_later_than_a_short_one():
    text = " + ".join(f"sum(tanh(x * {k}))" for k in range(1, 400))
    expr = chaincli.compile(text)
    assert len(expr.tape) > codegen.LONG_TAPE
    point = {"x": np.linspace(0.0, 1.0, 4)}
    first = expr.gradient(point)
    for _ in range(codegen.COMPILE_LONG_AFTER - 2):
        expr.gradient(point)
    assert _plan_of(expr)._compiled is None
    last = expr.gradient(point)
    assert isinstance(_plan_of(expr)._compiled, codegen.CompiledSweeps)
    assert first.value == last.value and _same(first.gradient["x"], last.gradient["x"])
