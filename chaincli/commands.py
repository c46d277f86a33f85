"""The bodies of ``grad`` and ``eval``, free of any CLI framework.

Both entry points call these: the Typer commands in ``cli`` (every option)
and the fast path in ``cli_fast`` (plain command lines, without importing
Typer). One body each means the two can never print different things.
Each function loads the input, calls the library, hands the result to a
renderer and returns the exit status; errors propagate to the caller's
``cli_io.run_guarded``.
"""

from __future__ import annotations

from typing import List, Optional

import sys

from .cli_io import (_load, _parse_wrt, _warn, _write_json, _write_stderr, _write_text, emit,
                     open_input)
from .errors import ExitStatus, UsageError


def grad(expr: str, at: List[str], *, mode: str = "reverse", wrt: Optional[str] = None,
         fmt: str = "table", explain_view: Optional[str] = None, max_paths: int = 16,
         direction: Optional[str] = None) -> int:
    """``chaincli grad``: value, gradient and the chain rule, in ``fmt``.

    ``explain_view`` None is the default view: the paths for a scalar
    expression, the backward-pass table for one with tensors."""
    from .tensor_explain import split_wrt
    program, point = _load(expr, at)
    variables, elements = split_wrt(_parse_wrt(wrt))
    result = program.gradient(point, mode=mode, wrt=variables)
    from .backward_table import is_tensor_result
    tensors = is_tensor_result(result)
    if elements:
        from .tensor_explain import resolve_elements
        shapes = (dict(zip(result.evaluation.tape.variables,
                           (result.evaluation.shapes[i]
                            for i in result.evaluation.tape.variable_index.values())))
                  if tensors else {name: () for name in result.point})
        elements = resolve_elements(elements, shapes)
    along = None
    if direction is not None:
        from .calculus import directional
        along = directional(result, direction)
    explanation = None
    if fmt != "plain" and tensors:
        explanation = _tensor_explanation(program, result, explain_view, elements,
                                          max_paths, fmt)
    elif fmt != "plain":
        from .explain import explain
        explanation = explain(result, explain_view or "paths", max_paths=max_paths,
                              with_chain=fmt == "json",
                              direction=along["direction"] if along else None)
    _warn(result.warnings)
    if explanation is not None and getattr(explanation, "declined", None):
        _write_stderr(f"Warning: {explanation.declined}\n")
    if fmt == "json":
        _write_json({**result.to_dict(), **(along or {}),
                     **(explanation.to_dict() if explanation else {})})
    elif fmt == "plain":
        from .render_plain import plain_gradient
        text = plain_gradient(result)
        if along:
            from .render_calculus import plain_directional
            text += plain_directional(along)
        _write_text(text)
    else:
        from .render_table import print_gradient
        if tensors:
            from .render_backward import print_tensor_explanation
            print_gradient(result, None)
            print_tensor_explanation(explanation)
        else:
            print_gradient(result, explanation)
        if along:
            from .render_calculus import print_directional
            print_directional(along)
    return ExitStatus.OK if result.all_finite else ExitStatus.MATH_ERROR


def _tensor_explanation(program, result, explain_view, elements, max_paths, fmt):
    """The explanation of a gradient with tensors (``tensor_explain``)."""
    from .tensor_explain import explain_tensor
    return explain_tensor(program, result, explain_view, elements=elements,
                          max_paths=max_paths, with_chain=fmt == "json")


def evaluate(expr: str, at: List[str], *, fmt: str = "table") -> int:
    """``chaincli eval``: the value alone, in ``fmt``."""
    program, point = _load(expr, at)
    result = program.evaluate(point)
    _warn(result.warnings)

    def table() -> None:
        from .render_table import print_value
        print_value(result)

    from .render_plain import plain_number
    emit(fmt, lambda: {"value": result.value}, lambda: plain_number(result.value) + "\n",
         table)
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
