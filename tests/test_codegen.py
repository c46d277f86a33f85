"""Compiled sweeps (codegen) against the interpreter: same bits, same errors."""

from __future__ import annotations

import io
import math
import re
import tokenize

import pytest
from hypothesis import HealthCheck, given, settings

import chaincli
from chaincli.engine.scalar import evaluate
from chaincli.engine.scalar.codegen import compile_tape
from chaincli.base.errors import DomainError
from chaincli.engine.program import COMPILE_AFTER
from chaincli.engine.scalar.reverse import adjoint_sweep
from expressions import CORPUS, CORPUS_POINT, expressions, points


def same_bits(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b) or (a != a and b != b)


def interpreted(expr, point):
    values = evaluate.primal(expr.tape, point)
    adjoints = adjoint_sweep(expr.tape, evaluate.local_partials(expr.tape, values))
    return values, {name: adjoints[expr.tape.variable_index[name]] for name in expr.variables}


def check_agreement(text, point):
    expr = chaincli.compile(text)
    point = {k: v for k, v in point.items() if k in expr.variables}
    compiled = compile_tape(expr.tape)
    arguments = [point[name] for name in expr.variables]
    try:
        values, adjoints = interpreted(expr, point)
    except DomainError:
        assert compiled.value(arguments) is None
        assert compiled.gradient(arguments) is None
        return
    value = compiled.value(arguments)
    assert value is not None and same_bits(value, values[expr.tape.output])
    swept = compiled.gradient(arguments)
    if swept is None:   # a non-finite partial: the interpreter's to decide
        assert not all(math.isfinite(v) for v in adjoints.values()) or \
            not all(math.isfinite(p) for row in evaluate.local_partials(expr.tape, values)
                    for p in row)
        return
    fast_values, fast_adjoints = swept
    assert all(same_bits(a, b) for a, b in zip(fast_values, values))
    for name, adjoint in zip(expr.variables, fast_adjoints):
        assert same_bits(adjoint, adjoints[name]), (name, adjoint, adjoints[name])


@pytest.mark.parametrize("text", CORPUS)
def test_compiled_sweeps_equal_interpreter_on_corpus(text):
    for point in (CORPUS_POINT, {"x": 0.0, "y": 0.0}, {"x": -1.5, "y": 2.0},
                  {"x": 1.3, "y": 1.3}, {"x": 800.0, "y": -3.0}):
        check_agreement(text, point)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), points())
def test_compiled_sweeps_equal_interpreter_on_random_expressions(text, point):
    check_agreement(text, point)


def repeated(expr, point, method="gradient", **options):
    """The results of enough evaluations to reach the compiled code, first and last."""
    results = []
    for _ in range(COMPILE_AFTER + 1):
        try:
            results.append(getattr(expr, method)(point, **options))
        except DomainError as error:
            results.append(("DomainError", error.message, error.span))
    return results[0], results[-1]


@pytest.mark.parametrize("text, point", [
    ("log(x) + y", {"x": -1.0, "y": 1.0}),
    ("u = x*y; sqrt(u - 3)", {"x": 1.0, "y": 2.0}),
    ("exp(-exp(x))", {"x": 1000.0}),
    ("a = log(y); x", {"x": 1.0, "y": 0.0}),
    ("x / (y - y)", {"x": 1.0, "y": 2.0}),
    ("1/0 + x", {"x": 1.0}),
])
def test_domain_errors_are_unchanged_when_compiled(text, point):
    expr = chaincli.compile(text)
    first, last = repeated(expr, point)
    assert first[0] == "DomainError" and first == last
    first, last = repeated(expr, point, "value")
    assert first == last


@pytest.mark.parametrize("text, point", [
    ("abs(x) + max(x, y)", {"x": 0.0, "y": 0.0}),
    ("sqrt(x) + y", {"x": 0.0, "y": 1.0}),
    ("x^y", {"x": 0.0, "y": 0.0}),
    ("relu(x) * hypot(x, y)", {"x": 0.0, "y": 0.0}),
    ("u = x*y; sin(u) + u^2", {"x": 1.0, "y": 2.0}),
    ("0*x + 2", {"x": 3.0}),
])
def test_results_and_warnings_are_unchanged_when_compiled(text, point):
    expr = chaincli.compile(text)
    first, last = repeated(expr, point)
    assert first.to_dict() == last.to_dict()
    assert all(same_bits(first.gradient[n], last.gradient[n]) for n in first.gradient)
    assert first.evaluation.partials == last.evaluation.partials
    assert first.evaluation.adjoints == last.evaluation.adjoints


def test_generated_code_holds_only_its_own_names_and_float_literals():
    text = "secret_name = import_os * __class__; exec_me = sin(secret_name) + 2.5; " \
           "exec_me / (1 + __class__^2) + pi"
    expr = chaincli.compile(text)
    compiled = compile_tape(expr.tape)
    compiled.value([1.0, 2.0])
    compiled.gradient([1.0, 2.0])
    allowed = re.compile(r"(v|d)\d+|f[a-z0-9]+|g[a-z0-9]+_\d|x|math|sum|def|return|"
                         r"value|gradient|cos|sin")
    for source in compiled.sources.values():
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME:
                assert allowed.fullmatch(token.string), token.string
            elif token.type == tokenize.NUMBER:
                float(token.string)
            elif token.type == tokenize.STRING:
                raise AssertionError(f"a string in generated code: {token.string}")


def test_long_tapes_compile_without_reaching_recursion_limits():
    depth = 30_000
    expr = chaincli.compile("sin(" * depth + "x" + ")" * depth + " + " +
                            " + ".join(f"x*{k}" for k in range(1, 3000)))
    compiled = compile_tape(expr.tape)
    assert compiled.value([0.5]) == evaluate.primal(expr.tape, {"x": 0.5})[expr.tape.output]
    assert compiled.gradient([0.5]) is not None
