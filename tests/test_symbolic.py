"""Symbolic derivatives and the printer: against SymPy, by round trip, and by size."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings

import chaincli
from chaincli.base.errors import DomainError
from chaincli.primitives import ELEMENTWISE
from chaincli.printer import to_latex, to_text
from chaincli.symbolic import ExpressionBuilder, derivative, operation_count, simplified
from chaincli.language.parser import parse
from chaincli.tape import lower
from expressions import CORPUS, CORPUS_POINT, expressions, points
from roundtrip import diff_text, read_back
from sympy_oracle import FUNCTIONS, to_sympy, value_at
from sympy_oracle import derivative as sympy_derivative


def tape_of(text):
    return lower(parse(text))


def close(a, b, tol=1e-9):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# ----- Against SymPy -----

def _primitive_expression(prim) -> str:
    """``prim`` applied to x (and y), printed by chaincli's own printer."""
    builder = ExpressionBuilder()
    args = [builder.variable(name) for name in ("x", "y")[:prim.arity]]
    return to_text(builder.finish(builder.apply(prim.name, args)))


def test_oracle_knows_every_primitive():
    assert set(ELEMENTWISE) - {"add", "sub", "mul", "div", "neg"} <= set(FUNCTIONS)


@pytest.mark.parametrize("prim", sorted(ELEMENTWISE.values(), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_every_primitive_first_and_second_derivative_match_sympy(prim):
    text = _primitive_expression(prim)
    reference = to_sympy(text)
    rng = random.Random(f"symbolic-{prim.name}")
    regions = list(prim.smooth_region) * prim.arity
    names = ("x", "y")[:prim.arity]
    for _ in range(5):
        point = {name: rng.uniform(*regions[k]) for k, name in enumerate(names)}
        for wrt in names:
            for order in (1, 2):
                got = chaincli.compile(diff_text(text, wrt, order)).value(point) \
                    if order else None
                expected = value_at(sympy_derivative(reference, wrt, order), point)
                assert close(got, expected), (text, wrt, order, point, got, expected)


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_derivatives_match_sympy(text):
    reference = to_sympy(text)
    point = {k: v for k, v in CORPUS_POINT.items() if k in chaincli.compile(text).variables}
    for wrt in point:
        for order in (1, 2):
            formula = diff_text(text, wrt, order)
            got = chaincli.compile(formula).value(point)
            expected = value_at(sympy_derivative(reference, wrt, order), point)
            assert close(got, expected, 1e-8), (text, wrt, order, formula, got, expected)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_leaves=8), points())
def test_random_derivatives_match_sympy(text, point):
    expr = chaincli.compile(text)
    point = {k: v for k, v in point.items() if k in expr.variables}
    reference = to_sympy(text)
    for wrt in point:
        try:
            got = chaincli.compile(diff_text(text, wrt)).value(point)
        except DomainError:
            continue  # a generated expression may overflow at this point
        expected = value_at(sympy_derivative(reference, wrt), point)
        assert close(got, expected, 1e-7), (text, wrt, point, got, expected)


# ----- Round trip: eval(diff(f)) is the gradient -----

@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), points())
def test_eval_of_diff_equals_the_gradient(text, point):
    expr = chaincli.compile(text)
    point = {k: v for k, v in point.items() if k in expr.variables}
    try:
        gradient = expr.gradient(point).gradient
    except DomainError:
        return
    for wrt in point:
        formula = diff_text(text, wrt)
        try:
            got = chaincli.compile(formula).value(point)
        except DomainError:
            continue  # e.g. a partial that overflows where the product does not
        if math.isfinite(gradient[wrt]) and abs(gradient[wrt]) < 1e8:
            assert math.isclose(got, gradient[wrt], rel_tol=1e-9, abs_tol=1e-9), \
                (text, wrt, formula)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(expressions(), points())
def test_printed_expression_evaluates_like_the_original(text, point):
    tape = tape_of(text)
    printed = to_text(tape)
    expr = chaincli.compile(text)
    point = {k: v for k, v in point.items() if k in expr.variables}
    try:
        value = expr.value(point)
    except DomainError:
        return
    # The printer keeps the order of operations: the same value to the bit.
    assert chaincli.compile(printed).value(point) == value, (text, printed)


# ----- The formula itself -----

