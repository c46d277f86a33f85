"""Shapes and elements as text, and the size of a shape.

Messages from every layer (the primitive table's shape checks, the value
checks, the sweeps, the explanations, the renderers) name shapes and
elements; they spell them here, so one shape or element reads the same in
each. An element *name* (``W[0,1]``) is different: it is a variable of the
expansion into scalars (``--wrt W[0,1]``, Hessian and Jacobian labels), and
is written without spaces so that it stays one word.
"""

from __future__ import annotations

import math


def shape_text(shape) -> str:
    """A shape as Python writes a tuple: ``(4, 3)``, ``(2,)``, ``()``.

    Each extent goes through ``str`` so that a NumPy integer reads as a number."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def element_text(index) -> str:
    """An element's index in a message: ``[1, 0]``."""
    return "[" + ", ".join(str(int(k)) for k in index) + "]"


def element_name(name: str, index) -> str:
    """``W[0,1]``: how an element of a tensor variable is called as a variable."""
    return f"{name}[{','.join(str(k) for k in index)}]"


def size(shape) -> int:
    """How many elements an array of ``shape`` holds (1 for a scalar's ``()``)."""
    return math.prod(shape)
