"""minimize: the update rules, real answers, stopping, output, files and Ctrl-C.

The first-order methods are held to the update rules as PyTorch documents
its SGD (with and without momentum) and Adam, written out again here on a
gradient written by hand; L-BFGS-B and Newton to the known minimum of
Rosenbrock's function.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chaincli
from chaincli.optimize import methods as optimize
from chaincli.base.errors import UsageError
from chaincli.optimize.problem import Layout, Problem, parse_init, random_start, run

from clicheck import check_run, strict_json

ROSENBROCK = "(1 - x)^2 + 100*(y - x^2)^2"

# A smooth function of two variables that is not a quadratic, with its
# gradient written by hand: the reference iterates use only this.
BOWL = "(x - 1)^2 + 3*(y + 2)^2 + sin(x*y)"


def bowl_gradient(x: float, y: float) -> np.ndarray:
    return np.array([2 * (x - 1) + y * math.cos(x * y), 6 * (y + 2) + x * math.cos(x * y)])


def reference_iterates(method: str, lr: float, steps: int, start=(0.5, 0.5)) -> list:
    """x_0 … x_steps by the published rules (torch.optim.SGD and Adam docs)."""
    theta = np.array(start, dtype=float)
    iterates = [theta.copy()]
    b = m = v = None
    mu, beta1, beta2, eps = 0.9, 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        g = bowl_gradient(*theta)
        if method == "gd":
            theta = theta - lr * g
        elif method == "momentum":
            b = g if t == 1 else mu * b + g
            theta = theta - lr * b
        else:
            m = np.zeros(2) if m is None else m
            v = np.zeros(2) if v is None else v
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g ** 2
            m_hat = m / (1 - beta1 ** t)
            v_hat = v / (1 - beta2 ** t)
            theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        iterates.append(theta.copy())
    return iterates


def recording_problem(text: str, point: dict):
    """A problem whose objective records every point it is asked about."""
    problem = Problem(chaincli.compile(text), point, None)
    seen = []
    inner = problem.value_and_gradient

    def recorded(x):
        seen.append(np.array(x))
        return inner(x)

    problem.value_and_gradient = recorded
    return problem, seen


@pytest.mark.parametrize("method, lr", [("gd", 0.05), ("momentum", 0.02), ("adam", 0.1)])
def test_first_order_iterates_follow_the_published_rules(method, lr):
    steps = 60
    problem, seen = recording_problem(BOWL, {"x": 0.5, "y": 0.5})
    result = run(problem, method, lr=lr, steps=steps, tol=0.0)
    assert result.stopped == "step-limit" and result.steps == steps
    expected = reference_iterates(method, lr, steps)
    # Each iterate is evaluated once, in order (then the no-minimum probe).
    assert len(seen) >= steps + 1
    for k in range(steps + 1):
        np.testing.assert_allclose(seen[k], expected[k], rtol=0, atol=1e-12, err_msg=f"step {k}")
    final = [result.parameters["x"], result.parameters["y"]]
    np.testing.assert_allclose(final, expected[-1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["gd", "momentum", "adam"])
def test_first_order_cli_matches_the_rules(cli, method):
    lr = {"gd": 0.05, "momentum": 0.02, "adam": 0.1}[method]
    code, out, err = cli("minimize", BOWL, "--at", "x=0.5,y=0.5", "--method", method,
                         "--lr", str(lr), "--steps", "40", "--tol", "0", "--json")
    assert code == 0, err
    data = strict_json(out)
    expected = reference_iterates(method, lr, 40)[-1]
    assert abs(data["parameters"]["x"] - expected[0]) <= 1e-12
    assert abs(data["parameters"]["y"] - expected[1]) <= 1e-12


@pytest.mark.parametrize("method", ["lbfgs", "newton"])
def test_rosenbrock_second_order_methods_reach_the_minimum(run, method):
    code, out, err = run("minimize", ROSENBROCK, "--wrt", "x,y", "--at", "x=-1.2,y=1",
                         "--method", method, "--json")
    assert code == 0, err
    data = strict_json(out)
    assert data["stopped"] == "converged"
    assert abs(data["parameters"]["x"] - 1) <= 1e-6
    assert abs(data["parameters"]["y"] - 1) <= 1e-6
    assert data["gradient_norm"] <= 1e-8
    assert data["steps"] < 100


def test_rosenbrock_adam_within_its_budget(cli):
    # The budget stated in the README: lr 0.01, 5,000 steps.
    code, out, err = cli("minimize", ROSENBROCK, "--at", "x=-1.2,y=1", "--method", "adam",
                         "--lr", "0.01", "--steps", "5000", "--json")
    assert code == 0, err
    data = strict_json(out)
    assert abs(data["parameters"]["x"] - 1) <= 1e-3
    assert abs(data["parameters"]["y"] - 1) <= 1e-3


def test_newton_uses_chaincli_hessian():
    # At (0, 0) Rosenbrock's gradient is (-2, 0) and its Hessian [[2, 0], [0, 200]]:
    # the Newton step is (1, 0), where the loss is 100 (it is 1 at the start); the
    # line search halves it twice, to (0.25, 0), loss 0.953125 (Armijo holds).
    problem = Problem(chaincli.compile(ROSENBROCK), {"x": 0.0, "y": 0.0}, None)
    np.testing.assert_array_equal(problem.hessian(np.zeros(2)), [[2.0, 0.0], [0.0, 200.0]])
    result = run(problem, "newton", steps=1, tol=0.0)
    assert (result.parameters["x"], result.parameters["y"]) == (0.25, 0.0)
    assert result.loss == 0.953125


def test_newton_direction_goes_down_where_the_hessian_is_indefinite():
    hessian = np.array([[-2.0, 0.0], [0.0, 1.0]])
    gradient = np.array([1.0, 1.0])
    direction = optimize.newton_direction(hessian, gradient)
    assert direction @ gradient < 0
    problem = Problem(chaincli.compile("x^4 - x^2 + y^2"), {"x": 0.1, "y": 1.0}, None)
    result = run(problem, "newton", tol=1e-10)
    assert result.stopped == "converged"
    assert abs(abs(result.parameters["x"]) - math.sqrt(0.5)) < 1e-9


# ----- stopping -----

def test_converged_and_step_limit_are_explained(cli):
    code, out, _ = cli("minimize", "(x - 3)^2", "--at", "x=0", "--method", "gd", "--lr",
                       "0.5", "--json")
    data = strict_json(out)
    assert code == 0 and data["stopped"] == "converged" and data["parameters"]["x"] == 3.0
    assert data["steps"] == 1 and data["gradient_norm"] == 0.0
    assert "gradient norm" in data["message"] and "--tol" in data["message"]
    code, out, _ = cli("minimize", "(x - 3)^2", "--at", "x=0", "--method", "gd", "--lr",
                       "0.001", "--steps", "7", "--json")
    data = strict_json(out)
    assert code == 0 and data["stopped"] == "step-limit" and data["steps"] == 7
    assert "7 steps" in data["message"]


def test_no_progress(cli):
    code, out, _ = cli("minimize", "x^2", "--at", "x=1", "--method", "gd", "--lr", "1e-300",
                       "--json")
    data = strict_json(out)
    assert code == 0 and data["stopped"] == "no-progress" and data["parameters"]["x"] == 1.0
    assert "floating point" in data["message"]


def test_diverged_reports_the_last_finite_step(cli, tmp_path):
    trace = tmp_path / "trace.jsonl"
    out_file = tmp_path / "fit.json"
    code, out, err = cli("minimize", "x^4", "--at", "x=3", "--method", "gd", "--lr", "1",
                         "--json", "--trace", str(trace), "--out", str(out_file))
    check_run(code, out, err, json_output=True)
    assert code == 1
    data = strict_json(out)
    assert data["stopped"] == "diverged"
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    last = lines[-1]
    assert data["steps"] == last["step"] and data["loss"] == last["loss"]
    assert math.isfinite(data["loss"]) and math.isfinite(data["gradient_norm"])
    # x_{k+1} = x_k - 4 x_k^3, from 3: the last finite step, by hand.
    x = 3.0
    for _ in range(data["steps"]):
        x = x - 4 * x ** 3
    assert data["parameters"]["x"] == x
    assert json.loads(out_file.read_text()) == {"x": x}
    assert f"diverged at step {data['steps'] + 1}" in err and "Warning:" in err


def test_an_overflowing_update_is_diverged_without_numpy_noise(run):
    code, out, err = run("minimize", "x^2", "--at", "x=1", "--method", "gd", "--lr", "1e308",
                         "--json")
    assert code == 1 and strict_json(out)["parameters"] == {"x": 1.0}
    assert err.startswith("Warning: diverged at step 1: a parameter is no longer a finite")
    assert "RuntimeWarning" not in err and err.count("\n") == 1


@pytest.mark.parametrize("expr, kind", [("x", "unbounded below"), ("-x^2", "unbounded below"),
                                        ("1/(1 + x^2)", "infimum"),
                                        ("log(1 + exp(-x))", "infimum")])
def test_no_minimum_is_not_reported_as_a_fit(cli, expr, kind):
    code, out, err = cli("minimize", expr, "--at", "x=1", "--method", "gd", "--lr", "0.1",
                         "--json")
    check_run(code, out, err, json_output=True)
    data = strict_json(out)
    assert code == 1 and data["stopped"] == "no-minimum"
    assert kind in data["message"] and "not a fit" in err


@pytest.mark.parametrize("expr, point", [("1/(1 + x^2)", {"x": 1.0}),
                                         ("sum(log(1 + exp(-w)))", {"w": np.ones(3)})])
def test_the_no_minimum_probes_ask_for_the_loss_alone(expr, point):
    # A probe needs only the loss: each costs a value, not a gradient, and its
    # loss is the one a gradient call gives there, to the bit.
    problem = Problem(chaincli.compile(expr), point, None)
    calls = {"value_and_gradient": 0, "value": 0}
    for name in calls:
        inner = getattr(problem, name)

        def counted(x, inner=inner, name=name):
            calls[name] += 1
            return inner(x)

        setattr(problem, name, counted)
    result = run(problem, "gd", lr=0.1, steps=50, tol=0.0)
    assert result.stopped == "no-minimum", result.message
    assert calls["value_and_gradient"] == 50 + 1
    assert calls["value"] >= optimize.MIN_FALLS
    x = problem.x0 + 3.0 * (problem.layout.pack(result.parameters) - problem.x0)
    assert problem.value(x) == problem.value_and_gradient(x)[0]


def test_the_loss_alone_is_refused_where_it_is_not_finite():
    problem = Problem(chaincli.compile("x"), {"x": 0.0}, None)
    with pytest.raises(optimize.NotFinite, match="no longer a finite number"):
        problem.value(np.array([np.inf]))
    with pytest.raises(optimize.NotFinite, match="log"):
        Problem(chaincli.compile("log(x)"), {"x": 1.0}, None).value(np.array([-1.0]))
    with pytest.raises(optimize.NotFinite, match="overflows"):
        Problem(chaincli.compile("exp(x)"), {"x": 1.0}, None).value(np.array([1000.0]))


def test_a_minimum_is_not_mistaken_for_none():
    for method in ("gd", "adam", "lbfgs", "newton"):
        problem = Problem(chaincli.compile("exp(x) + exp(-2*x)"), {"x": 3.0}, None)
        result = run(problem, method, lr=None if method in ("lbfgs", "newton") else 0.01,
                     steps=20000)
        assert result.stopped in ("converged", "step-limit"), (method, result.message)
        assert abs(result.parameters["x"] - math.log(2) / 3) < 1e-3


def test_start_outside_the_domain_exits_1(cli):
    code, out, err = cli("minimize", "log(x)^2", "--at", "x=-1")
    assert code == 1 and out == "" and err.startswith("Error: ")


# ----- Ctrl-C -----

@pytest.mark.parametrize("method", ["gd", "momentum", "adam", "lbfgs", "newton"])
def test_interrupt_in_every_method(method):
    problem = Problem(chaincli.compile(ROSENBROCK), {"x": -1.2, "y": 1.0}, None)
    seen = []

    def report(step, loss, gradient_norm, lr):
        seen.append(loss)
        if step == 3:
            raise KeyboardInterrupt

    result = run(problem, method, report=report)
    assert result.stopped == "interrupted" and result.steps == 3
    assert result.loss == min(seen)
    assert chaincli.compile(ROSENBROCK).value(result.parameters) == result.loss


def test_trace_lr_of_the_line_search_methods(cli, tmp_path):
    for method in ("newton", "lbfgs"):
        trace = tmp_path / f"{method}.jsonl"
        code, _, _ = cli("minimize", ROSENBROCK, "--at", "x=-1.2,y=1", "--method", method,
                         "--trace", str(trace), "--json")
        assert code == 0
        rates = [json.loads(line)["lr"] for line in trace.read_text().splitlines()]
        assert rates[0] is None
        if method == "lbfgs":
            assert set(rates) == {None}
        else:  # the fraction of the Newton step taken: a power of 1/2
            assert all(0 < r <= 1 and math.log2(r) == int(math.log2(r)) for r in rates[1:])
            assert 1.0 in rates and min(rates[1:]) < 1.0


def test_interrupt_inside_the_loop_keeps_the_best_parameters():
    problem = Problem(chaincli.compile("(x - 3)^2"), {"x": 0.0}, None)
    losses = []

    def report(step, loss, gradient_norm, lr):
        losses.append(loss)
        if step == 5:
            raise KeyboardInterrupt

    result = run(problem, "gd", lr=0.1, report=report)
    assert result.stopped == "interrupted" and result.exit_status == 130
    assert result.steps == 5 and result.loss == min(losses)
    assert result.parameters["x"] == pytest.approx(3 - 3 * 0.8 ** 5, abs=1e-15)


def test_interrupt_on_the_command_line_writes_and_prints(cli, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = Problem.value_and_gradient

    def interrupted(self, x):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return original(self, x)

    monkeypatch.setattr(Problem, "value_and_gradient", interrupted)
    fit = tmp_path / "fit.json"
    code, out, err = cli("minimize", "(x - 3)^2 + (y + 1)^2", "--at", "x=0,y=0", "--method",
                         "adam", "--lr", "0.1", "--out", str(fit), "--json")
    assert code == 130
    data = strict_json(out)
    assert data["stopped"] == "interrupted" and data["steps"] == 10
    assert json.loads(fit.read_text()) == data["parameters"]
    assert err.startswith("Interrupted: ")


def test_ctrl_c_in_a_real_process(tmp_path):
    trace = tmp_path / "trace.jsonl"
    fit = tmp_path / "fit.npz"
    script = Path(sys.executable).parent / "chaincli"
    process = subprocess.Popen(
        [str(script), "minimize", "(x - 3)^2 + (y + 1)^2 + 0.001*sin(50*x)", "--at", "x=0,y=0",
         "--method", "gd", "--lr", "1e-7", "--steps", "100000000", "--tol", "0",
         "--trace", str(trace), "--out", str(fit), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not trace.exists() or trace.stat().st_size < 20000):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    data = strict_json(out.decode())
    assert data["stopped"] == "interrupted" and data["steps"] > 0
    with np.load(fit, allow_pickle=False) as saved:
        assert float(saved["x"]) == data["parameters"]["x"]
        assert float(saved["y"]) == data["parameters"]["y"]
    assert b"Traceback" not in err


# ----- output -----

def test_json_shape(cli):
    code, out, _ = cli("minimize", "(x - 1)^2 + (y - 2)^2", "--at", "x=0,y=0", "--json")
    assert code == 0
    data = strict_json(out)
    assert list(data) == ["expression", "method", "loss", "gradient_norm", "steps", "stopped",
                          "message", "parameters", "shapes", "evaluations", "warnings"]
    assert data["method"] == "lbfgs" and data["shapes"] == {"x": [], "y": []}
    assert data["parameters"] == {"x": pytest.approx(1, abs=1e-9),
                                  "y": pytest.approx(2, abs=1e-9)}
    assert out.endswith("\n") and out.count("\n") == 1


def test_plain_and_table(cli):
    code, out, err = cli("minimize", "(x - 1)^2 + (y - 2)^2", "--at", "x=0,y=0",
                         "--format", "plain")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["x", "y"] and all(float(line.split()[1]) for line in out.splitlines())
    assert "converged" in err
    code, out, _ = cli("minimize", "(x - 1)^2 + (y - 2)^2", "--at", "x=0,y=0")
    assert code == 0
    for word in ("method", "lbfgs", "stopped", "converged", "loss", "gradient norm", "steps",
                 "parameters"):
        assert word in out


def test_only_wrt_variables_move(cli):
    code, out, _ = cli("minimize", "(x - a)^2 + a^2", "--wrt", "x", "--at", "x=0,a=2",
                       "--json")
    data = strict_json(out)
    assert code == 0 and list(data["parameters"]) == ["x"]
    assert data["parameters"]["x"] == pytest.approx(2, abs=1e-9)
    assert data["loss"] == pytest.approx(4, abs=1e-12)


def test_trace_lines(cli, tmp_path):
    trace = tmp_path / "t.jsonl"
    code, out, _ = cli("minimize", "(x - 3)^2", "--at", "x=0", "--method", "momentum",
                       "--lr", "0.01", "--steps", "25", "--tol", "0", "--trace", str(trace),
                       "--json")
    assert code == 0
    lines = [strict_json(line) for line in trace.read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(26))
    assert all(list(line) == ["step", "loss", "gradient_norm", "lr"] for line in lines)
    assert lines[0]["lr"] is None and {line["lr"] for line in lines[1:]} == {0.01}
    assert lines[0]["loss"] == 9.0 and lines[0]["gradient_norm"] == 6.0
    data = strict_json(out)
    assert lines[-1]["loss"] == data["loss"]
    for line in lines:  # the loss and gradient norm of (x - 3)^2 agree with each other
        assert line["gradient_norm"] == pytest.approx(2 * math.sqrt(line["loss"]), rel=1e-12)


def test_trace_to_stdout_comes_before_the_result(cli):
    code, out, _ = cli("minimize", "(x - 3)^2", "--at", "x=0", "--method", "gd", "--lr",
                       "0.25", "--trace", "-", "--json")
    assert code == 0
    lines = [strict_json(line) for line in out.splitlines()]
    assert [line.get("step") for line in lines[:-1]] == list(range(len(lines) - 1))
    assert lines[-1]["stopped"] == "converged"


def test_out_json_round_trip(cli, tmp_path):
    fit = tmp_path / "fit.json"
    code, out, _ = cli("minimize", ROSENBROCK, "--at", "x=-1.2,y=1", "--out", str(fit),
                       "--json")
    assert code == 0
    data = strict_json(out)
    assert json.loads(fit.read_text()) == data["parameters"]
    code, out, _ = cli("eval", ROSENBROCK, "--at", f"@{fit}", "--json")
    assert code == 0 and strict_json(out)["value"] == data["loss"]
    assert oct(fit.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_out_npz(cli, tmp_path):
    fit = tmp_path / "fit.npz"
    code, out, _ = cli("minimize", "(x - 1)^2 + (y - 2)^2", "--at", "x=0,y=0", "--out",
                       str(fit), "--json")
    assert code == 0
    data = strict_json(out)
    with np.load(fit, allow_pickle=False) as saved:
        assert sorted(saved.files) == ["x", "y"]
        assert saved["x"].shape == () and float(saved["x"]) == data["parameters"]["x"]


def test_out_npz_with_awkward_names(cli, tmp_path):
    fit = tmp_path / "fit.npz"
    code, out, err = cli("minimize", "(file - 1)^2 + (allow_pickle + 2)^2", "--at",
                         "file=0,allow_pickle=0", "--out", str(fit), "--json")
    assert code == 0, err
    with np.load(fit, allow_pickle=False) as saved:
        assert float(saved["file"]) == pytest.approx(1, abs=1e-9)
        assert float(saved["allow_pickle"]) == pytest.approx(-2, abs=1e-9)
    code, out, err = cli("eval", "file + allow_pickle", "--at", f"@{fit}", "--json")
    assert code == 0, err
    assert strict_json(out)["value"] == pytest.approx(-1, abs=1e-9)


def test_out_is_atomic(cli, tmp_path, monkeypatch):
    fit = tmp_path / "fit.json"
    fit.write_text('{"x": 42.0}\n')

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    code, out, err = cli("minimize", "(x - 1)^2", "--at", "x=0", "--out", str(fit), "--json")
    assert code == 2 and out == "" and "cannot write" in err
    # The old file is whole, and no temporary file is left behind.
    assert fit.read_text() == '{"x": 42.0}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["fit.json"]


def test_plot_draws_the_loss_curve(cli):
    code, out, _ = cli("minimize", ROSENBROCK, "--at", "x=-1.2,y=1", "--plot",
                       env={"COLUMNS": "80"})
    assert code == 0
    assert "loss by step (log scale)" in out and "parameters" in out


def test_no_progress_bar_off_a_terminal(run):
    code, out, err = run("minimize", ROSENBROCK, "--at", "x=-1.2,y=1", "--json")
    assert code == 0 and err == ""


def test_progress_reporter_runs():
    from chaincli.render.minimize import StepReporter
    reporter = StepReporter(progress=True, total=10)
    for step in range(11):
        reporter(step, 1.0 / (step + 1), 0.5, 0.1)
    reporter.close()


def test_negative_expression_is_the_expression(cli):
    code, out, err = cli("minimize", "-exp(-(x - 1)^2)", "--at", "x=0.5", "--json")
    assert code == 0, err
    assert strict_json(out)["parameters"]["x"] == pytest.approx(1, abs=1e-8)


@pytest.mark.parametrize("args, message", [
    (["--method", "lbfgs", "--lr", "0.1"], "--lr has no meaning for lbfgs"),
    (["--method", "newton", "--lr", "0.1"], "--lr has no meaning for newton"),
    (["--method", "gd", "--lr", "-1"], "--lr must be a positive number"),
    (["--steps", "-1"], "--steps"),
    (["--tol", "nan"], "--tol"),
    (["--trace", "-"], "--trace -"),
    (["--plot", "--json"], "--plot"),
    (["--out", "fit.txt"], ".npz or .json"),
    (["--out", "/nonexistent/fit.json"], "does not exist"),
    (["--wrt", "z"], "--wrt names z"),
    (["--init", "x=2x"], "shape"),
    (["--init", "x=scalar"], "one of them"),
    (["--json", "--format", "plain"], "disagree"),
])
def test_usage_errors(cli, args, message):
    code, out, err = cli("minimize", "(x - 1)^2 + y^2", "--at", "x=0,y=1", *args)
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and message in err, err


def test_negative_seed(cli):
    code, out, err = cli("minimize", "x^2", "--init", "x=scalar", "--seed", "-1")
    assert code == 2 and out == "" and "--seed" in err and "Traceback" not in err
    with pytest.raises(UsageError):
        random_start({"x": ()}, -1)


def test_unknown_method(cli):
    code, out, err = cli("minimize", "x^2", "--at", "x=1", "--method", "sgd")
    assert code == 2 and out == "" and "'sgd' is not one of" in err


def test_a_constant_has_nothing_to_minimize(cli):
    code, out, err = cli("minimize", "2 + 3")
    assert code == 2 and out == "" and "nothing to minimize" in err


def test_missing_start_value(cli):
    code, out, err = cli("minimize", "(x - 1)^2 + y^2", "--at", "x=0")
    assert code == 2 and "no starting value for y" in err and "--init" in err


def test_random_start_from_a_seed(cli):
    args = ("minimize", "(x - 1)^2", "--init", "x=scalar", "--steps", "0", "--json")
    first = strict_json(cli(*args, "--seed", "7")[1])["parameters"]["x"]
    assert first == strict_json(cli(*args, "--seed", "7")[1])["parameters"]["x"]
    assert first == float(np.random.default_rng(7).normal(0.0, 1.0))
    assert first != strict_json(cli(*args, "--seed", "8")[1])["parameters"]["x"]


def test_init_shapes_and_layout():
    assert parse_init(["W=4x3,b=4", "c=scalar"]) == {"W": (4, 3), "b": (4,), "c": ()}
    start = random_start({"W": (4, 3), "c": ()}, 1)
    assert start["W"].shape == (4, 3) and isinstance(start["c"], float)
    layout = Layout(("W", "c", "b"), ((2, 3), (), (2,)))
    x = np.arange(9.0)
    values = layout.unpack(x)
    np.testing.assert_array_equal(values["W"], [[0, 1, 2], [3, 4, 5]])
    assert values["c"] == 6.0 and list(values["b"]) == [7.0, 8.0]
    np.testing.assert_array_equal(layout.pack(values), x)
    assert layout.labels()[:3] == ["W[0,0]", "W[0,1]", "W[0,2]"] and layout.labels()[6] == "c"


def test_help_has_an_example(cli):
    code, out, _ = cli("minimize", "--help")
    assert code == 0 and "Example: chaincli minimize" in out


# ----- a small network -----

XOR = [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0)]


def xor_network(hidden: int = 3) -> tuple[str, list[str]]:
    """A 2-hidden-3-1 network (tanh, then linear) and its squared error on XOR,
    written out in scalars: one let-binding per sample's output."""
    lines = []
    for i, (a, b, _) in enumerate(XOR):
        units = " + ".join(f"v{j}*tanh(w1{j}*{a} + w2{j}*{b} + c{j})" for j in range(hidden))
        lines.append(f"z{i} = {units} + d")
    loss = " + ".join(f"(z{i} - {t})^2" for i, (_, _, t) in enumerate(XOR))
    names = [f"{p}{j}" for j in range(hidden) for p in ("w1", "w2", "c", "v")] + ["d"]
    return "\n".join(lines) + f"\n({loss})/4", names


