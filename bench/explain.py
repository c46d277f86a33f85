"""How long the chain-rule explanation takes on inputs built to make it slow.

Run: python bench/explain.py   (against the installed chaincli)

Each case compiles and differentiates once, then times ``explain`` for the
paths view and both traces. The explanation is bounded: whatever the number
of paths, it lists at most --max-paths of them and sums the rest from the
adjoints, so these times grow with the tape, not with the path count.
The machine it ran on (``machine.describe``) is printed first.
"""

from __future__ import annotations

import time

import chaincli
from chaincli.explain.chain import explain
from machine import describe


def squaring_chain(n: int) -> str:
    # u_k = u_{k-1}^2 written as a product: 2^n paths from the output to x.
    return "; ".join(["u1 = x*x"] + [f"u{i} = u{i - 1}*u{i - 1}" for i in range(2, n + 1)]
                     ) + f"; u{n}"


def diamonds_under_a_long_chain(diamonds: int, length: int) -> str:
    # 2^diamonds paths, each as long as the chain: the search's worst case.
    lines = ["a1 = sin(x) + cos(x)"]
    lines += [f"a{i} = sin(a{i - 1}) + cos(a{i - 1})" for i in range(2, diamonds + 1)]
    lines += [f"c0 = a{diamonds}"] + [f"c{i} = sin(c{i - 1})" for i in range(1, length)]
    return "; ".join(lines + [f"c{length - 1}"])


CASES = [
    ("u30 = u29*u29 chain (2^30 paths)", squaring_chain(30), {"x": 1.0}),
    ("u2000 chain (2^2000 paths)", squaring_chain(2000), {"x": 1.0}),
    ("20,000-deep sin chain", "sin(" * 20_000 + "x" + ")" * 20_000, {"x": 0.5}),
    ("4 diamonds under a 20,000 chain", diamonds_under_a_long_chain(4, 20_000), {"x": 0.5}),
    ("sum of 3,000 variables", " + ".join(f"x{i}" for i in range(3000)),
     {f"x{i}": 1.0 for i in range(3000)}),
]


def main() -> None:
    print(describe())
    for label, text, point in CASES:
        result = chaincli.compile(text).gradient(point)
        timings = []
        for view in ("paths", "forward", "reverse"):
            start = time.perf_counter()
            explain(result, view)
            timings.append(f"{view} {time.perf_counter() - start:6.3f} s")
        print(f"{label:36} {len(result.evaluation.tape):>7} entries   " + "   ".join(timings))


if __name__ == "__main__":
    main()
