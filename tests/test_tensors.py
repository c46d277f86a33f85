"""Tensors end to end: the language, the engine against independent oracles, errors.

Oracles: a backward pass written by hand in NumPy for a two-layer network,
central finite differences, and the element-by-element expansion of the same
tape run through the scalar sweeps.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import chaincli
from chaincli.calculus import derivatives as calculus
from chaincli.engine.scalar import evaluate
from chaincli.base.errors import DomainError, ParseError, ShapeError, UsageError
from chaincli.engine.scalar.reverse import adjoint_sweep
from chaincli.engine.tensor.scalarize import scalarize
from chaincli.engine.tensor.program import shapes_at

NETWORK = "h = tanh(W1 @ x + b1); p = softmax(W2 @ h + b2); -sum(t * log(p))"


def network_point(seed: int, sizes=(3, 4, 2)):
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = sizes
    t = np.zeros(n_out)
    t[rng.integers(n_out)] = 1.0
    return {"W1": rng.normal(size=(n_hidden, n_in)), "b1": rng.normal(size=n_hidden),
            "W2": rng.normal(size=(n_out, n_hidden)), "b2": rng.normal(size=n_out),
            "x": rng.normal(size=n_in), "t": t}


def hand_backprop(point):
    """The textbook backward pass of the network, written out in NumPy."""
    W1, b1, W2, b2, x, t = (point[k] for k in ("W1", "b1", "W2", "b2", "x", "t"))
    h = np.tanh(W1 @ x + b1)
    z = W2 @ h + b2
    p = np.exp(z - z.max())
    p /= p.sum()
    loss = -np.sum(t * np.log(p))
    dz = p * t.sum() - t  # softmax followed by cross-entropy
    dh = W2.T @ dz
    da = dh * (1 - h ** 2)
    return loss, {"W1": np.outer(da, x), "b1": da, "W2": np.outer(dz, h), "b2": dz}


@pytest.mark.parametrize("seed", range(5))
def test_network_gradient_equals_hand_written_backprop(seed):
    point = network_point(seed, sizes=(3 + seed, 5, 2 + seed % 3))
    result = chaincli.compile(NETWORK).gradient(point, wrt=["W1", "b1", "W2", "b2"])
    loss, expected = hand_backprop(point)
    assert math.isclose(result.value, loss, rel_tol=1e-12)
    for name, gradient in expected.items():
        assert result.gradient[name].shape == point[name].shape
        np.testing.assert_allclose(result.gradient[name], gradient, rtol=1e-10, atol=1e-13)


EXPRESSIONS = [
    NETWORK,
    "z = W2 @ tanh(W1 @ x + b1) + b2; logsumexp(z) - z[1]",
    "mean((W1 @ x - b1)^2) + norm(W1) + sum(outer(x, b1) * transpose(W1))",
    "sum(logsoftmax(W1) * W1, 0) @ x + [b1[0], x[-1]] @ [1, 2] + sum(W1, 1) @ b1",
    "sum(relu(W1 @ x) + sigmoid(b1) * softplus(b1)) / 3 + dot(x, x) * mean(W2)",
    "sum(max(W1, 0.1) * min(x, 0.2) + W1^2 / (1 + x^2)) + sum(exp(-b1) * sqrt(b1^2 + 1))",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
@pytest.mark.parametrize("seed", range(3))
def test_forward_reverse_and_the_element_expansion_agree(text, seed):
    expr = chaincli.compile(text)
    point = {k: v for k, v in network_point(seed, sizes=(3, 4, 2)).items()
             if k in expr.variables}
    reverse = expr.gradient(point)
    forward = expr.gradient(point, mode="forward")
    tape, flat = scalarize(expr.tape, shapes_at(expr.tape, point), point)
    values = evaluate.primal(tape, flat)
    adjoints = adjoint_sweep(tape, evaluate.local_partials(tape, values))
    assert math.isclose(values[tape.output], reverse.value, rel_tol=1e-13, abs_tol=1e-13)
    for name in expr.variables:
        got = np.atleast_1d(reverse.gradient[name]).ravel()
        np.testing.assert_allclose(np.atleast_1d(forward.gradient[name]).ravel(), got,
                                   rtol=1e-11, atol=1e-13)
        labels = [v for v in tape.variables if v == name or v.startswith(name + "[")]
        expanded = np.array([adjoints[tape.variable_index[v]] for v in labels])
        np.testing.assert_allclose(expanded, got, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("seed", range(4))
def test_check_agrees_on_random_networks(seed):
    point = network_point(10 + seed, sizes=(2 + seed, 3 + seed, 2 + seed))
    result = calculus.check_gradient(chaincli.compile(NETWORK), point)
    assert result.agree, [row.to_dict() for row in result.rows]
    assert {row.variable.split("[")[0] for row in result.rows} == set(point)
    row = next(r for r in result.rows if r.variable.startswith("W1"))
    assert row.checked == row.size == point["W1"].size


def test_check_samples_large_variables_and_reports_the_worst_element():
    rng = np.random.default_rng(3)
    point = {"W": rng.normal(size=(30, 20)), "x": rng.normal(size=20)}
    result = calculus.check_gradient(chaincli.compile("sum(tanh(W @ x))"), point)
    row = next(r for r in result.rows if r.variable.startswith("W["))
    assert row.checked == calculus.CHECK_SAMPLE and row.size == 600
    assert result.agree and row.to_dict()["elements_checked"] == calculus.CHECK_SAMPLE


def test_check_says_how_many_elements_the_worst_was_picked_from():
    import io

    from chaincli.render.calculus import plain_check, print_check
    from chaincli.render.table import make_console
    rng = np.random.default_rng(3)
    point = {"W": rng.normal(size=(30, 20)), "x": rng.normal(size=20), "c": 0.5}
    result = calculus.check_gradient(chaincli.compile("sum(tanh(W @ x)) * c"), point)
    lines = {line.split(" ")[0].split("[")[0]: line for line in plain_check(result).splitlines()}
    assert lines["W"].endswith(" ok worst of 200, a sample of 600")
    assert lines["x"].endswith(" ok worst of 20")
    assert lines["c"].endswith(" ok")  # one element: nothing to pick from
    buffer = io.StringIO()
    print_check(result, make_console(buffer, width=160))
    table = buffer.getvalue()
    assert "W[" in table and ": worst of 200, a sample of 600" in table
    assert re.search(r"x\[[0-9]+\]: worst of 20\b", table)
    data = {row["variable"].split("[")[0]: row for row in result.to_dict()["variables"]}
    assert (data["W"]["elements_checked"], data["W"]["elements"]) == (200, 600)
    assert (data["x"]["elements_checked"], data["x"]["elements"]) == (20, 20)


def test_check_catches_a_wrong_rule(monkeypatch):
    """A softmax rule that forgets the Jacobian's off-diagonal part fails the check."""
    from chaincli.primitives import PRIMITIVES
    wrong = PRIMITIVES["softmax"].replace(
        vjp=lambda g, args, out, options, wanted=(True,): (g * out,))
    monkeypatch.setitem(PRIMITIVES, "softmax", wrong)
    result = calculus.check_gradient(chaincli.compile(NETWORK), network_point(1))
    assert not result.agree


