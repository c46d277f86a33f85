"""A batch's reverse sweep as straight-line Python, written once per tape.

A large batch is swept a slice at a time (``program``), and over a slice of
some 30,000 elements the interpreter's own Python (``sweeps.adjoint_sweep``
deciding, entry by entry, what to multiply in place and what to pass on)
costs about as much as the arithmetic. So the sweeps are run once through a
``Recorder`` on the first elements of the batch: the interpreter decides as
it always does, and the recorder carries out each array operation and writes
it down. A rule that is a few ufunc calls is written as those calls
(``forms``). The list becomes one Python function that loops over the
slices: a ufunc on operands an earlier statement gave the same ufunc is not
computed again, each array is dropped after the last statement that reads
it, and each result is made in its output slice (``out=``) by the first
ufunc that makes or writes it, or else copied in.

What the interpreter decides depends on which entries are arrays and which
are numbers, and on which array a rule hands back (a fresh one, an argument,
the output), never on the elements: a batch's variables are always arrays,
its constants numbers, and a rule given the same kinds of operands returns
the same kind of result. So the function does on every slice what the
interpreter would have done, operation for operation, and its results are
the interpreter's bits (``tests/test_batch.py`` holds it to that). A number
the interpreter works out from constants (``-1.5`` from ``x - 1.5*y``) is
passed to the function by name, as it is.

The function looks at each slice of the inputs as it starts on it (one sum
of squares, as ``base/finite.py`` does), when the slice is read into the
cache anyway, and raises ``NeedsChecking`` for an element that is not
finite; the caller's floating-point traps stop it anywhere else. The
generated text holds only names made here (``A``/``a`` for the inputs,
``V``/``v`` and ``G``/``g`` for the value and the gradients, ``t`` for
intermediates, ``f``/``k``/``c`` for functions and constants), never the
user's text.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ...base.finite import all_finite_array
from ...tape import Tape
from .forms import form_of
from .sweeps import NeedsChecking, SweepPlan, adjoint_sweep, primal

# Elements of each input the recording runs on: a whole SIMD vector's worth,
# so the rules take their array paths, and few enough to cost nothing.
PROBE = 64


class NotRecordable(Exception):
    """The sweep did something the function could not do again (an array it
    did not make or get as an input, a write into a constant); the caller
    keeps the interpreter."""


class Recorder:
    """An arithmetic (``sweeps.DirectArithmetic``) that also writes down what it does.

    Every array it makes or is given gets a name; a result computed from
    numbers alone is a number, as in the interpreter, and becomes a constant."""

    def __init__(self, np):
        self._np = np
        self.names: dict[int, str] = {}
        self.statements: list[tuple[str, str, list[str], str | None]] = []
        self.namespace: dict[str, Any] = {}
        self._bound: dict[int, str] = {}
        # Every object named or bound stays alive until the recording ends,
        # so no id() is reused for another one.
        self._kept: list[Any] = []
        self._count = 0
        self._arrays: dict[str, str] = {}

    def parameter(self, array, name: str) -> None:
        self._keep(array)
        self.names[id(array)] = name

    def name_of(self, value) -> str | None:
        """The name of a recorded array, or None for a number (or no array of the sweep's)."""
        return self.names.get(id(value))

    def _keep(self, value) -> None:
        self._kept.append(value)

    def _bind(self, value, prefix: str) -> str:
        name = self._bound.get(id(value))
        if name is None:
            name = self._bound[id(value)] = f"{prefix}{len(self._bound)}"
            self.namespace[name] = value
            self._keep(value)
        return name

    def constant(self, value) -> str:
        """The name under which the function sees the number ``value``."""
        return self._bind(value, "k")

    def _operand(self, value, of_ufunc: bool) -> str:
        name = self.names.get(id(value))
        if name is not None:
            return name
        np = self._np
        if isinstance(value, np.ndarray) and value.ndim:
            raise NotRecordable("an array the sweep did not make")
        if of_ufunc and type(value) in (float, np.float64):
            # A ufunc converts a Python number on every call (about 0.2 µs);
            # a 0-d float64 array holds the same double and skips that.
            # A rule is given the number itself: it may test its type.
            return self._bind_array(float(value))
        return self.constant(value)

    def _bind_array(self, number: float) -> str:
        key = number.hex()      # tells -0.0 from 0.0
        name = self._arrays.get(key)
        if name is None:
            name = self._arrays[key] = f"c{len(self._arrays)}"
            self.namespace[name] = self._np.array(number)
        return name

    def _record(self, function: Callable, operands: tuple, result, out=None):
        of_ufunc = isinstance(function, self._np.ufunc)
        spelled = [self._operand(v, of_ufunc) for v in operands]
        if out is not None:
            if id(out) not in self.names:
                raise NotRecordable("a write into a constant")
            self.statements.append((self.names[id(out)], self._bind(function, "f"),
                                    spelled, self.names[id(out)]))
            return result
        if not any(id(v) in self.names for v in operands):
            return result    # numbers alone: a constant of the function
        if id(result) in self.names or not isinstance(result, self._np.ndarray):
            # An operand handed back, or a number the rule gives whatever
            # the elements (the 1 of x + y): nothing to compute again.
            return result
        self._keep(result)
        target = self.names[id(result)] = f"t{self._count}"
        self._count += 1
        self.statements.append((target, self._bind(function, "f"), spelled, None))
        return result

    def call(self, function, *operands):
        form = form_of(self._np, function)
        if form is not None and any(id(v) in self.names for v in operands):
            result = form(self._emit, *operands)
            if result is not None:
                return result
        return self._record(function, operands, function(*operands))

    def _emit(self, ufunc, *operands):
        return self._record(ufunc, operands, ufunc(*operands))

    def multiply(self, a, b, out=None):
        np = self._np
        if out is None:
            return self._record(np.multiply, (a, b), a * b)
        return self._record(np.multiply, (a, b), np.multiply(a, b, out=out), out)

    def add(self, a, b, out=None):
        np = self._np
        if out is None:
            return self._record(np.add, (a, b), a + b)
        return self._record(np.add, (a, b), np.add(a, b, out=out), out)

    def negative(self, a, out=None):
        np = self._np
        return self._record(np.negative, (a,), np.negative(a, out=out), out)


class BatchSweep:
    """The generated reverse sweep of one tape for one list of gradient variables.

    ``sweep(inputs, value, gradients, chunk)`` sweeps the variables' arrays
    (flat, in ``tape.variables`` order) a slice of ``chunk`` elements at a
    time and writes the value and the gradients into the flat arrays given.
    ``source`` is the function's text."""

    def __init__(self, function: Callable, source: str, live_arrays: int):
        self._function = function
        self.source = source
        # The most arrays of a slice alive at once: inputs, outputs, temporaries.
        self.live_arrays = live_arrays

    def slice_points(self, most: int, live_bytes: int) -> int:
        """Points in a slice: ``most``, or fewer (down to 4,096) where this
        sweep's live arrays would take more than ``live_bytes`` together."""
        points = live_bytes // (8 * self.live_arrays)
        return min(most, max(points - points % 64, 4_096))

    def __call__(self, inputs: list, value, gradients: list, chunk: int) -> None:
        self._function(*inputs, value, *gradients, len(value), chunk)


def record(np, tape: Tape, arrays, names: list[str], plan: SweepPlan) -> BatchSweep:
    """The reverse sweep of ``tape`` written out, recorded on ``arrays``'
    first elements (under the caller's floating-point traps, which fire
    there only where they would fire on the whole slice)."""
    recorder = Recorder(np)
    inputs = [f"a{k}" for k in range(len(tape.variables))]
    probe = {}
    for name, parameter in zip(tape.variables, inputs):
        probe[name] = arrays[name][:PROBE]
        recorder.parameter(probe[name], parameter)
    values, _ = primal(tape, probe, PROBE, checked=False, plan=plan, arithmetic=recorder)
    output = values[tape.output]
    adjoint, _ = adjoint_sweep(tape, values, plan, arithmetic=recorder)
    results = [("v", output)] + [(f"g{k}", adjoint[tape.variable_index[name]])
                                 for k, name in enumerate(names)]
    return _function(recorder, inputs, results)


def _computed_once(statements: list, is_ufunc: Callable[[str], bool]):
    """The statements less those that compute again what an earlier one did
    (the same ufunc on the same operands), and the name that stands for each
    dropped result. Only where nothing writes into any of the arrays
    concerned, so that both would hold the same bits wherever they are read."""
    written = {out for _, _, _, out in statements if out is not None}
    first: dict[tuple, str] = {}
    same: dict[str, str] = {}
    kept = []
    for target, function, operands, out in statements:
        operands = [same.get(o, o) for o in operands]
        if out is None and is_ufunc(function) and target not in written \
                and not any(o in written for o in operands):
            key = (function, tuple(operands))
            if key in first:
                same[target] = first[key]
                continue
            first[key] = target
        kept.append([target, function, operands, out])
    return kept, same


def _lifetimes(statements: list, read_at_end: list[str]) -> tuple[dict[int, list[str]], int]:
    """The temporaries to drop after each statement (after the last one that
    uses them, so a slice's arrays are reused while they are still in
    cache), and the most temporaries alive at once."""
    last_use: dict[str, int] = {}
    for k, (target, _, operands, _) in enumerate(statements):
        for name in (*operands, target):
            last_use[name] = k
    for name in read_at_end:
        last_use[name] = len(statements)
    dead_after: dict[int, list[str]] = {}
    for name, k in last_use.items():
        if name.startswith("t"):
            dead_after.setdefault(k, []).append(name)
    live: set[str] = set()
    most = 0
    for k, (target, _, _, _) in enumerate(statements):
        if target.startswith("t"):
            live.add(target)
        most = max(most, len(live))
        live.difference_update(dead_after.get(k, ()))
    return dead_after, most


def _function(recorder: Recorder, inputs: list[str], results: list) -> BatchSweep:
    ufunc = recorder._np.ufunc

    def is_ufunc(function: str) -> bool:
        return isinstance(recorder.namespace[function], ufunc)

    statements, same = _computed_once(recorder.statements, is_ufunc)

    def name_of(result) -> str | None:
        name = recorder.name_of(result)
        return same.get(name, name)

    # A result's temporary moves into its output slice at the first ufunc
    # call that makes it or writes into it: from there on the slice is
    # spelled in its place. A result no ufunc writes (an input, a partial
    # handed on as a rule made it, a number) is copied in at the end.
    moved: dict[str, tuple[int, str]] = {}
    copies: list[tuple[str, Any]] = []
    for out, result in results:
        name = name_of(result)
        first = None
        if name is not None and name.startswith("t") and name not in moved:
            first = next((k for k, (target, function, _, _) in enumerate(statements)
                          if target == name and is_ufunc(function)), None)
        if first is None:
            copies.append((out, result))
            continue
        moved[name] = (first, out)
        if statements[first][3] is None:
            statements[first][3] = name   # made with out= from now on

    def spelled(name: str, k: int, written: bool) -> str:
        move = moved.get(name)
        if move is None or k < move[0] or (k == move[0] and not written):
            return name
        return move[1]

    spelled_statements = [
        (spelled(out or target, k, True), function, [spelled(o, k, False) for o in operands],
         out is not None)
        for k, (target, function, operands, out) in enumerate(statements)]
    tail = [(out, result if name_of(result) is None
             else spelled(name_of(result), len(statements), False))
            for out, result in copies]
    dead_after, most = _lifetimes(spelled_statements, [r for _, r in tail if isinstance(r, str)])
    outputs = [out for out, _ in results]
    lines = ["for start in range(0, size, chunk):",
             "    stop = start + chunk"]
    lines += [f"    {a} = {a.upper()}[start:stop]" for a in inputs]
    if inputs:
        # One sum of squares for all the inputs (base/finite.py): finite
        # exactly when every element is, unless it overflows; then each
        # input is looked at on its own.
        lines += [f"    if not isfinite({' + '.join(f'vdot({a}, {a})' for a in inputs)}):",
                  f"        if not ({' and '.join(f'finite(np, {a}, True)' for a in inputs)}):",
                  "            raise NeedsChecking"]
    lines += [f"    {out} = {out.upper()}[start:stop]" for out in outputs]
    for k, (target, function, operands, in_place) in enumerate(spelled_statements):
        arguments = ", ".join(operands)
        if in_place:
            lines.append(f"    {function}({arguments}, out={target})")
        else:
            lines.append(f"    {target} = {function}({arguments})")
        if k in dead_after:
            lines.append(f"    del {', '.join(dead_after[k])}")
    for out, result in tail:
        if isinstance(result, str):
            lines.append(f"    {out}[...] = {result}")
        elif result is None:      # nothing reached it: an exact zero
            lines.append(f"    {out}.fill(0.0)")
        else:
            lines.append(f"    {out}[...] = {recorder.constant(result)}")
    parameters = ", ".join([*(a.upper() for a in inputs), *(o.upper() for o in outputs),
                            "size", "chunk"])
    body = "\n".join(f"    {line}" for line in lines)
    source = f"def sweep({parameters}):\n{body}\n"
    namespace = dict(recorder.namespace, np=recorder._np, finite=all_finite_array,
                     NeedsChecking=NeedsChecking, isfinite=math.isfinite,
                     vdot=recorder._np.vdot)
    exec(compile(source, "<chaincli batch sweep>", "exec"), namespace)
    return BatchSweep(namespace["sweep"], source, most + len(inputs) + len(outputs))
