"""What ``minimize`` costs: the step loop in process, and L-BFGS-B end to end.

    python bench/minimize.py            # about half a minute
    python bench/minimize.py --quick    # fewer repeats

1. In process: plain ``gd`` on Rosenbrock's function (two scalar variables),
   steps per second, next to the bare ``gradient`` calls per second of the
   same compiled expression (what the loop adds is the difference).
2. End to end, cold processes side by side: ``chaincli minimize --method
   lbfgs`` on logistic regression over scikit-learn's breast-cancer data (the
   ten "mean" features, standardized, in a CSV), against a Python script that
   reads the same CSV with NumPy and drives SciPy's L-BFGS-B with a
   hand-written NumPy loss and gradient to the same gradient-norm tolerance.
   Needs scikit-learn (for the data) and a chaincli with tensors; skipped
   with a note otherwise.
3. In process: ``adam`` for a fixed number of steps on two networks' losses:
   W5 (784-128-10 on a batch X 64×784, a log-sum-exp cross-entropy, as in
   bench/network.py) and a small one (X 256×16, tanh hidden layer of 32, one
   output, mean squared error), each against the same Adam written by hand in
   NumPy (forward, backward by hand, the update with chaincli's β1, β2, ε and
   learning rate), timed turn about; steps per second and their ratio (target
   ≥ 0.9×), and the final losses compared. Needs a chaincli with tensors.

Every figure is the median of several runs (wall-clock); the machine
(bench/machine.py) is described first, as figures taken under load are slower.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

import chaincli
from chaincli.optimize.methods import BETA1, BETA2, EPSILON
from chaincli.optimize.problem import Problem, run
from machine import describe
from timing import interleaved_times as interleaved
from timing import median_time as median

PYTHON = sys.executable
CHAINCLI = str(Path(PYTHON).parent / "chaincli")
ROSENBROCK = "(1 - x)^2 + 100*(y - x^2)^2"
LOGISTIC = "z = X @ w + b; mean(softplus(-(2*t - 1)*z))"
NETWORK = "h = tanh(X@W1 + b1); z = h@W2 + b2; mean((z - Y)^2)"
TOL = 1e-8


def table(rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip())


def step_loop(repeat: int) -> list[tuple[str, str, str]]:
    steps = 20_000
    program = chaincli.compile(ROSENBROCK)

    def minimize():
        result = run(Problem(program, {"x": -1.2, "y": 1.0}, None), "gd", lr=1e-4,
                     steps=steps, tol=0.0)
        assert result.steps == steps

    point = {"x": -1.2, "y": 1.0}

    def gradients():
        for _ in range(steps):
            program.gradient(point, wrt=["x", "y"])

    loop = median(minimize, repeat)
    bare = median(gradients, repeat)
    return [("gd on Rosenbrock, in process", f"{steps / loop:,.0f} steps/s",
             "target ≥ 10,000 steps/s"),
            ("  bare gradient calls, same expression", f"{steps / bare:,.0f} calls/s",
             f"the loop adds {1e6 * (loop - bare) / steps:.1f} µs a step")]


def has_tensors() -> bool:
    try:
        result = chaincli.compile("sum(v * v)").gradient({"v": np.array([1.0, 2.0])})
    except Exception:
        return False
    return np.shape(result.gradient["v"]) == (2,) and np.ndim(result.value) == 0


def write_data(folder: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    data = load_breast_cancer()
    features = data.data[:, :10]
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    np.savetxt(folder / "features.csv", features, delimiter=",")
    np.savetxt(folder / "labels.csv", data.target.astype(float), delimiter=",")


SCIPY_SCRIPT = textwrap.dedent("""\
    import sys
    import numpy as np
    from scipy.optimize import minimize
    X = np.loadtxt(sys.argv[1] + "/features.csv", delimiter=",")
    t = np.loadtxt(sys.argv[1] + "/labels.csv", delimiter=",")
    s = 2 * t - 1
    n = len(t)

    def loss_and_gradient(p):
        z = X @ p[:-1] + p[-1]
        m = -s * z
        loss = np.mean(np.logaddexp(0.0, m))
        r = -s / (1.0 + np.exp(-m)) / n
        return loss, np.concatenate([X.T @ r, [r.sum()]])

    def stop(intermediate_result):
        if np.linalg.norm(loss_and_gradient(intermediate_result.x)[1]) <= {tol}:
            raise StopIteration

    result = minimize(loss_and_gradient, np.zeros(X.shape[1] + 1), jac=True,
                      method="L-BFGS-B", callback=stop,
                      options={{"gtol": 0.0, "ftol": 0.0, "maxiter": 1000}})
    print(repr(result.fun))
