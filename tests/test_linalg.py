"""Linear algebra in the language: trace, det, logdet, inv, solve, diag, eye, amax, amin.

The rules themselves are checked against finite differences for every
primitive by tests/test_tensor_rules.py; here: the closed forms statistics
uses, the bad input (shapes, singular matrices) through the installed
command line, and the warnings.
"""

from __future__ import annotations

import numpy as np
import pytest

import chaincli
from clicheck import check_run, strict_json

S = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
X = np.array([[0.3, -1.2, 2.0], [1.5, 0.4, -0.7], [-0.2, 0.9, 0.1], [2.2, -0.3, 0.8]])
MU = np.array([0.1, 0.2, -0.3])
NLL = "R = X - mu; 0.5*4*logdet(S) + 0.5*sum(R * transpose(solve(S, transpose(R))))"


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_gaussian_negative_log_likelihood_has_the_textbook_gradient(mode):
    result = chaincli.compile(NLL).gradient({"S": S, "X": X, "mu": MU}, mode=mode,
                                            wrt=["S", "mu"])
    inverse = np.linalg.inv(S)
    r = X - MU
    expected_value = 0.5 * 4 * np.linalg.slogdet(S)[1] + 0.5 * np.sum(r @ inverse * r)
    assert result.value == pytest.approx(expected_value, rel=1e-12)
    expected_s = 0.5 * 4 * inverse - 0.5 * inverse @ r.T @ r @ inverse
    assert np.allclose(result.gradient["S"], expected_s, rtol=1e-10, atol=1e-12)
    assert np.allclose(result.gradient["mu"], -np.sum(r @ inverse, axis=0), rtol=1e-10)
    assert result.warnings == []


def test_values_agree_with_numpy():
    A = S + np.array([[0.0, 0.3, 0.0], [0.0, 0.0, -0.4], [0.1, 0.0, 0.0]])
    b = np.array([1.0, -2.0, 0.5])
    point = {"A": A, "b": b}
    assert chaincli.compile("trace(A)").value(point) == pytest.approx(np.trace(A))
    assert chaincli.compile("det(A)").value(point) == pytest.approx(np.linalg.det(A))
    assert np.allclose(chaincli.compile("inv(A)").value(point), np.linalg.inv(A))
    assert np.allclose(chaincli.compile("solve(A, b)").value(point), np.linalg.solve(A, b))
    assert np.allclose(chaincli.compile("solve(A, A)").value(point), np.eye(3))
    assert np.array_equal(chaincli.compile("diag(b)").value(point), np.diag(b))
    assert np.array_equal(chaincli.compile("diag(A)").value(point), np.diag(A))
    assert np.array_equal(chaincli.compile("eye(3) + 0*A").value(point), np.eye(3))
    assert np.array_equal(chaincli.compile("amax(A, 0)").value(point), A.max(axis=0))
    assert chaincli.compile("amin(b)").value(point) == -2.0


def test_logdet_of_a_large_matrix_does_not_overflow():
    # det(200 * I) = 200**200 overflows a double; its log is 200*log(200).
    point = {"S": 200.0 * np.eye(200)}
    assert chaincli.compile("logdet(S)").value(point) == pytest.approx(200 * np.log(200.0))


def test_det_has_a_gradient_at_a_singular_matrix():
    # The gradient of det is the cofactor matrix, which exists where inv does not.
    result = chaincli.compile("det(A)").gradient({"A": np.array([[1.0, 2.0], [2.0, 4.0]])})
    assert result.value == pytest.approx(0.0, abs=1e-15)
    assert np.allclose(result.gradient["A"], [[4.0, -2.0], [-2.0, 1.0]])


def test_amax_sends_its_gradient_to_the_largest_element():
    result = chaincli.compile("sum(amax(A, 1))").gradient(
        {"A": np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])})
    assert np.array_equal(result.gradient["A"], [[0, 1, 0], [1, 0, 0]])
    assert result.warnings == []


def grad_json(run, expr, at, *extra):
    code, out, err = run("grad", expr, "--at", at, "--json", *extra)
    check_run(code, out, err, json_output=True)
    return code, strict_json(out) if out else None, err


