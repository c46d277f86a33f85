"""Networks: chaincli's tensor gradients against NumPy by hand and PyTorch (CPU, float64).

    python bench/network.py           # run it with the interpreter chaincli is installed for
    python bench/network.py --quick   # fewer repeats

Two measurements, each side by side with PyTorch when it is installed (it is
skipped otherwise, and only chaincli's figures are printed):

1. One-shot from the shell: ``chaincli grad`` of a 784-128-10 network with
   softmax cross-entropy, parameters in an ``.npz`` (float64), against a
   Python script that loads the same ``.npz`` into PyTorch and calls
   ``backward()``: both cold processes; also chaincli's peak memory against
   the parameters' bytes.
2. In process: ``chaincli.compile`` of a two-layer network on a batch held as
   matrices (X 64×784, ``tanh(X @ W1 + b1)``, a log-sum-exp cross-entropy),
   ``gradient`` against PyTorch eager's forward and backward, and ``value``
   against its forward, on the same float64 arrays; the answers are compared
   too (relative difference).
3. In process, always: the batched network and the 784-128-10 network at one
   input x, ``gradient`` and ``value`` against the same network written by
   hand in NumPy (the floor a NumPy engine can reach; target 1.1×), timed
   turn about, answers compared. Each twice: every array given afresh (each is
   checked on every call), and with the arrays that stay the same from call to
   call frozen (``chaincli.freeze``: checked once) — the batch's data X, T in
   a training loop, the weights at one input, as an inference loop holds them.

Every figure is a median of several runs; the machine (bench/machine.py) is
described first.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe
from timing import interleaved_times as interleaved

PYTHON = sys.executable
CHAINCLI = str(Path(PYTHON).parent / "chaincli")

ONE_SHOT = "h = tanh(W1 @ x + b1); p = softmax(W2 @ h + b2); -sum(t * log(p))"
BATCHED = "h = tanh(X @ W1 + b1); z = h @ W2 + b2; mean(logsumexp(z) - sum(z * T, 1))"

TORCH_ONE_SHOT = """
import sys, numpy as np, torch
params = np.load(sys.argv[1])
x, t = np.load(sys.argv[2]), np.load(sys.argv[3])
p = {k: torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in params.files}
h = torch.tanh(p["W1"] @ torch.tensor(x) + p["b1"])
prob = torch.softmax(p["W2"] @ h + p["b2"], dim=-1)
loss = -torch.sum(torch.tensor(t) * torch.log(prob))
loss.backward()
print(float(loss), *(float(p[k].grad.norm()) for k in ("W1", "b1", "W2", "b2")))
"""


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def network_files(folder: Path, seed: int = 0) -> tuple[Path, Path, Path, int]:
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(0, 784 ** -0.5, size=(128, 784)), "b1": np.zeros(128),
              "W2": rng.normal(0, 128 ** -0.5, size=(10, 128)), "b2": np.zeros(10)}
    np.savez(folder / "params.npz", **params)
    x = rng.random(784)
    t = np.zeros(10)
    t[3] = 1.0
    np.save(folder / "x.npy", x)
    np.save(folder / "t.npy", t)
    return (folder / "params.npz", folder / "x.npy", folder / "t.npy",
            sum(a.nbytes for a in params.values()))


def run_process(command: list[str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one cold run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{command[0]} failed: {done.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def peak_mib(command: list[str]) -> float:
    """Peak resident memory of one run, from /usr/bin/time when it is there."""
    if not Path("/usr/bin/time").exists():
        return float("nan")
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True,
                          text=True)
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def one_shot(folder: Path, repeat: int) -> list[tuple[str, str, str, str]]:
    params, x, t, nbytes = network_files(folder)
    ours_command = [CHAINCLI, "grad", ONE_SHOT, "--at", f"@{params}",
                    "--at", f"x=@{x},t=@{t}", "--wrt", "W1,b1,W2,b2", "--json"]
    ours = statistics.median(run_process(ours_command)[0] for _ in range(repeat))
    memory = peak_mib(ours_command)
    limit = 3 * nbytes / 2 ** 20 + 60
    rows = [("784-128-10 network, grad from the shell", f"{ours * 1000:.0f} ms", "", ""),
            ("  peak memory", f"{memory:.0f} MiB", "limit 3×params + 60 MiB",
             f"{limit:.0f} MiB")]
    if has_torch():
        script = folder / "torch_one_shot.py"
        script.write_text(TORCH_ONE_SHOT)
        peer = statistics.median(
            run_process([PYTHON, str(script), str(params), str(x), str(t)])[0]
            for _ in range(repeat))
        rows[0] = (rows[0][0], rows[0][1], f"PyTorch script {peer * 1000:.0f} ms",
                   f"{ours / peer:.2f}×")
    return rows


def in_process(repeat: int) -> list[tuple[str, str, str, str]]:
    import chaincli
    rng = np.random.default_rng(1)
    arrays = {"X": rng.random((64, 784)), "W1": rng.normal(0, 784 ** -0.5, (784, 128)),
              "b1": np.zeros(128), "W2": rng.normal(0, 128 ** -0.5, (128, 10)),
              "b2": np.zeros(10), "T": np.eye(10)[rng.integers(0, 10, 64)]}
    expr = chaincli.compile(BATCHED)
    wrt = ["W1", "b1", "W2", "b2"]

    def ours_gradient():
        return expr.gradient(arrays, wrt=wrt)

    def ours_value():
        return expr.value(arrays)

    rows = _against_hand_numpy("two-layer network, X 64×784", ours_gradient, ours_value,
                               lambda: _hand_batched(arrays, True),
                               lambda: _hand_batched(arrays, False), wrt, repeat)
    held = _frozen(arrays, ("X", "T"))
    rows += _against_hand_numpy("  the same, X and T frozen",
                                lambda: expr.gradient(held, wrt=wrt), lambda: expr.value(held),
                                lambda: _hand_batched(arrays, True),
                                lambda: _hand_batched(arrays, False), wrt, repeat)
    rows += _single_input(repeat)
    if not has_torch():
        return rows
    import torch
    torch.set_grad_enabled(True)
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in wrt)
               for k, v in arrays.items()}

    def torch_loss():
        h = torch.tanh(tensors["X"] @ tensors["W1"] + tensors["b1"])
        z = h @ tensors["W2"] + tensors["b2"]
        return torch.mean(torch.logsumexp(z, dim=-1) - torch.sum(z * tensors["T"], dim=1))

    def torch_gradient():
        for name in wrt:
            tensors[name].grad = None
        loss = torch_loss()
        loss.backward()
        return loss

    ours_g, peer_g = interleaved(ours_gradient, torch_gradient, repeat)
    ours_v, peer_v = interleaved(ours_value, torch_loss, repeat)
    result = ours_gradient()
    torch_gradient()
    # Relative to each gradient's largest element: elements near 0 differ in
    # their last bits with the order of summation inside the two BLAS calls.
    worst = max(float(np.max(np.abs(result.gradient[k] - tensors[k].grad.numpy()))
                      / np.max(np.abs(tensors[k].grad.numpy()))) for k in wrt)
    value_error = abs(result.value - float(torch_loss().detach())) / abs(result.value)
    rows.append(("two-layer network, X 64×784: gradient", f"{ours_g * 1000:.2f} ms",
                 f"PyTorch fwd+bwd {peer_g * 1000:.2f} ms", f"{ours_g / peer_g:.2f}×"))
    rows.append(("  value", f"{ours_v * 1000:.2f} ms",
                 f"PyTorch forward {peer_v * 1000:.2f} ms", f"{ours_v / peer_v:.2f}×"))
    rows.append(("  largest difference, relative to the largest element",
                 f"{max(worst, value_error):.1e}", "", ""))
    return rows


def _hand_batched(a, with_gradient: bool):
    """The batched network's loss (and gradient) in NumPy, as one would write it."""
    X, T = a["X"], a["T"]
    h = np.tanh(X @ a["W1"] + a["b1"])
    z = h @ a["W2"] + a["b2"]
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(m[:, 0] + np.log(s[:, 0]) - (z * T).sum(axis=1)))
    if not with_gradient:
        return loss
    dz = (e / s - T) / X.shape[0]
    da = (dz @ a["W2"].T) * (1 - h * h)
    return loss, {"W1": X.T @ da, "b1": da.sum(0), "W2": h.T @ dz, "b2": dz.sum(0)}


