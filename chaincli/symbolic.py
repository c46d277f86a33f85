"""Symbolic differentiation: a tape in, a new tape for its derivative out.

The derivative is built by a forward sweep over the tape, exactly like
forward mode, except that each tangent is a tape entry rather than a number:
``tangent[i] = Σ_k partial_k(args of i) · tangent[args[i][k]]``. Each
partial comes from the primitive table's ``partial_formulas``, parsed once
into a small template tape over ``a`` and ``b`` and instantiated on the
arguments; there is no second set of derivative rules.

The new tape is built by ``ExpressionBuilder``, which hash-conses (so an
entry used twice in the input is one entry in the derivative, and a partial
such as ``exp(a)`` reuses the primal entry it equals) and simplifies as it
goes: constant folding, the 0 and 1 identities, no double negation, and
cheap collection (``x*x`` is ``x^2``, ``2*x + x`` is ``3*x``). It is not a
computer algebra system: the result is correct and readable, not canonical.
A tangent that is exactly zero is ``None`` and never becomes an entry.
``derivative_sweep`` also hands back what the sweep built (each entry's
partials, image and tangent), so ``derivation`` can show the steps of this
very sweep rather than derive anything a second way.

Everything here walks tapes in order with loops; nothing recurses on the
depth of the input. The simplifier's rewrites call back into ``apply``, but
each rewrite removes a node or a constant, so that depth is a small constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

from .base.numbers import format_number
from .primitives import PRIMITIVES
from .language.parser import parse
from .tape import CONST, VAR, Tape, TapeBuilder, lower, reaches_output

# The argument names the partial formulas are written in.
FORMULA_ARGUMENTS = ("a", "b")

# A folded constant is kept only when it prints in this many characters:
# ``2*3`` becomes ``6`` but ``1/3`` and ``log(2)`` stay as written.
_FOLDED_WIDTH = 8


@lru_cache(maxsize=None)
def partial_template(op: str, k: int) -> Tape:
    """The tape of ``∂op/∂(argument k)`` over the variables ``a`` and ``b``."""
    return lower(parse(PRIMITIVES[op].partial_formulas[k]))


class ExpressionBuilder:
    """Builds a tape entry by entry, hash-consed and simplified as it goes."""

    def __init__(self) -> None:
        self._builder = TapeBuilder(source="")
        self.tape = self._builder.tape

    @property
    def tape_builder(self) -> TapeBuilder:
        """The hash-consing builder underneath, for entries built as given (not simplified)."""
        return self._builder

    # ----- Leaves -----

    def variable(self, name: str) -> int:
        return self._builder.variable(name, None)

    def constant(self, value: float, label: str | None = None) -> int:
        value = float(value)
        if value == 0.0:
            value = 0.0  # -0.0 and 0.0 are one constant
        return self._builder.constant(value, None, label)

    # ----- Operations -----

    def apply(self, op: str, args: Iterable[int]) -> int:
        """The entry for ``op(*args)``, after folding and simplification."""
        args = tuple(args)
        folded = self._fold(op, args)
        if folded is not None:
            return folded
        rule = _RULES.get(op)
        if rule is not None:
            simpler = rule(self, *args)
            if simpler is not None:
                return simpler
        return self._builder.operation(op, args, None)

    def copy(self, source: Tape, arguments: dict[str, int] | None = None) -> int:
        """Rebuild the output of ``source`` (what it depends on) here; its new index.

        Variables named in ``arguments`` are replaced by the given entries
        (how a partial formula's ``a`` and ``b`` are instantiated).
        """
        needed = reaches_output(source)
        image: list[int | None] = [None] * len(source)
        for i in range(source.output + 1):
            if needed[i]:
                image[i] = self.copy_entry(source, i, image, arguments)
        return image[source.output]

    def copy_entry(self, source: Tape, i: int, image: list[int | None],
                   arguments: dict[str, int] | None = None) -> int:
        """Rebuild entry ``i`` of ``source`` whose arguments are already in ``image``."""
        op = source.ops[i]
        if op == VAR:
            name = source.labels[i]
            if arguments and name in arguments:
                return arguments[name]
            return self.variable(name)
        if op == CONST:
            return self.constant(source.consts[i], source.labels[i])
        index = self.apply(op, (image[j] for j in source.args[i]))
        # A let-bound name follows its entry, so the printer can reuse it.
        tape = self.tape
        if source.labels[i] and tape.labels[index] is None and tape.args[index]:
            tape.labels[index] = source.labels[i]
        return index

    def finish(self, output: int) -> Tape:
        """The tape of the entries ``output`` needs, renumbered in order."""
        return compact(self.tape, output)

    # ----- Questions the rules ask -----

    def value_of(self, i: int) -> float | None:
        """The constant at entry ``i``, or None when it is not a constant."""
        return self.tape.consts[i] if self.tape.ops[i] == CONST else None

    def is_number(self, i: int) -> bool:
        """A plain number (not a named constant such as pi, which stays named)."""
        return self.tape.ops[i] == CONST and self.tape.labels[i] is None

    def is_value(self, i: int, value: float) -> bool:
        return self.value_of(i) == value

    def match(self, i: int, op: str) -> tuple[int, ...] | None:
        """The arguments of entry ``i`` when it is an ``op``, else None."""
        return self.tape.args[i] if self.tape.ops[i] == op else None

    def coefficient(self, i: int) -> tuple[float, int]:
        """``i`` as ``c * term`` with a plain number ``c`` (1 when there is none)."""
        product = self.match(i, "mul")
        if product and self.is_number(product[0]):
            return self.tape.consts[product[0]], product[1]
        return 1.0, i

    def scaled(self, c: float, term: int) -> int | None:
        """``c * term`` when ``c`` prints short enough to be worth collecting."""
        if not _short(c):
            return None
        return self.apply("mul", (self.constant(c), term))

    def _fold(self, op: str, args: tuple[int, ...]) -> int | None:
        if not args or not all(self.is_number(j) for j in args):
            return None
        prim = PRIMITIVES[op]
        values = [self.tape.consts[j] for j in args]
        if prim.domain is not None and prim.domain(*values):
            return None  # leave it to evaluation to report
        try:
            result = prim.value(*values)
        except (ArithmeticError, ValueError):
            return None
        if not math.isfinite(result) or not _short(result):
            return None
        return self.constant(result)


def _short(value: float) -> bool:
    return math.isfinite(value) and len(format_number(value)) <= _FOLDED_WIDTH


# ----- Simplification rules, one per arithmetic operator -----
# Each returns an equivalent entry, or None to keep the operation as it is.

def _add(b: ExpressionBuilder, x: int, y: int) -> int | None:
    if b.is_value(y, 0.0):
        return x
    if b.is_value(x, 0.0):
        return y
    for left, right in ((x, y), (y, x)):
        positive = _visibly_negative(b, right)
        if positive is not None:
            return b.apply("sub", (left, positive))
    return _collect(b, x, y, 1.0)


def _sub(b: ExpressionBuilder, x: int, y: int) -> int | None:
    if b.is_value(y, 0.0):
        return x
    if b.is_value(x, 0.0):
        return b.apply("neg", (y,))
    if x == y:
        return b.constant(0.0)
    positive = _visibly_negative(b, y)
    if positive is not None:
        return b.apply("add", (x, positive))
    return _collect(b, x, y, -1.0)


def _visibly_negative(b: ExpressionBuilder, i: int, depth: int = 3) -> int | None:
    """``-i`` when ``i`` is written with a leading minus (so ``a + -t`` is ``a - t``).

    Looks down the left operands of products and quotients a few levels only.
    """
    negated = b.match(i, "neg")
    if negated:
        return negated[0]
    if b.is_number(i):
        return b.constant(-b.value_of(i)) if b.value_of(i) < 0 else None
    for op in ("mul", "div"):
        operands = b.match(i, op)
        if operands and depth:
            left = _visibly_negative(b, operands[0], depth - 1)
            if left is not None:
                return b.apply(op, (left, operands[1]))
    return None


def _collect(b: ExpressionBuilder, x: int, y: int, sign: float) -> int | None:
    # c1*t + c2*t is (c1 + c2)*t; x + x is 2*x.
    cx, tx = b.coefficient(x)
    cy, ty = b.coefficient(y)
    if tx != ty or b.is_number(tx):
        return None
    return b.scaled(cx + sign * cy, tx)


def _mul(b: ExpressionBuilder, x: int, y: int) -> int | None:
    if b.is_value(x, 0.0) or b.is_value(y, 0.0):
        return b.constant(0.0)
    if b.is_value(x, 1.0):
        return y
    if b.is_value(y, 1.0):
        return x
    if b.is_value(x, -1.0):
        return b.apply("neg", (y,))
    if b.is_value(y, -1.0):
        return b.apply("neg", (x,))
    if b.is_number(y) and not b.is_number(x):
        return b.apply("mul", (y, x))  # numbers first: 2*x
    pulled = _minus_outside(b, "mul", x, y)
    if pulled is not None:
        return pulled
    cy, ty = b.coefficient(y)
    if ty != y:  # x * (c*t) is c * (x*t), so numbers collect at the front
        if b.is_number(x):
            return b.scaled(b.value_of(x) * cy, ty)
        return b.apply("mul", (b.constant(cy), b.apply("mul", (x, ty))))
    cx, tx = b.coefficient(x)
    if tx != x:
        return b.apply("mul", (b.constant(cx), b.apply("mul", (tx, y))))
    for side, other in ((x, y), (y, x)):
        reciprocal = b.match(side, "div")
        if reciprocal and b.is_value(reciprocal[0], 1.0):
            return b.apply("div", (other, reciprocal[1]))
    base_x, power_x = _as_power(b, x)
    base_y, power_y = _as_power(b, y)
    if base_x == base_y and not b.is_number(base_x):
        total = power_x + power_y
        if _short(total):
            return b.apply("pow", (base_x, b.constant(total)))
    return None


def _minus_outside(b: ExpressionBuilder, op: str, x: int, y: int) -> int | None:
    """``(-a) op c`` and ``a op (-c)`` as ``-(a op c)``, so minus signs can cancel."""
    negated = b.match(x, "neg")
    if negated:
        return b.apply("neg", (b.apply(op, (negated[0], y)),))
    negated = b.match(y, "neg")
    if negated:
        return b.apply("neg", (b.apply(op, (x, negated[0])),))
    return None


def _as_power(b: ExpressionBuilder, i: int) -> tuple[int, float]:
    power = b.match(i, "pow")
    if power and b.is_number(power[1]):
        return power[0], b.tape.consts[power[1]]
    return i, 1.0


def _div(b: ExpressionBuilder, x: int, y: int) -> int | None:
    if b.is_value(y, 1.0):
        return x
    if b.is_value(y, -1.0):
        return b.apply("neg", (x,))
    if b.is_value(x, 0.0):
        return b.constant(0.0)
    if x == y:
        return b.constant(1.0)
    pulled = _minus_outside(b, "div", x, y)
    if pulled is not None:
        return pulled
    return None


def _neg(b: ExpressionBuilder, x: int) -> int | None:
    negated = b.match(x, "neg")
    if negated:
        return negated[0]
    difference = b.match(x, "sub")
    if difference:
        return b.apply("sub", (difference[1], difference[0]))
    for op in ("mul", "div"):
        operands = b.match(x, op)
        if operands and b.is_number(operands[0]):
            return b.apply(op, (b.constant(-b.value_of(operands[0])), operands[1]))
    return None


def _pow(b: ExpressionBuilder, x: int, y: int) -> int | None:
    if b.is_value(y, 0.0) or b.is_value(x, 1.0):
        return b.constant(1.0)
    if b.is_value(y, 1.0):
        return x
    exponent = b.value_of(y) if b.is_number(y) else None
    if exponent is None:
        return None
    if exponent < 0:  # x^-2 reads as 1/x^2
        return b.apply("div", (b.constant(1.0), b.apply("pow", (x, b.constant(-exponent)))))
    inner = b.match(x, "pow")
    if inner and b.is_number(inner[1]) and exponent == int(exponent):
        # (a^m)^n = a^(m*n) for an integer n, whatever the sign of a.
        total = b.tape.consts[inner[1]] * exponent
        if _short(total):
            return b.apply("pow", (inner[0], b.constant(total)))
    return None


_RULES: dict[str, Callable[..., int | None]] = {
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "neg": _neg, "pow": _pow,
}


# ----- Differentiation -----

def derivative(tape: Tape, wrt: str, order: int = 1) -> Tape:
    """The tape of ``∂^order output / ∂wrt^order``, simplified."""
    for _ in range(order):
        tape = _derivative_once(tape, wrt)
    return tape


def simplified(tape: Tape) -> Tape:
    """The same expression rebuilt through the simplifier (the 0th derivative)."""
    builder = ExpressionBuilder()
    return builder.finish(builder.copy(tape))


def _derivative_once(tape: Tape, wrt: str) -> Tape:
    return derivative_sweep(tape, wrt).tape


@dataclass
class Sweep:
    """What one symbolic sweep built, for a caller that shows how it got there.

    ``image[i]`` and ``tangent[i]`` are the builder's entries for input entry
    ``i`` and its derivative (None: not needed, or exactly zero); with
    ``record``, ``terms[i]`` lists ``(k, j, partial)`` for each argument ``k``
    (entry ``j``) whose tangent is not zero, ``partial`` being the builder's
    entry for the primitive table's partial formula. ``tape`` is the finished
    derivative, the one ``derivative`` returns.
    """

    builder: ExpressionBuilder
    image: list[int | None]
    tangent: list[int | None]
    terms: dict[int, list[tuple[int, int, int]]]
    tape: Tape


def derivative_sweep(tape: Tape, wrt: str, record: bool = False) -> Sweep:
    """One forward sweep building ``∂output/∂wrt``; see ``Sweep``."""
    builder = ExpressionBuilder()
    needed = reaches_output(tape, tape.output)
    image: list[int | None] = [None] * len(tape)
    tangent: list[int | None] = [None] * len(tape)
    recorded: dict[int, list[tuple[int, int, int]]] = {}
    for i in range(tape.output + 1):
        if not needed[i]:
            continue
        image[i] = builder.copy_entry(tape, i, image)
        if tape.ops[i] == VAR:
            if tape.labels[i] == wrt:
                tangent[i] = builder.constant(1.0)
            continue
        arguments = dict(zip(FORMULA_ARGUMENTS, (image[j] for j in tape.args[i])))
        total = None
        terms = recorded.setdefault(i, []) if record else None
        for k, j in enumerate(tape.args[i]):
            if tangent[j] is None:
                continue
            partial = _instantiate(builder, tape.ops[i], k, arguments)
            if terms is not None:
                terms.append((k, j, partial))
            term = builder.apply("mul", (partial, tangent[j]))
            total = term if total is None else builder.apply("add", (total, term))
        if total is not None and not builder.is_value(total, 0.0):
            tangent[i] = total
    result = tangent[tape.output]
    finished = builder.finish(builder.constant(0.0) if result is None else result)
    return Sweep(builder, image, tangent, recorded, finished)


def _instantiate(builder: ExpressionBuilder, op: str, k: int,
                 arguments: dict[str, int]) -> int:
    template = partial_template(op, k)
    return builder.copy(template, arguments)


# ----- Tape housekeeping -----


def compact(tape: Tape, output: int) -> Tape:
    """A new tape holding only what ``output`` needs, in the same order."""
    needed = reaches_output(tape, output)
    renumber: dict[int, int] = {}
    result = Tape(source="")
    for i in range(output + 1):
        if not needed[i]:
            continue
        renumber[i] = len(result.ops)
        result.ops.append(tape.ops[i])
        result.args.append(tuple(renumber[j] for j in tape.args[i]))
        result.consts.append(tape.consts[i])
        result.labels.append(tape.labels[i])
        result.spans.append(None)
        result.options.append(tape.options[i])
        if tape.ops[i] == VAR:
            result.variable_index[tape.labels[i]] = renumber[i]
            result.variables.append(tape.labels[i])
    result.output = renumber[output]
    return result


def operation_count(tape: Tape) -> int:
    """How many entries compute something (variables and constants excluded)."""
    return sum(1 for op in tape.ops if op not in (VAR, CONST))
