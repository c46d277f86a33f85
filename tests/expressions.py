"""Random expressions for property-based tests, and a fixed test corpus."""

from __future__ import annotations

from hypothesis import strategies as st

VARIABLES = ("x", "y", "z")

# Functions that are smooth on the whole real line (or made so by their
# wrapping below), so random expressions stay inside every domain.
_SMOOTH_UNARY = ("sin", "cos", "tanh", "atan", "sigmoid", "softplus", "asinh", "exp")
_WRAPPED_UNARY = {
    "log": "log(1 + ({})^2)",
    "sqrt": "sqrt(1 + ({})^2)",
    "cbrt": "cbrt(2 + sin({}))",
    "asin": "asin(0.5*tanh({}))",
    "acos": "acos(0.5*tanh({}))",
    "atanh": "atanh(0.5*tanh({}))",
    "acosh": "acosh(2 + ({})^2)",
    "div": "({}) / (2 + cos({}))",
    "log2": "log2(3 + sin({}))",
    "log10": "log10(3 + cos({}))",
    "tan": "tan(atan({}))",
    "exp": "exp(tanh({}))",
    "sinh": "sinh(tanh({}))",
    "cosh": "cosh(tanh({}))",
}
_BINARY = ("+", "-", "*")


def leaves():
    return st.one_of(st.sampled_from(VARIABLES),
                     st.sampled_from(["0.5", "2", "3", "pi", "1.25"]))


def _extend(children):
    unary = st.builds(lambda f, a: f"{f}({a})", st.sampled_from(_SMOOTH_UNARY), children)
    wrapped = st.builds(lambda tmpl, a: tmpl.replace("{}", a),
                        st.sampled_from(sorted(_WRAPPED_UNARY.values())), children)
    binary = st.builds(lambda a, op, b: f"({a}) {op} ({b})", children,
                       st.sampled_from(_BINARY), children)
    powers = st.builds(lambda a, n: f"({a})^{n}", children, st.sampled_from(["2", "3", "-1"]))
    atan2 = st.builds(lambda a, b: f"atan2(2 + sin({a}), 2 + cos({b}))", children, children)
    hypot = st.builds(lambda a, b: f"hypot(1 + ({a})^2, {b})", children, children)
    neg = st.builds(lambda a: f"-({a})", children)
    return st.one_of(unary, wrapped, binary, powers, atan2, hypot, neg)


def expressions(max_leaves: int = 12):
    return st.recursive(leaves(), _extend, max_leaves=max_leaves)


def points():
    coordinate = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False).map(
        lambda v: round(v, 3) if abs(v) > 0.05 else 0.25)
    return st.fixed_dictionaries({name: coordinate for name in VARIABLES})


# Hand-picked expressions with shared subexpressions, lets and every operator.
CORPUS = [
    "sin(x*y)",
    "sin(x*y) + cos(x*y)",
    "u = x*y; sin(u) + u^2",
    "x^2*y + sin(y)",
    "exp(-x^2 - y^2) * (x - y)",
    "u = x + y; v = u*u; w = v*v; w / (1 + u^2)",
    "log(1 + exp(x)) - softplus(x) + sigmoid(x*y)",
    "atan2(y, x) + hypot(x, y)",
    "x^y",
    "pow(x, 3) - cbrt(x) * sqrt(y)",
    "tanh(x) * sinh(y) / cosh(x - y)",
    "asinh(x) + acosh(1 + y^2) + atanh(x/4)",
    "max(x, y) * min(x, y) + abs(x - 3*y) + relu(x - y)",
    "log2(y) + log10(y) + ln(y)",
    "x / y / x * y",
    "-x^2 + 2^-y",
]
CORPUS_POINT = {"x": 0.7, "y": 1.3}
