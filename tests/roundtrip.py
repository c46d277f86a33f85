"""diff's output read back by eval on the command line, as a user's script reads it.

``chaincli eval "$(chaincli diff EXPR --wrt x)"`` must work for every formula
diff prints, including one starting with "-" (``-sin(x)``). Every test that
produces a derivative's text goes through ``diff_text`` (the library's
formula) or ``run_diff`` (the command's output), and each formula is passed
to ``eval`` as one word of argv and compared.
"""

from __future__ import annotations

import math

from typer.testing import CliRunner

import chaincli
from chaincli.cli.framework.main import app
from chaincli.base.errors import DomainError
from chaincli.printer import to_text
from chaincli.symbolic import derivative
from chaincli.language.parser import parse
from chaincli.tape import lower
from clicheck import strict_json

_runner = CliRunner()


def _in_process(*args: str):
    result = _runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def probe_point(names) -> dict:
    """A point off the usual special values (0, 1), where most formulas are defined."""
    # A name gets the same value whichever formula it appears in.
    return {name: 0.5 + 0.125 * k for k, name in enumerate(sorted(names))}


def _point_words(point: dict) -> list[str]:
    if not point:
        return []
    return ["--at", ",".join(f"{name}={float(value)!r}" for name, value in point.items())]


def read_back(formula: str, point: dict | None = None, invoke=_in_process) -> float | None:
    """``chaincli eval FORMULA --at POINT`` through ``invoke``, checked against the library.

    The value is the library's to the bit; where the library finds the formula
    undefined, eval exits 1. Returns the value, or None where undefined."""
    compiled = chaincli.compile(formula)
    if point is None:
        point = probe_point(compiled.variables)
    point = {name: point[name] for name in compiled.variables}
    try:
        expected = compiled.value(point)
    except DomainError:
        expected = None
    for args in (["eval", formula, *_point_words(point), "--json"],
                 ["eval", *_point_words(point), "--json", formula]):
        code, out, err = invoke(*args)
        if expected is None:
            assert code == 1 and out == "", (args, code, out, err)
        else:
            assert code == 0, (args, code, out, err)
            assert strict_json(out)["value"] == expected, (args, out, expected)
    return expected


def diff_text(text: str, wrt: str, order: int = 1) -> str:
    """The library's derivative formula of ``text``, after reading it back with eval."""
    formula = to_text(derivative(lower(parse(text)), wrt, order))
    read_back(formula)
    return formula


def run_diff(invoke, *args: str):
    """``chaincli diff ARGS`` through ``invoke``; a text or JSON formula is read back.

    For a first derivative the value read back must also equal the partial that
    reverse mode computes (another algorithm) at the probe point."""
    code, out, err = invoke("diff", *args)
    if code != 0:
        return code, out, err
    words = list(args)
    fmt = "text"
    if "--json" in words:
        fmt = "json"
    for flag in ("--format", "-f"):
        if flag in words:
            fmt = words[words.index(flag) + 1]
    if fmt == "latex":
        return code, out, err
    formula = strict_json(out)["derivative"] if fmt == "json" else out.rstrip("\n")
    expression = strict_json(out)["expression"] if fmt == "json" else None
    value = read_back(formula, invoke=invoke)
    order = 1
    for flag in ("--order", "-n"):
        if flag in words:
            order = int(words[words.index(flag) + 1])
    wrt = next(words[k + 1] for k, w in enumerate(words) if w in ("--wrt", "-w"))
    if expression is None:
        expression = _positional(words)
    if order == 1 and value is not None and expression and not expression.startswith("@") \
            and expression != "-":
        program = chaincli.compile(expression)
        point = probe_point(program.variables)
        try:
            partial = program.gradient(point).gradient[wrt.strip()]
        except DomainError:
            return code, out, err
        if math.isfinite(partial):
            assert math.isclose(value, partial, rel_tol=1e-9, abs_tol=1e-12), \
                (args, formula, value, partial)
    return code, out, err


def _positional(words: list[str]) -> str | None:
    """The one EXPR among diff's words."""
    found = []
    rest = iter(words)
    for word in rest:
        if word == "--":
            found.extend(rest)
        elif word in ("--wrt", "-w", "--order", "-n", "--format", "-f"):
            next(rest, None)
        elif word != "--json":
            found.append(word)
    return found[0] if len(found) == 1 else None
