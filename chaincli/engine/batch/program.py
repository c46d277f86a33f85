"""Batch evaluation, for ``CompiledExpression``: many scalar points at once.

When a point maps names to arrays (broadcast together, and with plain
numbers), ``CompiledExpression.value`` and ``.gradient`` come here and sweep
the tape once with arrays in place of floats, using the array versions of the
primitives in the primitive table (``sweeps``). NumPy is imported only on this
path. A large batch is swept a slice at a time; in reverse mode every slice
runs the same sweep written out as straight-line code for the tape
(``codegen``), which gives the sweeps' bits.

A batch never raises for a bad element. Where the scalar evaluator would stop
with a ``DomainError`` (an argument outside a domain, a pole, an overflow, a
non-finite input), the element's value and gradient are NaN. Elements whose
gradient is not finite although their value is (``sqrt`` at 0, or an infinite
partial met by a zero adjoint) are evaluated again one by one on the scalar
path, so the conventions at such points are exactly the scalar ones.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from ...base.errors import DomainError, PointError, missing_values
from ...base.finite import all_finite_array
from ...base.shapes import size as shape_size
from ...tape import CONST, VAR, Tape
from ..allocator import raise_thresholds
from ..results import GradientResult, Notice
from .sweeps import (RELEASE_ABOVE, NeedsChecking, SweepPlan, adjoint_sweep, local_partials,
                     primal, reverse_release_plan, tangent_sweep)

# A batch frees its slices' arrays and its results by the megabyte (allocator.py).
raise_thresholds()


def _numpy():
    import numpy
    return numpy


class BatchGradientResult(GradientResult):
    """A ``GradientResult`` whose value and partials are arrays."""

    @property
    def all_finite(self) -> bool:
        np = _numpy()
        return all(all_finite_array(np, v) for v in self.gradient.values())

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression,
                "point": {k: v.tolist() for k, v in self.point.items()},
                "value": self.value.tolist(),
                "gradient": {k: v.tolist() for k, v in self.gradient.items()},
                "mode": self.mode, "warnings": [w.to_dict() for w in self.warnings]}


def broadcast_point(tape: Tape, point: Mapping[str, Any]):
    """The variables' arrays broadcast to one shape (flattened), and that shape."""
    np = _numpy()
    missing = [name for name in tape.variables if name not in point]
    if missing:
        raise missing_values(missing)
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
    size = shape_size(shape)
    flat = [a if a.shape == (size,) else np.broadcast_to(a, shape).reshape(size)
            for a in arrays]
    return dict(zip(tape.variables, flat)), shape, size


# Floating-point traps: any overflow, invalid operation (log(-1), 0*inf) or
# division by zero anywhere in the sweeps raises instead of flowing on.
_TRAPS = {"over": "raise", "invalid": "raise", "divide": "raise", "under": "ignore"}


def gradient(program, point: Mapping[str, Any], mode: str,
             names: list[str]) -> BatchGradientResult:
    """Value and gradient at every point of the batch.

    The sweeps first run under floating-point traps, with no per-entry
    checks: when no element overflows, leaves a domain or meets a pole, that
    is the whole cost, as in NumPy code written by hand. If a trap fires, the
    batch runs again checked, element by element, as described above."""
    np = _numpy()
    tape = program.tape
    arrays, shape, size = broadcast_point(tape, point)
    try:
        with np.errstate(**_TRAPS):
            value, gradient = _trapped_sweeps(program, arrays, size, mode, names)
        return BatchGradientResult(
            program.text, {name: a.reshape(shape) for name, a in arrays.items()},
            value.reshape(shape), {name: g.reshape(shape) for name, g in gradient.items()},
            mode, [])
    except (FloatingPointError, NeedsChecking):
        pass
    with np.errstate(all="ignore"):
        value, gradient, bad = _sweeps(tape, arrays, size, mode, names, checked=True)
    if bad.any():
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


