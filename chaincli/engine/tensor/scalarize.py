"""A tensor tape expanded element by element into a scalar tape.

Every element of every array becomes its own entry, and a variable ``W`` of
shape (2, 3) becomes six scalar variables ``W[0,0]`` … ``W[1,2]``. The result
is an ordinary scalar tape, so everything built for scalars applies to it:
the chain-rule paths of one weight (``--explain paths --wrt W1[0,1]``), the
Hessian by forward-over-reverse, the scalar sweeps as an independent check.

Elementwise primitives expand to one entry per output element. A tensor
primitive is expanded by running its own value function (the one the sweeps
use) on arrays of ``_Element`` objects: NumPy applies ``@``, ``sum``,
``outer``, ``exp`` … to object arrays through the elements' operators and
methods, and each of those appends a scalar entry. So the expansion follows
the primitive table without a rule of its own per primitive. Where a value
function compares elements (the maximum that softmax subtracts), elements
compare by their values at the point; the derivative is unchanged by such a
shift, so the expanded tape has the same gradient. The shift itself may
overflow (``a - max(a)`` at a = [1e308, -1e308]) where its exponential is
exactly 0: such a difference stays out of the tape, and its exponential is
the constant 0, with the same value and derivatives (exp's derivative there
is 0 too) as the tensor sweep, which never checks the shifted values. Used
any other way, or left as a rule's result, it enters the tape, and the scalar
sweep refuses it as the tensor sweep refuses the result.

The expansion is refused past ``MAX_ENTRIES`` scalar entries: it is for
small networks, a learner's scale.
"""

from __future__ import annotations

import math

from ...base.errors import UsageError
from ...primitives import PRIMITIVES
from ...base.shapes import element_name
from ...primitives.base import np
from ...tape import CONST, VAR, Tape, TapeBuilder

MAX_ENTRIES = 200_000


class _Element:
    """One scalar entry of the expanded tape, with its value at the point."""

    __slots__ = ("emitter", "index", "value")

    def __init__(self, emitter: "_Emitter", index: int, value: float):
        self.emitter = emitter
        self.index = index
        self.value = value

    def _apply(self, op: str, *others) -> "_Element":
        return self.emitter.apply(op, (self, *others))

    def __add__(self, other):
        return self._apply("add", other)

    def __radd__(self, other):
        return self.emitter.apply("add", (other, self))

    def __sub__(self, other):
        return self._apply("sub", other)

    def __rsub__(self, other):
        return self.emitter.apply("sub", (other, self))

    def __mul__(self, other):
        return self._apply("mul", other)

    def __rmul__(self, other):
        return self.emitter.apply("mul", (other, self))

    def __truediv__(self, other):
        return self._apply("div", other)

    def __rtruediv__(self, other):
        return self.emitter.apply("div", (other, self))

    def __neg__(self):
        return self._apply("neg")

    # NumPy calls these methods for its functions on object arrays.
    def exp(self):
        return self._apply("exp")

    def log(self):
        return self._apply("log")

    def sqrt(self):
        return self._apply("sqrt")

    def __float__(self):
        return self.value

    def __lt__(self, other):
        return self.value < _value(other)

    def __le__(self, other):
        return self.value <= _value(other)

    def __gt__(self, other):
        return self.value > _value(other)

    def __ge__(self, other):
        return self.value >= _value(other)


class _Overflowed(_Element):
    """A difference inside a tensor rule that overflowed to -inf: entered in
    the tape only when something other than its exponential uses it."""

    __slots__ = ("_index", "op", "arguments")

    def __init__(self, emitter: "_Emitter", op: str, arguments: list, value: float):
        self.emitter, self.op, self.arguments, self.value = emitter, op, arguments, value
        self._index = None

    @property
    def index(self) -> int:
        if self._index is None:
            self._index = self.emitter.emit(self.op, self.arguments)
        return self._index

    def exp(self):
        return self.emitter.element(0.0)


def _value(x) -> float:
    return x.value if isinstance(x, _Element) else float(x)


