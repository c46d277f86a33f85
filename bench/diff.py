"""diff of a network: the gradient formula of a 784-128-10 network's loss, from the shell.

    python bench/diff.py           # run it with the interpreter chaincli is installed for
    python bench/diff.py --quick   # fewer repeats

Two measurements:
1. One-shot from the shell: ``chaincli diff LOSS --wrt W --at @params.npz`` for each
   weight (only the shapes are read), a cold process each; the target is at most 0.3 s.
2. In process: the derived formula, compiled by chaincli and evaluated, against
   ``grad``'s own reverse sweep of the loss for the same variable (``gradient``
   with ``wrt``); the formula must not repeat work the sweep shares, so the
   target is at most 1.5x. The answers are compared too (relative difference).
Every figure is a median of several runs; the machine is described first.
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
from timing import interleaved_times

PYTHON = sys.executable
CHAINCLI = str(Path(PYTHON).parent / "chaincli")
LOSS = "h = tanh(W1@x + b1); z = W2@h + b2; -sum(t*logsoftmax(z))"
WEIGHTS = ("W1", "b1", "W2", "b2")


def _point() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"W1": rng.normal(size=(128, 784)) * 0.05, "b1": np.zeros(128),
            "W2": rng.normal(size=(10, 128)) * 0.1, "b2": np.zeros(10),
            "x": rng.random(784), "t": np.eye(10)[3]}


def one_shot(folder: Path, repeat: int) -> None:
    params = folder / "params.npz"
    np.savez(params, **_point())
    print("\n1. One-shot: chaincli diff LOSS --wrt W --at @params.npz (cold process)")
    print(f"{'variable':<10}{'median':>10}{'target':>10}{'ratio':>8}")
    for name in WEIGHTS:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            done = subprocess.run([CHAINCLI, "diff", LOSS, "--wrt", name, "--at", f"@{params}"],
                                  capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if done.returncode:
                raise SystemExit(f"chaincli diff failed: {done.stderr}")
        median = statistics.median(times)
        print(f"{name:<10}{median * 1e3:>8.0f} ms{300:>7} ms{median / 0.3:>7.2f}x")


def in_process(repeat: int) -> None:
    import chaincli
    from chaincli.calculus.derivatives import differentiate
    point = _point()
    program = chaincli.compile(LOSS)
    print("\n2. In process: the derived formula evaluated, against grad's reverse sweep")
    print(f"{'variable':<10}{'formula':>11}{'sweep':>11}{'ratio':>8}{'target':>8}{'rel. diff':>11}")
    for name in WEIGHTS:
        formula = chaincli.compile(differentiate(program, name, 1, point).text)
        used = {k: v for k, v in point.items() if k in formula.variables}
        swept = program.gradient(point, wrt=[name]).gradient[name]
        value = np.asarray(formula.value(used))
        difference = float(np.abs(value - swept).max() / max(np.abs(swept).max(), 1e-300))
        formula_time, sweep_time = interleaved_times(lambda: formula.value(used),
                                                     lambda: program.gradient(point, wrt=[name]),
                                                     repeat)
        print(f"{name:<10}{formula_time * 1e3:>8.3f} ms{sweep_time * 1e3:>8.3f} ms"
              f"{formula_time / sweep_time:>7.2f}x{'1.5x':>8}{difference:>11.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    options = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as folder:
        one_shot(Path(folder), 3 if options.quick else 7)
    in_process(50 if options.quick else 300)


if __name__ == "__main__":
    main()
