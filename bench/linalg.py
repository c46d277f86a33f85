"""Linear algebra: the gradient of a Gaussian's negative log-likelihood against NumPy.

    python bench/linalg.py             # run it with the interpreter chaincli is installed for
    python bench/linalg.py --quick     # fewer repeats
    python bench/linalg.py --rounds 9  # more rounds

In process, side by side in one run: ``chaincli.compile`` of a Gaussian's
negative log-likelihood over N samples (X N×n, a mean mu and a covariance S
n×n), ``gradient`` with respect to mu and S, against a gradient written by
hand in NumPy with ``solve`` and ``slogdet`` (the floor: the least work the
formula needs). The answers are compared too (relative difference), and
the minor page faults a call of each side are counted: memory the C
allocator returned to the system and faulted in again.

Each round times both sides in interleaved runs and takes their medians;
the figures printed are the medians over several rounds (the ratio the median
of the rounds' ratios, with their range), as one round on a shared machine can
meet a neighbour's burst. The machine (bench/machine.py, with the load
average) is described first. On a busy machine ``OPENBLAS_NUM_THREADS=1``
steadies both sides alike: BLAS's two threads otherwise wait on each other's core.
"""

from __future__ import annotations

import argparse
import resource
import statistics

import numpy as np
from machine import describe
from timing import interleaved_times as interleaved

NLL = "D = X - mu; 0.5*{N}*logdet(S) + 0.5*sum(D' * solve(S, D'))"


def problem(n: int, samples: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    return {"X": rng.normal(size=(samples, n)), "mu": rng.normal(size=n),
            "S": m @ m.T / n + np.eye(n)}


def covariances(s, count: int) -> list:
    """``count`` distinct covariances near s, taken in turn by both sides: each
    call meets a matrix it has not just factored, as an optimizer's steps do."""
    return [s + 1e-3 * k * np.eye(len(s)) for k in range(count)]


def by_hand(arrays: dict) -> tuple[float, dict]:
    """The negative log-likelihood and its gradient, written out in NumPy."""
    x, mu, s = arrays["X"], arrays["mu"], arrays["S"]
    d = (x - mu).T
    z = np.linalg.solve(s, d)
    _, logdet = np.linalg.slogdet(s)
    samples = x.shape[0]
    value = 0.5 * samples * logdet + 0.5 * float(np.sum(d * z))
    inverse = np.linalg.solve(s, np.eye(len(s)))
    return value, {"mu": -z.sum(axis=1), "S": 0.5 * (samples * inverse.T - z @ z.T)}


def gaussian(n: int, samples: int, repeat: int, rounds: int) -> list[tuple[str, str, str, str]]:
    import chaincli
    arrays = problem(n, samples)
    turns = covariances(arrays["S"], 8)
    expr = chaincli.compile(NLL.format(N=samples))
    count = [0, 0]

    def next_point(side: int) -> dict:
        count[side] += 1
        return {**arrays, "S": turns[count[side] % len(turns)]}

    def ours():
        return expr.gradient(next_point(0), wrt=["mu", "S"])

    def floor():
        return by_hand(next_point(1))

    measured = [interleaved(ours, floor, repeat) for _ in range(rounds)]
    faults = (page_faults(ours, repeat), page_faults(floor, repeat))
    ours_t = statistics.median(t[0] for t in measured)
    floor_t = statistics.median(t[1] for t in measured)
    ratios = [t[0] / t[1] for t in measured]
    count[1] = count[0]  # both answer for the same covariance
    result, (value, gradient) = ours(), floor()
    worst = max(float(np.max(np.abs(result.gradient[k] - gradient[k]))
                      / np.max(np.abs(gradient[k]))) for k in gradient)
    worst = max(worst, abs(result.value - value) / abs(value))
    return [(f"Gaussian NLL, S {n}×{n}, {samples:,} samples: gradient",
             f"{ours_t * 1000:.2f} ms", f"NumPy by hand {floor_t * 1000:.2f} ms",
             f"{statistics.median(ratios):.2f}× (rounds {min(ratios):.2f}–{max(ratios):.2f}×, "
             f"limit 1.2×)"),
            ("  largest difference, relative to the largest element", f"{worst:.1e}", "",
             ""),
            ("  page faults a call (fresh memory touched)", f"{faults[0]:.0f}",
             f"NumPy by hand {faults[1]:.0f}", "")]


def page_faults(call, repeat: int) -> float:
    """Minor page faults per call, over ``repeat`` calls: memory the C allocator
    gave back to the system and took again (engine/allocator.py)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeat):
        call()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--rounds", type=int, help="rounds of interleaved runs (5; 3 quick)")
    options = parser.parse_args()
    repeat = 15 if options.quick else 41
    rounds = max(1, options.rounds or (3 if options.quick else 5))
    print(describe())
    print(f"Median of {rounds} rounds of {repeat} interleaved runs")
    rows = gaussian(200, 1000, repeat, rounds)
    width = max(len(r[0]) for r in rows)
    print(f"{'task':<{width}}  {'chaincli':>10}  {'floor':<26} ratio")
    for task, ours, peer, ratio in rows:
        print(f"{task:<{width}}  {ours:>10}  {peer:<26} {ratio}")


if __name__ == "__main__":
    main()
