"""Command-line plumbing that needs no CLI framework: reading inputs, writing results,
reporting errors.

Both the Typer app (``cli``) and the fast path for plain command lines
(``cli_fast``) use these, so the two cannot differ in what they read or write.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

from .errors import ChaincliError, InputError, UsageError


def _report(error: ChaincliError) -> None:
    lines = [f"Error: {error.message}"]
    context = error.context()
    if context:
        lines.append(context)
    if error.hint:
        lines.append(f"Hint: {error.hint}")
    sys.stderr.write("\n".join(lines) + "\n")


def _warn(notices) -> None:
    for notice in notices:
        sys.stderr.write(f"Warning: {notice.message}\n")


def _silence_stdout() -> None:
    # Further writes (and the interpreter's final flush) must not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def read_expression(expr: str) -> str:
    """The expression text from argv, stdin ('-') or a file ('@path')."""
    if expr == "-":
        return _decode(sys.stdin.buffer.read(), "stdin")
    if expr.startswith("@") and len(expr) > 1:
        return read_text_file(expr[1:])
    return expr


def read_text_file(path: str) -> str:
    with open_input(path) as handle:
        try:
            data = handle.read()
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror}") from None
    return _decode(data, path)


def open_input(path: str):
    """``path`` opened for reading bytes, or an ``InputError`` saying why not."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {path}: it is a directory") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{where} is not UTF-8 text (byte 0x{data[error.start]:02x} at "
                         f"offset {error.start})") from None


def _parse_wrt(wrt: Optional[str]) -> Optional[list[str]]:
    if wrt is None:
        return None
    names = [name.strip() for name in wrt.split(",") if name.strip()]
    if not names:
        raise UsageError("--wrt needs at least one variable name")
    return names


def _write_json(data) -> None:
    from .jsonout import dumps
    sys.stdout.buffer.write(dumps(data).encode("ascii") + b"\n")
    sys.stdout.buffer.flush()


def _load(expr: str, at: List[str]):
    from .point import parse_points
    from .program import compile_expression
    text = read_expression(expr)
    program = compile_expression(text)
    point = parse_points(at, read_file=read_text_file)
    return program, point


def stream_points(expr: str, at: List[str], points: str, points_format: Optional[str],
                  out_format: str, mode: str, wrt: Optional[str]) -> int:
    """``grad --points``: every row of a file or stdin, one output line each."""
    from .point import parse_points
    from .program import compile_expression
    from .stream import input_format, read_rows, stream_gradient
    if points == "-" and expr == "-":
        raise UsageError("the expression and the points cannot both come from stdin")
    fmt = input_format(points, points_format)
    program = compile_expression(read_expression(expr))
    defaults = parse_points(at, read_file=read_text_file)
    names = _parse_wrt(wrt)
    if points == "-":
        return stream_gradient(program, read_rows(sys.stdin.buffer, fmt), sys.stdout.buffer,
                               out_format, mode, names, defaults)
    with open_input(points) as handle:
        return stream_gradient(program, read_rows(handle, fmt), sys.stdout.buffer,
                               out_format, mode, names, defaults)