def test_sin_xy_gives_y_cos_xy():
    formula = diff_text("sin(x*y)", "x")
    assert formula == "cos(x*y)*y"
    assert close(chaincli.compile(formula).value({"x": 1.0, "y": 2.0}), 2 * math.cos(2.0))


@pytest.mark.parametrize("text, wrt, expected", [
    ("x*x", "x", "2*x"),
    ("x^3", "x", "3*x^2"),
    ("x*1 + 0*y", "x", "1"),
    ("x + y", "y", "1"),
    ("x - y", "y", "-1"),
    ("-(-x)", "x", "1"),
    ("x^1", "x", "1"),
    ("x^0 + y", "x", "0"),
    ("2*x + x", "x", "3"),
    ("cos(x)", "x", "-sin(x)"),
    ("exp(2*x)", "x", "2*exp(2*x)"),
    ("1/x", "x", "-1/x^2"),
    ("log(x)", "x", "1/x"),
    ("sin(y)", "x", "0"),
    ("u = x*y; sin(u) + u^2", "x", "u = x*y; cos(u)*y + 2*(u*y)"),
    ("u1 = x*y; u = exp(u1); u*u", "x", "u = exp(x*y); 2*(u*(u*y))"),
])
def test_simplified_forms(text, wrt, expected):
    assert diff_text(text, wrt) == expected


def test_no_double_minus_anywhere():
    for text in CORPUS + ["-(-(-x))*y - (-y)", "cos(-x)", "-x - -y"]:
        for wrt in chaincli.compile(text).variables:
            for order in (1, 2):
                formula = diff_text(text, wrt, order)
                assert "--" not in formula.replace(" ", ""), formula
                assert "+ -" not in formula and "+-" not in formula, formula


def test_higher_orders():
    assert diff_text("x^5", "x", 2) == "20*x^3"
    assert diff_text("x^5", "x", 5) == "120"
    assert diff_text("x^5", "x", 6) == "0"
    assert diff_text("sin(x)", "x", 4) == "sin(x)"


def test_shared_subexpressions_become_let_bindings():
    formula = diff_text("exp(x*y)/x", "x")
    assert formula.startswith("u1 = exp(x*y); ")
    assert formula.count("exp(") == 1


def test_let_names_avoid_the_variables():
    formula = diff_text("sin(u1*u2)^2", "u1")
    assert "u3 = " in formula and "u1 = " not in formula and "u2 = " not in formula
    point = {"u1": 0.3, "u2": 1.7}
    assert close(chaincli.compile(formula).value(point),
                 chaincli.compile("sin(u1*u2)^2").gradient(point).gradient["u1"])


# ----- No expression swell -----

def _nested(levels: int, step: str) -> str:
    text = "x"
    for _ in range(levels):
        text = step.replace("T", f"({text})")
    return text


@pytest.mark.parametrize("step", ["sin(T)*T + exp(-T^2)", "T*y + cos(T)/(1 + T^2)",
                                  "log(1 + T^2)*sqrt(2 + sin(T)) - T"])
def test_eight_level_nesting_stays_small(step):
    text = _nested(8, step)
    assert len(text) > 10_000  # the written expression repeats itself exponentially
    tape = tape_of(text)
    first = derivative(tape, "x")
    assert operation_count(first) < 300
    printed = to_text(first)
    assert len(printed) < 5_000
    # The printed text keeps the sharing: it parses back to a graph as small.
    assert operation_count(tape_of(printed)) <= operation_count(first) + 10
    point = {"x": 0.37, "y": 0.8}
    expected = chaincli.compile(text).gradient(point).gradient["x"]
    assert close(read_back(printed, point), expected)
    second = derivative(tape, "x", 2)
    assert operation_count(second) < 1000


def test_100000_deep_input_prints_and_differentiates():
    depth = 100_000
    tape = tape_of("sin(" * depth + "x" + ")" * depth)
    first = derivative(tape, "x")
    assert operation_count(first) < 3 * depth + 10
    text = to_text(first)
    assert text.startswith("u1 = sin(x); u2 = sin(u1); ")
    assert to_latex(first).startswith(r"u_{1} = \sin\left(x\right) \\")
    # A deep expression that prints inline (nothing shared), without recursion.
    nested = tape_of("-(" * depth + "x" + ")" * depth)
    assert to_text(simplified(nested)) == "x"
    inline = to_text(nested)
    assert inline.startswith("-(-(-(") and len(inline) == 3 * depth - 1


