"""Batch evaluation: the primal, forward and reverse sweeps over NumPy arrays.

When a point maps names to arrays (broadcast together, and with plain
numbers), ``CompiledExpression.value`` and ``.gradient`` come here and sweep
the tape once with arrays in place of floats, using the array versions of the
primitives in the primitive table. NumPy is imported only on this path.

A batch never raises for a bad element. Where the scalar evaluator would stop
with a ``DomainError`` (an argument outside a domain, a pole, an overflow, a
non-finite input), the element's value and gradient are NaN. Elements whose
gradient is not finite although their value is (``sqrt`` at 0, or an infinite
partial met by a zero adjoint) are evaluated again one by one on the scalar
path, so the conventions at such points are exactly the scalar ones.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import PointError
from .primitives import PRIMITIVES
from .results import GradientResult, Notice
from .tape import CONST, VAR, Tape


def _numpy():
    import numpy
    return numpy


class BatchGradientResult(GradientResult):
    """A ``GradientResult`` whose value and partials are arrays."""

    @property
    def all_finite(self) -> bool:
        np = _numpy()
        return all(bool(np.isfinite(v).all()) for v in self.gradient.values())

    def to_dict(self) -> dict[str, Any]:
        def listed(array):
            return array.tolist()
        return {"expression": self.expression,
                "point": {k: listed(v) for k, v in self.point.items()},
                "value": listed(self.value),
                "gradient": {k: listed(v) for k, v in self.gradient.items()},
                "mode": self.mode, "warnings": [w.to_dict() for w in self.warnings]}


def broadcast_point(tape: Tape, point: Mapping[str, Any]):
    """The variables' arrays broadcast to one shape (flattened), and that shape."""
    np = _numpy()
    missing = [name for name in tape.variables if name not in point]
    if missing:
        noun = "variable" if len(missing) == 1 else "variables"
        raise PointError(f"no value for the {noun} {', '.join(missing)}")
    arrays = []
    for name in tape.variables:
        value = point[name]
        if isinstance(value, bool):
            raise PointError(f"the value of {name} must be a number, not {value!r}")
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise PointError(f"the value of {name} must be numbers, not {value!r}") from None
        arrays.append(array)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(tape.variables, arrays))
        raise PointError(f"the arrays do not broadcast to one shape ({shapes})") from None
    size = 1
    for extent in shape:
        size *= extent
    flat = [np.broadcast_to(a, shape).reshape(size) for a in arrays]
    return dict(zip(tape.variables, flat)), shape, size


def primal(tape: Tape, arrays: Mapping[str, Any], size: int):
    """Values of every entry (arrays or scalars), and the mask of bad elements."""
    np = _numpy()
    values: list[Any] = [None] * len(tape)
    ops, args, consts, labels = tape.ops, tape.args, tape.consts, tape.labels
    # A running sum of every entry is non-finite wherever some entry is: one
    # add per entry instead of an isfinite test per entry.
    total = np.zeros(size)
    for i, op in enumerate(ops):
        if op == VAR:
            result = arrays[labels[i]]
        elif op == CONST:
            values[i] = consts[i]
            continue
        else:
            result = PRIMITIVES[op].vector_value(*(values[j] for j in args[i]))
        values[i] = result
        total += result
    suspect = np.flatnonzero(~np.isfinite(total))
    bad = np.zeros(size, dtype=bool)
    if suspect.size:
        # An overflowing sum of finite entries is no error: look at each entry.
        found = np.zeros(suspect.size, dtype=bool)
        for value in values:
            if isinstance(value, np.ndarray):
                found |= ~np.isfinite(value[suspect])
            elif value is not None and not np.isfinite(value):
                found[:] = True
        bad[suspect[found]] = True
    return values, bad


