"""``diff --steps`` of a tensor expression: the backprop equations, rule by rule.

Place in the pipeline::

    tape, shapes ──backprop_steps──▶ BackpropSteps ──render.backprop──▶ table, text, LaTeX, JSON

The matrix formula of ``diff`` (``matrix_formula.gradient_formula``) is one
reverse sweep whose adjoints are formulas. This module runs that same sweep,
with the same rule at every node (``matrix_formula.contribution``: the
table's VJP formula or elementwise partial), but stops at the nodes a
textbook names and writes their adjoint as an equation of its own:
``δh = W2'@δz``, ``δu1 = δh*(1 - h^2)``, ``δW1 = outer(δu1, x)``. After its
line a node's adjoint is the symbol ``δ<name>``, so the next line is
written in it rather than in everything before it.

A node gets a line when the input names it (``h = tanh(…)``), and when its
adjoint is more than a rearrangement of what arrived: an adjoint built only
from symbols, variables, numbers, ``ones_like``, negation, products and
transposes is carried on to the node's arguments instead (``-t`` from
``-sum(t*…)``, the ``ones_like`` of a sum, what passes through ``+``), and the
rules it went through are listed on the line it ends in. The last lines are
the variable's adjoint and ``diff``'s own formula for it.

Each line holds whatever the point: substituted with the engine's adjoints
for its symbols, it evaluates to the engine's adjoint of its node
(tests/test_backprop_steps.py checks every line at random points). A
derivation shows at most ``MAX_LINES`` lines; the others are counted.

Everything walks tapes in order with loops; nothing recurses on the depth of
the input.
"""

from __future__ import annotations

from functools import lru_cache

from ..base.record import Record
from ..primitives import CONSTANTS, PRIMITIVES, callable_names
from ..printer import to_latex, to_text
from ..symbolic import FORMULA_ARGUMENTS
from ..tape import CONST, VAR, Tape, depends_on_variables, reaches_output
from .matrix_formula import (ADJOINT, Shape, TensorExpressionBuilder, contribution,
                             gradient_formula, variable_shapes_of, vjp_template)

# Lines shown per derivation; past it, the middle lines are counted, not shown.
MAX_LINES = 40
# Named pieces listed before the lines; past it the last line, diff's formula,
# is left out (it would be written in all of them).
MAX_PIECES = 60
# Rules listed beside one line; the others are counted.
MAX_RULES = 4
# Adjoints made only of these operations are carried on, not given a line.
_REARRANGEMENTS = frozenset({"neg", "mul", "transpose", "ones_like", "eye"})
# The symbol in front of a node's name for its adjoint.
DELTA = "δ"


class Piece(Record):
    """A named value of the forward pass: ``h = tanh(W1@x + b1)``; ``kind`` is let or named."""

    __slots__ = ("name", "expression", "latex", "kind")

    def __init__(self, name: str, expression: str, latex: str, kind: str) -> None:
        self.name, self.expression, self.latex, self.kind = name, expression, latex, kind

    def to_dict(self) -> dict:
        return {"name": self.name, "expression": self.expression, "kind": self.kind}


class BackpropLine(Record):
    """One equation ``δh = W2'@δz``: the adjoint of the piece ``of``, the rules it took.

    ``node`` is the entry of the expression's tape whose adjoint this is;
    ``formula`` the builder entry of the right-hand side (tests evaluate it)."""

    __slots__ = ("adjoint", "of", "expression", "latex", "rules", "omitted_rules", "node",
                 "formula")

    def __init__(self, adjoint: str, of: str, expression: str, latex: str,
                 rules: tuple[str, ...], omitted_rules: int, node: int, formula: int) -> None:
        self.adjoint, self.of, self.expression, self.latex = adjoint, of, expression, latex
        self.rules, self.omitted_rules, self.node, self.formula = (rules, omitted_rules, node,
                                                                   formula)

    @property
    def rule(self) -> str:
        more = f"; and {self.omitted_rules} more" if self.omitted_rules else ""
        return "; ".join(self.rules) + more

    def to_dict(self) -> dict:
        return {"adjoint": self.adjoint, "of": self.of, "expression": self.expression,
                "rule": self.rule}


