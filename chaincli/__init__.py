"""chaincli: gradients from the shell that show the chain rule they used.

``chaincli.compile(text)`` parses and lowers an expression once; the result's
``value(point)`` and ``gradient(point)`` evaluate it. The command line lives
in ``chaincli.cli``.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["compile", "__version__"]


def compile(text: str):  # noqa: A001 - the public name the API is known by
    """Parse and lower ``text`` into a ``CompiledExpression``."""
    from .engine.program import compile_expression
    return compile_expression(text)
