"""The bodies of ``grad`` and ``eval``, free of any CLI framework.

Both entry points call these: the Typer commands in ``cli`` (every option)
and the fast path in ``cli_fast`` (plain command lines, without importing
Typer). One body each means the two can never print different things.
Each function loads the input, calls the library, hands the result to a
renderer and returns the exit status; errors propagate to the caller's
``cli_io.run_guarded``. A result holding tensors goes to ``render_tensor``
and ``render_plain.plain_lines``; its explanation comes from
``tensor_explain`` (the backward-pass table, or element paths) and is drawn
by ``render_backward``.
"""

from __future__ import annotations

import sys

from .plumbing import load_expression, parse_wrt, warn, write_json, write_stderr, write_text, emit
from ..io.files import open_input
from ..base.errors import ExitStatus, UsageError
from ..engine.results import has_tensors, is_tensor

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import List, Optional


def grad(expr: str, at: List[str], *, mode: str = "reverse", wrt: Optional[str] = None,
         fmt: str = "table", explain_view: Optional[str] = None, max_paths: int = 16,
         direction: Optional[str] = None) -> int:
    """``chaincli grad``: value, gradient and the chain rule, in ``fmt``.

    ``explain_view`` None is the default view, not asked for by name: the
    paths for a scalar expression, the backward-pass table for one with
    tensors. ``wrt`` may name elements (``W1[0,1]``) for the paths view."""
    from ..explain.tensor import split_wrt
    program, point = load_expression(expr, at)
    variables, elements = split_wrt(parse_wrt(wrt))
    result = program.gradient(point, mode=mode, wrt=variables)
    if elements:
        from ..explain.tensor import resolve_elements, variable_shapes
        elements = resolve_elements(elements, variable_shapes(result))
    if has_tensors(result):
        along = None
        if direction is not None:
            from ..calculus.derivatives import directional
            along = directional(result, direction)
        explanation = _tensor_explanation(program, result, explain_view, elements,
                                          max_paths, fmt)
        warn(result.warnings)
        _warn_declined(explanation)
        return _grad_tensors(result, fmt, explanation, along)
    explain_view = explain_view or "paths"
    along = None
    if direction is not None:
        from ..calculus.derivatives import directional
        along = directional(result, direction)
    warn(result.warnings)
    if fmt != "plain":
        from ..explain.chain import explain
        explanation = explain(result, explain_view, max_paths=max_paths,
                              with_chain=fmt == "json",
                              direction=along["direction"] if along else None)
    if fmt == "json":
        write_json({**result.to_dict(), **(along or {}), **explanation.to_dict()})
    elif fmt == "plain":
        from ..render.plain import plain_gradient
        text = plain_gradient(result)
        if along:
            from ..render.calculus import plain_directional
            text += plain_directional(along)
        write_text(text)
    else:
        from ..render.table import print_gradient
        print_gradient(result, explanation)
        if along:
            from ..render.calculus import print_directional
            print_directional(along)
    return _status(result, along)


def _status(result, along: Optional[dict]) -> int:
    """Exit status 1 for a non-finite partial or directional derivative (warned
    about), else 0."""
    import math
    finite = along is None or math.isfinite(along["directional_derivative"])
    return ExitStatus.OK if result.all_finite and finite else ExitStatus.MATH_ERROR


def _tensor_explanation(program, result, explain_view: Optional[str], elements, max_paths,
                        fmt: str):
    """The explanation of a result with tensors (``tensor_explain``): the
    backward-pass table, or the element paths of a small network."""
    if fmt == "plain":
        return None
    from ..explain.tensor import explain_tensor
    return explain_tensor(program, result, explain_view, elements=elements,
                          max_paths=max_paths, with_chain=fmt == "json")


def _warn_declined(explanation) -> None:
    declined = getattr(explanation, "declined", None)
    if declined:
        write_stderr(f"Warning: {declined}\n")


def _grad_tensors(result, fmt: str, explanation, along: Optional[dict] = None) -> int:
    """``grad`` output for a result that holds tensors: the gradient, ``--direction``'s
    answer if any, and the explanation (the backward-pass table or element paths)."""
    def data() -> dict:
        return {**result.to_dict(), **(along or {}),
                **(explanation.to_dict() if explanation else {})}

    def plain() -> str:
        from ..render.plain import plain_gradient
        text = plain_gradient(result)
        if along:
            from ..render.calculus import plain_directional
            text += plain_directional(along)
        return text

    def table() -> None:
        from ..render.backward import print_tensor_explanation
        from ..render.tensor import print_tensor_gradient
        print_tensor_gradient(result)
        if along:
            from ..render.calculus import print_directional
            print_directional(along)
        print_tensor_explanation(explanation)

    emit(fmt, data, plain, table)
    return _status(result, along)


def evaluate(expr: str, at: List[str], *, fmt: str = "table") -> int:
    """``chaincli eval``: the value alone, in ``fmt``."""
    program, point = load_expression(expr, at)
    result = program.evaluate(point)
    warn(result.warnings)
    if is_tensor(result.value):
        return _evaluate_tensor(result, fmt)

    def table() -> None:
        from ..render.table import print_value
        print_value(result)

    from ..base.numbers import plain_number
    emit(fmt, lambda: {"value": result.value}, lambda: plain_number(result.value) + "\n",
         table)
    return ExitStatus.OK


def _evaluate_tensor(result, fmt: str) -> int:
    """``eval`` output for an array value: nested lists and a shape, ``[i,j] value``
    lines, or a table."""
    from ..engine.results import plain_data, shape_of

    def plain() -> str:
        from ..render.plain import plain_lines
        return plain_lines("", result.value)

    def table() -> None:
        from ..render.tensor import print_tensor_value
        print_tensor_value(result)

    emit(fmt, lambda: {"value": plain_data(result.value), "shape": shape_of(result.value)},
         plain, table)
    return ExitStatus.OK


def grad_points(expr: str, at: List[str], points: str, points_format: Optional[str],
                out_format: str, mode: str, wrt: Optional[str]) -> int:
    """``chaincli grad --points``: every row of a file or stdin, one output line each."""
    from ..io.stream import input_format, read_rows, stream_gradient
    from ..base.terminal import stdout
    if points == "-" and expr == "-":
        raise UsageError("the expression and the points cannot both come from stdin")
    fmt = input_format(points, points_format)
    program, defaults = load_expression(expr, at)
    program.require_scalars(defaults, "grad --points")
    names = parse_wrt(wrt)
    out = stdout().buffer
    if points == "-":
        return stream_gradient(program, read_rows(sys.stdin.buffer, fmt), out, out_format,
                               mode, names, defaults)
    with open_input(points) as handle:
        return stream_gradient(program, read_rows(handle, fmt), out, out_format, mode,
                               names, defaults)