@pytest.mark.parametrize("expr, at, message", [
    ("trace(A)", "A=[[1,2,3],[4,5,6]]", "trace(A): trace takes a square matrix, not shape (2, 3)"),
    ("logdet(v)", "v=[1,2]", "logdet(v): logdet takes a square matrix, not shape (2,)"),
    ("sum(inv(A))", "A=[[1,2],[3,4]],B=[1]", None),
    ("sum(solve(A, b))", "A=[[1,2],[3,4]],b=[1,2,3]",
     "solve(A, b): shapes (2, 2) and (3,) do not align: the right-hand side must have shape "
     "(2,) or (2, k)"),
    ("sum(eye(2.5)*A)", "A=[[1,2],[3,4]]", "eye(n) takes n as a whole-number literal such as 3"),
    ("sum(eye(0)*A)", "A=[[1,2],[3,4]]", "eye(0): eye(n) takes a size of at least 1, not 0"),
    ("sum(eye()*A)", "A=[[1,2],[3,4]]", "eye(): eye(n) takes its size n"),
    ("sum(eye(n)*A)", "A=[[1,2],[3,4]],n=2", "eye(n) takes n as a whole-number literal"),
])
def test_bad_shapes_are_usage_errors_with_a_caret(run, expr, at, message):
    code, out, err = grad_json(run, expr, at)
    if message is None:  # an unused value is only a warning
        assert code == 0
        return
    assert code == 2 and out is None
    assert err.startswith("Error: " + message), err
    assert "^" in err


@pytest.mark.parametrize("expr, at, message", [
    ("logdet(S)", "S=[[1,2],[2,1]]", "logdet(S): the determinant is not positive"),
    ("logdet(S)", "S=[[1,2],[2,4]]", "logdet(S): S is singular"),
    ("sum(solve(A, b))", "A=[[1,2],[2,4]],b=[1,1]", "solve(A, b): A is singular"),
    ("sum(solve(A, B))", "A=[[1,2],[2,4]],B=[[1,0],[0,1]]", "solve(A, B): A is singular"),
    ("sum(inv(A + B))", "A=[[1,0],[0,0]],B=[[0,0],[0,0]]", "inv(A + B): A + B is singular"),
])
def test_singular_matrices_are_domain_errors_naming_the_operation(run, expr, at, message):
    for mode in ("reverse", "forward"):
        code, out, err = grad_json(run, expr, at, "--mode", mode)
        assert code == 1 and out is None
        assert err.splitlines()[0] == "Error: " + message
        assert "LinAlgError" not in err and "Traceback" not in err


def test_an_ill_conditioned_matrix_answers_with_a_warning(run):
    code, result, err = grad_json(run, "sum(solve(A, b))",
                                  "A=[[1,2],[1,2.000000000001]],b=[1,1]")
    assert code == 0
    kinds = [w["kind"] for w in result["warnings"]]
    assert kinds == ["ill-conditioned"]
    assert result["warnings"][0]["message"].startswith("solve(A, b): A is ill-conditioned")
    assert "Warning: solve(A, b): A is ill-conditioned" in err
    code, result, err = grad_json(run, "sum(solve(A, b))", "A=[[2,1],[1,2]],b=[1,1]")
    assert result["warnings"] == [] and "Warning" not in err


def test_a_tie_for_the_maximum_is_a_kink(run):
    code, result, err = grad_json(run, "amax(x)", "x=[1,3,3]")
    assert code == 0
    assert result["gradient"]["x"] == [0.0, 1.0, 0.0]
    assert [w["kind"] for w in result["warnings"]] == ["kink"]
    assert "amax has a tie for the largest element" in result["warnings"][0]["message"]


def test_expanding_a_factorization_element_by_element_is_refused(run):
    code, out, err = run("hessian", "logdet(S)", "--at", "S=[[2,1],[1,2]]")
    assert code == 2 and out == ""
    assert err.startswith("Error: logdet(S): logdet cannot be expanded element by element")
    # trace, diag and amax expand: their Hessian is computed.
    code, out, err = run("hessian", "trace(S@S) + amax(diag(S))", "--at", "S=[[2,1],[1,3]]",
                         "--json")
    assert code == 0, err
    assert strict_json(out)["hessian"]


def test_the_backward_table_prints_the_rules(run):
    code, out, err = run("grad", "logdet(S) + sum(solve(S, b))", "--at",
                         "S=[[2,1],[1,2]],b=[1,1]", "--json")
    assert code == 0, err
    rules = {node["op"]: [rule["text"] for rule in node["rules"]]
             for node in strict_json(out)["chain"]["nodes"]}
    assert rules["logdet"] == ["δS += δv1*inv(S)'"]
    assert rules["solve"] == ["δS = -outer(solve(S', δv3), v3)", "δb = solve(S', δv3)"]
    # --explain paths expands element by element, which a factorization cannot.
    code, out, err = run("grad", "logdet(S)", "--at", "S=[[2,1],[1,2]]", "--explain", "paths")
    assert code == 2 and out == ""
    assert "cannot be expanded element by element" in err


def test_check_agrees_with_finite_differences(run):
    code, out, err = run("check", "logdet(S) + sum(solve(S, b)) + det(S) + trace(inv(S))",
                         "--at", "S=[[2,1],[1,3]],b=[1,2]", "--json")
    assert code == 0, err
    assert strict_json(out)


