"""AST to tape: the computational graph as a Wengert list.

A ``Tape`` is the program lowered to single assignments ``v_i = op(v_j, v_k)``
in topological order, with indices, not pointers. Identical subexpressions
become one entry (hash-consing), so ``sin(x*y) + cos(x*y)`` holds one ``x*y``,
and a let-bound name is the one entry it was bound to, labelled with the name.
Every evaluator reads a tape and never changes it.

Lowering walks the AST with an explicit stack: nothing here recurses on the
depth of the input.
"""

from __future__ import annotations

import math

from .base.record import Record
from .language.nodes import (NUMBERS_GROUP, NUMBERS_ONE, NUMBERS_ROW, Array, Binary, Call, Name,
                             Number, Numbers, Program, Subscript, Unary)
from .base.errors import ArityError, UnknownNameError
from .primitives import (BINARY_OPERATORS, CONSTANTS, FUNCTIONS, PRIMITIVES, UNARY_OPERATORS,
                         callable_names, lookup_function)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Container

VAR = "var"
CONST = "const"


class Tape(Record):
    """The Wengert list. Entry ``i`` is ``ops[i](*(args[i]))``.

    ``ops[i]`` is ``"var"`` (an input), ``"const"`` (its value in ``consts``)
    or a primitive name. ``labels[i]`` is the let-bound name or constant name
    of the entry, if any; ``spans[i]`` is where its text first appears.
    ``options[i]`` holds the whole-number literals of a tensor primitive (the
    axis of ``sum(A, 1)``, the indices of ``A[1, 2]``), else ``()``.
    """

    _fields = ("ops", "args", "consts", "labels", "spans", "options", "variables",
               "variable_index", "output", "source")
    # The names the user took, for ``name``: built on first use.
    __slots__ = (*_fields, "_user_names", "_user_names_size")

    def __init__(self, ops: list[str] | None = None, args: list[tuple[int, ...]] | None = None,
                 consts: list[float | None] | None = None,
                 labels: list[str | None] | None = None,
                 spans: list[tuple[int, int] | None] | None = None,
                 options: list[tuple[int, ...]] | None = None,
                 variables: list[str] | None = None,
                 variable_index: dict[str, int] | None = None, output: int = -1,
                 source: str = ""):
        self.ops = [] if ops is None else ops
        self.args = [] if args is None else args
        self.consts = [] if consts is None else consts
        self.labels = [] if labels is None else labels
        self.spans = [] if spans is None else spans
        self.options = [] if options is None else options
        self.variables = [] if variables is None else variables
        self.variable_index = {} if variable_index is None else variable_index
        self.output = output
        self.source = source
        self._user_names: set[str] | None = None
        self._user_names_size = -1

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def has_tensor_operations(self) -> bool:
        """Whether some entry is a tensor primitive (``@``, ``sum``, ``[a, b]``, …):
        such a tape is evaluated by the tensor sweeps whatever its inputs."""
        from .primitives import PRIMITIVES
        return any(not PRIMITIVES[op].elementwise for op in set(self.ops)
                   if op in PRIMITIVES)

    def name(self, i: int) -> str:
        """How entry ``i`` is called in tables, traces, graphs, warnings and JSON.

        The output is ``f`` (unless it is an input variable, which keeps its
        name); an unnamed entry is ``v<i>``. If the user took such a name for a
        variable or a let-binding, underscores are appended until the name is
        free, so two entries never share a name.
        """
        if i == self.output and self.ops[i] != VAR:
            return self.output_name()
        label = self.labels[i]
        if label:
            return label
        return self._free(f"v{i}")

    def output_name(self) -> str:
        """``f``, or ``f_`` … when the user took ``f`` for a name."""
        return self._free("f")

    def _free(self, name: str) -> str:
        if self._user_names is None or self._user_names_size != len(self.labels):
            # Built on first use: names are asked for only once lowering is done.
            self._user_names = {lab for lab in self.labels if lab}
            self._user_names_size = len(self.labels)
        while name in self._user_names:
            name += "_"
        return name

    def source_text(self, i: int, limit: int = 60) -> str | None:
        """The user's text for entry ``i``, shortened for messages."""
        span = self.spans[i]
        if span is None:
            return None
        # Read a window, not the whole span: nested spans hold one another, and
        # naming every entry of a deep expression must not cost quadratic time.
        start, end = span
        window = max(4 * limit, 256)
        text = " ".join(self.source[start:min(end, start + window)].split())
        if end - start > window and len(text) <= limit:  # mostly whitespace: read it all
            text = " ".join(self.source[start:end].split())
        return text if len(text) <= limit else text[:limit - 1] + "…"


def reaches_output(tape: Tape, output: int | None = None) -> list[bool]:
    """Which entries the output (or entry ``output``) depends on, itself included.

    An unused let-binding does not reach the output."""
    output = tape.output if output is None else output
    used = [False] * len(tape)
    used[output] = True
    for i in range(output, -1, -1):
        if used[i]:
            for j in tape.args[i]:
                used[j] = True
    return used