def _hand_single(a, with_gradient: bool):
    """The network at one input x (784), softmax cross-entropy, in NumPy."""
    h = np.tanh(a["W1"] @ a["x"] + a["b1"])
    z = a["W2"] @ h + a["b2"]
    e = np.exp(z - z.max())
    p = e / e.sum()
    loss = float(-np.sum(a["t"] * np.log(p)))
    if not with_gradient:
        return loss
    dz = p * a["t"].sum() - a["t"]
    da = (a["W2"].T @ dz) * (1 - h * h)
    return loss, {"W1": np.outer(da, a["x"]), "b1": da, "W2": np.outer(dz, h), "b2": dz}


def _against_hand_numpy(task, ours_gradient, ours_value, hand_gradient, hand_value, wrt,
                        repeat):
    """Rows for chaincli's gradient and value against the same network in NumPy by hand
    (the floor a NumPy engine can reach; target 1.1×), answers compared."""
    ours_g, floor_g = interleaved(ours_gradient, hand_gradient, repeat)
    ours_v, floor_v = interleaved(ours_value, hand_value, repeat)
    result = ours_gradient()
    loss, gradient = hand_gradient()
    worst = max(float(np.max(np.abs(result.gradient[k] - gradient[k]))
                      / np.max(np.abs(gradient[k]))) for k in wrt)
    worst = max(worst, abs(result.value - loss) / abs(loss))
    return [(f"{task}: gradient", f"{ours_g * 1000:.3f} ms",
             f"NumPy by hand {floor_g * 1000:.3f} ms (≤ 1.1×)", f"{ours_g / floor_g:.2f}×"),
            ("  value", f"{ours_v * 1000:.3f} ms",
             f"NumPy by hand {floor_v * 1000:.3f} ms (≤ 1.1×)", f"{ours_v / floor_v:.2f}×"),
            ("  largest difference, relative to the largest element", f"{worst:.1e}", "", "")]