A = np.array([[1.0, 2.0, 0.5], [3.0, 4.0, -1.0]])


@pytest.mark.parametrize("text, expected", [
    ("A'", A.T),
    ("2*A'", 2 * A.T),
    ("A' @ A", A.T @ A),
    ("A'[0, 1]", A.T[0, 1]),
    ("(A @ A')'", (A @ A.T).T),
    ("A''", A),
    ("A'^2", A.T ** 2),
])
def test_a_quote_is_the_postfix_transpose(text, expected):
    assert np.array_equal(chaincli.compile(text).value({"A": A}), expected)


def test_quadratic_form_written_with_the_postfix_transpose(run):
    code, result, err = grad_json(run, "x'@M@x", "x=[1,2],M=[[1,2],[3,4]]")
    assert code == 0
    assert result["gradient"]["x"] == [12.0, 21.0]  # (M + M') x
    code, out, err = run("grad", "'x", "--at", "x=1")
    assert code == 2 and err.startswith("Error: unexpected \"'\"")


def test_a_matrix_changed_in_place_is_factored_anew():
    # The inverses the rules share are found by value: the same array object,
    # changed between two evaluations, gets its own inverse and warning.
    expr = chaincli.compile("logdet(S) + sum(solve(S, b))")
    s = S.copy()
    b = np.array([1.0, -2.0, 0.5])
    first = expr.gradient({"S": s, "b": b}, wrt=["S", "b"])
    s[0, 0] = 9.0
    second = expr.gradient({"S": s, "b": b}, wrt=["S", "b"])
    inverse = np.linalg.inv(s)
    np.testing.assert_allclose(second.gradient["S"],
                               inverse.T - np.outer(inverse.T @ np.ones(3), inverse @ b),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(second.gradient["b"], inverse.T @ np.ones(3), rtol=1e-12)
    assert not np.allclose(first.gradient["S"], second.gradient["S"])
    s[:] = [[1, 2, 0], [1, 2.000000000001, 0], [0, 0, 1]]
    third = expr.gradient({"S": s, "b": b}, wrt=["S", "b"])
    assert any("ill-conditioned" in n.message for n in third.warnings)


def test_solve_with_many_columns_is_answered_for_the_matrix_it_is_given():
    # As many right-hand sides as rows are answered by the shared inverse:
    # a matrix changed in place, or another of the same shape, is inverted
    # anew, never answered from the one before.
    expr = chaincli.compile("sum(solve(A, B) * C)")
    rng = np.random.default_rng(1)
    b, c = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    a = S.copy()
    for change in (None, (0, 0, 9.0), (1, 2, -0.7), (2, 1, 0.3)):
        if change:
            a[change[:2]] = change[2]
        result = expr.gradient({"A": a, "B": b, "C": c}, wrt=["A", "B"])
        x = np.linalg.solve(a, b)
        np.testing.assert_allclose(expr.value({"A": a, "B": b, "C": c}), np.sum(x * c),
                                   rtol=1e-13)
        gb = np.linalg.solve(a.T, c)
        np.testing.assert_allclose(result.gradient["B"], gb, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(result.gradient["A"], -gb @ x.T, rtol=1e-12, atol=1e-14)
        assert result.warnings == []
    other = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    np.testing.assert_allclose(chaincli.compile("solve(A, B)").value({"A": other, "B": b}),
                               np.linalg.solve(other, b), rtol=1e-12, atol=1e-14)


def test_a_poorly_conditioned_solve_is_left_to_lu():
    # Past a condition number of 1e3 the inverse's product loses more digits
    # than LU: the value is then LU's own, to the last bit.
    a = np.array([[1.0, 2.0], [1.0, 2.0001]])    # condition about 1e5
    b = np.array([[1.0, 0.5, -1.0], [2.0, 0.0, 3.0]])
    point = {"A": a, "B": b}
    assert np.array_equal(chaincli.compile("solve(A, B)").value(point), np.linalg.solve(a, b))
    result = chaincli.compile("sum(solve(A, B))").gradient(point, wrt=["A", "B"])
    assert result.warnings == []
    np.testing.assert_allclose(result.gradient["B"],
                               np.linalg.solve(a.T, np.ones((2, 3))), rtol=1e-10)


def test_an_ill_conditioned_matrix_warns_for_many_right_hand_sides(run):
    code, result, err = grad_json(run, "sum(solve(A, B))",
                                  "A=[[1,2],[1,2.000000000001]],B=[[1,0,1],[1,1,0]]")
    assert code == 0
    assert [w["kind"] for w in result["warnings"]] == ["ill-conditioned"]
    assert result["warnings"][0]["message"].startswith("solve(A, B): A is ill-conditioned")


def test_a_quadratic_form_gradient_equals_the_general_rule():
    # sum(R' * solve(S, R')) sends solve a multiple of its own right-hand side,
    # which the rule answers from the forward sweep: the same numbers as the
    # general rule (here forced by a right-hand side that differs from R').
    point = {"S": S, "X": X, "mu": MU}
    quadratic = chaincli.compile("R = X - mu; 0.5*sum(R' * solve(S, R'))")
    general = chaincli.compile("R = X - mu; 0.5*sum(R' * solve(S, R' + 0*R'))")
    for mode in ("reverse", "forward"):
        a = quadratic.gradient(point, wrt=["S", "mu"], mode=mode)
        b = general.gradient(point, wrt=["S", "mu"], mode=mode)
        for name in ("S", "mu"):
            np.testing.assert_allclose(a.gradient[name], b.gradient[name], rtol=1e-12,
                                       atol=1e-14)


def test_the_sweep_tells_solve_its_adjoint_is_a_multiple_without_comparing(monkeypatch):
    # In c*sum(R' * solve(S, R')) with |c| <= 1, the adjoint reaching solve is
    # c times its right-hand side by construction: the sweep says so, and the
    # rule never compares the two arrays element by element (_multiple_of).
    from chaincli.primitives import linalg

    point = {"S": S, "X": X, "mu": MU}
    expected = {}
    for c in (0.5, -1.0, 3.0):
        text = f"R = X - mu; {c}*sum(R' * solve(S, R'))"
        expected[c] = chaincli.compile(text).gradient(point, wrt=["S", "mu"])

    def compared(g, b):
        raise AssertionError("the adjoint was compared with the right-hand side")

    monkeypatch.setattr(linalg, "_multiple_of", compared)
    inverse = np.linalg.inv(S)
    residuals = (X - MU).T
    for c in (0.5, -1.0):
        text = f"R = X - mu; {c}*sum(R' * solve(S, R'))"
        result = chaincli.compile(text).gradient(point, wrt=["S", "mu"])
        z = inverse @ residuals
        np.testing.assert_allclose(result.gradient["mu"], -2 * c * z.sum(axis=1), rtol=1e-12)
        np.testing.assert_allclose(result.gradient["S"], -c * z @ z.T, rtol=1e-12, atol=1e-14)
        for name in ("S", "mu"):
            assert np.array_equal(result.gradient[name], expected[c].gradient[name])
    # Past |c| = 1 the product might overflow, so the sweep claims nothing.
    with pytest.raises(AssertionError, match="compared"):
        chaincli.compile("R = X - mu; 3.0*sum(R' * solve(S, R'))").gradient(point)


def test_minimize_fits_a_gaussian_mean_and_covariance_by_lbfgs(cli, tmp_path):
    # The maximum-likelihood fit is the sample mean and the (1/N) sample
    # covariance. The data are scaled so that the log-likelihood at its
    # maximum is near 0 (det C = e^-n): L-BFGS-B's line search then resolves
    # the minimum far below 1e-8 instead of stalling on the loss's last digits.
    rng = np.random.default_rng(0)
    data = rng.multivariate_normal([1.0, -2.0], [[2.0, 0.6], [0.6, 0.5]], size=30)
    data *= (np.exp(-2) / np.linalg.det(np.cov(data.T, bias=True))) ** 0.25
    path = tmp_path / "X.csv"
    np.savetxt(path, data, delimiter=",", fmt="%.17g")
    loss = ("S = L @ L' + 1e-6*eye(2); R = X - mu; "
            "0.5*30*logdet(S) + 0.5*sum(R * solve(S, R')')")
    code, out, err = cli("minimize", loss, "--wrt", "mu,L", "--at", f"X=@{path}",
                         "--at", "mu=[0,0],L=[[1,0],[0,1]]", "--method", "lbfgs",
                         "--tol", "1e-12", "--json")
    assert code == 0, err
    fit = strict_json(out)
    assert fit["warnings"] == []
    L = np.array(fit["parameters"]["L"])
    np.testing.assert_allclose(fit["parameters"]["mu"], data.mean(axis=0), rtol=0, atol=1e-8)
    np.testing.assert_allclose(L @ L.T + 1e-6 * np.eye(2), np.cov(data.T, bias=True),
                               rtol=0, atol=1e-8)


@pytest.mark.parametrize("at, words", [
    ("A=[[1e-200,0],[0,1e-200]],b=[1e200,1]", "the solution overflows a double"),
    ("A=[[1,2],[2,4]],b=[1,1]", "A is singular"),
])
def test_solve_tells_an_overflow_from_a_singular_matrix(run, at, words):
    code, out, err = run("eval", "solve(A, b)", "--at", at)
    assert code == 1 and out == ""
    assert f"solve(A, b): {words}" in err and "Traceback" not in err
