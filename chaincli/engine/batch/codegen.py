"""A batch's reverse sweep as straight-line Python, written once per tape.

A large batch is swept a slice at a time (``__init__``), and over a slice of
16,384 elements the interpreter's own Python (``sweeps.adjoint_sweep``
deciding, entry by entry, what to multiply in place and what to pass on)
costs about as much as the arithmetic. So the first slice's sweeps are run
once more through a ``Recorder`` on the slice's first elements: the
interpreter decides as it always does, and the recorder carries out each
array operation and writes it down. The list of operations, with each array
dropped after the last one that reads it, becomes one Python function that
every slice then calls.

What the interpreter decides depends on which entries are arrays and which
are numbers, and on which array a rule hands back (a fresh one, an argument,
the output), never on the elements: a batch's variables are always arrays,
its constants numbers, and a rule given the same kinds of operands returns
the same kind of result. So the function does on every slice what the
interpreter would have done, operation for operation, and its results are
the interpreter's bits (``tests/test_batch.py`` holds it to that). A number
the interpreter works out from constants (``-1.5`` from ``x - 1.5*y``) is
passed to the function by name, as it is.

Each result lands in the caller's output slice: an adjoint made by a product
or a sum is made there (``out=``), anything else is copied in. The generated
text holds only names made here (``a``/``g`` for the inputs and gradients,
``t`` for intermediates, ``f``/``k`` for functions and constants), never the
user's text.
"""

from __future__ import annotations

from typing import Any, Callable

from ...tape import Tape
from .sweeps import SweepPlan, adjoint_sweep, primal, value_rule

# Elements of each input the recording runs on: a whole SIMD vector's worth,
# so the rules take their array paths, and few enough to cost nothing.
PROBE = 64


# Primitives whose batch value, on an array, is one NumPy ufunc of the same
# operands (``a + b``, ``np.sin(a)``): the function calls the ufunc itself,
# which gives the same bits, skips a Python frame, and lets the output's
# value be made in its slice. (``test_batch.py`` checks each against the rule.)
ONE_UFUNC = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide",
             "neg": "negative", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin",
             "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "hypot": "hypot",
             "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "arcsinh",
             "acosh": "arccosh", "atanh": "arctanh", "exp": "exp", "log": "log",
             "log2": "log2", "log10": "log10", "sqrt": "sqrt", "cbrt": "cbrt"}


def ufunc_form(np, function, operands: tuple):
    """``(ufunc, operands)`` where the batch value ``function`` on ``operands``
    is that one ufunc call, else None."""
    forms = _forms(np)
    ufunc = forms.get(function)
    if ufunc is not None:
        return ufunc, operands
    if function is forms["pow"] and len(operands) == 2:
        base, exponent = operands
        if isinstance(base, np.ndarray) and type(exponent) is float and exponent == 2.0:
            return np.multiply, (base, base)   # x^2 is multiplied out (sweeps.py)
    return None


_FORMS: dict = {}


def _forms(np) -> dict:
    if not _FORMS:
        _FORMS.update({value_rule(op): getattr(np, name) for op, name in ONE_UFUNC.items()})
        _FORMS["pow"] = value_rule("pow")
    return _FORMS


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

    def _operand(self, value) -> str:
        name = self.names.get(id(value))
        if name is not None:
            return name
        if isinstance(value, self._np.ndarray) and value.ndim:
            raise NotRecordable("an array the sweep did not make")
        return self.constant(value)

    def _record(self, function: Callable, operands: tuple, result, out=None):
        spelled = [self._operand(v) for v in operands]
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
        result = function(*operands)
        form = ufunc_form(self._np, function, operands)
        if form is not None and isinstance(result, self._np.ndarray):
            function, operands = form
        return self._record(function, operands, result)

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

    def __init__(self, function: Callable, source: str):
        self._function = function
        self.source = source

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


def _function(recorder: Recorder, inputs: list[str], results: list) -> BatchSweep:
    ufunc = recorder._np.ufunc
    statements = [list(s) for s in recorder.statements]
    # A result's temporary moves into its output slice at the first ufunc
    # call that makes it or writes into it: from there on the slice is
    # spelled in its place. A result no ufunc writes (an input, a partial
    # handed on as a rule made it, a number) is copied in at the end.
    moved: dict[str, tuple[int, str]] = {}
    copies: list[tuple[str, Any]] = []
    for out, result in results:
        name = recorder.name_of(result)
        first = None
        if name is not None and name.startswith("t") and name not in moved:
            first = next((k for k, (target, function, _, _) in enumerate(statements)
                          if target == name
                          and isinstance(recorder.namespace[function], ufunc)), None)
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
    tail = [(out, result if recorder.name_of(result) is None
             else spelled(recorder.name_of(result), len(statements), False))
            for out, result in copies]
    # Each temporary is dropped after the last statement that uses it, so a
    # slice's arrays are reused while they are still in cache.
    last_use: dict[str, int] = {}
    for k, (target, _, operands, _) in enumerate(spelled_statements):
        for name in (*operands, target):
            last_use[name] = k
    for _, result in tail:
        if isinstance(result, str):
            last_use[result] = len(statements)
    dead_after: dict[int, list[str]] = {}
    for name, k in last_use.items():
        if name.startswith("t"):
            dead_after.setdefault(k, []).append(name)
    outputs = [out for out, _ in results]
    lines = ["for start in range(0, size, chunk):",
             "    stop = start + chunk"]
    lines += [f"    {a} = {a.upper()}[start:stop]" for a in inputs]
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
    namespace = dict(recorder.namespace)
    exec(compile(source, "<chaincli batch sweep>", "exec"), namespace)
    return BatchSweep(namespace["sweep"], source)
