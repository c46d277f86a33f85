"""Batch sweeps: the primal, reverse and forward sweeps over NumPy arrays.

The batch evaluation (``program``) runs these over a batch's arrays, or a slice
of them, with the array versions of the primitives in the primitive table;
``codegen`` runs them once through a recorder to write the same sweep out as
straight-line code. Every array operation a sweep does itself goes through
an ``arithmetic`` (``DIRECT`` carries it out; the recorder also writes it
down), so the recorded sweep is this one, operation for operation.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...base.finite import all_finite_array
from ...primitives import PRIMITIVES
from ...tape import CONST, VAR, Tape, depends_on_variables


def _numpy():
    import numpy
    return numpy


# ----- Faster array forms of a few primitives -----
# The primitive table's array functions are written to be right for any
# operands; over a million elements a few of them do work that hand-written
# NumPy would not. These compute the same values (within the last bits for an
# integer power, see below) with fewer passes and fewer fresh arrays, and are
# used by every batch sweep, trapped or checked, so those agree to the bit.

# np.power computes x**3 with the general pow() per element, many times the
# cost of multiplying; exponents up to this size are multiplied out (by
# squaring: at most four roundings, so within a few ulps of pow's answer).
MAX_MULTIPLIED_EXPONENT = 8


def whole_exponent(b) -> int | None:
    if type(b) is float and b.is_integer() and 2.0 <= abs(b) <= MAX_MULTIPLIED_EXPONENT:
        return int(b)
    return None


def multiplied_power(a, n: int, multiply=None, reciprocal=None):
    """``a**n`` for a whole ``n`` with 2 <= |n| <= 8, by squaring.

    ``multiply(p, q)`` and ``reciprocal(r)`` make each product and ``1/r``:
    ``*`` and an in-place divide by default; the written sweep's forms
    (forms.py) pass calls it records, so both make the same operations."""
    multiply = multiply or _times
    result = None
    square = a
    k = abs(n)
    while k:
        if k & 1:
            result = square if result is None else multiply(result, square)
        k >>= 1
        if k:
            square = multiply(square, square)
    if n < 0:
        return (reciprocal or _reciprocal_in_place)(result)
    return result


def _times(p, q):
    return p * q


def _reciprocal_in_place(r):
    # r is a fresh product for |n| >= 2, never the base itself.
    return _numpy().divide(1.0, r, out=r)


def _batch_power(a, b):
    n = whole_exponent(b)
    if n is not None and not isinstance(a, float):
        return multiplied_power(a, n)
    return PRIMITIVES["pow"].vector_value(a, b)


def _batch_power_partial_base(a, b, out):
    n = whole_exponent(b)
    if n is None or isinstance(a, float) or not 2 <= abs(n - 1) <= MAX_MULTIPLIED_EXPONENT:
        return PRIMITIVES["pow"].vector_partials[0](a, b, out)  # for x^2, 2*x: one product
    power = multiplied_power(a, n - 1)   # a fresh array: at least one product
    power *= b
    return power


def _batch_tanh_partial(a, out):
    np = _numpy()
    if not isinstance(out, np.ndarray):
        return PRIMITIVES["tanh"].vector_partials[0](a, out)
    square = out * out
    return np.subtract(1.0, square, out=square)   # 1 - tanh^2, one fresh array


_BATCH_VALUE = {"pow": _batch_power}
_BATCH_PARTIALS = {"pow": (_batch_power_partial_base, None), "tanh": (_batch_tanh_partial,)}


def value_rule(op: str):
    """The array value function of primitive ``op`` that batches use."""
    return _BATCH_VALUE.get(op) or PRIMITIVES[op].vector_value


def partial_rules(op: str) -> tuple:
    """The array partials of primitive ``op`` that batches use."""
    rules = PRIMITIVES[op].vector_partials
    faster = _BATCH_PARTIALS.get(op)
    if faster is None:
        return rules
    return tuple(fast or rule for fast, rule in zip(faster, rules))


class NeedsChecking(Exception):
    """A sweep without checks found what it cannot answer for (an input that
    is not finite): the checked sweep must run instead."""


class DirectArithmetic:
    """A sweep's operations (calling a rule, multiplying, adding, negating), carried out.

    Each is the Python operator it stands for, so a product of two floats is
    a float, and the sweeps' tests of ``type(partial) is float`` see what
    they would see written with operators; with ``out`` it is the ufunc
    writing in place (``a *= b`` is ``multiply(a, b, out=a)``)."""

    __slots__ = ()

    @staticmethod
    def call(function, *operands):
        return function(*operands)

    @staticmethod
    def multiply(a, b, out=None):
        return a * b if out is None else _numpy().multiply(a, b, out=out)

    @staticmethod
    def add(a, b, out=None):
        return a + b if out is None else _numpy().add(a, b, out=out)

    @staticmethod
    def negative(a, out=None):
        return _numpy().negative(a, out=out)


DIRECT = DirectArithmetic()


class SweepPlan:
    """What every sweep over one tape looks up, looked up once (a batch is
    swept a slice at a time, see ``program.CHUNK``): which entries depend on a
    variable, each entry's value function, and the partial rules the reverse
    sweep calls for each argument that depends on a variable."""

    def __init__(self, tape: Tape):
        self.varies = varies = depends_on_variables(tape)
        self.value = [value_rule(op) if op in PRIMITIVES else None for op in tape.ops]
        self.partials = [partial_rules(op) if op in PRIMITIVES else () for op in tape.ops]
        self.targets = [[(j, rule) for j, rule in zip(args, rules) if varies[j]]
                        for args, rules in zip(tape.args, self.partials)]


def primal(tape: Tape, arrays: Mapping[str, Any], size: int, checked: bool = True,
           release: list[list[int]] | None = None, plan: SweepPlan | None = None,
           arithmetic=DIRECT):
    """Values of every entry (arrays or scalars), and the mask of bad elements.

    Unchecked (under floating-point traps, see ``program.gradient``) nothing is
    flagged: a bad element would have raised ``FloatingPointError``. With a
    ``release`` plan (``reverse_release_plan``) values no later step reads are
    dropped as soon as the sweep is past them: they become None."""
    np = _numpy()
    values: list[Any] = [None] * len(tape)
    ops, args, consts, labels = tape.ops, tape.args, tape.consts, tape.labels
    # One read-only pass per entry (base/finite.py), and an elementwise test
    # only for the entries it flags, at once, so a released array is not kept
    # alive for the test.
    bad = np.zeros(size, dtype=bool) if checked else None
    functions = (plan or SweepPlan(tape)).value
    call = arithmetic.call
    for i, op in enumerate(ops):
        if op == VAR:
            result = arrays[labels[i]]
        elif op == CONST:
            values[i] = consts[i]
            continue
        else:
            result = call(functions[i], *[values[j] for j in args[i]])
        values[i] = result
        if checked and not (all_finite_array(np, result, quiet=True)
                            if type(result) is np.ndarray else np.isfinite(np.sum(result))):
            bad |= ~np.isfinite(result)
        if release is not None:
            for j in release[i]:
                values[j] = None
    return values, bad


# Intermediates (in array elements, 8 bytes each) above which the primal
# sweep of a reverse-mode batch frees what no partial reads: 128 MiB.
RELEASE_ABOVE = 16_000_000


def reverse_release_plan(tape: Tape) -> list[list[int]]:
    """``plan[i]``: entries whose values nothing reads once entry ``i`` is computed.

    The reverse sweep reads the arguments of an entry whose partials read
    their arguments, and the value of one whose partials read its output
    (the primitive table says which); the output's value is the answer. The
    rest are needed only until their last use in the primal sweep, so a batch
    keeps about as many arrays alive as the same code written by hand."""
    count = len(tape)
    keep = [False] * count
    keep[tape.output] = True
    last_use = [-1] * count
    for i, op in enumerate(tape.ops):
        prim = PRIMITIVES.get(op)
        if prim is None:
            keep[i] = True  # inputs and constants are not the sweep's to free
            continue
        if prim.partials_read_output:
            keep[i] = True
        for j in tape.args[i]:
            last_use[j] = i
            if prim.partials_read_arguments:
                keep[j] = True
    plan: list[list[int]] = [[] for _ in range(count)]
    for j in range(count):
        if not keep[j] and last_use[j] >= 0:
            plan[last_use[j]].append(j)
    return plan


def local_partials(tape: Tape, values: list[Any]) -> list[tuple[Any, ...]]:
    """``partials[i][k]`` as arrays (or scalars where the arguments are scalars).

    A partial with respect to an argument that depends on no variable (the 2
    of ``x^2``) is None: no sweep needs it, and skipping it saves whole-array
    work."""
    partials: list[tuple[Any, ...]] = [()] * len(tape)
    varies = depends_on_variables(tape)
    for i, op in enumerate(tape.ops):
        args = tape.args[i]
        if not args:
            continue
        if not varies[i]:
            partials[i] = (None,) * len(args)
            continue
        inputs = [values[j] for j in args]
        out = values[i]
        partials[i] = tuple(rule(*inputs, out) if varies[j] else None
                            for j, rule in zip(args, partial_rules(op)))
    return partials


def adjoint_sweep(tape: Tape, values: list[Any], plan: SweepPlan | None = None,
                  arithmetic=DIRECT) -> tuple[list[Any], list[bool]]:
    """Adjoints of the variables (None: an exact zero, nothing reached them), and
    whether each is an array of the sweep's own.

    Each entry's partials are computed as the sweep reaches it and dropped
    after use, and so are values and adjoints no later step reads: a batch of
    a million points keeps a few arrays alive, not three per entry.

    A fresh array costs NumPy an allocation (and the kernel page faults) as
    much as the arithmetic that fills it, so the sweep multiplies in place
    where it may: into a partial the rule has just made (``1 - out*out`` for
    tanh), or into the entry's own adjoint once nothing else will read it.
    A partial of -1 (``x - y`` by ``y``) is not multiplied out either: the
    array passes on with a note that its negation is meant, and the next
    factor takes the sign (``-1.5*δ`` is one product, not two). Negation is
    exact, so ``c·(−δ)`` and ``(−c)·δ`` are the same bits, signed zeros too; a
    sum is taken of the negated terms as they are (``x + (−y)``, never
    ``−(…)`` of another sum, whose exact zero would change sign). In place or
    not, each product and sum is the same IEEE operation on the same
    operands, so the bits do not depend on any of it."""
    np = _numpy()
    ndarray = np.ndarray
    adjoint: list[Any] = [None] * len(tape)
    # Whether adjoint[j] is an array of this sweep's own, safe to write into.
    # A factor of exactly 1 (the seed, the partials of + and -) passes the
    # other factor on as it is, shared, instead of multiplying out a copy.
    owned = [False] * len(tape)
    # Whether adjoint[j] (an array) holds the negation of the adjoint.
    negated = [False] * len(tape)
    adjoint[tape.output] = 1.0
    plan = plan or SweepPlan(tape)
    ops, args = tape.ops, tape.args
    call, multiply, add = arithmetic.call, arithmetic.multiply, arithmetic.add
    for i in range(tape.output, -1, -1):
        a = adjoint[i]
        if a is not None and args[i]:
            inputs = [values[j] for j in args[i]]
            out = values[i]
            a_is_one = type(a) is float and a == 1.0
            sign = negated[i]
            # a may be written into once this entry's last partial uses it,
            # if it is ours and was not handed on unmultiplied.
            a_free = owned[i] and isinstance(a, ndarray)
            targets = plan.targets[i]
            for n, (j, rule) in enumerate(targets):
                partial = call(rule, *inputs, out)
                made_here = isinstance(partial, ndarray) and partial is not out
                if made_here:
                    for value in inputs:
                        if partial is value:
                            made_here = False
                flip = sign
                if a_is_one:
                    contribution, fresh, flip = partial, made_here, False
                elif type(partial) is float and (partial == 1.0 or partial == -1.0):
                    contribution = a
                    flip = sign != (partial == -1.0)
                    fresh = a_free and n == len(targets) - 1
                    a_free = False
                elif sign and type(partial) is float:
                    contribution = multiply(-partial, a)   # the sign taken by the factor
                    fresh, flip = isinstance(contribution, ndarray), False
                elif made_here:
                    contribution, fresh = multiply(partial, a, out=partial), True
                elif a_free and n == len(targets) - 1:
                    contribution = multiply(partial, a, out=a)
                    fresh, a_free = True, False
                else:
                    contribution = multiply(partial, a)
                    fresh = isinstance(contribution, ndarray)
                if flip and not isinstance(contribution, ndarray):
                    contribution, flip = -contribution, False
                if adjoint[j] is None:
                    adjoint[j] = contribution
                    owned[j] = fresh
                    negated[j] = flip
                    continue
                if negated[j]:      # a sum needs both terms as they are
                    adjoint[j] = _negate(arithmetic, adjoint[j], owned[j])
                    owned[j], negated[j] = True, False
                if flip:
                    contribution, fresh = _negate(arithmetic, contribution, fresh), True
                if owned[j]:
                    adjoint[j] = add(adjoint[j], contribution, out=adjoint[j])
                elif fresh:
                    adjoint[j] = add(contribution, adjoint[j], out=contribution)
                    owned[j] = True
                else:
                    adjoint[j] = add(adjoint[j], contribution)
                    owned[j] = isinstance(adjoint[j], ndarray)
        if ops[i] != VAR:
            adjoint[i] = None
            if i != tape.output:
                values[i] = None    # every reader of it came later on the tape
    for j, op in enumerate(ops):
        if op == VAR and negated[j]:
            adjoint[j], owned[j] = _negate(arithmetic, adjoint[j], owned[j]), True
    return adjoint, owned


def _negate(arithmetic, array, own: bool):
    """``-array``, written into ``array`` when it is the sweep's own."""
    return arithmetic.negative(array, out=array if own else None)


def tangent_sweep(tape: Tape, partials, seed_index: int, size: int):
    """The tangent of the output for the seed 1 at entry ``seed_index``."""
    np = _numpy()
    tangent: list[Any] = [None] * len(tape)
    tangent[seed_index] = np.ones(size)
    args = tape.args
    for i in range(seed_index + 1, tape.output + 1):
        total = None
        for j, partial in zip(args[i], partials[i]):
            t = tangent[j]
            if t is None or partial is None:
                continue
            contribution = partial * t
            total = contribution if total is None else total + contribution
        tangent[i] = total
    return tangent[tape.output]