class BackpropSteps(Record):
    """The backprop derivation of ``∂output/∂wrt`` for a tensor expression.

    ``lines`` end in the variable's own; ``derivative`` is ``diff``'s formula
    (its ``tape``), and ``final`` the same written in the pieces' names, or None
    where that would take more than ``MAX_PIECES`` pieces."""

    __slots__ = ("expression", "wrt", "shape", "pieces", "omitted_pieces", "lines",
                 "omitted_lines", "final", "final_latex", "tape", "builder", "symbols")

    def __init__(self, expression: str, wrt: str, shape: Shape, pieces: list[Piece],
                 omitted_pieces: int, lines: list[BackpropLine], omitted_lines: int,
                 final: str | None, final_latex: str | None, tape: Tape,
                 builder: TensorExpressionBuilder, symbols: dict[str, int]) -> None:
        self.expression, self.wrt, self.shape = expression, wrt, shape
        # Pieces the listed ones are written in but not listed (past MAX_PIECES).
        self.pieces, self.omitted_pieces = pieces, omitted_pieces
        self.lines, self.omitted_lines = lines, omitted_lines
        self.final, self.final_latex, self.tape = final, final_latex, tape
        # The builder the lines are entries of, and each symbol's node (for tests).
        self.builder, self.symbols = builder, symbols

    @property
    def derivative(self) -> str:
        return to_text(self.tape)

    def to_dict(self) -> dict:
        from ..printer import bindings_text
        return {"expression": self.expression, "wrt": self.wrt, "order": 1,
                "shape": list(self.shape),
                "pieces": [piece.to_dict() for piece in self.pieces],
                "steps": [line.to_dict() for line in self.lines],
                "omitted_steps": self.omitted_lines, "omitted_pieces": self.omitted_pieces,
                "final": self.final,
                "derivative": self.derivative, "bindings": dict(bindings_text(self.tape)),
                "latex": self.derivative_latex}

    @property
    def derivative_latex(self) -> str:
        """``derivative`` in LaTeX, in matrix notation."""
        from .matrix_formula import formula_shapes
        shapes = formula_shapes(self.tape, {name: self.builder.variable_shape(name)
                                            for name in self.tape.variables})
        return to_latex(self.tape, shapes=shapes)


def backprop_steps(tape: Tape, shapes: list[Shape], wrt: str, text: str = "") -> BackpropSteps:
    """The lines of the reverse sweep of ``gradient_formula``, at these entry shapes."""
    # The sweep meets the pieces it names from the output down; a first run finds
    # them, and the second numbers them in the order the forward pass computes them.
    first = _Deriver(tape, shapes, wrt)
    first.printing = False
    first.run(text)
    numbered = sorted(node for node, name in first.named_nodes.items()
                      if first.kinds[name] == "named")
    return _Deriver(tape, shapes, wrt, numbered).run(text)