def test_a_deep_derivative_reads_back():
    depth = 2_000
    text = "sin(" * depth + "x" + ")" * depth
    formula = diff_text(text, "x")
    expected = chaincli.compile(text).gradient({"x": 0.5}).gradient["x"]
    assert close(chaincli.compile(formula).value({"x": 0.5}), expected)


# ----- Printing -----

@pytest.mark.parametrize("text, expected", [
    ("x - (y - z)", "x - (y - z)"),
    ("(x - y) - z", "x - y - z"),
    ("x + (y + z)", "x + (y + z)"),
    ("x/(y*z)", "x/(y*z)"),
    ("(x^y)^z", "(x^y)^z"),
    ("x^y^z", "x^y^z"),
    ("(-x)^2", "(-x)^2"),
    ("-x^2", "-x^2"),
    ("-(x*y)", "-(x*y)"),
    ("(-2)^x", "(-2)^x"),
    ("x^(-y)", "x^(-y)"),
    ("atan2(y, x + 1)", "atan2(y, x + 1)"),
    ("pow(x, 2)", "x^2"),
    ("2*pi*x", "2*pi*x"),
    ("1e-20*x + 1e20", "1e-20*x + 1e+20"),
])
def test_minimal_parentheses(text, expected):
    assert to_text(tape_of(text)) == expected
    assert to_text(tape_of(expected)) == expected


@pytest.mark.parametrize("text, wrt, expected", [
    ("sin(x*y)", "x", r"\cos\left(x y\right) y"),
    ("x^3", "x", "3 x^{2}"),
    ("1/x", "x", r"\frac{-1}{x^{2}}"),
    ("sqrt(x)", "x", r"\frac{1}{2 \sqrt{x}}"),
    ("exp(x)^2", "x", r"2 \left(e^{x}\right)^{2}"),
    ("(x + 1)^3", "x", r"3 \left(x + 1\right)^{2}"),
    ("3*2^x", "x", r"3 \left(2^{x} \ln\left(2\right)\right)"),
    ("x*2^y", "x", r"2^{y}"),
    ("theta_1^2 + pi", "theta_1", r"2 \theta_{1}"),
    ("x1^2 + speed*x1", "x1", r"2 x_{1} + \mathrm{speed}"),
])
def test_latex_shape(text, wrt, expected):
    assert to_latex(derivative(tape_of(text), wrt)) == expected


def test_latex_juxtaposition_before_a_number_is_a_cdot():
    assert to_latex(tape_of("x*2^y")) == r"x \cdot 2^{y}"
    assert to_latex(tape_of("x*y^2")) == "x y^{2}"


def test_latex_let_bindings_and_names():
    latex = to_latex(derivative(tape_of("speed*exp(speed*y)/y"), "speed"))
    assert latex.startswith(r"u_{1} = e^{\mathrm{speed} y} \\")


@pytest.mark.parametrize("prim", sorted(ELEMENTWISE.values(), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_every_primitive_prints_with_compound_arguments(prim):
    builder = ExpressionBuilder()
    x, y = builder.variable("x"), builder.variable("y")
    compound = [builder.apply("add", (x, y)), builder.apply("pow", (x, y))]
    tape = builder.finish(builder.apply(prim.name, compound[:prim.arity]))
    text = to_text(tape)
    point = {"x": 0.7, "y": 1.3}
    try:
        expected = chaincli.compile(text).value(point)
    except DomainError:
        expected = None
    if expected is not None:
        values = [point["x"] + point["y"], point["x"] ** point["y"]][:prim.arity]
        assert close(expected, prim.value(*values), 1e-12), text
    latex = to_latex(tape)
    assert latex.count("{") == latex.count("}"), latex
    assert latex.count(r"\left") == latex.count(r"\right"), latex
    assert "x + y" in latex
    assert prim.arity == 1 or "x^{y}" in latex


@pytest.mark.parametrize("name, shown", [("speed", r"\mathrm{speed}"), ("theta2", r"\theta_{2}"),
                                         ("x_1", "x_{1}")])
def test_latex_prints_user_bound_names_like_variables(name, shown):
    latex = to_latex(derivative(tape_of(f"{name} = x*x; {name}*sin({name})"), "x"))
    assert latex.startswith(shown + " = ")
