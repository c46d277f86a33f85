"""The tape as straight-line Python: the primal and adjoint sweeps without a loop.

An expression evaluated many times is worth compiling: ``compile_tape``
writes one Python function per sweep (each when first needed), one statement per tape entry
(``v7 = v3 * v5``, ``d3 += v5 * d7``), and lets CPython compile it. Operators
and common partials are inlined from the primitive table's ``code`` and
``partial_code`` (which compute exactly what the table's functions compute);
everything else calls the table's own functions. The generated text holds only
names made here (``v``/``d`` plus an entry number, ``f``/``g`` plus a table
index, ``x``, ``math``) and float literals: never the user's text.

The fast functions do not check anything as they go. They hand back the values
of every entry and their sum: a non-finite sum, or an exception, sends the
caller to the interpreter sweeps (``evaluate``, ``reverse``), which raise the
exact ``DomainError``. A gradient with a non-finite partial goes back too,
because only the interpreter applies the exact-zero rule to infinite partials.
Where everything is finite, the statements are the interpreter's arithmetic in
the interpreter's order, so the results are the same bits (``+ 0.0`` at the end
turns the -0.0 an unguarded zero contribution can leave into the interpreter's
0.0).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ...primitives import PRIMITIVES
from ...tape import CONST, VAR, Tape, depends_on_variables

# Tapes longer than this are left to the interpreter: compiling costs more
# memory than it saves time.
MAX_ENTRIES = 400_000

FAST_FAILURES = (ValueError, ZeroDivisionError, OverflowError)
# What compiling a huge function may run into; the interpreter takes over then.
COMPILE_FAILURES = (RecursionError, MemoryError, SyntaxError)


class CompiledTape:
    """The generated ``value`` and ``gradient`` functions of one tape."""

    def __init__(self, tape: Tape):
        self.tape = tape
        self._operand = _operands(tape)
        self._needs = depends_on_variables(tape)
        self._value = self._gradient = None
        self.sources: dict[str, str] = {}

    def _build(self, name: str, body: list[str], names: dict[str, Any]):
        """The compiled function, or False when CPython cannot compile it."""
        source = "\n".join([f"def {name}(x):", *body, ""])
        self.sources[name] = source
        namespace = dict(names)
        try:
            exec(compile(source, f"<chaincli {name}>", "exec"), namespace)
        except COMPILE_FAILURES:  # pragma: no cover - depends on CPython's limits
            return False
        return namespace[name]

    def _check(self) -> str:
        # The sum of every computed entry: finite exactly when each one is,
        # unless a sum of finite values overflows (then the interpreter decides).
        return _tuple(f"v{i}" for i, op in enumerate(self.tape.ops) if op != CONST)

    def value(self, arguments: Sequence[float]) -> float | None:
        """The output value, or None when the interpreter must decide."""
        if self._value is None:
            names: dict[str, Any] = {"math": math}
            body = _primal_lines(self.tape, self._operand, names)
            body.append(f"    return {self._operand[self.tape.output]}, sum({self._check()})")
            self._value = self._build("value", body, names)
        if self._value is False:
            return None
        try:
            result, total = self._value(arguments)
        except FAST_FAILURES:
            return None
        return result if math.isfinite(total) else None

    def gradient(self, arguments: Sequence[float]):
        """(values of every entry, adjoints of the variables), or None for the interpreter."""
        if self._gradient is None:
            tape = self.tape
            names = {"math": math}
            body = _primal_lines(tape, self._operand, names)
            body.extend(self._adjoint_lines(names))
            variables = (tape.variable_index[v] for v in tape.variables)
            body.append(f"    return {_tuple(self._operand)}, sum({self._check()}), "
                        f"{_tuple(self._adjoint_of(i) for i in variables)}")
            self._gradient = self._build("gradient", body, names)
        if self._gradient is False:
            return None
        try:
            values, total, adjoints = self._gradient(arguments)
        except FAST_FAILURES:
            return None
        if not math.isfinite(total) or not math.isfinite(sum(adjoints)):
            return None
        return values, adjoints

    def _adjoint_lines(self, names: dict[str, Any]) -> list[str]:
        tape, operand, needs = self.tape, self._operand, self._needs
        lines = [f"    d{tape.output} = 1.0"]
        self._assigned = {tape.output}
        for i in range(tape.output, -1, -1):
            if i not in self._assigned or not tape.args[i]:
                continue
            prim = PRIMITIVES[tape.ops[i]]
            args = tape.args[i]
            fields = {"a": operand[args[0]], "b": operand[args[-1]], "out": f"v{i}"}
            for k, j in enumerate(args):
                if not needs[j]:
                    continue    # a constant's adjoint is never reported
                template = prim.partial_code[k] if prim.partial_code else None
                if template is None:
                    function = f"g{prim.name}_{k}"
                    names[function] = prim.partials[k]
                    call_args = ", ".join([*(operand[a] for a in args), f"v{i}"])
                    partial = f"{function}({call_args})"
                else:
                    partial = template.format(**fields)
                if partial == "1.0":
                    term = f"d{i}"
                elif partial == "-1.0":
                    term = f"-d{i}"
                else:
                    term = f"({partial}) * d{i}"
                if j in self._assigned:
                    lines.append(f"    d{j} += {term}")
                else:
                    lines.append(f"    d{j} = {term}")
                    self._assigned.add(j)
        return lines

    def _adjoint_of(self, i: int) -> str:
        return f"d{i} + 0.0" if i in self._assigned else "0.0"


def compile_tape(tape: Tape) -> CompiledTape | None:
    """The sweeps to compile (each on first use), or None when the tape is
    better left to the interpreter."""
    if len(tape) > MAX_ENTRIES:
        return None
    return CompiledTape(tape)


def _operands(tape: Tape) -> list[str]:
    """How each entry is read in generated code: a name, or a literal for a constant."""
    return [repr(float(tape.consts[i])) if op == CONST else f"v{i}"
            for i, op in enumerate(tape.ops)]


def _primal_lines(tape: Tape, operand: list[str], names: dict[str, Any]) -> list[str]:
    lines = []
    variable = 0
    for i, op in enumerate(tape.ops):
        if op == CONST:
            continue
        if op == VAR:
            # Variables arrive in the tape's variable order.
            lines.append(f"    v{i} = x[{variable}]")
            variable += 1
            continue
        prim = PRIMITIVES[op]
        args = [operand[j] for j in tape.args[i]]
        if prim.code is not None:
            fields = {"a": args[0], "b": args[-1]}
            lines.append(f"    v{i} = {prim.code.format(**fields)}")
        else:
            function = f"f{prim.name}"
            names[function] = prim.value
            lines.append(f"    v{i} = {function}({', '.join(args)})")
    return lines


def _tuple(items) -> str:
    items = list(items)
    return f"({', '.join(items)},)" if items else "()"