class _Deriver:
    def __init__(self, tape: Tape, shapes: list[Shape], wrt: str,
                 numbered: list[int] = ()) -> None:
        self.tape, self.shapes, self.wrt = tape, [tuple(s) for s in shapes], wrt
        self.b = TensorExpressionBuilder(variable_shapes_of(tape, shapes))
        self.image: list[int | None] = [None] * len(tape)
        self.names: dict[int, str] = {}  # builder entry → the piece's name
        self.kinds: dict[str, str] = {}
        self.taken = (set(tape.variables) | set(CONSTANTS) | set(callable_names())
                      | {label for label in tape.labels if label})
        self.counter = 0
        self.printing = True
        self._shown: dict = {}  # the printer's verbatim names, by style
        self.named_nodes: dict[int, str] = {}  # node → the name its value has in the lines
        for node in numbered:  # u1, u2, … in tape order, taken before the sweep
            self.named_nodes[node] = self._next_name()

    # ----- Names -----

    def _piece_name(self, i: int) -> str | None:
        """The name of node ``i``'s value in the lines: its let-name or a new ``u<k>``."""
        entry = self.image[i]
        if entry in self.names:
            return self.names[entry]
        if not self.b.tape.args[entry]:  # a variable or a number is its own name
            return None
        label = self.tape.labels[i]
        if label:
            name, kind = label, "let"
        else:
            name, kind = self.named_nodes.get(i) or self._next_name(), "named"
        self.names[entry] = name
        self.kinds[name] = kind
        self.named_nodes[i] = name
        return name

    def _next_name(self) -> str:
        self.counter += 1
        while f"u{self.counter}" in self.taken:
            self.counter += 1
        self.taken.add(f"u{self.counter}")
        return f"u{self.counter}"

    # ----- The sweep -----

    def run(self, text: str) -> BackpropSteps:
        tape, b, image = self.tape, self.b, self.image
        needed = reaches_output(tape)
        for i in range(tape.output + 1):
            if needed[i]:
                image[i] = b.copy_entry(tape, i, image)
        for i in range(tape.output + 1):  # let-bound pieces are named as the input names them
            if needed[i] and tape.labels[i] and tape.ops[i] not in (VAR, CONST):
                self._piece_name(i)
        wanted = depends_on_variables(tape, {self.wrt})
        adjoint: list[int | None] = [None] * len(tape)
        rules: list[list[str]] = [[] for _ in tape.ops]
        adjoint[tape.output] = b.constant(1.0)
        lines: list[BackpropLine] = []
        symbols: dict[str, int] = {}
        for i in range(tape.output, -1, -1):
            if adjoint[i] is None or tape.ops[i] in (VAR, CONST):
                continue
            arriving, through = adjoint[i], rules[i]
            no_op = image[i] in (image[j] for j in tape.args[i])  # x' of a vector, A@I
            if i != tape.output and not no_op and (tape.labels[i]
                                                   or not self._rearranged(arriving)):
                name = self._piece_name(i)
                # Two nodes of one value (a vector and its transpose) share a name:
                # the later one's adjoint is carried on, not given the same symbol.
                if name is not None and DELTA + name not in symbols:
                    symbol = self._symbol(DELTA + name, i)
                    symbols[DELTA + name] = i
                    lines.append((DELTA + name, name, arriving, tuple(through), i))
                    arriving, through = symbol, []
            for k, j in enumerate(tape.args[i]):
                if not wanted[j]:
                    continue
                term = contribution(b, tape, self.shapes, image, arriving, i, k)
                if b.is_value(term, 0.0):
                    continue
                adjoint[j] = term if adjoint[j] is None else b.apply("add", (adjoint[j], term))
                for rule in (*through, *self._rules(i, k, j)):
                    if rule not in rules[j]:
                        rules[j].append(rule)
        if not self.printing:  # the first run only finds the pieces
            return None
        index = tape.variable_index[self.wrt]
        gradient = gradient_formula(tape, self.shapes, self.wrt)
        final_entry = b.copy(gradient)
        if b.shape(final_entry) != self.shapes[index]:  # a constant, simplified to a number
            final_entry = b.tape_builder.operation(
                "mul", (final_entry, b.tape_builder.operation("ones_like", (image[index],), None)),
                None)
        own = adjoint[index] if adjoint[index] is not None else final_entry
        lines.append((DELTA + self.wrt, self.wrt, own, tuple(rules[index]), index))
        kept, omitted = _bounded(lines)
        shown = [self._line(*line) for line in kept]  # printed only when shown
        pieces, others, left_out = self._pieces(shown, final_entry)
        final = self._text(final_entry) if not left_out else None
        final_latex = self._latex(final_entry) if not left_out else None
        return BackpropSteps(text, self.wrt, self.shapes[index], pieces, others, shown,
                             omitted, final, final_latex, gradient, b, symbols)

    def _symbol(self, name: str, i: int) -> int:
        self.b.declare(name, self.shapes[i])
        return self.b.variable(name)

    def _rearranged(self, entry: int) -> bool:
        """Whether ``entry`` is only symbols, variables and numbers rearranged."""
        tape = self.b.tape
        todo, seen = [entry], set()
        while todo:
            e = todo.pop()
            if e in seen:
                continue
            seen.add(e)
            op = tape.ops[e]
            if op in (VAR, CONST):
                continue
            if op not in _REARRANGEMENTS:
                return False
            if op != "ones_like":  # ones_like(a) reads only a's shape
                todo.extend(tape.args[e])
        return True

    def _line(self, adjoint: str, of: str, entry: int, rules: tuple[str, ...],
              node: int) -> BackpropLine:
        shown = tuple(rules[:MAX_RULES])
        return BackpropLine(adjoint, of, self._text(entry), self._latex(entry), shown,
                            len(rules) - len(shown), node, entry)

    def _rules(self, i: int, k: int, j: int) -> list[str]:
        """The rule node ``i`` passes its adjoint to argument ``k`` by, from the table,
        after the operation's own form: ``a@b: δb = a'@δ``, ``∂tanh(a)/∂a = 1 - tanh(a)^2``."""
        tape, shapes = self.tape, self.shapes
        op = tape.ops[i]
        prim = PRIMITIVES[op]
        args = tape.args[i]
        argument = FORMULA_ARGUMENTS[k]
        form = _form_text(op, tape.options[i] if i < len(tape.options) else ())
        if prim.elementwise:
            written = _formula_text(prim.partial_formulas[k])
            to = f" to {argument}" if len(args) > 1 else " on"
            if written == "1":
                found = [f"{form} passes δ{to}"]
            elif written == "-1":
                found = [f"{form} passes -δ{to}"]
            else:
                wrapped = form if _is_call(op) else f"({form})"
                found = [f"∂{wrapped}/∂{argument} = {written}"]
            if tuple(shapes[args[k]]) != tuple(shapes[i]):
                found.append(_broadcast_rule(tuple(shapes[i]), tuple(shapes[args[k]])))
            return found
        ranks = tuple(len(shapes[a]) for a in args)
        formula = prim.vjp_formulas(ranks)[k]
        return [f"{form}: δ{argument} = {_formula_text(formula)}"]

    # ----- Printing -----

    def _verbatim(self, style: str) -> dict[int, str]:
        """Each named piece and δ symbol as printed (the printer expands the entry
        it is asked for, so a piece's own definition is written out). Lines are
        printed after the sweep has named everything, so it is built once."""
        if style in self._shown:
            return self._shown[style]
        from ..printer import latex_name
        shown = {e: (latex_name(name) if style == "latex" else name)
                 for e, name in self.names.items()}
        if style == "latex":
            tape = self.b.tape
            for e in range(len(tape)):
                label = tape.labels[e]
                if tape.ops[e] == VAR and label and label.startswith(DELTA):
                    shown[e] = delta_latex(label[len(DELTA):])
        self._shown[style] = shown
        return shown

    def _text(self, entry: int) -> str:
        return to_text(self.b.tape, entry, self._verbatim("text"),
                       reserved=self.taken)

    def _latex(self, entry: int) -> str:
        tape = self.b.tape
        if tape.ops[entry] == VAR and (tape.labels[entry] or "").startswith(DELTA):
            return delta_latex(tape.labels[entry][len(DELTA):])
        shapes = self.b.shapes_so_far()
        return to_latex(self.b.tape, entry, self._verbatim("latex"),
                        reserved=self.taken, shapes=shapes)

    def _pieces(self, lines: list[BackpropLine], final_entry: int):
        """The named pieces to list, in tape order; how many others the listed ones
        use; whether the last line is left out.

        Listed are the pieces the shown lines and the last line use, and the
        pieces those use, up to ``MAX_PIECES``; past it, only the pieces the
        shown lines name themselves, and the last line (diff's formula, which
        is in JSON's ``derivative`` whole) is left out."""
        formulas = [line.formula for line in lines]
        everything = self._used(formulas + [final_entry], through_pieces=True)
        left_out = len(everything) > MAX_PIECES
        listed = everything
        if left_out:
            listed = set(sorted(self._used(formulas, through_pieces=False))[:MAX_PIECES])
        pieces = []
        for e in sorted(listed):
            name = self.names[e]
            pieces.append(Piece(name, self._text(e), self._latex(e), self.kinds[name]))
        others = len(self._used(formulas, through_pieces=True) - listed)
        return pieces, others, left_out

    def _used(self, entries: list[int], through_pieces: bool) -> set[int]:
        """The named pieces these entries are written in; with ``through_pieces``
        also those the pieces' own definitions are written in."""
        tape = self.b.tape
        used: set[int] = set()
        todo, seen = list(entries), set(entries)
        first = set(entries)
        while todo:
            e = todo.pop()
            if e in self.names and e not in first:
                used.add(e)
                if not through_pieces:
                    continue
            for j in tape.args[e]:
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        return used


