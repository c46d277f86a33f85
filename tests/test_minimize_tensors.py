"""minimize on tensors: least squares, logistic regression on real data, a network.

Oracles: NumPy's ``lstsq``; scikit-learn's unregularized ``LogisticRegression``
on its bundled breast-cancer data, and SciPy's L-BFGS-B on a loss and gradient
written by hand in NumPy; for XOR, the network's own outputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import chaincli
from chaincli.base.errors import PointError
from chaincli.optimize.problem import Problem, run

from clicheck import check_run, strict_json

LOGISTIC = "z = X @ w + b; mean(softplus(-(2*t - 1)*z))"
XOR_NETWORK = "H = tanh(X @ W1 + b1); z = H @ w2 + b2; mean((z - t)^2)"
XOR_POINT = "X=[[0,0],[0,1],[1,0],[1,1]],t=[0,1,1,0]"
XOR_INIT = "W1=2x3,b1=3,w2=3,b2=scalar"


def write_csv(path, array) -> str:
    np.savetxt(path, array, delimiter=",", fmt="%.17g")
    return str(path)


@pytest.fixture(scope="module")
def least_squares(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lstsq")
    rng = np.random.default_rng(42)
    X = rng.normal(size=(40, 4))
    y = X @ np.array([1.5, -2.0, 0.25, 3.0]) + 0.1 * rng.normal(size=40)
    return X, y, write_csv(folder / "X.csv", X), write_csv(folder / "y.csv", y)


@pytest.mark.parametrize("method", ["lbfgs", "newton"])
def test_least_squares_equals_lstsq(cli, least_squares, method):
    X, y, x_csv, y_csv = least_squares
    code, out, err = cli("minimize", "sum((X @ w - y)^2)", "--wrt", "w", "--at",
                         f"X=@{x_csv},y=@{y_csv}", "--at", "w=[0,0,0,0]", "--method",
                         method, "--tol", "1e-10", "--json")
    assert code == 0, err
    data = strict_json(out)
    assert data["stopped"] == "converged" and data["shapes"] == {"w": [4]}
    expected = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(data["parameters"]["w"], expected, rtol=0, atol=1e-8)


@pytest.fixture(scope="module")
def breast_cancer(tmp_path_factory):
    """The ten "mean" features, standardized, and the labels, as CSV files."""
    from sklearn.datasets import load_breast_cancer
    data = load_breast_cancer()
    folder = tmp_path_factory.mktemp("cancer")
    features = data.data[:, :10]
    assert all(name.startswith("mean ") for name in data.feature_names[:10])
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    labels = data.target.astype(float)
    everything = data.data
    everything = (everything - everything.mean(axis=0)) / everything.std(axis=0)
    return {"X": features, "t": labels,
            "X.csv": write_csv(folder / "features.csv", features),
            "t.csv": write_csv(folder / "labels.csv", labels),
            "X30.csv": write_csv(folder / "features30.csv", everything)}


def logistic_loss(X, t, w, b) -> float:
    z = X @ w + b
    return float(np.mean(np.logaddexp(0.0, -(2 * t - 1) * z)))


def scipy_by_hand(X, t) -> float:
    from scipy.optimize import minimize
    s, n = 2 * t - 1, len(t)

    def loss_and_gradient(p):
        z = X @ p[:-1] + p[-1]
        m = -s * z
        r = -s / (1.0 + np.exp(-m)) / n
        return np.mean(np.logaddexp(0.0, m)), np.concatenate([X.T @ r, [r.sum()]])

    result = minimize(loss_and_gradient, np.zeros(X.shape[1] + 1), jac=True,
                      method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 0.0,
                                                  "maxiter": 10000})
    return float(result.fun)


def test_logistic_regression_equals_scikit_learn(cli, breast_cancer, tmp_path):
    from sklearn.linear_model import LogisticRegression
    X, t = breast_cancer["X"], breast_cancer["t"]
    fit = tmp_path / "fit.npz"
    code, out, err = cli("minimize", LOGISTIC, "--wrt", "w,b", "--at",
                         f"X=@{breast_cancer['X.csv']},t=@{breast_cancer['t.csv']}",
                         "--at", "w=[0,0,0,0,0,0,0,0,0,0],b=0", "--method", "lbfgs",
                         "--out", str(fit), "--json")
    assert code == 0, err
    data = strict_json(out)
    assert data["stopped"] == "converged" and data["gradient_norm"] <= 1e-8
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000).fit(X, t)
    reference = logistic_loss(X, t, model.coef_[0], model.intercept_[0])
    assert data["loss"] == pytest.approx(reference, rel=1e-6)
    assert data["loss"] == pytest.approx(scipy_by_hand(X, t), rel=1e-6)
    assert data["loss"] <= reference * (1 + 1e-9)
    # The fit reads back with --at @fit.npz, and gives the same loss.
    code, out, err = cli("eval", LOGISTIC, "--at", f"@{fit}", "--at",
                         f"X=@{breast_cancer['X.csv']},t=@{breast_cancer['t.csv']}", "--json")
    assert code == 0, err
    assert strict_json(out)["value"] == data["loss"]
    with np.load(fit, allow_pickle=False) as saved:
        assert saved["w"].shape == (10,) and saved["b"].shape == ()
        assert logistic_loss(X, t, saved["w"], float(saved["b"])) == pytest.approx(
            data["loss"], rel=1e-12)


def test_separable_data_has_no_minimum(cli, breast_cancer):
    zeros = ",".join(["0"] * 30)
    code, out, err = cli("minimize", LOGISTIC, "--wrt", "w,b", "--at",
                         f"X=@{breast_cancer['X30.csv']},t=@{breast_cancer['t.csv']}",
                         "--at", f"w=[{zeros}],b=0", "--method", "lbfgs", "--json")
    check_run(code, out, err, json_output=True)
    data = strict_json(out)
    assert code == 1 and data["stopped"] == "no-minimum"
    assert "grow without bound" in data["message"] and "not a fit" in err


def test_the_log_form_on_separable_data_says_why_it_diverged(cli, breast_cancer, tmp_path):
    zeros = tmp_path / "zeros30.npy"
    np.save(zeros, np.zeros(30))
    code, out, err = cli("minimize", "p = sigmoid(X @ w + b); -mean(t*log(p) + (1 - t)*log(1 - p))",
                         "--wrt", "w,b", "--at", f"w=@{zeros},b=0", "--at",
                         f"X=@{breast_cancer['X30.csv']},t=@{breast_cancer['t.csv']}",
                         "--method", "adam", "--lr", "0.05", "--steps", "2000", "--json")
    check_run(code, out, err, json_output=True)
    data = strict_json(out)
    assert code == 1 and data["stopped"] == "diverged"
    assert "log(0)" in data["message"] and "still falling" in data["message"]
    assert data["loss"] < 0.1 and np.isfinite(data["loss"])


def test_a_two_layer_network_learns_xor(cli, tmp_path):
    fit = tmp_path / "xor.npz"
    code, out, err = cli("minimize", XOR_NETWORK, "--wrt", "W1,b1,w2,b2", "--at", XOR_POINT,
                         "--init", XOR_INIT, "--seed", "0", "--method", "adam", "--lr",
                         "0.05", "--steps", "1000", "--out", str(fit), "--json")
    assert code == 0, err
    data = strict_json(out)
    assert data["loss"] < 0.01
    assert data["shapes"] == {"W1": [2, 3], "b1": [3], "w2": [3], "b2": []}
    with np.load(fit, allow_pickle=False) as saved:
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
        outputs = np.tanh(X @ saved["W1"] + saved["b1"]) @ saved["w2"] + saved["b2"]
    np.testing.assert_allclose(outputs, [0, 1, 1, 0], atol=0.2)
    assert float(np.mean((outputs - [0, 1, 1, 0]) ** 2)) == pytest.approx(data["loss"],
                                                                          rel=1e-9)


def test_xor_table_and_plot(cli):
    code, out, err = cli("minimize", XOR_NETWORK, "--wrt", "W1,b1,w2,b2", "--at", XOR_POINT,
                         "--init", XOR_INIT, "--seed", "0", "--method", "adam", "--lr",
                         "0.05", "--steps", "1000", "--plot", env={"COLUMNS": "80"})
    assert code == 0, err
    assert "W1[1,2]" in out and "b2" in out and "loss by step (log scale)" in out


def test_tensor_parameters_plain_and_order(cli):
    code, out, err = cli("minimize", "sum((W - [[1, 2], [3, 4]])^2) + (c - 5)^2", "--at",
                         "W=[[0,0],[0,0]],c=0", "--format", "plain")
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert [name for name, _ in lines] == ["W[0,0]", "W[0,1]", "W[1,0]", "W[1,1]", "c"]
    np.testing.assert_allclose([float(v) for _, v in lines], [1, 2, 3, 4, 5], atol=1e-9)


def test_newton_hessian_over_tensor_variables():
    program = chaincli.compile("sum((A @ v) * v) + (c - 1)^2 + c*v[0]")
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    problem = Problem(program, {"A": A, "v": np.array([1.0, -1.0]), "c": 2.0}, ["v", "c"])
    # Flattened in the order of --wrt: v[0], v[1], c. ∂²/∂v² = A + Aᵀ,
    # ∂²/∂v0∂c = 1, ∂²/∂c² = 2.
    hessian = np.array([[4.0, 1.0, 1.0], [1.0, 2.0, 0.0], [1.0, 0.0, 2.0]])
    np.testing.assert_allclose(problem.hessian(problem.x0), hessian, atol=1e-12)
    result = run(problem, "newton", tol=1e-12)
    assert result.stopped == "converged" and result.steps <= 2
    # The minimum solves H·p = −(the linear part): (A + Aᵀ)v + c·e0 = 0, v0 + 2c = 2.
    expected = np.linalg.solve(hessian, [0.0, 0.0, 2.0])
    np.testing.assert_allclose([*result.parameters["v"], result.parameters["c"]], expected,
                               atol=1e-12)


def test_a_vector_output_is_refused(cli):
    code, out, err = cli("minimize", "v * 2", "--at", "v=[1,2]")
    assert code == 2 and out == "" and err.startswith("Error: ")


def test_big_tensor_is_summarized_in_the_table(cli):
    code, out, err = cli("minimize", "sum((W - 1)^2)", "--init", "W=10x10", "--method",
                         "gd", "--lr", "0.5")
    assert code == 0, err
    assert "W (10, 10)" in out and "norm 10.0" in out


def test_json_fit_round_trip_with_tensors(cli, tmp_path):
    fit = tmp_path / "fit.json"
    code, out, _ = cli("minimize", "sum((W - [[1, 2], [3, 4]])^2)", "--at", "W=[[0,0],[0,0]]",
                       "--out", str(fit), "--json")
    assert code == 0
    saved = json.loads(fit.read_text())
    np.testing.assert_allclose(saved["W"], [[1, 2], [3, 4]], atol=1e-9)
    code, out, _ = cli("eval", "sum(W)", "--at", f"@{fit}", "--json")
    assert code == 0 and strict_json(out)["value"] == pytest.approx(10, abs=1e-8)


def test_the_fixed_data_is_checked_once_and_kept_as_a_read_only_copy(monkeypatch):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    program = chaincli.compile("mean((X @ w - y)^2)")
    problem = Problem(program, {"X": X, "y": y, "w": np.zeros(3)}, ["w"])
    X[0, 0] = np.nan      # the caller's array, changed after the problem was made
    assert not problem.fixed["X"].flags.writeable
    assert np.isfinite(problem.fixed["X"]).all()
    calls = []
    check_point = type(program).check_point
    monkeypatch.setattr(type(program), "check_point",
                        lambda self, point: calls.append(1) or check_point(self, point))
    result = run(problem, "adam", lr=0.05, steps=50)
    assert not calls      # no step checked the fixed data (or the parameters) again
    expected = np.linalg.lstsq(problem.fixed["X"], y, rcond=None)[0]
    assert np.allclose(result.parameters["w"], expected, atol=0.3)


def test_a_non_finite_fixed_value_is_refused_before_the_first_step():
    X = np.ones((4, 2))
    X[2, 1] = np.inf
    program = chaincli.compile("sum((X @ w)^2)")
    with pytest.raises(PointError, match=r"X: the element \[2, 1\] is inf"):
        Problem(program, {"X": X, "w": np.zeros(2)}, ["w"])