def test_hessian_of_tensor_variables_matches_finite_differences_of_the_gradient():
    expr = chaincli.compile("sum(tanh(A @ x)^2) + x[0]*x[1]^3")
    rng = np.random.default_rng(7)
    point = {"A": rng.normal(size=(2, 3)), "x": rng.normal(size=3)}
    result = calculus.hessian(expr, point)
    assert result.variables[:2] == ["A[0,0]", "A[0,1]"] and len(result.variables) == 9
    flat = np.concatenate([point["A"].ravel(), point["x"]])

    def gradient_at(vector):
        at = {"A": vector[:6].reshape(2, 3), "x": vector[6:]}
        g = expr.gradient(at).gradient
        return np.concatenate([g["A"].ravel(), g["x"]])
    h = 1e-6
    numeric = np.array([(gradient_at(flat + h * e) - gradient_at(flat - h * e)) / (2 * h)
                        for e in np.eye(9)])
    np.testing.assert_allclose(np.array(result.hessian), numeric, rtol=1e-6, atol=1e-7)
    symbolic = calculus.hessian(expr, point, "symbolic")
    np.testing.assert_allclose(symbolic.hessian, result.hessian, rtol=1e-10, atol=1e-12)


def test_jacobian_of_a_vector_valued_expression():
    W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    x = np.array([0.5, -1.0])
    result = calculus.jacobian([chaincli.compile("W @ x")], {"W": W, "x": x})
    assert result.outputs == ["(W @ x)[0]", "(W @ x)[1]", "(W @ x)[2]"]
    assert result.variables[-2:] == ["x[0]", "x[1]"]
    J = np.array(result.jacobian)
    np.testing.assert_array_equal(J[:, -2:], W)  # ∂(Wx)/∂x = W
    np.testing.assert_array_equal(J[1, :6], [0, 0, 0.5, -1.0, 0, 0])  # row i: x in row i of W
    assert result.values == (W @ x).tolist()
    literal = calculus.jacobian([chaincli.compile("[x*y, x + y]")], {"x": 1.0, "y": 2.0})
    assert literal.outputs == ["[x*y, x + y][0]", "[x*y, x + y][1]"]
    assert literal.jacobian == [[2.0, 1.0], [1.0, 1.0]]