class _Emitter:
    """Appends the scalar entries, and refuses to grow past ``MAX_ENTRIES``."""

    def __init__(self, source: str):
        self.builder = TapeBuilder(source)
        self.span = None
        self.in_rule = False  # inside a tensor primitive's value function

    def element(self, x) -> _Element:
        if isinstance(x, _Element):
            return x
        value = float(x)
        return _Element(self, self.builder.constant(value, None), value)

    def apply(self, op: str, args) -> _Element:
        elements = [self.element(a) for a in args]
        try:
            value = float(PRIMITIVES[op].value(*(e.value for e in elements)))
        except (ValueError, ZeroDivisionError, OverflowError):
            # Out of the primitive's domain: the sweeps over the expanded tape
            # meet the same element and raise the domain error with its wording.
            value = float("nan")
        if self.in_rule and op == "sub" and value == -math.inf and \
                all(math.isfinite(e.value) for e in elements):
            return _Overflowed(self, op, elements, value)
        return _Element(self, self.emit(op, elements), value)

    def emit(self, op: str, elements: list) -> int:
        index = self.builder.operation(op, tuple(e.index for e in elements), self.span)
        if index >= MAX_ENTRIES:
            raise UsageError(f"the expression is too large to expand element by element "
                             f"(more than {MAX_ENTRIES:,} scalar operations)")
        return index


def scalarize(tape: Tape, shapes: list[tuple[int, ...]], point) -> tuple[Tape, dict]:
    """The scalar tape of ``tape`` at these shapes, and each scalar variable's value.

    ``point`` gives the variables' values (floats and arrays); the returned
    point names every element (``W[0,1]``), in the order of the new tape's
    variables: each variable's elements in row-major order."""
    emitter = _Emitter(tape.source)
    builder = emitter.builder
    elements: list = [None] * len(tape)
    scalar_point: dict[str, float] = {}
    for i, op in enumerate(tape.ops):
        emitter.span = tape.spans[i]
        shape = shapes[i]
        if op == VAR:
            name = tape.labels[i]
            value = np.asarray(point[name], dtype=float)
            if not shape:
                scalar_point[name] = float(value)
                elements[i] = _Element(emitter, builder.variable(name, tape.spans[i]),
                                       float(value))
                continue
            array = np.empty(shape, dtype=object)
            for index in np.ndindex(*shape):
                label = element_name(name, index)
                scalar_point[label] = float(value[index])
                array[index] = _Element(emitter, builder.variable(label, tape.spans[i]),
                                        float(value[index]))
            elements[i] = array
            continue
        if op == CONST:
            elements[i] = _Element(emitter, builder.constant(tape.consts[i], tape.spans[i],
                                                             tape.labels[i]),
                                   tape.consts[i])
            continue
        prim = PRIMITIVES[op]
        inputs = [elements[j] for j in tape.args[i]]
        if prim.elementwise:
            result = _elementwise(emitter, op, inputs, shape)
        elif not prim.expands:
            text = tape.source_text(i) or prim.name
            raise UsageError(f"{text}: {prim.name} cannot be expanded element by element "
                             "(it is computed from a factorization)",
                             hint="grad and jacobian differentiate it as a whole")
        else:
            emitter.in_rule = True
            try:
                # NumPy reads the floating-point flags the elements' arithmetic
                # raised; the scalar sweep judges the values, not NumPy.
                with np.errstate(all="ignore"):
                    result = prim.value([x if isinstance(x, np.ndarray)
                                         else np.array(x, dtype=object) for x in inputs],
                                        tape.options[i])
            finally:
                emitter.in_rule = False
            for element in np.ravel(np.asarray(result, dtype=object)):
                if isinstance(element, _Overflowed):
                    element.index  # a rule's result enters the tape, overflowed or not
        elements[i] = result if isinstance(result, _Element) else _unwrap(result)
        _label(builder.tape, tape.labels[i], elements[i])
    out = elements[tape.output]
    builder.tape.output = out.index
    return builder.tape, scalar_point


def _elementwise(emitter: _Emitter, op: str, inputs: list, shape):
    if not shape:
        return emitter.apply(op, [_unwrap(x) for x in inputs])
    arrays = [np.broadcast_to(np.asarray(x, dtype=object), shape) for x in inputs]
    result = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        result[index] = emitter.apply(op, [a[index] for a in arrays])
    return result


def _unwrap(x):
    """A 0-d object array (what NumPy returns for a full reduction) as its element."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return x[()]
    return x


def _label(tape: Tape, name: str | None, value) -> None:
    """Let-bound names label their elements (``h[0]``), unless already named."""
    if not name:
        return
    if isinstance(value, _Element):
        if tape.labels[value.index] is None:
            tape.labels[value.index] = name
        return
    for index in np.ndindex(*value.shape):
        element = value[index]
        if isinstance(element, _Element) and tape.labels[element.index] is None:
            tape.labels[element.index] = element_name(name, index)
