"""Values and gradients from the CLI, both modes, against SymPy at random points.

SymPy differentiates each corpus expression symbolically and evaluates the
result at 30 digits; chaincli must agree to about twelve. The points are
drawn with a fixed seed inside each expression's domain and off its kinks.
"""

from __future__ import annotations

import random

import pytest
import sympy

import chaincli

from clicheck import check_run, strict_json
from expressions import CORPUS

# chaincli's functions as SymPy expressions (the rest share their names).
SYMPY_NAMES = {
    "sigmoid": lambda a: 1 / (1 + sympy.exp(-a)),
    "softplus": lambda a: sympy.log(1 + sympy.exp(a)),
    "relu": lambda a: sympy.Max(a, 0),
    "step": sympy.Heaviside, "sign": sympy.sign, "abs": sympy.Abs,
    "cbrt": lambda a: a ** sympy.Rational(1, 3),  # the boxes keep its argument positive
    "log2": lambda a: sympy.log(a, 2), "log10": lambda a: sympy.log(a, 10),
    "ln": sympy.log, "log": sympy.log, "pow": sympy.Pow,
    "hypot": lambda a, b: sympy.sqrt(a ** 2 + b ** 2), "atan2": sympy.atan2,
    "max": sympy.Max, "min": sympy.Min, "e": sympy.E, "pi": sympy.pi,
    "asinh": sympy.asinh, "acosh": sympy.acosh, "atanh": sympy.atanh,
}

EXTRA = [
    "sigmoid(x - y) * softplus(x*y) + relu(x) * step(y)",
    "u = sin(x); v = cos(y); w = u*v + u^2; w / (1 + v^2) - cbrt(w + 3)",
    "acos(x/2) + asin(y/3) + atan(x*y) + sinh(x) - cosh(y)",
    "hypot(x, y) * atan2(x, y + 1) - log10(x + y) + log2(1 + x^2)",
    "(x + y)^(x/y) - pow(y, 2.5) + tan(x/3)",
    "exp(-(x - y)^2 / (2 * 0.25)) / sqrt(2 * pi * 0.25)",
]
BOXES = {"x": (0.2, 1.8), "y": (0.3, 2.0), "z": (0.2, 1.5)}
REAL_SYMBOLS = {name: sympy.Symbol(name, real=True) for name in BOXES}
POINTS_PER_EXPRESSION = 3


def to_sympy(text: str):
    """A chaincli program as one SymPy expression, let-bindings substituted."""
    statements = [s.strip() for s in text.replace("\n", ";").split(";") if s.strip()]
    bound = {}
    for statement in statements[:-1]:
        name, _, value = statement.partition("=")
        bound[name.strip()] = _parse(value, bound)
    return _parse(statements[-1], bound)


def _parse(text: str, bound):
    names = {**SYMPY_NAMES, **REAL_SYMBOLS, **bound}
    return sympy.parse_expr(text.replace("^", "**"), local_dict=names)


@pytest.mark.parametrize("text", CORPUS + EXTRA)
def test_cli_matches_sympy(cli, text):
    expression = to_sympy(text)
    symbols = [REAL_SYMBOLS[name] for name in chaincli.compile(text).variables]
    rng = random.Random(f"sympy-{text}")
    for _ in range(POINTS_PER_EXPRESSION):
        point = {s.name: round(rng.uniform(*BOXES[s.name]), 6) for s in symbols}
        subs = {s: sympy.Float(point[s.name], 30) for s in symbols}
        value = float(expression.evalf(30, subs=subs))
        gradient = {s.name: float(sympy.diff(expression, s).evalf(30, subs=subs))
                    for s in symbols}
        at = ",".join(f"{name}={number!r}" for name, number in point.items())
        for mode in ("reverse", "forward"):
            code, out, err = cli("grad", text, "--at", at, "--json", "--mode", mode)
            check_run(code, out, err, json_output=True)
            assert code == 0, err
            data = strict_json(out)
            assert data["value"] == pytest.approx(value, rel=1e-12, abs=1e-12), (mode, point)
            for name, expected in gradient.items():
                assert data["gradient"][name] == pytest.approx(expected, rel=1e-10, abs=1e-10), \
                    (mode, name, point)