# A batch is swept a slice at a time, so that an entry's array is still in
# the processor's cache when the next entries read it, and NumPy's temporaries
# are small enough to reuse memory instead of mapping fresh pages: NumPy code
# written by hand streams every whole array through memory once per
# operation. Slices are whole multiples of 64 elements, so SIMD loops see the
# elements in the same vectors and alignment as in one sweep, and every
# element gets the same bits either way. Past ``_CHUNK_TAPE_LIMIT`` entries,
# the interpreter's Python per slice would outweigh what the cache saves.
_CACHES = "/sys/devices/system/cpu/cpu0/cache"
_SLICE_BOUNDS = (4_096, 65_536)
_DEFAULT_SLICE = 16_384


def cache_size(level: int, root: str = _CACHES) -> int | None:
    """Bytes in the processor's data (or unified) cache at ``level``, as Linux
    tells it under ``/sys``; None where it does not."""
    for index in range(8):
        folder = f"{root}/index{index}"
        try:
            with open(f"{folder}/level", encoding="ascii") as file:
                found = file.read().strip()
            with open(f"{folder}/type", encoding="ascii") as file:
                kind = file.read().strip()
            with open(f"{folder}/size", encoding="ascii") as file:
                text = file.read().strip().upper()
        except OSError:
            continue
        if found != str(level) or kind == "Instruction":
            continue
        try:
            return int(text.rstrip("KM")) * {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        except ValueError:
            return None
    return None


def slice_points(setting: str | None, l2_bytes: int | None) -> int:
    """Points in a slice: as many as make each of its arrays a quarter of the
    processor's L2 cache (16,384 for 512 KiB, 32,768 for 1 MiB), so that the
    few arrays a step reads and writes fit in it together, while a slice is
    still long enough for the Python around each NumPy call not to show.
    ``CHAINCLI_BATCH_CHUNK`` (``setting``) sets it instead; where neither
    says, 16,384."""
    if setting:
        try:
            points = int(setting)
        except ValueError:
            points = 0
        if points >= 64:
            return points - points % 64
    if not l2_bytes:
        return _DEFAULT_SLICE
    low, high = _SLICE_BOUNDS
    points = min(max(l2_bytes // 32, low), high)
    return points - points % 64


CHUNK = slice_points(os.environ.get("CHAINCLI_BATCH_CHUNK"), cache_size(2))
# What the arrays alive at once in one slice of a written sweep may take
# together: half the L3 cache (16 MiB where it is not known). A long tape
# keeps hundreds alive between its primal and adjoint sweeps, and past the
# L3 cache its slices run at the speed of memory.
LIVE_BYTES = (cache_size(3) or 32 << 20) // 2
_CHUNK_TAPE_LIMIT = 2_000
# The written sweep is sliced at any length up to this one: its Python per
# slice is a few statements an entry, and a long tape kept whole over a large
# batch takes gigabytes (2,477 entries over 10⁶ points: 7.9 GB, against 141
# MB in slices). Past it, writing the function would take seconds.
_WRITTEN_TAPE_LIMIT = 20_000


def _trapped_sweeps(program, arrays, size: int, mode: str, names: list[str]):
    """``_sweeps`` unchecked (under the caller's traps), a slice of ``CHUNK``
    elements at a time where the batch is large. In reverse mode the slices
    run the sweep written out for the tape (``codegen``): written for a
    large batch, where it pays for its writing at once, and used for a small
    one too once it is there. ``NeedsChecking`` where an input is not
    finite: the written sweep looks at each slice of the inputs as it starts
    on it, when the slice is read into the cache anyway; the interpreter
    looks at the whole inputs first."""
    np = _numpy()
    tape = program.tape
    large = size > 2 * CHUNK
    chunked = large and len(tape) <= _CHUNK_TAPE_LIMIT
    sweep = None
    if mode == "reverse" and len(tape) <= _WRITTEN_TAPE_LIMIT and (
            large or program.batch_sweeps.get(tuple(names))):
        sweep = _written_sweep(program, arrays, names)
    if chunked or sweep is not None:
        value = np.empty(size)
        gradient = {name: np.empty(size) for name in names}
    if sweep is not None:
        sweep([arrays[name] for name in tape.variables], value,
              [gradient[name] for name in names], sweep.slice_points(CHUNK, LIVE_BYTES))
        return value, gradient
    if not all(all_finite_array(np, a) for a in arrays.values()):
        raise NeedsChecking
    plan = SweepPlan(tape)
    if not chunked:
        return _sweeps(tape, arrays, size, mode, names, checked=False, sweep_plan=plan)
    for start in range(0, size, CHUNK):
        stop = min(start + CHUNK, size)
        part = {name: array[start:stop] for name, array in arrays.items()}
        part_value, part_gradient = _sweeps(tape, part, stop - start, mode, names,
                                            checked=False, sweep_plan=plan)
        value[start:stop] = part_value
        for name in names:
            gradient[name][start:stop] = part_gradient[name]
    return value, gradient


def _written_sweep(program, arrays, names: list[str]):
    """The reverse sweep of ``program`` for ``names`` as straight-line code
    (``codegen``), written on first use and kept with the program; None where
    the sweep cannot be written out."""
    key = tuple(names)
    sweep = program.batch_sweeps.get(key)
    if sweep is None:
        from . import codegen
        try:
            sweep = codegen.record(_numpy(), program.tape, arrays, names,
                                   SweepPlan(program.tape))
        except codegen.NotRecordable:
            sweep = False
        program.batch_sweeps[key] = sweep
    return sweep or None


def _sweeps(tape: Tape, arrays, size: int, mode: str, names: list[str], checked: bool,
            sweep_plan: SweepPlan | None = None):
    """The value and gradient arrays (and, checked, the mask of bad elements)."""
    # Freeing early saves memory but costs NumPy fresh allocations later:
    # worth it only when keeping every intermediate would take a lot.
    plan = (reverse_release_plan(tape)
            if mode == "reverse" and len(tape) * size > RELEASE_ABOVE else None)
    sweep_plan = sweep_plan or SweepPlan(tape)
    values, bad = primal(tape, arrays, size, checked, plan, sweep_plan)
    output_value = values[tape.output]
    if mode == "reverse":
        adjoint, owned = adjoint_sweep(tape, values, sweep_plan)
        found = {name: adjoint[tape.variable_index[name]] for name in names}
        # Arrays of the sweep's own are returned as they are; shared ones copied.
        fresh = {name: owned[tape.variable_index[name]] for name in names}
    else:
        partials = local_partials(tape, values)
        found = {name: tangent_sweep(tape, partials, tape.variable_index[name], size)
                 for name in names}
        fresh = dict.fromkeys(names, True)  # each tangent sweep makes its own arrays
    output_is_fresh = tape.ops[tape.output] not in (VAR, CONST)
    value = _full(output_value, size, output_is_fresh)
    gradient = {name: _full(found[name], size, fresh[name]) for name in names}
    return (value, gradient, bad) if checked else (value, gradient)


def value(program, point: Mapping[str, Any]):
    """The value at every point of the batch (NaN where the scalar path would raise)."""
    np = _numpy()
    tape = program.tape
    arrays, shape, size = broadcast_point(tape, point)
    with np.errstate(all="ignore"):
        values, bad = primal(tape, arrays, size)
        result = _full(values[tape.output], size,
                       tape.ops[tape.output] not in (VAR, CONST))
    result[bad] = np.nan
    return result.reshape(shape)


def _full(value, size: int, fresh: bool = False):
    """A float array of ``size`` elements of the caller's own (entries may be
    scalars or arrays shared with the input); ``fresh`` arrays are used as they are."""
    np = _numpy()
    if fresh and isinstance(value, np.ndarray) and value.shape == (size,):
        return value
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
    odd = np.zeros(bad.shape, dtype=bool)
    for partial in gradient.values():
        if not all_finite_array(np, partial):
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