def test_directional_derivative_of_a_tensor_variable_is_one_forward_sweep():
    point = network_point(2)
    result = chaincli.compile(NETWORK).gradient(point)
    along = calculus.directional(result, "b1=1")
    assert math.isclose(along["directional_derivative"], result.gradient["b1"].sum(),
                        rel_tol=1e-12)


# ----- The language -----

@pytest.mark.parametrize("text, expected", [
    ("[1, 2] @ [3, 4]", 11.0),
    ("sum([[1, 2], [3, 4]] @ [1, 1])", 10.0),
    ("[1, 2] @ [[1, 2], [3, 4]] @ [1, 0]", 7.0),
    ("2*[[1, 2], [3, 4]]@[1, 1]@[1, 1]", 20.0),  # @ at the precedence of *: (2*A)@x
    ("[[1, 2], [3, 4]][1, 0] + [[1, 2], [3, 4]][-1][-1]", 7.0),
    ("sum([[1, 2], [3, 4]], 0) @ [1, 10]", 64.0),
    ("mean([[1, 2], [3, 5]], -1) @ [1, 1]", 5.5),
    ("norm([3, 4])", 5.0),
    ("sum(softmax([1, 2, 3]))", 1.0),
    ("logsumexp([1000, 1000])", 1000 + math.log(2)),  # stable, no overflow
    ("sum(outer([1, 2], [3, 4, 5]))", 36.0),
    ("transpose([[1, 2, 3], [4, 5, 6]])[2, 0]", 3.0),
    ("dot([1, 2], [3, 4]) - [1, 2]@[3, 4]", 0.0),
    ("-[1, 2]@[1, 1]", -3.0),
    ("[\n  1,\n  2,\n]@[1, 1]", 3.0),  # newlines inside brackets; a trailing comma
])
def test_array_expressions_evaluate(text, expected):
    assert math.isclose(chaincli.compile(text).value({}), expected, rel_tol=1e-15)


def test_an_array_valued_expression_evaluates_to_an_array():
    value = chaincli.compile("[x*y, x + y]").value({"x": 2.0, "y": 3.0})
    assert isinstance(value, np.ndarray) and value.tolist() == [6.0, 5.0]


@pytest.mark.parametrize("text, point, words", [
    ("W1 @ x", {"W1": np.zeros((4, 3)), "x": np.zeros(2)},
     "W1 @ x: shapes (4, 3) and (2,) do not align"),
    ("W + x", {"W": np.zeros((4, 3)), "x": np.zeros(2)}, "do not broadcast"),
    ("[x, y]", {"x": np.zeros(2), "y": 1.0}, "must have one shape"),
    ("x[2]", {"x": np.zeros(2)}, "index 2 is out of range"),
    ("x[0, 0]", {"x": np.zeros(2)}, "2 indices for an array of shape (2,)"),
    ("y[0]", {"y": 1.0}, "a scalar has no elements"),
    ("sum(x, 1)", {"x": np.zeros(2)}, "axis 1 is out of range"),
    ("softmax(y)", {"y": 1.0}, "softmax takes an array"),
    ("outer(W, x)", {"W": np.zeros((2, 2)), "x": np.zeros(2)}, "outer takes two vectors"),
    ("y @ x", {"y": 1.0, "x": np.zeros(2)}, "multiply by a scalar with *"),
])
def test_shape_mismatches_are_usage_errors_with_a_caret(text, point, words):
    with pytest.raises(ShapeError) as caught:
        chaincli.compile(text).value(point)
    assert words in caught.value.message and caught.value.exit_status == 2
    assert "^" in caught.value.context()