""")


def logistic(repeat: int) -> list[tuple[str, str, str]]:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return [("lbfgs, logistic regression", "skipped", "scikit-learn is not installed")]
    if not has_tensors():
        return [("lbfgs, logistic regression", "skipped",
                 "this chaincli has no tensor variables")]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_data(folder)
        (folder / "by_hand.py").write_text(SCIPY_SCRIPT.format(tol=TOL))
        zeros = ",".join(["0"] * 10)
        ours = [CHAINCLI, "minimize", LOGISTIC, "--wrt", "w,b", "--at",
                f"X=@{folder}/features.csv,t=@{folder}/labels.csv", "--at",
                f"w=[{zeros}],b=0", "--method", "lbfgs", "--tol", str(TOL), "--format", "plain"]
        peer = [PYTHON, str(folder / "by_hand.py"), str(folder)]
        for command in (ours, peer):  # warm the file cache, and check they run
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                return [("lbfgs, logistic regression", "failed", done.stderr.strip()[:200])]
        mine = median(lambda: subprocess.run(ours, capture_output=True), repeat)
        theirs = median(lambda: subprocess.run(peer, capture_output=True), repeat)
    return [("lbfgs, logistic regression, end to end", f"{mine * 1000:.0f} ms",
             f"SciPy + NumPy by hand {theirs * 1000:.0f} ms: {mine / theirs:.2f}× "
             "(target ≤ 2×)")]


def small_network() -> tuple[str, dict, dict, object]:
    """The 16-32-1 network: (expression, batch, starting parameters, loss and gradient
    by hand), from a fixed seed."""
    rng = np.random.default_rng(0)
    data = {"X": rng.normal(size=(256, 16)), "Y": rng.normal(size=(256, 1))}
    start = {"W1": rng.normal(0.0, 1 / 4, size=(16, 32)), "b1": np.zeros(32),
             "W2": rng.normal(0.0, 1 / np.sqrt(32), size=(32, 1)), "b2": np.zeros(1)}
    return NETWORK, data, start, small_by_hand


def small_by_hand(X, Y, W1, b1, W2, b2) -> tuple[float, dict[str, np.ndarray]]:
    """The 16-32-1 network's loss and its gradient, the backward pass written out."""
    h = np.tanh(X @ W1 + b1)
    r = h @ W2 + b2 - Y
    dz = (2.0 / r.size) * r
    dh = (dz @ W2.T) * (1.0 - h * h)
    return float(np.mean(r * r)), {"W1": X.T @ dh, "b1": dh.sum(axis=0),
                                   "W2": h.T @ dz, "b2": dz.sum(axis=0)}


def w5_network() -> tuple[str, dict, dict, object]:
    """W5, the 784-128-10 network on a batch X 64×784 of bench/network.py, with its
    log-sum-exp cross-entropy and the same network by hand."""
    import network
    rng = np.random.default_rng(1)
    data = {"X": rng.random((64, 784)), "T": np.eye(10)[rng.integers(0, 10, 64)]}
    start = {"W1": rng.normal(0, 784 ** -0.5, (784, 128)), "b1": np.zeros(128),
             "W2": rng.normal(0, 128 ** -0.5, (128, 10)), "b2": np.zeros(10)}
    return network.BATCHED, data, start, lambda **a: network._hand_batched(a, True)