def depends_on_variables(tape: Tape, names: Container[str] | None = None) -> list[bool]:
    """Which entries depend on some variable (on one of ``names``, if given)."""
    depends = [False] * len(tape)
    for i, op in enumerate(tape.ops):
        depends[i] = ((names is None or tape.labels[i] in names) if op == VAR
                      else any(depends[j] for j in tape.args[i]))
    return depends


def depends_on(tape: Tape, index: int) -> tuple[str, ...]:
    """The variables entry ``index`` depends on, in the tape's variable order."""
    seen = {index}
    stack = [index]
    found = set()
    while stack:
        i = stack.pop()
        if tape.ops[i] == VAR:
            found.add(tape.labels[i])
        for j in tape.args[i]:
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return tuple(name for name in tape.variables if name in found)


class TapeBuilder:
    """Appends entries to a new tape, merging identical ones (hash-consing).

    Lowering uses it, and so does symbolic differentiation, whose derivative
    tapes share subexpressions the same way."""

    def __init__(self, source: str):
        self.tape = Tape(source=source)
        self._memo: dict[tuple, int] = {}

    def _add(self, key: tuple, op: str, args: tuple[int, ...], const: float | None,
             span, options: tuple[int, ...] = ()) -> int:
        index = self._memo.get(key)
        if index is not None:
            return index
        tape = self.tape
        index = len(tape.ops)
        tape.ops.append(op)
        tape.args.append(args)
        tape.consts.append(const)
        tape.labels.append(None)
        tape.spans.append(span)
        tape.options.append(options)
        self._memo[key] = index
        return index

    def variable(self, name: str, span) -> int:
        index = self._add((VAR, name), VAR, (), None, span)
        if name not in self.tape.variable_index:
            self.tape.variable_index[name] = index
            self.tape.variables.append(name)
            self.tape.labels[index] = name
        return index

    def constant(self, value: float, span, label: str | None = None) -> int:
        # repr keeps 0.0 and -0.0 apart; the label keeps pi apart from 3.14159…
        index = self._add((CONST, repr(value), label), CONST, (), value, span)
        if label:
            self.tape.labels[index] = label
        return index

    def operation(self, op: str, args: tuple[int, ...], span,
                  options: tuple[int, ...] = ()) -> int:
        key = (op, args, options) if options else (op, args)
        return self._add(key, op, args, None, span, options)


def lower(program: Program) -> Tape:
    """Lower a parsed program to a tape, resolving names and checking calls."""
    builder = TapeBuilder(program.source)
    bound: dict[str, int] = {}
    bound_at: dict[str, tuple[int, int]] = {}
    for let in program.lets:
        _check_bindable(let.name, let.name_span, bound_at, program.source)
        index = _lower_expr(let.value, builder, bound, program.source)
        bound[let.name] = index
        bound_at[let.name] = let.name_span
        if builder.tape.labels[index] is None:
            builder.tape.labels[index] = let.name
    builder.tape.output = _lower_expr(program.output, builder, bound, program.source)
    return builder.tape


def _check_bindable(name: str, span, bound_at, source: str) -> None:
    if name in bound_at:
        raise UnknownNameError(f"{name} is bound twice; each name is bound once",
                               source=source, span=span)
    if name in CONSTANTS:
        raise UnknownNameError(f"{name} is a constant and cannot be rebound",
                               source=source, span=span)
    if lookup_function(name) is not None:
        raise UnknownNameError(f"{name} is a function and cannot be bound as a name",
                               source=source, span=span)


