"""The primal sweep: values of every tape entry, and the local partials at them.

``primal`` walks the tape once in order and returns the value of each entry.
A value outside a primitive's domain (``log(-1)``, ``1/0``) or one that
overflows a double raises ``DomainError`` naming the subexpression and its
inputs. ``local_partials`` then gives, for each entry, the partial derivative
of the entry with respect to each of its arguments: the numbers that the
forward sweep, the reverse sweep and the chain-rule explanation all multiply.
Neither function changes the tape.
"""

from __future__ import annotations

import math

from ...base.errors import DomainError
from ...base.numbers import format_number
from ...primitives import PRIMITIVES
from ...primitives.base import Primitive
from ...tape import CONST, VAR, Tape

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Mapping


def _primitives_of(tape: Tape) -> list[Primitive | None]:
    return [PRIMITIVES.get(op) for op in tape.ops]


def primal(tape: Tape, point: Mapping[str, float]) -> list[float]:
    """Value of every entry at ``point`` (which must name every variable)."""
    values = [0.0] * len(tape)
    ops, args, consts, labels = tape.ops, tape.args, tape.consts, tape.labels
    primitives = _primitives_of(tape)
    for i, op in enumerate(ops):
        if op == VAR:
            values[i] = float(point[labels[i]])
            continue
        if op == CONST:
            values[i] = consts[i]
            continue
        prim = primitives[i]
        inputs = [values[j] for j in args[i]]
        try:
            result = prim.value(*inputs)
        except (ValueError, ZeroDivisionError, OverflowError):
            raise _domain_error(tape, i, prim, inputs, values) from None
        if not math.isfinite(result):
            raise _domain_error(tape, i, prim, inputs, values)
        values[i] = result
    return values


def local_partials(tape: Tape, values: list[float]) -> list[tuple[float, ...]]:
    """``partials[i][k]`` is ∂v_i/∂(k-th argument of v_i) at ``values``."""
    partials: list[tuple[float, ...]] = [()] * len(tape)
    ops, args = tape.ops, tape.args
    primitives = _primitives_of(tape)
    for i, op in enumerate(ops):
        if op == VAR or op == CONST:
            continue
        prim = primitives[i]
        inputs = [values[j] for j in args[i]]
        out = values[i]
        row = []
        for rule in prim.partials:
            try:
                row.append(float(rule(*inputs, out)))
            except ZeroDivisionError:
                row.append(math.inf)
            except (ValueError, OverflowError):
                row.append(math.nan)
        partials[i] = tuple(row)
    return partials


def kink_entries(tape: Tape) -> list[tuple[int, Primitive]]:
    """The entries whose primitive has a kink: the only ones ``kinks`` looks at."""
    return [(i, prim) for i, prim in enumerate(_primitives_of(tape))
            if prim is not None and prim.kink is not None]


def kinks(tape: Tape, values: list[float],
          entries: list[tuple[int, Primitive]] | None = None) -> list[tuple[int, str]]:
    """Entries whose arguments sit on a kink of their primitive, with the convention used."""
    found = []
    for i, prim in kink_entries(tape) if entries is None else entries:
        message = prim.kink(*(values[j] for j in tape.args[i]))
        if message:
            found.append((i, message))
    return found


def argument_values(tape: Tape, i: int, inputs) -> list[str]:
    """``arg = value`` for each argument of entry ``i`` whose text is not its value,
    for the messages that say where a function left its domain."""
    shown = []
    for j, value in zip(tape.args[i], inputs):
        arg_text = tape.source_text(j, limit=40) or tape.name(j)
        number = format_number(value)
        if arg_text != number:
            shown.append(f"{arg_text} = {number}")
    return shown


def _domain_error(tape: Tape, i: int, prim: Primitive, inputs: list[float],
                  values: list[float]) -> DomainError:
    text = tape.source_text(i) or tape.name(i)
    reason = prim.domain(*inputs) if prim.domain else None
    if reason is None and all(math.isfinite(v) for v in inputs):
        reason = f"{prim.name} overflows a double"
    elif reason is None:
        reason = f"{prim.name} is undefined here"
    shown = argument_values(tape, i, inputs)
    where = f" at {', '.join(shown)}" if shown else ""
    return DomainError(f"{text}: {reason}{where}", reason=reason, source=tape.source,
                       span=tape.spans[i])
