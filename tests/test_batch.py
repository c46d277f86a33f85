"""Batch evaluation: arrays in the point give arrays out, equal to the scalar path."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import chaincli
from chaincli.base.errors import DomainError, PointError, UsageError
from chaincli.engine.batch.codegen import BatchSweep
from chaincli.primitives import ELEMENTWISE
from expressions import CORPUS, expressions
from test_primitives import ALL, sample_points

# NumPy's and libm's sin, asinh, cbrt ... may differ in the last bit; a sum can
# carry that difference into a smaller result, so ulps are counted at scale >= 1.
ULPS = 16


def close(a: float, b: float, ulps: int = ULPS) -> bool:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= ulps * math.ulp(max(abs(a), abs(b), 1.0))


# Points on kinks (ties, zeros), at domain edges and outside domains.
XS = np.array([0.7, 0.0, -1.3, 2.0, 1.3, 1e-3, -0.5, 1.0, 300.0])
YS = np.array([1.3, 0.0, 1.3, 2.0, -1.3, 0.0, 2.5, -1.0, 800.0])


def scalar_or_none(expr, point, mode):
    try:
        return expr.gradient(point, mode=mode)
    except DomainError:
        return None


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("text", CORPUS)
def test_batch_equals_scalar_on_corpus(text, mode):
    expr = chaincli.compile(text)
    arrays = {"x": XS, "y": YS}
    point = {k: v for k, v in arrays.items() if k in expr.variables}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy warnings must be silenced inside
        batch = expr.gradient(point, mode=mode, batch=True)
    assert batch.value.shape == XS.shape
    for k in range(len(XS)):
        scalar = scalar_or_none(expr, {n: float(a[k]) for n, a in point.items()}, mode)
        if scalar is None:
            assert math.isnan(batch.value[k])
            assert all(math.isnan(batch.gradient[n][k]) for n in expr.variables)
            continue
        assert close(batch.value[k], scalar.value), (k, batch.value[k], scalar.value)
        for name in expr.variables:
            assert close(batch.gradient[name][k], scalar.gradient[name]), \
                (k, name, batch.gradient[name][k], scalar.gradient[name])
    values = expr.value(point, batch=True)
    assert np.array_equal(values, batch.value, equal_nan=True)


def _special_arguments(prim):
    """Points on kinks and domain edges, plus the smooth samples."""
    edges = [0.0, 1.0, -1.0, 0.5, -2.0, 3.0, 1e-300, 700.0, -800.0]
    if prim.arity == 1:
        yield from ((v,) for v in edges)
    else:
        yield from ((a, b) for a in edges for b in edges)
    yield from sample_points(prim, 10)


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_array_versions_match_scalar_versions(prim):
    """Every table entry's array value and partials agree with its scalar ones,
    kinks and domain edges included, wherever the scalar value is finite."""
    rows = [args for args in _special_arguments(prim)]
    columns = [np.array(column) for column in zip(*rows)]
    with np.errstate(all="ignore"):
        values = np.asarray(prim.vector_value(*columns), dtype=float)
        partials = [np.broadcast_to(rule(*columns, values), values.shape)
                    for rule in prim.vector_partials]
    for k, args in enumerate(rows):
        try:
            value = prim.value(*args)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
        if not math.isfinite(value):
            continue
        assert close(values[k], value), (args, values[k], value)
        for index, rule in enumerate(prim.partials):
            try:
                expected = float(rule(*args, value))
            except ZeroDivisionError:
                expected = math.inf
            except (ValueError, OverflowError):
                expected = math.nan
            assert close(float(partials[index][k]), expected), \
                (prim.name, args, index, partials[index][k], expected)


def test_every_primitive_runs_in_a_batch_expression():
    for prim in ELEMENTWISE.values():
        if prim.name in ("add", "sub", "mul", "div", "neg"):
            continue
        args = ", ".join(["x", "y"][:prim.arity])
        expr = chaincli.compile(f"{prim.name}({args})")
        grid = np.linspace(-2.0, 2.0, 9)
        result = expr.gradient({"x": grid, "y": grid[::-1]}, batch=True)
        assert result.value.shape == grid.shape


def test_scalars_broadcast_with_arrays_and_shapes_are_kept():
    expr = chaincli.compile("x*y + z")
    x = np.arange(6.0).reshape(2, 3)
    result = expr.gradient({"x": x, "y": np.array([1.0, 2.0, 3.0]), "z": 5}, batch=True)
    assert result.value.shape == (2, 3)
    assert np.array_equal(result.value, x * np.array([1.0, 2.0, 3.0]) + 5)
    assert np.array_equal(result.gradient["x"], np.broadcast_to([1.0, 2.0, 3.0], (2, 3)))
    assert np.array_equal(result.gradient["z"], np.ones((2, 3)))
    assert result.point["z"].shape == (2, 3)


def test_lists_count_as_arrays():
    result = chaincli.compile("x^2").gradient({"x": [1.0, 2.0, 3.0]}, batch=True)
    assert result.gradient["x"].tolist() == [2.0, 4.0, 6.0]


def test_out_of_domain_and_non_finite_elements_are_nan_not_errors():
    expr = chaincli.compile("log(x) + exp(y)")
    x = np.array([1.0, -1.0, 0.0, np.nan, np.inf, 2.0])
    y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = expr.gradient({"x": x, "y": y}, batch=True)
        values = expr.value({"x": x, "y": y}, batch=True)
    assert result.value[0] == 1.0
    assert np.isnan(result.value[1:]).all()
    assert np.isnan(values[1:]).all()
    assert np.isnan(result.gradient["x"][1:]).all()
    assert result.warnings and result.warnings[0].kind == "domain"
    assert not result.all_finite


def test_hidden_non_finite_intermediate_is_nan_like_the_scalar_error():
    # exp(1000) overflows although the output exp(-exp(1000)) would be 0.
    expr = chaincli.compile("exp(-exp(x))")
    with pytest.raises(DomainError):
        expr.value({"x": 1000.0})
    assert np.isnan(expr.value({"x": np.array([1000.0, 0.0])}, batch=True)[0])


def test_overflowing_sum_of_finite_entries_is_not_an_error():
    expr = chaincli.compile("a = x*1e300; b = x*1e300; a - b + x")
    point = {"x": np.array([1e8, 1.0])}
    assert expr.value(point, batch=True).tolist() == [1e8, 1.0]


def test_infinite_partial_keeps_scalar_conventions():
    expr = chaincli.compile("sqrt(x) + 0*y^y")
    result = expr.gradient({"x": np.array([0.0, 4.0]), "y": np.array([0.0, 1.0])}, batch=True)
    assert result.gradient["x"].tolist() == [math.inf, 0.25]
    scalar = expr.gradient({"x": 0.0, "y": 0.0})
    assert result.gradient["y"][0] == scalar.gradient["y"]


def test_bad_batch_points_are_point_errors():
    expr = chaincli.compile("x + y")
    with pytest.raises(PointError, match="no value for the variable y"):
        expr.gradient({"x": np.zeros(3)}, batch=True)
    with pytest.raises(PointError, match="broadcast"):
        expr.gradient({"x": np.zeros(3), "y": np.zeros(4)}, batch=True)
    with pytest.raises(PointError, match="numbers"):
        expr.gradient({"x": np.zeros(3), "y": ["a", "b", "c"]}, batch=True)


def test_to_dict_of_a_batch_is_lists():
    data = chaincli.compile("2*x").gradient({"x": np.array([1.0, 2.0])}, batch=True).to_dict()
    assert data["value"] == [2.0, 4.0] and data["gradient"] == {"x": [2.0, 2.0]}


def test_scalar_path_does_not_import_numpy():
    code = ("import sys, chaincli; f = chaincli.compile('sin(x*y) + sqrt(x)');"
            "f.gradient({'x': 1.0, 'y': 2.0}); f.value({'x': 1.0, 'y': 2.0});"
            "f.gradient({'x': 1.0, 'y': 2.0}, mode='forward');"
            "assert 'numpy' not in sys.modules, 'numpy was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)


SMOOTH_XS = np.array([0.7, 1.3, 2.0, 0.4])
SMOOTH_YS = np.array([1.3, 1.1, 2.0, 0.9])


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("text", CORPUS)
def test_trapped_fast_path_equals_checked_path_and_scalar(text, mode, monkeypatch):
    from chaincli.engine.batch import program as batch
    expr = chaincli.compile(text)
    point = {k: v for k, v in {"x": SMOOTH_XS, "y": SMOOTH_YS}.items() if k in expr.variables}
    fast = expr.gradient(point, mode=mode, batch=True)

    def no_fast_path(*args, **kwargs):
        raise FloatingPointError("forced")
    real_sweeps = batch._sweeps
    monkeypatch.setattr(batch, "_sweeps", lambda *a, checked, **k: (
        no_fast_path() if not checked else real_sweeps(*a, checked=checked, **k)))
    checked = expr.gradient(point, mode=mode, batch=True)
    assert np.array_equal(fast.value, checked.value, equal_nan=True)
    for name in expr.variables:
        assert np.array_equal(fast.gradient[name], checked.gradient[name], equal_nan=True)
        for k in range(len(SMOOTH_XS)):
            scalar = scalar_or_none(expr, {n: float(a[k]) for n, a in point.items()}, mode)
            if scalar is not None and math.isfinite(scalar.gradient[name]):
                assert close(fast.gradient[name][k], scalar.gradient[name]), (name, k)


class _Unread:
    """Stands in for an array a partial must not read: any use raises."""

    def __getattr__(self, name):
        raise AssertionError(f"read ({name})")

    def _fail(self, *args):
        raise AssertionError("read")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = _fail
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __array__ = _fail


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_partials_read_only_what_the_table_says(prim):
    # The batch reverse sweep frees the arrays a primitive says its partials
    # do not read; a partial that reads one anyway must fail here.
    args = [np.array([v]) for v in next(sample_points(prim, 1))]
    out = prim.vector_value(*args)
    for rule in prim.vector_partials:
        expected = rule(*args, out)
        shown_args = args if prim.partials_read_arguments else [_Unread()] * len(args)
        shown_out = out if prim.partials_read_output else _Unread()
        got = rule(*shown_args, shown_out)
        assert np.array_equal(np.asarray(got, dtype=float), np.asarray(expected, dtype=float))
    # ... and what it says they read, some partial does read (else memory is kept for nothing).
    for flag, hidden in ((prim.partials_read_arguments, "arguments"),
                         (prim.partials_read_output, "output")):
        if flag:
            assert any(_needs(rule, args, out, hidden) for rule in prim.vector_partials), hidden


def _needs(rule, args, out, hidden: str) -> bool:
    shown_args = [_Unread()] * len(args) if hidden == "arguments" else args
    shown_out = _Unread() if hidden == "output" else out
    try:
        return isinstance(rule(*shown_args, shown_out), _Unread)
    except AssertionError:
        return True


def test_release_plan_keeps_what_the_reverse_sweep_reads():
    from chaincli.engine.batch.sweeps import reverse_release_plan
    tape = chaincli.compile("sin(x*y) + x^2").tape
    freed = sorted(j for entries in reverse_release_plan(tape) for j in entries)
    # x*y is read by sin's partial and x^2 by pow's own (exponent) partial;
    # sin(...) feeds only the +, whose partials read nothing, and is freed.
    assert [tape.ops[j] for j in freed] == ["sin"]


def test_numpy_scalars_are_numbers_and_unused_lists_do_not_make_a_batch():
    expr = chaincli.compile("x*2")
    value = expr.value({"x": np.int64(3)})
    assert type(value) is float and value == 6.0
    result = expr.gradient({"x": 1.0, "z": [1.0, 2.0]})
    assert type(result.value) is float
    assert [w.kind for w in result.warnings] == ["unused-value"]
    assert type(expr.value({"x": np.array([1.0, 2.0])}, batch=True)) is np.ndarray


def test_arrays_are_tensors_unless_a_batch_is_asked_for():
    """The one rule of the API: an array is a value (a tensor); ``batch=True``
    makes each array one value per point. For ``x*y`` with ``x`` an array and
    ``y`` a scalar the two differ: ∂sum/∂y against one ∂/∂y per point."""
    expr = chaincli.compile("sum(x*y)")
    x = np.array([1.0, 2.0, 3.0])
    tensor = expr.gradient({"x": x, "y": 2.0})
    assert tensor.value == 12.0 and tensor.gradient["y"] == 6.0
    assert tensor.gradient["x"].tolist() == [2.0, 2.0, 2.0]
    batch = chaincli.compile("x*y").gradient({"x": x, "y": 2.0}, batch=True)
    assert batch.value.tolist() == [2.0, 4.0, 6.0]
    assert batch.gradient["y"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(UsageError, match="scalar output"):
        chaincli.compile("x*y").gradient({"x": x, "y": 2.0})
    with pytest.raises(UsageError, match="tensor operations"):
        expr.gradient({"x": x, "y": 2.0}, batch=True)


# ----- Slices and multiplied powers -----

def batch_gradient(expr, point, **options):
    """A batch gradient: the one place these tests ask the API for a batch."""
    return expr.gradient(point, batch=True, **options)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("text", CORPUS + [
    "x^3*y + 3*x^2*y^2 - y^4 + x^-3 + y^8 - x^-2",
    "sin(x*y) + exp(-y^2)*log(1 + x^2) + tanh(y*x)",
    "u = tanh(x); u*u + u^5 - exp(u)*exp(u)",
])
def test_a_batch_swept_in_slices_equals_one_sweep_to_the_bit(text, mode, monkeypatch):
    from chaincli.engine.batch import program as batch
    expr = chaincli.compile(text)
    rng = np.random.default_rng(7)
    point = {name: rng.uniform(0.3, 1.7, 1000) for name in expr.variables}
    monkeypatch.setattr(batch, "CHUNK", 1 << 30)
    whole = batch_gradient(expr, point, mode=mode)
    monkeypatch.setattr(batch, "CHUNK", 64)  # 16 slices, the last one short
    sliced = batch_gradient(expr, point, mode=mode)
    assert np.array_equal(whole.value, sliced.value)
    for name in expr.variables:
        assert np.array_equal(whole.gradient[name], sliced.gradient[name])
        assert sliced.gradient[name] is not whole.gradient[name]
    for k in (0, 63, 64, 500, 999):
        scalar = expr.gradient({n: float(a[k]) for n, a in point.items()}, mode=mode)
        assert close(sliced.value[k], scalar.value)
        for name in expr.variables:
            assert close(sliced.gradient[name][k], scalar.gradient[name]), (name, k)


@pytest.mark.parametrize("exponent", [-8, -5, -3, -2, 2, 3, 4, 5, 7, 8, 9, 2.5])
def test_whole_powers_in_a_batch_agree_with_the_scalar_pow(exponent):
    expr = chaincli.compile(f"x^{exponent}" if exponent > 0 else f"x^({exponent})")
    xs = np.array([0.3, -0.7, 1.0, 1.9, -2.4, 3.3]) if float(exponent).is_integer() \
        else np.array([0.3, 0.7, 1.0, 1.9, 2.4, 3.3])
    result = batch_gradient(expr, {"x": xs})
    for k, x in enumerate(xs):
        scalar = expr.gradient({"x": float(x)})
        assert close(result.value[k], scalar.value, 4), (exponent, x)
        assert close(result.gradient["x"][k], scalar.gradient["x"], 4), (exponent, x)


def test_the_sweep_never_writes_into_the_callers_arrays():
    expr = chaincli.compile("u = x*y; tanh(u) + u^3 + x - y")
    x, y = np.linspace(0.1, 1.0, 50), np.linspace(1.0, 2.0, 50)
    keep = x.copy(), y.copy()
    result = batch_gradient(expr, {"x": x, "y": y})
    assert np.array_equal(x, keep[0]) and np.array_equal(y, keep[1])
    assert not np.shares_memory(result.gradient["x"], result.gradient["y"])


NEGATIONS = ["tanh(0.5*x - 1.5*y + x*y)^2", "x - y", "-(x - y) - (y - x)", "(x - y)*(x - y) - y",
             "-x*y - -x", "sin(x - y) - cos(y - x) - x", "x - x", "-(x*y) + x*y - y*y",
             "exp(-(x-y)^2) - 2*(y - x)", "(x - y) - (x - y)", "-(-(-(x)))*y - y",
             "x*y - y*x + y - y", "3*x^3 - y^4 + x^2"]


def _plain_adjoints(tape, values):
    """The reverse sweep with nothing in place and every partial multiplied out."""
    from chaincli.engine.batch.sweeps import partial_rules
    from chaincli.tape import depends_on_variables
    varies = depends_on_variables(tape)
    adjoint = [None] * len(tape)
    adjoint[tape.output] = 1.0
    for i in range(tape.output, -1, -1):
        if adjoint[i] is None or not tape.args[i]:
            continue
        inputs = [values[j] for j in tape.args[i]]
        for j, rule in zip(tape.args[i], partial_rules(tape.ops[i])):
            if varies[j]:
                term = rule(*inputs, values[i]) * adjoint[i]
                adjoint[j] = term if adjoint[j] is None else adjoint[j] + term
    return adjoint


@pytest.mark.parametrize("text", NEGATIONS)
def test_a_negated_adjoint_carried_to_the_next_factor_keeps_every_bit(text):
    # Zeros and equal x and y make exact zeros, whose sign a careless
    # regrouping of negations would change.
    from chaincli.engine.batch import program as batch
    from chaincli.engine.batch import sweeps
    rng = np.random.default_rng(11)
    x, y = rng.uniform(-2, 2, 400), rng.uniform(-2, 2, 400)
    x[:40], y[20:60] = 0.0, 0.0
    y[100:150] = x[100:150]
    expr = chaincli.compile(text)
    point = {k: v for k, v in {"x": x, "y": y}.items() if k in expr.variables}
    arrays, _, size = batch.broadcast_point(expr.tape, point)
    with np.errstate(all="ignore"):
        values, _ = sweeps.primal(expr.tape, arrays, size)
        expected = _plain_adjoints(expr.tape, list(values))
        adjoints, _ = sweeps.adjoint_sweep(expr.tape, list(values))
    for name in expr.variables:
        index = expr.tape.variable_index[name]
        got = np.broadcast_to(adjoints[index], (size,))
        want = np.broadcast_to(expected[index], (size,))
        assert got.tobytes() == want.tobytes(), name


# ----- The reverse sweep written out as code (engine/batch/codegen.py) -----

def _interpreted(expr, point, monkeypatch, **options):
    """The batch gradient with every slice swept by the interpreter."""
    from chaincli.engine.batch import program as batch
    with monkeypatch.context() as patch:
        patch.setattr(batch, "_written_sweep", lambda *args: None)
        return batch_gradient(chaincli.compile(expr.text), point, **options)


def _same_bits(a, b) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _awkward_point(names, size: int, seed: int):
    # Zeros and equal coordinates make exact zeros, whose sign a sweep that
    # regrouped a negation or a sum would change.
    rng = np.random.default_rng(seed)
    point = {name: rng.uniform(0.3, 1.7, size) for name in names}
    if names:
        point[names[0]][:70] = 0.5
        for name in names[1:]:
            point[name][40:140] = point[names[0]][40:140]
    return point


WRITTEN_NAME = re.compile(r"[atfkcgAG]\d+|[vV]|0|size|chunk|start|stop|sweep|out|def|for|in|True"
                          r"|range|del|if|not|and|raise|finite|isfinite|vdot|np|NeedsChecking")
WRITTEN = CORPUS + NEGATIONS + [
    "x", "x*y", "x + y", "2*x", "exp(x)", "exp(x) + exp(x)", "y - y + 3", "x^2", "x^-3 + y^8",
    "sin(x*y) + exp(-y^2)*log(1 + x^2) + tanh(y*x)", "u = tanh(x); u*u + u^5 - exp(u)*exp(u)",
    "tanh(0.5*x - 1.5*y + x)^2", "x*y*x*y - (x - y)^2",
]


@pytest.mark.parametrize("text", WRITTEN)
def test_a_written_sweep_gives_the_interpreters_bits(text, monkeypatch):
    from chaincli.engine.batch import program as batch
    monkeypatch.setattr(batch, "CHUNK", 64)     # 47 slices, the last one short
    expr = chaincli.compile(text)
    point = _awkward_point(list(expr.variables), 3000, 5)
    written = batch_gradient(expr, point)
    sweep = expr.batch_sweeps[tuple(expr.variables)]
    assert isinstance(sweep, BatchSweep) and "for start in range" in sweep.source
    # Only names made by the writer, no literal but the loop's 0: never the user's text.
    words = set(re.findall(r"[A-Za-z_]\w*|\d[\w.]*|['\"]", sweep.source))
    assert all(WRITTEN_NAME.fullmatch(word) for word in words), words
    interpreted = _interpreted(expr, point, monkeypatch)
    assert _same_bits(written.value, interpreted.value)
    for name in expr.variables:
        assert _same_bits(written.gradient[name], interpreted.gradient[name]), name
    # Every result is an array of its own: no two share memory, nor with an input.
    arrays = [written.value, *written.gradient.values()]
    for k, a in enumerate(arrays):
        assert not any(np.shares_memory(a, b) for b in arrays[k + 1:] + list(point.values()))


@settings(max_examples=60, deadline=None)
@given(expressions(max_leaves=10), st.integers(0, 2**32 - 1))
def test_written_sweeps_of_random_expressions_give_the_interpreters_bits(text, seed):
    from chaincli.engine.batch import program as batch
    expr = chaincli.compile(text)
    names = list(expr.variables)
    if not names:
        return
    rng = np.random.default_rng(seed)
    point = {name: rng.uniform(-2.0, 2.0, 700) for name in names}
    saved_chunk, saved_written = batch.CHUNK, batch._written_sweep
    try:
        batch.CHUNK = 128
        written = batch_gradient(expr, point)
        batch._written_sweep = lambda *args: None
        interpreted = batch_gradient(chaincli.compile(text), point)
    finally:
        batch.CHUNK, batch._written_sweep = saved_chunk, saved_written
    assert _same_bits(written.value, interpreted.value), text
    for name in names:
        assert _same_bits(written.gradient[name], interpreted.gradient[name]), (text, name)


def _rules_with_forms():
    from chaincli.engine.batch.forms import form_of
    from chaincli.engine.batch.sweeps import partial_rules, value_rule
    for prim in ALL:
        if prim.name not in PRIMITIVES_WITH_BATCH_RULES:
            continue
        rules = [("value", value_rule(prim.name))] + [
            (f"partial {k}", rule) for k, rule in enumerate(partial_rules(prim.name))]
        for which, rule in rules:
            if form_of(np, rule) is not None:
                yield pytest.param(prim, which, rule, id=f"{prim.name} {which}")


PRIMITIVES_WITH_BATCH_RULES = set(ELEMENTWISE)


@pytest.mark.parametrize("prim, which, rule", list(_rules_with_forms()))
def test_a_rule_written_as_ufunc_calls_gives_the_rules_bits(prim, which, rule):
    from chaincli.engine.batch.forms import form_of
    from chaincli.engine.batch.sweeps import value_rule
    form = form_of(np, rule)
    columns = [np.array(column) for column in zip(*sample_points(prim, 300))]
    exponents = [2.0, 3.0, 5.0, 8.0, 9.0, -2.0, -3.0, -8.0, 0.5, 1.0, 0.0, -1.0]
    mixes = [columns]
    for k in range(prim.arity if prim.arity > 1 else 0):   # each in turn a number
        numbers = exponents if prim.name == "pow" and k == 1 else [float(columns[k][0])]
        mixes += [columns[:k] + [number] + columns[k + 1:] for number in numbers]
    emitted = []

    def emit(ufunc, *operands):
        emitted.append(ufunc)
        return ufunc(*operands)
    applied = 0
    with np.errstate(all="ignore"):
        for arguments in mixes:
            operands = list(arguments)
            if which != "value":
                operands.append(value_rule(prim.name)(*arguments))
            expected = rule(*operands)
            del emitted[:]
            got = form(emit, *operands)
            if got is None:       # not the kind it is written for: the rule runs
                assert emitted == [], arguments
                continue
            applied += 1
            assert type(got) is type(expected) is np.ndarray, arguments
            assert _same_bits(got, expected), arguments
    assert applied >= 1 + (prim.name == "pow")


def test_every_one_ufunc_value_has_its_form():
    from chaincli.engine.batch.forms import ONE_UFUNC, form_of
    from chaincli.engine.batch.sweeps import value_rule
    assert all(form_of(np, value_rule(op)) is not None for op in ONE_UFUNC)


def test_a_bad_element_past_the_recording_still_gives_nan_there(monkeypatch):
    from chaincli.engine.batch import program as batch
    monkeypatch.setattr(batch, "CHUNK", 64)
    expr = chaincli.compile("log(x)*y + sqrt(y)")
    x, y = np.linspace(0.5, 2.0, 1000), np.linspace(1.0, 3.0, 1000)
    x[700] = -1.0        # log(-1): the written sweep traps, the checked one finds it
    result = batch_gradient(expr, {"x": x, "y": y})
    assert np.isnan(result.value[700]) and np.isnan(result.gradient["x"][700])
    assert [w.kind for w in result.warnings] == ["domain"]
    assert isinstance(expr.batch_sweeps[("x", "y")], BatchSweep)
    good = np.arange(1000) != 700
    again = batch_gradient(chaincli.compile(expr.text), {"x": x[good], "y": y[good]})
    assert np.array_equal(result.value[good], again.value)


def test_a_bad_element_in_the_recording_writes_nothing_yet(monkeypatch):
    from chaincli.engine.batch import program as batch
    monkeypatch.setattr(batch, "CHUNK", 64)
    expr = chaincli.compile("log(x)")
    x = np.linspace(0.5, 2.0, 1000)
    x[3] = 0.0
    result = batch_gradient(expr, {"x": x})
    assert np.isnan(result.value[3]) and expr.batch_sweeps == {}
    x[3] = 1.0
    assert np.array_equal(batch_gradient(expr, {"x": x}).value, np.log(x))
    assert list(expr.batch_sweeps) == [("x",)]


def test_a_sweep_that_cannot_be_recorded_keeps_the_interpreter(monkeypatch):
    from chaincli.engine.batch import program as batch
    from chaincli.engine.batch import codegen

    def refuse(*args):
        raise codegen.NotRecordable("an array the sweep did not make")
    monkeypatch.setattr(batch, "CHUNK", 64)
    monkeypatch.setattr(codegen, "record", refuse)
    expr = chaincli.compile("sin(x*y) + x^2")
    point = _awkward_point(["x", "y"], 1000, 9)
    result = batch_gradient(expr, point)
    assert expr.batch_sweeps == {("x", "y"): False}
    u = point["x"] * point["y"]
    assert np.allclose(result.gradient["x"], np.cos(u) * point["y"] + 2 * point["x"])
    with pytest.raises(codegen.NotRecordable):
        codegen.Recorder(np).call(np.negative, np.ones(3))   # an array it was not given


@pytest.mark.parametrize("l2, expected", [
    ("512K", 16_384), ("1024K", 32_768), ("2M", 65_536), ("32M", 65_536), ("64K", 4_096),
    ("1000K", 32_000), ("big", 16_384), (None, 16_384),
])
def test_a_slice_is_a_quarter_of_the_l2_cache_an_array(tmp_path, l2, expected):
    from chaincli.engine.batch.program import cache_size, slice_points
    caches = [("1", "Data", "48K"), ("1", "Instruction", "32K"), ("2", "Unified", l2),
              ("3", "Unified", "32768K")]
    for index, (level, kind, size) in enumerate(caches):
        if size is not None:
            folder = tmp_path / f"index{index}"
            folder.mkdir()
            for name, text in (("level", level), ("type", kind), ("size", size)):
                (folder / name).write_text(text + "\n")
    l2_bytes = cache_size(2, str(tmp_path))
    assert slice_points(None, l2_bytes) == expected
    assert slice_points("1000", l2_bytes) == 960       # a setting, in whole 64s
    assert slice_points("none", l2_bytes) == expected  # a bad setting is ignored
    assert cache_size(1, str(tmp_path)) == 48 << 10     # the data cache, not the instructions'
    assert cache_size(3, str(tmp_path)) == 32 << 20
    assert cache_size(2, str(tmp_path / "missing")) is None


def test_a_long_tape_is_swept_in_slices_its_live_arrays_fit_the_cache_with():
    from chaincli.engine.batch import program as batch
    long_tape = chaincli.compile(" + ".join(f"sin({1 + k / 100}*x + y)*cos(x - {k}*y)"
                                            for k in range(60)))
    short_tape = chaincli.compile("tanh(0.5*x - 1.5*y + x*y)^2")
    sweeps = []
    for expr in (long_tape, short_tape):
        batch_gradient(expr, _awkward_point(["x", "y"], 3 * batch.CHUNK, 1))
        sweeps.append(expr.batch_sweeps[("x", "y")])
    long_sweep, short_sweep = sweeps
    assert long_sweep.live_arrays > 60 > short_sweep.live_arrays >= 4   # 2 inputs, 3 results
    assert short_sweep.slice_points(32_768, 16 << 20) == 32_768
    assert long_sweep.slice_points(32_768, 16 << 20) == max(
        4_096, (16 << 20) // (8 * long_sweep.live_arrays) // 64 * 64)
    assert long_sweep.slice_points(32_768, 1 << 20) == 4_096
    assert long_sweep.slice_points(64, 16 << 20) == 64


@pytest.mark.parametrize("where", [5, 700])      # in the recording's elements, and past them
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_an_input_that_is_not_finite_in_any_slice_is_nan_there(where, bad, monkeypatch):
    # tanh(inf) is 1 and exp(-inf) is 0 with no trap firing: only a look at
    # the input itself finds it.
    from chaincli.engine.batch import program as batch
    monkeypatch.setattr(batch, "CHUNK", 64)
    expr = chaincli.compile("tanh(x) + exp(-y)*y")
    x, y = np.linspace(-1.0, 1.0, 1000), np.linspace(0.5, 2.0, 1000)
    x[where] = bad
    result = batch_gradient(expr, {"x": x, "y": y})
    assert np.isnan(result.value[where]) and np.isnan(result.gradient["y"][where])
    assert [w.kind for w in result.warnings] == ["domain"]
    good = np.arange(1000) != where
    clean = batch_gradient(chaincli.compile(expr.text), {"x": x[good], "y": y[good]})
    assert _same_bits(result.value[good], clean.value)
    assert _same_bits(result.gradient["x"][good], clean.gradient["x"])


def test_inputs_whose_squares_overflow_are_still_finite_inputs(monkeypatch):
    from chaincli.engine.batch import program as batch
    monkeypatch.setattr(batch, "CHUNK", 64)
    expr = chaincli.compile("x*1e-200 + y")
    x, y = np.full(1000, 1e200), np.linspace(0.0, 1.0, 1000)
    result = batch_gradient(expr, {"x": x, "y": y})
    assert result.warnings == [] and np.allclose(result.value, 1.0 + y)
    assert isinstance(expr.batch_sweeps[("x", "y")], BatchSweep)


def test_a_ufunc_on_the_same_operands_is_computed_once_unless_something_is_written():
    from chaincli.engine.batch.codegen import _computed_once
    ufuncs = {"mul", "sub"}
    statements = [("t0", "mul", ["a0", "a0"], None), ("t1", "mul", ["a0", "a0"], None),
                  ("t2", "sub", ["k0", "t1"], None),
                  ("t3", "mul", ["a1", "a1"], None), ("t3", "mul", ["t3", "a0"], "t3"),
                  ("t4", "mul", ["a1", "a1"], None)]
    kept, same = _computed_once(statements, ufuncs.__contains__)
    assert same == {"t1": "t0"}
    assert kept[1] == ["t2", "sub", ["k0", "t0"], None]
    assert [s[0] for s in kept] == ["t0", "t2", "t3", "t3", "t4"]   # t3 is written: kept
    # A rule (not a ufunc) is never taken for the same result.
    kept, same = _computed_once(statements[:2], lambda name: False)
    assert same == {} and len(kept) == 2


def test_the_square_of_tanh_is_computed_once_for_the_value_and_the_partial():
    from chaincli.engine.batch import program as batch
    expr = chaincli.compile("tanh(0.5*x - 1.5*y + x*y)^2")
    point = _awkward_point(["x", "y"], 5 * batch.CHUNK, 2)
    batch_gradient(expr, point)
    source = expr.batch_sweeps[("x", "y")].source
    square = re.search(r"(f\d+)\((t\d+), \2, out=v\)", source)
    assert square, source
    assert source.count(f"{square.group(1)}({square.group(2)}, {square.group(2)}") == 1


def test_a_small_batch_runs_the_sweep_a_large_one_wrote(monkeypatch):
    from chaincli.engine.batch import program as batch
    expr = chaincli.compile("tanh(0.5*x - 1.5*y + x*y)^2 - x/y")
    small = _awkward_point(["x", "y"], 300, 4)
    before = batch_gradient(expr, small)
    assert expr.batch_sweeps == {}            # a small batch alone writes nothing
    batch_gradient(expr, _awkward_point(["x", "y"], 3 * batch.CHUNK, 5))
    calls = []
    sweep = expr.batch_sweeps[("x", "y")]
    function = sweep._function
    monkeypatch.setattr(sweep, "_function", lambda *a: calls.append(1) or function(*a))
    after = batch_gradient(expr, small)
    assert calls == [1]
    assert _same_bits(before.value, after.value)
    for name in ("x", "y"):
        assert _same_bits(before.gradient[name], after.gradient[name])
    scalar = batch_gradient(expr, {"x": np.array([0.7]), "y": np.array([1.3])})
    assert close(scalar.value[0], expr.value({"x": 0.7, "y": 1.3}))


@pytest.mark.parametrize("y", [2.0, np.linspace(1.0, 2.0, 40).reshape(40, 1)])
def test_a_written_sweep_takes_inputs_broadcast_from_numbers_and_other_shapes(y, monkeypatch):
    from chaincli.engine.batch import program as batch
    monkeypatch.setattr(batch, "CHUNK", 64)
    expr = chaincli.compile("x*y + sin(y) - y/x")
    point = {"x": np.linspace(0.5, 1.5, 2000).reshape(40, 50), "y": y}
    written = batch_gradient(expr, point)
    assert isinstance(expr.batch_sweeps[("x", "y")], BatchSweep)
    interpreted = _interpreted(expr, point, monkeypatch)
    assert written.value.shape == (40, 50) and _same_bits(written.value, interpreted.value)
    for name in ("x", "y"):
        assert _same_bits(written.gradient[name], interpreted.gradient[name])


def test_a_tape_too_long_for_the_interpreters_slices_is_sliced_written(monkeypatch):
    # Kept whole, 2,477 entries over 10⁶ points took 7.9 GB; written and sliced, 141 MB.
    from chaincli.engine.batch import program as batch
    monkeypatch.setattr(batch, "CHUNK", 64)
    monkeypatch.setattr(batch, "_CHUNK_TAPE_LIMIT", 40)
    expr = chaincli.compile(" + ".join(f"sin({1 + k / 10}*x + y)*cos(x - {k}*y)"
                                       for k in range(12)))
    assert len(expr.tape) > 40
    point = _awkward_point(["x", "y"], 1000, 8)
    written = batch_gradient(expr, point)
    assert isinstance(expr.batch_sweeps[("x", "y")], BatchSweep)
    whole = _interpreted(expr, point, monkeypatch)     # one sweep over the whole arrays
    assert _same_bits(written.value, whole.value)
    for name in ("x", "y"):
        assert _same_bits(written.gradient[name], whole.gradient[name])
    monkeypatch.setattr(batch, "_WRITTEN_TAPE_LIMIT", 40)
    longer = chaincli.compile(expr.text)
    batch_gradient(longer, point)
    assert longer.batch_sweeps == {}       # past the written limit: the interpreter, whole
