"""A LeNet-sized CNN: chaincli's gradient against PyTorch, or against NumPy by hand.

    python bench/cnn.py           # run it with the interpreter chaincli is installed for
    python bench/cnn.py --quick   # fewer repeats

The network: a 1×28×28 image, 8 kernels 3×3 (conv2d, valid), a bias per
channel, relu, a 2×2 max-pool, flatten, a dense layer to 10 and softmax
cross-entropy. Three measurements:

1. One-shot from the shell: ``chaincli grad`` of the loss by every parameter,
   parameters in an ``.npz``, against a cold Python script computing the same
   (PyTorch's ``backward()`` when PyTorch is installed; otherwise NumPy by
   hand, im2col and its transpose written out, and the peer says so).
2. In process, a batch of 64 images: ``gradient`` against PyTorch eager
   (float64, CPU) or the same NumPy by hand; the answers are compared too.
3. ``minimize`` training the network (with 8×8 inputs) on scikit-learn's
   bundled digits, full-batch Adam, 200 steps: the wall-clock time and the
   test accuracy (tests/test_conv.py holds the accuracy to 95%).

Every figure is a median of several runs; the machine it ran on
(``machine.describe``: CPU, NumPy's AVX-512 kernels, OpenBLAS, affinity,
load) is printed first.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe
from network import has_torch, run_process
from timing import interleaved_times as interleaved

PYTHON = sys.executable
CHAINCLI = str(Path(PYTHON).parent / "chaincli")

ONE_SHOT = ("h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); z = W @ flatten(p) + c; "
            "-sum(t * logsoftmax(z))")
BATCHED = ("h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); "
           "z = flatten(p, 1) @ transpose(W) + c; -mean(sum(T * logsoftmax(z), 1))")
DIGITS = ("h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); z = flatten(p, 1) @ W + c; "
          "-mean(sum(T * logsoftmax(z), 1))")
PARAMETERS = ["K", "b", "W", "c"]

# The same loss and gradients, by hand: im2col forward, its transpose backward.
NUMPY_CNN = '''
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

def loss_and_gradient(X, K, b, W, c, T):
    n = X.shape[0]
    win = sliding_window_view(X, K.shape[2:], axis=(2, 3))      # (N, C, H', W', 3, 3)
    a = np.einsum("nchwij,ocij->nohw", win, K, optimize=True) + b
    h = np.maximum(a, 0.0)
    N, O, H, Wd = h.shape
    grid = h.reshape(N, O, H // 2, 2, Wd // 2, 2)
    p = grid.max(axis=(3, 5))
    flat = p.reshape(N, -1)
    z = flat @ W.T + c
    s = z - z.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    loss = -np.sum(T * logp) / n
    dz = (np.exp(logp) * T.sum(axis=1, keepdims=True) - T) / n
    dW, dc = dz.T @ flat, dz.sum(axis=0)
    dp = (dz @ W).reshape(p.shape)
    first = grid.transpose(0, 1, 2, 4, 3, 5).reshape(N, O, H // 2, Wd // 2, 4).argmax(-1)
    dgrid = np.zeros((N, O, H // 2, Wd // 2, 4))
    np.put_along_axis(dgrid, first[..., None], dp[..., None], -1)
    dh = dgrid.reshape(N, O, H // 2, Wd // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(h.shape)
    da = dh * (a > 0)
    db = da.sum(axis=(0, 2, 3)).reshape(b.shape)
    dK = np.einsum("nohw,nchwij->ocij", da, win, optimize=True)
    return loss, {"K": dK, "b": db, "W": dW, "c": dc}
'''

NUMPY_ONE_SHOT = NUMPY_CNN + '''
import sys
params = np.load(sys.argv[1])
X, t = np.load(sys.argv[2])[None], np.load(sys.argv[3])[None]
loss, grads = loss_and_gradient(X, params["K"], params["b"], params["W"], params["c"], t)
print(loss, *(float(np.linalg.norm(grads[k])) for k in ("K", "b", "W", "c")))
'''

TORCH_ONE_SHOT = """
import sys, numpy as np, torch
params = np.load(sys.argv[1])
x, t = np.load(sys.argv[2]), np.load(sys.argv[3])
p = {k: torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in params.files}
a = torch.nn.functional.conv2d(torch.tensor(x)[None], p["K"])[0] + p["b"]
h = torch.nn.functional.max_pool2d(torch.relu(a), 2)
z = p["W"] @ h.reshape(-1) + p["c"]
loss = -torch.sum(torch.tensor(t) * torch.log_softmax(z, dim=-1))
loss.backward()
print(float(loss), *(float(p[k].grad.norm()) for k in ("K", "b", "W", "c")))
"""


def parameters(rng) -> dict[str, np.ndarray]:
    return {"K": rng.normal(0, 1 / 3, size=(8, 1, 3, 3)), "b": np.zeros((8, 1, 1)),
            "W": rng.normal(0, 1352 ** -0.5, size=(10, 1352)), "c": np.zeros(10)}


def one_shot(folder: Path, repeat: int) -> list[tuple[str, str, str, str]]:
    rng = np.random.default_rng(0)
    np.savez(folder / "params.npz", **parameters(rng))
    np.save(folder / "x.npy", rng.random((1, 28, 28)))
    np.save(folder / "t.npy", np.eye(10)[3])
    files = [str(folder / name) for name in ("params.npz", "x.npy", "t.npy")]
    ours_command = [CHAINCLI, "grad", ONE_SHOT, "--at", f"@{files[0]}",
                    "--at", f"X=@{files[1]},t=@{files[2]}", "--wrt", ",".join(PARAMETERS),
                    "--json"]
    ours = statistics.median(run_process(ours_command)[0] for _ in range(repeat))
    torch = has_torch()
    script = folder / "peer.py"
    script.write_text(TORCH_ONE_SHOT if torch else NUMPY_ONE_SHOT)
    peer = statistics.median(run_process([PYTHON, str(script), *files])[0]
                             for _ in range(repeat))
    name = "PyTorch script" if torch else "NumPy-by-hand script"
    return [("LeNet-sized CNN, grad from the shell", f"{ours * 1000:.0f} ms",
             f"{name} {peer * 1000:.0f} ms", f"{ours / peer:.2f}×")]


def in_process(repeat: int) -> list[tuple[str, str, str, str]]:
    import chaincli
    rng = np.random.default_rng(1)
    arrays = {**parameters(rng), "X": rng.random((64, 1, 28, 28)),
              "T": np.eye(10)[rng.integers(0, 10, 64)]}
    expr = chaincli.compile(BATCHED)

    def ours():
        return expr.gradient(arrays, wrt=PARAMETERS)

    if has_torch():
        import torch
        tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in PARAMETERS)
                   for k, v in arrays.items()}

        def peer():
            for name in PARAMETERS:
                tensors[name].grad = None
            a = torch.nn.functional.conv2d(tensors["X"], tensors["K"]) + tensors["b"]
            h = torch.nn.functional.max_pool2d(torch.relu(a), 2)
            z = h.reshape(64, -1) @ tensors["W"].T + tensors["c"]
            loss = -torch.mean(torch.sum(tensors["T"] * torch.log_softmax(z, dim=-1), 1))
            loss.backward()
            return float(loss.detach()), {k: tensors[k].grad.numpy() for k in PARAMETERS}
        name = "PyTorch eager"
    else:
        space: dict = {}
        exec(NUMPY_CNN, space)
        hand = space["loss_and_gradient"]

        def peer():
            return hand(arrays["X"], arrays["K"], arrays["b"], arrays["W"], arrays["c"],
                        arrays["T"])
        name = "NumPy by hand"
    mine, theirs = interleaved(ours, peer, repeat)
    result = ours()
    loss, grads = peer()
    worst = max(float(np.max(np.abs(result.gradient[k] - grads[k])) / np.max(np.abs(grads[k])))
                for k in PARAMETERS)
    worst = max(worst, abs(result.value - loss) / abs(loss))
    return [("  batch of 64 in process: gradient", f"{mine * 1000:.1f} ms",
             f"{name} {theirs * 1000:.1f} ms", f"{mine / theirs:.2f}×"),
            ("  largest difference, relative to the largest element", f"{worst:.1e}", "", "")]


def training(folder: Path) -> list[tuple[str, str, str, str]]:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        return [("digits training", "skipped: scikit-learn is not installed", "", "")]
    import chaincli
    digits = load_digits()
    images = digits.images[:, None] / 16.0
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    np.savez(folder / "train.npz", X=train_x, T=np.eye(10)[train_y])
    fit = folder / "fit.npz"
    command = [CHAINCLI, "minimize", DIGITS, "--at", f"@{folder / 'train.npz'}", "--wrt",
               ",".join(PARAMETERS), "--init", "K=8x1x3x3,b=8x1x1,W=72x10,c=10", "--seed",
               "0", "--method", "adam", "--lr", "0.03", "--steps", "200", "--out", str(fit),
               "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"minimize failed: {done.stderr.strip()}")
    with np.load(fit) as saved:
        logits = chaincli.compile("h = relu(conv2d(X, K) + b); flatten(maxpool2d(h, 2), 1) "
                                  "@ W + c").value({"X": test_x, **saved})
    accuracy = float(np.mean(np.argmax(logits, axis=1) == test_y))
    return [(f"minimize on the 8×8 digits ({len(train_y)} images, 200 Adam steps)",
             f"{elapsed:.1f} s", f"test accuracy {accuracy:.1%}", "")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    options = parser.parse_args()
    repeat = 3 if options.quick else 7
    print(describe())
    print(f"PyTorch {'present' if has_torch() else 'not installed: the peer is NumPy by hand'}")
    with tempfile.TemporaryDirectory(prefix="chaincli-bench-") as name:
        rows = one_shot(Path(name), repeat) + in_process(repeat * 3) + training(Path(name))
    width = max(len(r[0]) for r in rows)
    print(f"{'task':<{width}}  {'chaincli':>10}  {'peer':<34} ratio")
    for task, ours, peer, ratio in rows:
        print(f"{task:<{width}}  {ours:>10}  {peer:<34} {ratio}")


if __name__ == "__main__":
    main()