def _single_input(repeat: int):
    import chaincli
    rng = np.random.default_rng(2)
    arrays = {"W1": rng.normal(0, 784 ** -0.5, (128, 784)), "b1": np.zeros(128),
              "W2": rng.normal(0, 128 ** -0.5, (10, 128)), "b2": np.zeros(10),
              "x": rng.random(784), "t": np.eye(10)[3]}
    expr = chaincli.compile(ONE_SHOT)
    wrt = ["W1", "b1", "W2", "b2"]
    rows = _against_hand_numpy("784-128-10 network, one input x",
                               lambda: expr.gradient(arrays, wrt=wrt),
                               lambda: expr.value(arrays),
                               lambda: _hand_single(arrays, True),
                               lambda: _hand_single(arrays, False), wrt, repeat)
    held = _frozen(arrays, wrt)
    return rows + _against_hand_numpy("  the same, the weights frozen",
                                      lambda: expr.gradient(held, wrt=wrt),
                                      lambda: expr.value(held),
                                      lambda: _hand_single(arrays, True),
                                      lambda: _hand_single(arrays, False), wrt, repeat)


def _frozen(arrays, names):
    """The arrays, those of ``names`` frozen: checked once, never again."""
    import chaincli
    return {name: chaincli.freeze(value) if name in names else value
            for name, value in arrays.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    options = parser.parse_args()
    repeat = 3 if options.quick else 7
    print(describe())
    print(f"PyTorch {'present' if has_torch() else 'not installed: its rows are skipped'}")
    with tempfile.TemporaryDirectory(prefix="chaincli-bench-") as name:
        rows = one_shot(Path(name), repeat) + in_process(repeat * 10)
    width = max(len(r[0]) for r in rows)
    print(f"{'task':<{width}}  {'chaincli':>10}  {'peer':<34} ratio")
    for task, ours, peer, ratio in rows:
        print(f"{task:<{width}}  {ours:>10}  {peer:<34} {ratio}")


if __name__ == "__main__":
    main()