def _bounded(lines: list[BackpropLine]) -> tuple[list[BackpropLine], int]:
    """At most ``MAX_LINES`` lines: the first and the last half, the middle counted."""
    if len(lines) <= MAX_LINES:
        return lines, 0
    half = MAX_LINES // 2
    return lines[:half] + lines[-half:], len(lines) - 2 * half


def _broadcast_rule(node: Shape, argument: Shape) -> str:
    if not argument:
        return "a number broadcast: its δ is the sum of all of δ"
    axes = len(node) - len(argument)
    which = "axis 0" if axes == 1 else f"the first {axes} axes"
    return f"broadcast along {which}: δ summed over {which}"


def delta_latex(name: str) -> str:
    from ..printer import latex_name
    return rf"\delta_{{{latex_name(name)}}}"


def _is_call(op: str) -> bool:
    return PRIMITIVES[op].symbol is None


@lru_cache(maxsize=None)
def _form_text(op: str, options: tuple[int, ...]) -> str:
    """The operation written on ``a`` and ``b``: ``a@b``, ``tanh(a)``, ``sum(a, 0)``."""
    from ..tape import TapeBuilder
    builder = TapeBuilder(source="")
    arguments = tuple(builder.variable(name, None)
                      for name in FORMULA_ARGUMENTS[:PRIMITIVES[op].arity])
    builder.operation(op, arguments, None, tuple(options))
    return to_text(builder.tape)


@lru_cache(maxsize=None)
def _formula_text(formula: str) -> str:
    """A table formula in chaincli's own notation (``a'@δ`` for ``transpose(a) @ δ``)."""
    template = vjp_template(formula)
    if template is None:
        return formula
    if template.ops[template.output] == VAR:  # a bare name: ``b``, or the adjoint itself
        label = template.labels[template.output]
        return DELTA if label == ADJOINT else label
    verbatim = {i: DELTA for i in range(len(template))
                if template.ops[i] == VAR and template.labels[i] == ADJOINT}
    return to_text(template, verbatim=verbatim)