@pytest.mark.parametrize("method, extra", [("adam", ["--lr", "0.05", "--steps", "1000"]),
                                           ("lbfgs", [])])
def test_a_small_network_learns_xor_from_a_seed(cli, tmp_path, method, extra):
    text, names = xor_network()
    fit = tmp_path / "xor.json"
    code, out, err = cli("minimize", text, "--init", ",".join(f"{n}=scalar" for n in names),
                         "--seed", "1", "--method", method, *extra, "--out", str(fit),
                         "--json")
    assert code == 0, err
    data = strict_json(out)
    assert data["stopped"] == "converged" and data["loss"] < 0.01
    program = chaincli.compile(text)
    weights = json.loads(fit.read_text())
    for i, (_, _, target) in enumerate(XOR):
        output = chaincli.compile(text.rsplit("\n", 1)[0] + f"\nz{i}").value(weights)
        assert abs(output - target) < 0.1
    assert program.value(weights) == pytest.approx(data["loss"], rel=1e-12, abs=1e-300)


def test_history_stays_bounded():
    history = optimize.History(limit=16)
    for step in range(1000):
        history.add(step, float(step))
    steps = [step for step, _ in history.points]
    assert len(steps) < 16 and steps[0] == 0 and steps == sorted(steps)
    assert len({b - a for a, b in zip(steps, steps[1:])}) == 1  # evenly spaced
    assert steps[-1] > 1000 - 2 * (steps[1] - steps[0])


def test_plot_of_a_single_step(cli):
    code, out, _ = cli("minimize", "x^2", "--at", "x=1", "--steps", "0", "--plot")
    assert code == 0 and "loss by step" in out


def test_progress_bar_on_a_terminal_only():
    from pty_run import run_on_terminal
    code, out, text = run_on_terminal(["minimize", "(x - 3)^2 + (y + 1)^2", "--at", "x=0,y=0", "--method", "gd",
         "--lr", "1e-6", "--steps", "30000", "--tol", "0", "--json"], columns="100")
    assert code == 0
    assert strict_json(out.decode())["steps"] == 30000
    assert "step" in text and "loss" in text and "|grad|" in text