@pytest.mark.parametrize("text, words", [
    ("x[1.5]", "an index is a whole number"),
    ("x[]", "unexpected"),
    ("sum(x, y)", "an axis is a whole-number literal"),
    ("sum(x, 1, 2)", "sum takes 1 argument (and optionally axis), not 3"),
    ("[]", "unexpected"),
])
def test_malformed_tensor_syntax_is_refused(text, words):
    with pytest.raises((ParseError, chaincli.base.errors.ArityError)) as caught:
        chaincli.compile(text).value({"x": np.zeros(2), "y": 1.0})
    assert words in caught.value.message


def test_a_bad_element_is_a_domain_error_naming_it():
    with pytest.raises(DomainError, match=r"log needs a positive argument at element \[1\]"):
        chaincli.compile("sum(log(x))").value({"x": np.array([1.0, -1.0])})


def test_kinks_inside_arrays_are_reported_with_the_element():
    result = chaincli.compile("sum(relu(x))").gradient({"x": np.array([1.0, 0.0, 0.0])})
    assert result.gradient["x"].tolist() == [1.0, 0.0, 0.0]
    assert any("at element [1] and 1 more" in w.message for w in result.warnings)


def test_non_scalar_output_needs_jacobian_for_a_gradient():
    with pytest.raises(UsageError, match=r"scalar output; this one has shape \(2,\)") as caught:
        chaincli.compile("x * 2").gradient({"x": np.zeros(2)})
    assert "jacobian" in caught.value.hint


def test_forward_mode_refuses_more_sweeps_than_it_should_take():
    with pytest.raises(UsageError, match="one sweep per input element"):
        chaincli.compile("sum(W)").gradient({"W": np.zeros((200, 100))}, mode="forward")


def test_bad_api_values_are_point_errors():
    expr = chaincli.compile("sum(x)")
    for bad, words in [([[1, 2], [3]], "rectangular"), (np.zeros(0), "empty"),
                       (np.array([1.0, np.nan]), "finite"), ("abc", "must be a number")]:
        with pytest.raises(chaincli.base.errors.PointError, match=words):
            expr.value({"x": bad})


def test_gradients_are_arrays_the_caller_owns():
    x = np.array([1.0, 2.0])
    gradient = chaincli.compile("sum(x)").gradient({"x": x}).gradient["x"]
    gradient[0] = 99.0  # never a read-only broadcast view
    assert x.tolist() == [1.0, 2.0]


# ----- Through the command line -----

def test_cli_shape_error_exit_2(run):
    code, out, err = run("eval", "[1, 2] @ [1, 2, 3]")
    assert code == 2 and out == ""
    assert "shapes (2,) and (3,) do not align" in err and "^" in err


def test_cli_diff_of_a_tensor_expression_needs_the_shapes(run):
    code, out, err = run("diff", "sum([x, 2*x]^2)", "--wrt", "x")
    assert code == 2 and out == "" and "shapes" in err and err.count("\n") <= 2
    code, out, err = run("diff", "sum([x, 2*x]^2)", "--wrt", "x", "--at", "x=1.5")
    assert code == 0, err
    code, value, err = run("eval", out.strip(), "--at", "x=1.5", "--format", "plain")
    assert code == 0 and float(value) == pytest.approx(15.0, rel=1e-12)


