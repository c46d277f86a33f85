"""Sizes and times of symbolic derivatives and Hessians (run by hand, not by the tests).

    python bench/calculus.py

The machine it ran on (``machine.describe``) is printed first.
"""

from __future__ import annotations

import time

import chaincli
from machine import describe
from chaincli.calculus.derivatives import hessian
from chaincli.printer import to_text
from chaincli.symbolic import derivative, operation_count
from chaincli.language.parser import parse
from chaincli.tape import lower


def timed(label, action):
    start = time.perf_counter()
    result = action()
    print(f"{label:<52} {time.perf_counter() - start:8.3f} s")
    return result


def nested(levels: int) -> str:
    text = "x"
    for _ in range(levels):
        text = f"sin({text})*({text}) + exp(-({text})^2)"
    return text


def steps_of(text: str, label: str) -> None:
    """diff --steps end to end (library and text renderer), and how much it prints."""
    from chaincli.calculus.derivatives import differentiate_steps
    from chaincli.render.derivation import text as render
    program = chaincli.compile(text)
    shown = timed(f"diff --steps, {label}",
                  lambda: render(differentiate_steps(program, "x")))
    derivation_lines = shown.count("\n") - 1
    last = shown.rsplit("\n", 2)[-2]
    print(f"  {derivation_lines} lines, {len(shown) - len(last)} characters before the "
          f"last line (the derivative, {len(last)} characters)")


def main() -> None:
    print(describe())
    for levels in (4, 8, 12):
        tape = lower(parse(nested(levels)))
        first = derivative(tape, "x")
        second = derivative(tape, "x", 2)
        print(f"{levels:2d}-level nesting: input {operation_count(tape)} operations, "
              f"derivative {operation_count(first)}, second {operation_count(second)}, "
              f"printed {len(to_text(first))} characters")
    depth = 100_000
    text = "sin(" * depth + "x" + ")" * depth
    tape = timed(f"parse and lower sin(sin(…x…)) {depth} deep", lambda: lower(parse(text)))
    first = timed("differentiate", lambda: derivative(tape, "x"))
    printed = timed("print as text", lambda: to_text(first))
    print(f"  derivative: {operation_count(first)} operations, {len(printed)} characters")
    steps_of(text, f"sin(sin(…x…)) {depth} deep")
    steps_of("-(" * depth + "x*y" + ")" * depth, f"-(-(…x*y…)) {depth} deep")
    steps_of(" + ".join(f"sin({k}*x)" for k in range(1, 10_001)), "a sum of 10000 terms")
    n = 30
    expr = chaincli.compile(" + ".join(f"sin(x{i}*x{(i + 1) % n})" for i in range(n)))
    point = {f"x{i}": 0.1 * i for i in range(n)}
    timed(f"Hessian of {n} variables, forward-over-reverse", lambda: hessian(expr, point))
    timed(f"Hessian of {n} variables, symbolic", lambda: hessian(expr, point, "symbolic"))


if __name__ == "__main__":
    main()