def _lower_expr(root, builder: TapeBuilder, bound: dict[str, int], source: str) -> int:
    # Post-order walk on an explicit stack: a node is pushed once to visit its
    # children and once more to emit it after they have been lowered.
    results: list[int] = []
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if isinstance(node, Number):
            results.append(builder.constant(node.value, node.span))
        elif isinstance(node, Name):
            results.append(_lower_name(node, builder, bound, source))
        elif isinstance(node, Unary):
            if node.op == "+":
                stack.append((node.operand, False))
            elif not children_done:
                stack.append((node, True))
                stack.append((node.operand, False))
            else:
                operand = results.pop()
                results.append(builder.operation(UNARY_OPERATORS[node.op], (operand,),
                                                 node.span))
        elif isinstance(node, Binary):
            if not children_done:
                stack.append((node, True))
                stack.append((node.right, False))
                stack.append((node.left, False))
            else:
                right = results.pop()
                left = results.pop()
                results.append(builder.operation(BINARY_OPERATORS[node.op], (left, right),
                                                 node.span))
        elif isinstance(node, Call):
            if not children_done:
                primitive = _resolve_call(node, source)
                stack.append((node, True))
                stack.extend((arg, False) for arg in reversed(node.args[:primitive.arity]))
            else:
                primitive = lookup_function(node.function)
                count = primitive.arity
                args = tuple(results[len(results) - count:])
                del results[len(results) - count:]
                options = tuple(_whole_number(arg, source, node.function, option)
                                for arg, option in zip(node.args[count:], primitive.options))
                results.append(builder.operation(primitive.name, args, node.span, options))
        elif isinstance(node, Array):
            if not children_done:
                stack.append((node, True))
                stack.extend((element, False) for element in reversed(node.elements))
            else:
                count = len(node.elements)
                args = tuple(results[len(results) - count:])
                del results[len(results) - count:]
                results.append(builder.operation("stack", args, node.span))
        elif isinstance(node, Numbers):
            results.append(_lower_numbers(node, builder))
        elif isinstance(node, Subscript):
            if not children_done:
                stack.append((node, True))
                stack.append((node.operand, False))
            else:
                operand = results.pop()
                results.append(builder.operation("index", (operand,), node.span,
                                                 node.indices))
        else:  # pragma: no cover - the grammar has no other node
            raise TypeError(f"unknown AST node {node!r}")
    return results[-1]


def _lower_numbers(node: Numbers, builder: TapeBuilder) -> int:
    """The entries the ``Array`` nodes of the same text would lower to: one
    constant per distinct number (a negative one as ``neg`` of its magnitude,
    as the unary minus makes it), one ``stack`` per pair of brackets."""
    constant, operation = builder.constant, builder.operation
    neg = UNARY_OPERATORS["-"]
    values = node.values
    # 0.0 and -0.0 are equal as keys; their reprs keep them apart.
    entries: dict[float | str, int] = {}
    items: list[int] = []
    position = 0
    last = len(node.layout) - 1
    for k, (kind, count, span) in enumerate(node.layout):
        # The literal's own brackets: its span takes in parentheses around it.
        if k == last:
            span = node.span
        if kind == NUMBERS_GROUP:
            args = tuple(items[len(items) - count:])
            del items[len(items) - count:]
            items.append(operation("stack", args, span))
            continue
        row = []
        for value in values[position:position + count]:
            key = value if value else repr(value)
            entry = entries.get(key)
            if entry is None:
                if math.copysign(1.0, value) < 0:
                    entry = operation(neg, (constant(-value, span),), span)
                else:
                    entry = constant(value, span)
                entries[key] = entry
            row.append(entry)
        position += count
        if kind == NUMBERS_ROW:
            items.append(operation("stack", tuple(row), span))
        else:
            assert kind == NUMBERS_ONE
            items.append(row[0])
    return items[-1]


def _lower_name(node: Name, builder: TapeBuilder, bound: dict[str, int], source: str) -> int:
    if node.name in bound:
        return bound[node.name]
    if node.name in CONSTANTS:
        return builder.constant(CONSTANTS[node.name], node.span, label=node.name)
    if lookup_function(node.name) is not None:
        raise UnknownNameError(f"{node.name} is a function; call it as {node.name}(...)",
                               source=source, span=node.span)
    return builder.variable(node.name, node.span)


def _resolve_call(node: Call, source: str):
    primitive = lookup_function(node.function)
    if primitive is None:
        import difflib  # only to suggest a name: an error's path
        close = difflib.get_close_matches(node.function, callable_names(), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else None
        if node.function in PRIMITIVES or node.function in BINARY_OPERATORS.values():
            hint = "write it with its operator"
        raise UnknownNameError(f"unknown function {node.function}", source=source,
                               span=node.name_span, hint=hint)
    extra = len(node.args) - primitive.arity
    if not 0 <= extra <= len(primitive.options):
        wanted = "1 argument" if primitive.arity == 1 else f"{primitive.arity} arguments"
        if primitive.options:
            wanted += f" (and optionally {', '.join(primitive.options)})"
        raise ArityError(f"{node.function} takes {wanted}, not {len(node.args)}",
                         source=source, span=node.span)
    return primitive


def _whole_number(node, source: str, function: str = "", option: str = "axis") -> int:
    """An option of a call (``sum(A, 1)``, ``eye(3)``): a whole-number literal, maybe negative."""
    sign = 1
    if isinstance(node, Unary) and node.op == "-":
        sign, node = -1, node.operand
    if isinstance(node, Number) and node.text.isdigit() and len(node.text) <= 18:
        return sign * int(node.text)
    if option == "axis":
        raise ArityError("an axis is a whole-number literal such as 0, 1 or -1",
                         source=source, span=node.span)
    raise ArityError(f"{function}({option}) takes {option} as a whole-number literal such as 3",
                     source=source, span=node.span)


def known_functions() -> list[str]:
    """Names callable in expressions, for the CLI's help text."""
    return sorted(FUNCTIONS)
