"""chaincli: gradients from the shell that show the chain rule they used.

``chaincli.compile(text)`` parses and lowers an expression once; the result's
``value(point)`` and ``gradient(point)`` evaluate it; ``chaincli.freeze(array)``
gives an array that is checked once, where values repeat from call to call.
The command line lives in ``chaincli.cli``.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["compile", "freeze", "__version__"]


def compile(text: str):  # noqa: A001 - the public name the API is known by
    """Parse and lower ``text`` into a ``CompiledExpression``."""
    from .engine.program import compile_expression
    return compile_expression(text)


def freeze(value):
    """``value`` as a read-only array that no one can change, checked now (a
    ``PointError`` if it is not finite numbers): passed in a point, it is
    never checked again. A number stays a float."""
    from .engine.values import freeze as freeze_value
    return freeze_value(value)