def local_partials(tape: Tape, values: list[Any]) -> list[tuple[Any, ...]]:
    """``partials[i][k]`` as arrays (or scalars where the arguments are scalars)."""
    partials: list[tuple[Any, ...]] = [()] * len(tape)
    for i, op in enumerate(tape.ops):
        if op == VAR or op == CONST:
            continue
        inputs = [values[j] for j in tape.args[i]]
        out = values[i]
        partials[i] = tuple(rule(*inputs, out)
                            for rule in PRIMITIVES[op].vector_partials)
    return partials


def adjoint_sweep(tape: Tape, partials, size: int) -> list[Any]:
    """Adjoints of every entry; None is an exact zero (the entry does not reach
    the output), which passes nothing on, as in the scalar sweep."""
    np = _numpy()
    adjoint: list[Any] = [None] * len(tape)
    adjoint[tape.output] = np.ones(size)
    args = tape.args
    for i in range(tape.output, -1, -1):
        a = adjoint[i]
        if a is None:
            continue
        for j, partial in zip(args[i], partials[i]):
            contribution = partial * a
            if adjoint[j] is None:
                adjoint[j] = contribution
            else:
                adjoint[j] += contribution
    return adjoint


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
            if t is None:
                continue
            contribution = partial * t
            total = contribution if total is None else total + contribution
        tangent[i] = total
    return tangent[tape.output]


def gradient(program, point: Mapping[str, Any], mode: str,
             names: list[str]) -> BatchGradientResult:
    """Value and gradient at every point of the batch."""
    np = _numpy()
    tape = program.tape
    arrays, shape, size = broadcast_point(tape, point)
    with np.errstate(all="ignore"):
        values, bad = primal(tape, arrays, size)
        partials = local_partials(tape, values)
        if mode == "reverse":
            adjoint = adjoint_sweep(tape, partials, size)
            found = {name: adjoint[tape.variable_index[name]] for name in names}
        else:
            found = {name: tangent_sweep(tape, partials, tape.variable_index[name], size)
                     for name in names}
        value = _full(values[tape.output], size)
        gradient = {name: _full(found[name], size) for name in names}
    value[bad] = np.nan
    for partial in gradient.values():
        partial[bad] = np.nan
    _rescan_nonfinite(program, arrays, bad, gradient, mode, names)
    notices = []
    count = int(bad.sum())
    if count:
        notices.append(Notice("domain", f"{count} of {size} points are outside the domain "
                              "or overflow; their value and gradient are NaN"))
    return BatchGradientResult(
        program.text, {name: a.reshape(shape) for name, a in arrays.items()},
        value.reshape(shape), {name: g.reshape(shape) for name, g in gradient.items()},
        mode, notices)


def value(program, point: Mapping[str, Any]):
    """The value at every point of the batch (NaN where the scalar path would raise)."""
    np = _numpy()
    tape = program.tape
    arrays, shape, size = broadcast_point(tape, point)
    with np.errstate(all="ignore"):
        values, bad = primal(tape, arrays, size)
        result = _full(values[tape.output], size)
    result[bad] = np.nan
    return result.reshape(shape)


def _full(value, size: int):
    """A fresh float array of ``size`` elements (entries may be scalars)."""
    np = _numpy()
    full = np.empty(size)
    if value is None:
        full.fill(0.0)
    else:
        full[...] = value
    return full


def _rescan_nonfinite(program, arrays, bad, gradient, mode: str, names: list[str]) -> None:
    # Elements with a finite value but a non-finite partial: the scalar path
    # applies the exact-zero rule and its conventions one element at a time.
    np = _numpy()
    from .errors import DomainError
    odd = np.zeros(bad.shape, dtype=bool)
    for partial in gradient.values():
        odd |= ~np.isfinite(partial)
    odd &= ~bad
    for k in np.flatnonzero(odd):
        scalar_point = {name: float(array[k]) for name, array in arrays.items()}
        try:
            result = program.gradient(scalar_point, mode=mode, wrt=names)
        except DomainError:  # pragma: no cover - bad elements are already NaN
            continue
        for name in names:
            gradient[name][k] = result.gradient[name]
