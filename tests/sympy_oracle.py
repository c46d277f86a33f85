"""SymPy as an independent reference: chaincli text to a SymPy expression.

Only the tests use this. Every primitive of the table has a SymPy meaning
here; a primitive added to the table without one fails ``test_oracle_knows
_every_primitive``.
"""

from __future__ import annotations

import re

import sympy

SYMBOLS = {name: sympy.Symbol(name, real=True) for name in ("x", "y", "z", "a", "b")}


def _cbrt(a):
    return sympy.sign(a) * sympy.Abs(a) ** sympy.Rational(1, 3)


FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "asin": sympy.asin,
    "acos": sympy.acos, "atan": sympy.atan, "atan2": sympy.atan2,
    "hypot": lambda a, b: sympy.sqrt(a**2 + b**2),
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "asinh": sympy.asinh,
    "acosh": sympy.acosh, "atanh": sympy.atanh, "exp": sympy.exp, "log": sympy.log,
    "ln": sympy.log, "log2": lambda a: sympy.log(a) / sympy.log(2),
    "log10": lambda a: sympy.log(a) / sympy.log(10), "sqrt": sympy.sqrt, "cbrt": _cbrt,
    "abs": sympy.Abs, "sign": sympy.sign, "step": lambda a: sympy.Heaviside(a, 0),
    "relu": lambda a: sympy.Max(a, 0), "max": sympy.Max, "min": sympy.Min,
    "sigmoid": lambda a: 1 / (1 + sympy.exp(-a)),
    "softplus": lambda a: sympy.log(1 + sympy.exp(a)), "pow": lambda a, b: a**b,
}
NAMES = {**FUNCTIONS, "pi": sympy.pi, "e": sympy.E}


def to_sympy(text: str):
    """The SymPy expression for a chaincli program (lets substituted)."""
    local = dict(NAMES, **SYMBOLS)
    statements = [s.strip() for s in re.split(r"[;\n]", text) if s.strip()]
    for statement in statements[:-1]:
        name, _, body = statement.partition("=")
        local[name.strip()] = _sympify(body, local)
    return _sympify(statements[-1], local)


def _sympify(text: str, local):
    return sympy.sympify(text.replace("^", "**"), locals=local, rational=False)


def value_at(expr, point: dict[str, float]) -> float:
    subs = {SYMBOLS[name]: sympy.Float(value, 30) for name, value in point.items()
            if name in SYMBOLS}
    return float(sympy.N(expr.subs(subs), 20))


def derivative(expr, name: str, order: int = 1):
    return sympy.diff(expr, SYMBOLS[name], order)