def test_cli_jacobian_of_an_array_literal(run):
    code, out, err = run("jacobian", "[x*y, x + y]", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["outputs"] == ["[x*y, x + y][0]", "[x*y, x + y][1]"]
    assert data["jacobian"] == [[2.0, 1.0], [1.0, 1.0]]


def test_cli_grad_of_array_literal_expression_with_scalar_variables(run):
    code, out, err = run("grad", "sum([x, 2*x]^2)", "--at", "x=1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["value"] == 5.0 and data["gradient"] == {"x": 10.0}


def test_cli_diff_steps_of_tensors_needs_shapes_and_a_scalar_output(run):
    code, out, err = run("diff", "sum([x, 2*x]^2)", "--wrt", "x", "--steps")
    assert code == 2 and out == "" and "give them with --at" in err
    code, out, err = run("diff", "x^2", "--wrt", "x", "--steps", "--at", "x=[1,2]")
    assert code == 2 and out == "" and "needs a scalar output" in err
    code, out, err = run("diff", "sum([x, 2*x]^2)", "--wrt", "x", "--steps", "--json",
                         "--at", "x=1")
    assert code == 0, err
    data = json.loads(out)
    assert data["shape"] == [] and data["steps"][-1]["adjoint"] == "δx"
    assert chaincli.compile(data["derivative"]).value({"x": 1.0}) == 10.0


def test_cli_check_and_hessian_tables_show_tensor_points(run):
    point = ("--at", "A=[[1,2],[3,4]],x=[1,-1]")
    code, out, err = run("check", "sum((A @ x)^2)", *point)
    assert code == 0, err
    assert "at A: array of shape (2, 2), x = [1.0, -1.0]" in out
    code, out, err = run("hessian", "sum((A @ x)^2)", *point, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["variables"] == ["A[0,0]", "A[0,1]", "A[1,0]", "A[1,1]", "x[0]", "x[1]"]
    assert data["hessian"][4][4] == 20.0  # ∂²/∂x0² of |Ax|² is 2·(1² + 3²)


@pytest.mark.parametrize("text, words", [
    ("sum(" + "[" * 100_000 + "1" + "]" * 100_000 + ")", "at most 32 axes"),
    ("sum(x" + "[0]" * 100_000 + ")", "a scalar has no elements to index"),
])
def test_deep_tensor_syntax_is_answered_quickly(run, text, words):
    code, out, err = run("grad", "-", "--at", "x=[1,2]", input=text, timeout=60)
    assert code == 2 and out == "" and words in err


def test_a_long_chain_of_matrix_products_through_the_cli(run):
    chain = " @ ".join(["A"] * 2000)
    code, out, err = run("grad", f"sum({chain} @ x)", "--at", "A=[[1,0.5],[0,1]],x=[1,1]",
                         "--json", "--explain", "none")
    assert code == 0, err
    data = json.loads(out)
    # A^n = [[1, n/2], [0, 1]], so the sum of A^2000 @ [1, 1] is 2 + 1000
    assert data["value"] == 1002.0 and data["shapes"]["A"] == [2, 2]
    assert data["gradient"]["x"] == [1.0, 1001.0]


@pytest.mark.parametrize("args, words", [
    (("grad", "sum([x, y])", "--points", "-"), "grad --points takes scalar expressions"),
    (("grad", "x*y", "--points", "-", "--at", "y=[1,2]"), "y is an array"),
    (("plot", "sum([x, 2*x])", "--wrt", "x", "--from", "0", "--to", "1"),
     "plot takes scalar expressions"),
    (("plot", "x*y", "--wrt", "x", "--from", "0", "--to", "1", "--at", "y=[1,2]"),
     "plot takes scalar values; y is an array"),
])
def test_scalar_only_commands_refuse_tensors_clearly(run, args, words):
    code, out, err = run(*args, input='{"x": 1, "y": 2}\n')
    assert code == 2 and out == "" and words in err and "internal error" not in err


def test_jacobian_size_is_refused_before_any_sweep(run, tmp_path):
    np.save(tmp_path / "x.npy", np.ones(1001))
    code, out, err = run("jacobian", "outer(x, x)", "--at", f"x=@{tmp_path / 'x.npy'}",
                         timeout=20)
    assert code == 2 and out == "" and "more than 1,000,000" in err


def test_an_intermediate_too_large_to_hold_is_refused_by_the_shape_pass(run, tmp_path):
    np.save(tmp_path / "x.npy", np.ones(100_000))
    code, out, err = run("eval", "sum(outer(x, x))", "--at", f"x=@{tmp_path / 'x.npy'}",
                         timeout=20)
    assert code == 2 and out == ""
    assert "outer(x, x): shape (100000, 100000) would hold 10,000,000,000 elements" in err


def test_tensor_hessian_keeps_the_notice_for_an_unused_value():
    result = calculus.hessian(chaincli.compile("sum(tanh(W @ x))"),
                              {"W": np.ones((1, 2)), "x": np.ones(2), "zz": 3.0})
    assert [w.kind for w in result.warnings] == ["unused-value"]


def test_minimize_refuses_one_file_for_out_and_trace(run, tmp_path):
    target = str(tmp_path / "same.json")
    code, out, err = run("minimize", "x^2", "--at", "x=1", "--out", target, "--trace", target)
    assert code == 2 and out == "" and "the same file" in err
