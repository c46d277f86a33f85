"""Batch gradients against the same gradient written by hand in NumPy.

    python bench/batch.py            # 1,000,000 points, 15 turns each
    python bench/batch.py --quick    # 200,000 points, 7 turns

For each expression shape, chaincli's gradient over arrays and a hand-written
NumPy value-and-gradient (what one would write: shared subexpressions once,
the derivative from the value where it holds it, ``tanh' = 1 - tanh^2``) are
warmed up, then timed turn about (medians of wall-clock time), and their
results compared. The ratio's target is at most 1.0x. Run it with the
interpreter chaincli is installed for; the machine (bench/machine.py, with the
load average) is described first, as figures taken under load are noisier.
"""

from __future__ import annotations

import argparse

import numpy as np

import chaincli
from machine import describe
from timing import interleaved_times as turn_about


def batch_gradient(expr, point):
    """chaincli's value and gradient at every point of a batch: the one call to the API."""
    result = expr.gradient(point, batch=True)
    return result.value, result.gradient


def _mixed(x, y, z):
    u = x * y
    c = np.cos(u)
    e = np.exp(-(z * z))
    p = 1.0 + x * x
    lg = np.log(p)
    t = np.tanh(y * z)
    dt = 1.0 - t * t
    value = np.sin(u) + e * lg + t
    return value, {"x": c * y + e * (2.0 * x) / p, "y": c * x + dt * z,
                   "z": -2.0 * z * e * lg + dt * y}


def _polynomial(x, y, z):
    x2, y2 = x * x, y * y
    value = x2 * x * y + 3.0 * x2 * y2 - y2 * y2 + z * z
    return value, {"x": 3.0 * x2 * y + 6.0 * x * y2, "y": x2 * x + 6.0 * x2 * y - 4.0 * y2 * y,
                   "z": 2.0 * z}


def _sum_of_products(x, y):
    u = x * y
    c = np.cos(u)
    return np.sin(u) + x * x, {"x": c * y + 2.0 * x, "y": c * x}


def _neuron(x, y, z):
    t = np.tanh(0.5 * x - 1.5 * y + z)
    g = 2.0 * t * (1.0 - t * t)
    return t * t, {"x": 0.5 * g, "y": -1.5 * g, "z": g}


def _ratio(x, y, z):
    e = np.exp(x * y * z)
    q = 1.0 + x * x + y * y + z * z
    value = e / q
    common = value / q
    return value, {"x": value * y * z - 2.0 * x * common, "y": value * x * z - 2.0 * y * common,
                   "z": value * x * y - 2.0 * z * common}


def _softplus_sqrt(x, y, z):
    sp = np.log(1.0 + np.exp(x))
    t = np.tanh(y)
    r = np.sqrt(1.0 + z * z)
    s = 1.0 / (1.0 + np.exp(-x))
    return sp * t + r, {"x": s * t, "y": sp * (1.0 - t * t), "z": z / r}


SHAPES = [
    ("sin(x*y) + exp(-z^2)*log(1 + x^2) + tanh(y*z)", _mixed),
    ("x^3*y + 3*x^2*y^2 - y^4 + z^2", _polynomial),
    ("sin(x*y) + x^2", _sum_of_products),
    ("tanh(0.5*x - 1.5*y + z)^2", _neuron),
    ("exp(x*y*z)/(1 + x^2 + y^2 + z^2)", _ratio),
    ("log(1 + exp(x))*tanh(y) + sqrt(1 + z^2)", _softplus_sqrt),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    size, repeat = (200_000, 7) if options.quick else (1_000_000, 15)
    rng = np.random.default_rng(0)
    arrays = {name: rng.uniform(-1.5, 1.5, size) for name in ("x", "y", "z")}
    print(describe())
    print(f"Batch gradient over {size:,} points; medians of {repeat} turns each")
    print(f"  {'expression':<46} {'chaincli':>10} {'by hand':>10} {'ratio':>7}  max rel diff")
    for text, by_hand in SHAPES:
        expr = chaincli.compile(text)
        point = {name: arrays[name] for name in expr.variables}
        ours, hand = turn_about(lambda: batch_gradient(expr, point),
                                lambda: by_hand(**point), repeat)
        value, gradient = batch_gradient(expr, point)
        expected_value, expected = by_hand(**point)
        worst = max(float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
                    for got, want in [(value, expected_value),
                                      *((gradient[n], expected[n]) for n in expected)])
        print(f"  {text:<46} {ours * 1e3:8.1f} ms {hand * 1e3:7.1f} ms {ours / hand:6.2f}x"
              f"  {worst:.1e}", flush=True)


if __name__ == "__main__":
    main()
