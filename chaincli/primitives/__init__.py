"""The primitive registry: every operator and function chaincli knows, in one place.

The families are written in their own modules (``elementwise``: arithmetic and
the scalar functions; ``tensor``: products, reductions, softmax, indexing;
``conv``: convolution, pooling, reshaping; ``linalg``: trace, determinants,
inverse, solve, diag, eye, amax/amin), on
the record of ``base``; this module joins them into the tables that lowering,
the printer, the sweeps and the explanations look names up in. It sits at the
bottom of the pipeline above ``chaincli.base`` and imports only its families
(pure Python: NumPy loads on first use).
"""

from __future__ import annotations

import math

from .base import Primitive
from .conv import CONV_TABLE
from .elementwise import TABLE
from .linalg import LINALG_TABLE
from .tensor import SYNTAX_ONLY, TENSOR_TABLE

PRIMITIVES: dict[str, Primitive] = {p.name: p for p in TABLE}

# Names accepted in calls that mean another primitive.
ALIASES: dict[str, str] = {"ln": "log"}

# Operators of the grammar and the primitives they lower to.
BINARY_OPERATORS: dict[str, str] = {"+": "add", "-": "sub", "*": "mul", "/": "div",
                                    "^": "pow", "**": "pow"}
UNARY_OPERATORS: dict[str, str] = {"-": "neg"}

# Operators are not callable by name, except pow(a, b).
_OPERATOR_ONLY = {"add", "sub", "mul", "div", "neg"}
FUNCTIONS: dict[str, Primitive] = {
    name: p for name, p in PRIMITIVES.items() if name not in _OPERATOR_ONLY}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

# The elementwise primitives: those with scalar definitions (value, partials,
# partial formulas), which symbolic differentiation and the scalar sweeps use.
ELEMENTWISE: dict[str, Primitive] = dict(PRIMITIVES)

for _prim in [*TENSOR_TABLE, *CONV_TABLE, *LINALG_TABLE]:
    PRIMITIVES[_prim.name] = _prim
    if _prim.name not in SYNTAX_ONLY:
        FUNCTIONS[_prim.name] = _prim
BINARY_OPERATORS["@"] = "matmul"


def lookup_function(name: str) -> Primitive | None:
    """The primitive a call ``name(...)`` means, or None when there is none."""
    return FUNCTIONS.get(ALIASES.get(name, name))


def callable_names() -> list[str]:
    """Every name that may be called, for suggestions and help."""
    return sorted([*FUNCTIONS, *ALIASES])
