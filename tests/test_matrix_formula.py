"""diff of tensor expressions: the gradient as a matrix formula reads back as grad's.

Each formula is evaluated with chaincli's own evaluator and compared with the
reverse sweep's gradient at random points; its shape is the variable's. The
Matrix Cookbook's first-derivative identities are checked for value and for
size (at most twice the Cookbook formula's operations).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from chaincli.base.errors import DomainError, UsageError
from chaincli.calculus.derivatives import differentiate, hessian
from chaincli.calculus.matrix_formula import Refusal
from chaincli.engine.program import compile_expression
from chaincli.symbolic import operation_count


def _point(rng, n, m):
    s = rng.normal(size=(n, n))
    return {"X": rng.normal(size=(m, n)), "w": rng.normal(size=n), "y": rng.normal(size=m),
            "A": rng.normal(size=(n, n)), "x": rng.normal(size=n), "a": rng.normal(size=n),
            "b": rng.normal(size=n), "S": s @ s.T + n * np.eye(n), "t": rng.random(size=n),
            "c": rng.normal(size=n)}


# A factorization (logdet, det, solve, inv) is computed another way by the formula
# than by the sweep (inv(M) against M's LU), so the two differ by M's condition
# number times the rounding, which the random points can make large.
FACTORIZATIONS = ("det(", "solve(", "inv(")


def _well_conditioned(result, limit=1e6):
    """Every matrix a factorization takes at this point has condition number below
    ``limit``: past it the formula's inv(M) and the sweep's LU of M may disagree
    by more than any tolerance says about the rule."""
    evaluation = result.evaluation
    tape = evaluation.tape
    for i, op in enumerate(tape.ops):
        if op in ("det", "logdet", "inv", "solve"):
            if np.linalg.cond(evaluation.values[tape.args[i][0]]) > limit:
                return False
    return True


def _tolerance(expression, exact=1e-12, factorized=1e-6):
    return factorized if any(f in expression for f in FACTORIZATIONS) else exact


def _check(expression, wrt, point, rtol=1e-12):
    program = compile_expression(expression)
    used = {k: v for k, v in point.items() if k in program.variables}
    result = differentiate(program, wrt, 1, used)
    formula = compile_expression(result.text)
    value = np.asarray(formula.value({k: v for k, v in used.items()
                                      if k in formula.variables}), dtype=float)
    expected = np.asarray(program.gradient(used, wrt=[wrt]).gradient[wrt], dtype=float)
    assert value.shape == np.shape(point[wrt]) == result.shape
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=rtol * max(1.0, np.abs(expected).max()))
    return result


INNER = ["tanh({v})", "sin({v})", "{v}^2", "3*{v}", "{v} + c", "A@{v}", "A'@{v}", "{v} - x",
         "softmax({v})", "log(1 + {v}^2)", "S@{v}*{v}", "solve(S, {v})", "inv(S)@{v}",
         "exp({v}/4)"]
OUTER = ["sum({v})", "sum({v}^2)", "{v}'@A@{v}", "logsumexp({v})", "norm({v}) + 1",
         "-sum(t*logsoftmax({v}))", "-sum(t*log(softmax({v})))", "a'@{v}",
         "trace(outer({v}, a)@A)", "logdet(S + outer({v}, {v}))", "det(A + outer({v}, b))"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(INNER), max_size=4), st.sampled_from(OUTER),
       st.sampled_from(["x", "A", "c", "S"]), st.integers(1, 4), st.integers(0, 2**31))
def test_random_tensor_expressions_read_back_as_the_gradient(inner, outer, wrt, n, seed):
    expression, wrt, point = random_case(inner, outer, wrt, n, seed)
    _check(expression, wrt, point, _tolerance(expression))


def random_case(inner, outer, wrt, n, seed):
    """The expression the drawn pieces make, the variable (x when it lacks the one
    drawn) and a point; a point where the comparison means nothing is rejected
    with ``assume``: outside the domain, at a kink (norm(x - x), where grad takes 0
    by convention) or at an ill-conditioned matrix."""
    v = "x"
    for piece in inner:
        v = piece.format(v=f"({v})")
    expression = outer.format(v=f"({v})")
    program = compile_expression(expression)
    if wrt not in program.variables:
        wrt = "x"
    point = _point(np.random.default_rng(seed), n, n + 1)
    try:
        swept = program.gradient({k: v for k, v in point.items() if k in program.variables})
    except DomainError:
        assume(False)
    assume(not swept.warnings)
    assume(_well_conditioned(swept))
    return expression, wrt, point


# (expression, variable, the Cookbook's formula)
COOKBOOK = [
    ("x'@a", "x", "a"),
    ("a'@x", "x", "a"),
    ("x'@A@x", "x", "(A + A')@x"),
    ("trace(A@S)", "S", "A'"),
    ("trace(S'@A)", "S", "A"),
    ("logdet(S)", "S", "inv(S)'"),
    ("det(S)", "S", "det(S)*inv(S)'"),
    ("a'@inv(S)@b", "S", "-inv(S)'@outer(a, b)@inv(S)'"),
    ("sum((X@w - y)^2)", "w", "2*X'@(X@w - y)"),
    ("-sum(t*log(softmax(x)))", "x", "softmax(x)*sum(t) - t"),
]


@pytest.mark.parametrize("expression, wrt, cookbook", COOKBOOK)
def test_cookbook_identities(expression, wrt, cookbook):
    rng = np.random.default_rng(7)
    point = _point(rng, 3, 4)
    result = _check(expression, wrt, point)
    book = compile_expression(cookbook)
    book_value = book.value({k: v for k, v in point.items() if k in book.variables})
    program = compile_expression(expression)
    expected = program.gradient({k: v for k, v in point.items() if k in program.variables},
                                wrt=[wrt]).gradient[wrt]
    np.testing.assert_allclose(book_value, expected, rtol=1e-10)
    assert operation_count(result.tape) <= 2 * operation_count(book.tape)


def test_textbook_forms():
    point = _point(np.random.default_rng(1), 3, 4)
    assert _check("sum((X@w - y)^2)", "w", point).text == "2*(X'@(X@w - y))"
    assert _check("x'@A@x", "x", point).text == "(A' + A)@x"
    assert _check("-sum(t*log(softmax(x)))", "x", point).text == "softmax(x)*sum(t) - t"
    assert _check("logdet(S)", "S", point).text == "inv(S)'"


def test_bias_gets_its_sum_and_json_carries_shape(run):
    code, out, err = run("diff", "sum(tanh(X@W + b))", "--wrt", "b", "--json",
                         "--at", "X=[[1,2],[3,4],[5,6]],W=[[1,2],[3,4]],b=[1,2]")
    assert code == 0, err
    import json
    data = json.loads(out)
    assert data["derivative"] == "sum(1 - tanh(X@W + b)^2, 0)"
    assert data["shape"] == [2] and data["bindings"] == {}


@pytest.mark.parametrize("args", [
    ("sum(A[0])", "--wrt", "A", "--at", "A=[[1,2],[3,4]]"),
    ("sum(X, 1)@v", "--wrt", "X", "--at", "X=[[1,2],[3,4]],v=[1,2]"),
    ("sum(X@w)", "--wrt", "w"),
])
def test_refusals_are_one_error_line(run, args):
    code, out, err = run("diff", *args)
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and "Traceback" not in err


def _check_hessian(expression, point):
    program = compile_expression(expression)
    used = {k: v for k, v in point.items() if k in program.variables}
    result = differentiate(program, "x", 2, used)
    formula = compile_expression(result.text)
    value = np.asarray(formula.value({k: v for k, v in used.items()
                                      if k in formula.variables}), dtype=float)
    n = len(point["x"])
    assert value.shape == result.shape == (n, n)
    try:
        expected = np.asarray(hessian(program, used, wrt=["x"]).hessian, dtype=float)
        tolerance = _tolerance(expression, exact=1e-9)
    except UsageError:  # logdet, det, solve: hessian expands elements, which they are not
        expected = _gradient_differences(program, used)
        tolerance = 1e-5
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(value, expected, rtol=tolerance, atol=tolerance * scale)
    return result


def _gradient_differences(program, point, step=1e-5):
    """The Hessian's columns as central differences of grad's gradient."""
    columns = []
    for j in range(len(point["x"])):
        shifted = []
        for sign in (1, -1):
            moved = dict(point, x=point["x"] + sign * step * np.eye(len(point["x"]))[j])
            shifted.append(np.asarray(program.gradient(moved, wrt=["x"]).gradient["x"]))
        columns.append((shifted[0] - shifted[1]) / (2 * step))
    return np.array(columns).T


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(INNER), max_size=3), st.sampled_from(OUTER),
       st.integers(1, 4), st.integers(0, 2**31))
def test_random_hessians_read_back_as_hessians_numbers(inner, outer, n, seed):
    v = "x"
    for piece in inner:
        v = piece.format(v=f"({v})")
    expression = outer.format(v=f"({v})")
    program = compile_expression(expression)
    point = _point(np.random.default_rng(seed), n, n + 1)
    try:
        first = program.gradient({k: v for k, v in point.items() if k in program.variables},
                                 wrt=["x"])
    except DomainError:
        assume(False)
    assume(not first.warnings)  # at a kink (norm(x - x)) there is no Hessian to compare
    assume(_well_conditioned(first))
    try:
        _check_hessian(expression, point)
    except Refusal as refusal:  # a matrix that moves with x has a 3-axis derivative
        assert "outer(" in expression and "three axes" in str(refusal)


# (expression, the Cookbook's Hessian)
COOKBOOK_HESSIANS = [
    ("x'@A@x", "A + A'"),
    ("x'@inv(S)@x", "inv(S) + inv(S)'"),
    ("sum((X@x - y)^2)", "2*X'@X"),
    ("a'@x", "0*eye(3)"),
    ("logsumexp(x)", "diag(softmax(x)) - outer(softmax(x), softmax(x))"),
    ("sum(tanh(A@x + b))", "A'@diag(-2*tanh(A@x + b)*(1 - tanh(A@x + b)^2))@A"),
]


@pytest.mark.parametrize("expression, cookbook", COOKBOOK_HESSIANS)
def test_hessians_in_textbook_form(expression, cookbook):
    point = _point(np.random.default_rng(3), 3, 4)
    point["X"] = point["X"][:, :3]
    result = _check_hessian(expression, point)
    book = compile_expression(cookbook)
    assert operation_count(result.tape) <= 2 * operation_count(book.tape)


def test_hessian_forms():
    point = _point(np.random.default_rng(1), 3, 4)
    assert _check_hessian("x'@A@x", point).text == "A + A'"
    assert _check_hessian("logsumexp(x)", point).text == "u1 = softmax(x); diag(u1) - outer(u1, u1)"


@pytest.mark.parametrize("args, words", [
    (("x'@A@x", "--wrt", "A", "--order", "2", "--at", "A=[[1,2],[3,4]],x=[1,2]"), "4 axes"),
    (("sum(x)^2", "--wrt", "x", "--order", "3", "--at", "x=[1,2]"), "not 3"),
])
def test_hessian_refusals_point_at_hessian(run, args, words):
    code, out, err = run("diff", *args)
    assert code == 2 and out == ""
    assert words in err and "chaincli hessian" in err


def test_steps_of_a_tensor_expression_end_in_the_formula(run):
    at = ["--at", "X=[[1,2],[3,4]],w=[1,2],y=[1,2]"]
    code, plain, err = run("diff", "sum((X@w - y)^2)", "--wrt", "w", *at)
    assert code == 0, err
    code, out, err = run("diff", "sum((X@w - y)^2)", "--wrt", "w", "--steps", "--json", *at)
    assert code == 0, err
    import json
    data = json.loads(out)
    assert data["derivative"] == plain.strip() == "2*(X'@(X@w - y))"
    assert [step["expression"] for step in data["steps"]] == ["2*u1", "X'@δu1"]

@pytest.mark.parametrize("expression, wrt, at, latex", [
    ("h = tanh(W1@x + b1); -sum(t*logsoftmax(W2@h))", "W1",
     "W1=[[1,2],[3,4]],x=[1,2],b1=[0,1],W2=[[1,0],[0,1]],t=[0,1]",
     r"\left(W_{2}^{\top} \left(\operatorname{softmax}\left(W_{2} h\right) "
     r"\left(\mathbf{1}^{\top} t\right) - t\right) \odot \left(1 - h^{2}\right)\right) x^{\top}"),
    ("sum(tanh(X@W + b))", "b", "X=[[1,2],[3,4],[5,6]],W=[[1,1],[2,2]],b=[1,2]",
     r"\left(1 - \tanh\left(X W + b\right)^{2}\right)^{\top} \mathbf{1}"),
    ("a'@inv(S)@b", "S", "S=[[2,1],[1,2]],a=[1,2],b=[1,1]",
     r"-\left(u_{1} \left(a b^{\top}\right) u_{1}\right)"),
    ("sum(S@x*x)", "x", "x=[1,2],S=[[2,1],[1,2]]", r"\left(S + S^{\top}\right) x"),
    ("sum(solve(S, x))", "x", "x=[1,2],S=[[2,1],[1,2]]", r"\left(S^{\top}\right)^{-1} \mathbf{1}"),
])
def test_latex_is_in_matrix_notation(run, expression, wrt, at, latex):
    code, out, err = run("diff", expression, "--wrt", wrt, "--at", at, "--format", "latex")
    assert code == 0, err
    assert out.strip().split(" \\\\\n")[-1] == latex
