"""The bodies of ``grad`` and ``eval``, free of any CLI framework.

Both entry points call these: the Typer commands in ``cli`` (every option)
and the fast path in ``cli_fast`` (plain command lines, without importing
Typer). One body each means the two can never print different things.
Each function loads the input, calls the library, hands the result to a
renderer and returns the exit status; errors propagate to the caller's
``cli_io.run_guarded``. A result holding tensors goes to ``render_tensor``
and ``render_plain.plain_lines``; its chain-rule explanation is decided in
``_tensor_explanation`` alone.
"""

from __future__ import annotations

from typing import List, Optional

import sys

from .cli_io import (_load, _parse_wrt, _warn, _write_json, _write_stderr, _write_text, emit,
                     open_input)
from .errors import ExitStatus, UsageError
from .results import has_tensors, is_tensor


def grad(expr: str, at: List[str], *, mode: str = "reverse", wrt: Optional[str] = None,
         fmt: str = "table", explain_view: Optional[str] = None, max_paths: int = 16,
         direction: Optional[str] = None) -> int:
    """``chaincli grad``: value, gradient and the chain rule, in ``fmt``.

    ``explain_view`` None is the default view (``paths``), not asked for by name."""
    program, point = _load(expr, at)
    result = program.gradient(point, mode=mode, wrt=_parse_wrt(wrt))
    if has_tensors(result):
        along = None
        if direction is not None:
            from .calculus import directional
            along = directional(result, direction)
        _warn(result.warnings)
        _tensor_explanation(explain_view, fmt)
        return _grad_tensors(result, fmt, along)
    explain_view = explain_view or "paths"
    along = None
    if direction is not None:
        from .calculus import directional
        along = directional(result, direction)
    _warn(result.warnings)
    if fmt != "plain":
        from .explain import explain
        explanation = explain(result, explain_view, max_paths=max_paths,
                              with_chain=fmt == "json",
                              direction=along["direction"] if along else None)
    if fmt == "json":
        _write_json({**result.to_dict(), **(along or {}), **explanation.to_dict()})
    elif fmt == "plain":
        from .render_plain import plain_gradient
        text = plain_gradient(result)
        if along:
            from .render_calculus import plain_directional
            text += plain_directional(along)
        _write_text(text)
    else:
        from .render_table import print_gradient
        print_gradient(result, explanation)
        if along:
            from .render_calculus import print_directional
            print_directional(along)
    return ExitStatus.OK if result.all_finite else ExitStatus.MATH_ERROR


def _tensor_explanation(explain_view: Optional[str], fmt: str) -> None:
    """The chain-rule explanation of a result with tensors: none is shown yet.

    Asked for by name (for the table or JSON, the formats that carry one), the
    user is told why it is missing; the default says nothing."""
    if explain_view in ("paths", "forward", "reverse") and fmt != "plain":
        _write_stderr(f"Warning: --explain {explain_view} is not available for expressions "
                      "with tensors; their explanation is a backward-pass table, not "
                      "shown yet\n")


def _grad_tensors(result, fmt: str, along: Optional[dict] = None) -> int:
    """``grad`` output for a result that holds tensors (and ``--direction``'s, if any)."""
    def plain() -> str:
        from .render_plain import plain_gradient
        text = plain_gradient(result)
        if along:
            from .render_calculus import plain_directional
            text += plain_directional(along)
        return text

    def table() -> None:
        from .render_tensor import print_tensor_gradient
        print_tensor_gradient(result)
        if along:
            from .render_calculus import print_directional
            print_directional(along)

    emit(fmt, lambda: {**result.to_dict(), **(along or {})}, plain, table)
    return ExitStatus.OK if result.all_finite else ExitStatus.MATH_ERROR


def evaluate(expr: str, at: List[str], *, fmt: str = "table") -> int:
    """``chaincli eval``: the value alone, in ``fmt``."""
    program, point = _load(expr, at)
    result = program.evaluate(point)
    _warn(result.warnings)
    if is_tensor(result.value):
        return _evaluate_tensor(result, fmt)

    def table() -> None:
        from .render_table import print_value
        print_value(result)

    from .render_plain import plain_number
    emit(fmt, lambda: {"value": result.value}, lambda: plain_number(result.value) + "\n",
         table)
    return ExitStatus.OK


def _evaluate_tensor(result, fmt: str) -> int:
    """``eval`` output for an array value: nested lists and a shape, ``[i,j] value``
    lines, or a table."""
    from .results import plain_data, shape_of

    def plain() -> str:
        from .render_plain import plain_lines
        return plain_lines("", result.value)

    def table() -> None:
        from .render_tensor import print_tensor_value
        print_tensor_value(result)

    emit(fmt, lambda: {"value": plain_data(result.value), "shape": shape_of(result.value)},
         plain, table)
    return ExitStatus.OK


def grad_points(expr: str, at: List[str], points: str, points_format: Optional[str],
                out_format: str, mode: str, wrt: Optional[str]) -> int:
    """``chaincli grad --points``: every row of a file or stdin, one output line each."""
    from .stream import input_format, read_rows, stream_gradient
    from .terminal import stdout
    if points == "-" and expr == "-":
        raise UsageError("the expression and the points cannot both come from stdin")
    fmt = input_format(points, points_format)
    program, defaults = _load(expr, at)
    names = _parse_wrt(wrt)
    out = stdout().buffer
    if points == "-":
        return stream_gradient(program, read_rows(sys.stdin.buffer, fmt), out, out_format,
                               mode, names, defaults)
    with open_input(points) as handle:
        return stream_gradient(program, read_rows(handle, fmt), out, out_format, mode,
                               names, defaults)