def adam_by_hand(by_hand, data, start, lr: float, steps: int) -> float:
    """Adam as ``chaincli.optimize.methods`` runs it, on the network written by
    hand: the loss and gradient at the start, then per step the update and the
    loss and gradient at the new point. Returns the last loss."""
    params = {name: value.copy() for name, value in start.items()}
    loss, grads = by_hand(**data, **params)
    m = {name: np.zeros_like(value) for name, value in params.items()}
    v = {name: np.zeros_like(value) for name, value in params.items()}
    for t in range(1, steps + 1):
        unbias1, unbias2 = 1 - BETA1 ** t, 1 - BETA2 ** t
        for name, g in grads.items():
            m[name] = BETA1 * m[name] + (1 - BETA1) * g
            v[name] = BETA2 * v[name] + (1 - BETA2) * (g * g)
            params[name] = params[name] - lr * (m[name] / unbias1) / (
                np.sqrt(v[name] / unbias2) + EPSILON)
        loss, grads = by_hand(**data, **params)
    return loss


def adam_network(repeat: int, task: str, network) -> list[tuple[str, str, str]]:
    if not has_tensors():
        return [("adam on a network", "skipped", "this chaincli has no tensor variables")]
    steps, lr = 200, 1e-3
    expression, data, start, by_hand = network()
    program = chaincli.compile(expression)
    calls = 0
    gradient, checked_gradient = program.gradient, program.checked_gradient

    def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return gradient(*args, **kwargs)

    def counted_checked(*args, **kwargs):
        nonlocal calls
        calls += 1
        return checked_gradient(*args, **kwargs)

    def ours():
        # tol 0: the gradient norm never reaches it, so every run takes all the steps.
        return run(Problem(program, {**data, **start}, list(start)), "adam", lr=lr,
                   steps=steps, tol=0.0)

    # The steps call checked_gradient (their points are checked once); the
    # checks at the end of a run call gradient.
    program.gradient, program.checked_gradient = counted, counted_checked
    result = ours()
    del program.gradient, program.checked_gradient
    # All the steps are taken; W5's cross-entropy on 64 separable samples has no
    # minimum (it falls to 0 far out), which minimize finds after its last step.
    assert result.steps == steps, result.message
    hand_loss = adam_by_hand(by_hand, data, start, lr, steps)
    difference = abs(result.loss - hand_loss) / abs(hand_loss)
    mine, theirs = interleaved(ours, lambda: adam_by_hand(by_hand, data, start, lr, steps),
                               repeat)
    point, names = {**data, **start}, list(start)
    bare, bare_hand = interleaved(
        lambda: [program.gradient(point, wrt=names) for _ in range(steps)],
        lambda: [by_hand(**point) for _ in range(steps)], repeat)
    same = "the same" if difference <= 1e-9 else "NOT the same"
    return [(f"adam on {task}, in process",
             f"{steps / mine:,.0f} steps/s",
             f"NumPy by hand {steps / theirs:,.0f} steps/s: {theirs / mine:.2f}× "
             "(target ≥ 0.9×)"),
            ("  bare gradient calls, same expression", f"{steps / bare:,.0f} calls/s",
             f"by hand {steps / bare_hand:,.0f} calls/s: {bare_hand / bare:.2f}×; the loop "
             f"adds {1e6 * (mine - bare) / steps:.0f} µs a step"),
            (f"  final loss after {steps} steps", f"{result.loss:.12g}",
             f"by hand {hand_loss:.12g}: relative difference {difference:.1e}, "
             f"{same} to 1e-9"),
            ("  gradient calls in a run", f"{calls}",
             f"by hand {steps + 1}: {steps + 1} for the steps, the rest checks at the end "
             f"(stopped: {result.stopped})")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    repeat = 3 if parser.parse_args().quick else 7
    print(describe())
    table([("task", "chaincli", "peer / note"), *step_loop(repeat), *logistic(repeat),
           *adam_network(repeat, "W5, a 784-128-10 network (X 64×784)", w5_network),
           *adam_network(repeat, "a 16-32-1 network (X 256×16)", small_network)])


if __name__ == "__main__":
    main()
