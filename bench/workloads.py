"""Generated workloads for the benchmark: big expressions and files of points.

Deterministic (fixed seeds). ``big_expression(n_vars)`` builds a sum of
terms of about 20 nodes each, 0.7 terms per variable, so 1,000 variables make
about 14,000 nodes and 10,000 about 140,000; every variable is used. It is a
flat sum, so peers that recurse on the syntax tree can at least parse the
smaller one.
"""

from __future__ import annotations

import json
import random

_UNARY = ("sin", "cos", "tanh", "exp", "sigmoid", "atan")


def big_expression(n_vars: int, seed: int = 1) -> tuple[str, dict[str, float]]:
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(n_vars)]
    n_terms = n_vars * 7 // 10
    terms = []
    for k in range(n_terms):
        # a and c between them use every variable; b is any.
        a, b, c = names[k], rng.choice(names), names[(k + n_terms) % n_vars]
        f, g = rng.choice(_UNARY), rng.choice(_UNARY)
        w = round(rng.uniform(0.1, 2.0), 3)
        terms.append(f"{w}*{f}({a}*{b} - {c}) + {g}({b}/(1 + {c}^2))*{a}")
    text = " + ".join(terms)
    point = {name: round(rng.uniform(-1.0, 1.0), 6) for name in names}
    return text, point


def small_points(count: int, seed: int = 2):
    rng = random.Random(seed)
    for _ in range(count):
        yield {"x": round(rng.uniform(-2, 2), 6), "y": round(rng.uniform(-2, 2), 6)}


def write_jsonl(path: str, count: int) -> None:
    with open(path, "w") as handle:
        for point in small_points(count):
            handle.write(json.dumps(point) + "\n")


def write_csv(path: str, count: int) -> None:
    with open(path, "w") as handle:
        handle.write("x,y\n")
        for point in small_points(count):
            handle.write(f"{point['x']},{point['y']}\n")
