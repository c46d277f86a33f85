"""Generated workloads for the benchmark: big expressions and files of points.

Deterministic (fixed seeds). ``big_expression(n_vars, n_terms)`` builds a
sum of products of functions, about 14 nodes per term, so 1,000 terms over
1,000 variables is about 14,000 nodes; it is written without deep nesting so
peers that recurse can at least parse it, except where noted.
"""

from __future__ import annotations

import json
import random

_UNARY = ("sin", "cos", "tanh", "exp", "sigmoid", "atan")


def big_expression(n_vars: int, n_terms: int, seed: int = 1) -> tuple[str, dict[str, float]]:
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(n_vars)]
    terms = []
    for k in range(n_terms):
        a, b, c = (names[(k + d) % n_vars] if d == 0 else rng.choice(names) for d in range(3))
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
