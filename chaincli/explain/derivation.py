"""Derivation steps: how ``diff`` reaches its derivative, rule by rule.

Place in the pipeline::

    tape ──symbolic.derivative_sweep──▶ Sweep ──derive──▶ Derivation ──render_derivation──▶ text

Nothing is differentiated here. The symbolic sweep that ``diff`` runs records,
for every tape entry, the partial-formula entries (from the primitive table,
built by its ``ExpressionBuilder``) that it multiplied into the chain rule.
This module lays those out as a textbook writes them: a part starts from
``d/dx(f)``; each step replaces one pending ``d/dx(…)`` by what the sweep put
there (each argument's partial times that argument's own pending derivative),
names the rule, and the part ends with the sweep's simplified entry. The last
step of the last part is the sweep's finished tape printed by the printer:
``diff``'s output, written in the names of ``bindings`` (``= cos(q)*y``, with
``where q = x*y``) where ``diff`` puts its bindings in front (``q = x*y;
cos(q)*y``); ``Derivation.derivative`` is that whole, which parses back.

Every line is an expression in chaincli syntax, where ``d/dx(E)`` stands for
the derivative still to be taken and a name (``u``, ``u1``) for a piece
defined in ``bindings``. Pieces are named, and derived once in a part of
their own, when the input binds them with ``let``, when they occur more than
once (named as ``diff`` would print them), and when an expression is too big
to show in one line (``PIECE_SIZE`` operations; deeper pieces are folded into
names). A derivation shows at most ``MAX_LINES`` steps: past that, the parts
of inner pieces are left out and counted.

Everything walks tapes and trees with loops and explicit stacks: nothing
recurses on the depth of the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..base.numbers import format_number, latex_number
from ..primitives import CONSTANTS, PRIMITIVES, callable_names
from ..printer import binding_names, latex_name, to_latex, to_text
from ..symbolic import Sweep, derivative_sweep, partial_template, simplified
from ..tape import CONST, VAR, Tape, reaches_output

# Steps shown per derivation; the parts of inner pieces past it are left out.
MAX_LINES = 60
# Operations in one piece of the expression before its inner parts are named.
PIECE_SIZE = 16
# Bindings listed per derivation: those the shown lines use, and theirs.
MAX_BINDINGS = 40
# Names for the inner function in a rule's formula, first free one taken.
_INNER_NAMES = ("w", "v", "t", "s", "r", "q", "p")

# Textbook forms of the arithmetic rules; their results are the table's partials.
_SUM = "(f + g)' = f' + g'"
_DIFFERENCE = "(f - g)' = f' - g'"
_PRODUCT = "(f*g)' = f'*g + f*g'"
_QUOTIENT = "(f/g)' = f'/g - f*g'/g^2"
_RECIPROCAL = "(c/g)' = -c*g'/g^2"
_CONSTANT_MULTIPLE = "(c*f)' = c*f'"
_CONSTANT_DIVISOR = "(f/c)' = f'/c"
_NEGATION = "(-f)' = -f'"
_GENERAL_POWER = ("(f^g)' = g*f^(g - 1)*f' + f^g*log(f)*g', by logarithmic "
                  "differentiation: log(f^g) = g*log(f)")


@dataclass(frozen=True)
class Step:
    """One line: ``expression`` (chaincli syntax) and the rule that gave it.

    ``latex_text`` is the LaTeX, or a function that prints it when asked (the
    last line can be as long as the derivative, and most output is text)."""

    expression: str
    latex_text: str | Callable[[], str] = field(repr=False)
    rule: str
    detail: str
    # The named piece this line derives (None: the expression itself).
    of: str | None = None
    # The first line of a part, ``d/dx(…)``, which no rule produced.
    first: bool = False
    # No ``d/dx(…)`` left in it.
    complete: bool = True

    @property
    def latex(self) -> str:
        return self.latex_text if isinstance(self.latex_text, str) else self.latex_text()

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "rule": self.rule, "detail": self.detail,
                "of": self.of}


@dataclass(frozen=True)
class Binding:
    """A named piece: ``name = expression``; ``kind`` is let, repeated or folded."""

    name: str
    expression: str
    latex: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expression": self.expression, "kind": self.kind}


@dataclass
class Derivation:
    """The steps from ``d/dx(f)`` to the ``order``-th derivative (f: the one before)."""

    order: int
    wrt: str
    bindings: list[Binding]
    steps: list[Step]
    # Steps of inner pieces left out, and those pieces' names.
    omitted_steps: int = 0
    omitted_pieces: list[str] = field(default_factory=list)
    # The derivative as ``diff`` prints it, and its tape for the next order.
    tape: Tape = field(default_factory=Tape, repr=False)

    @property
    def derivative(self) -> str:
        """``diff``'s output, whole: its own bindings in front (``q = x*y; …``), so it
        parses back; the last step is the same formula in the names of ``bindings``."""
        return to_text(self.tape)

    @property
    def derivative_latex(self) -> str:
        return to_latex(self.tape)


def derive(tape: Tape, wrt: str, order: int = 1) -> Derivation:
    """The steps of ``∂(tape's output)/∂wrt``, numbered as derivative ``order``."""
    return _Deriver(tape, wrt, order).run()


def restate(tape: Tape, wrt: str) -> Derivation:
    """The 0th derivative: the expression, then simplified as ``diff --order 0`` prints it."""
    given = to_text(tape)
    result = simplified(tape)
    steps = [Step(given, to_latex(tape), "", "", first=True)]
    bindings: list[Binding] = []
    if to_text(result) != given:
        text, latex, bindings, _ = in_binding_names(result, {}, _taken_names(tape))
        steps.append(Step(text, latex, "simplify", "fold numbers, drop 0 and 1, collect terms"))
    return Derivation(0, wrt, bindings, steps, tape=result)


def _taken_names(tape: Tape) -> set[str]:
    """Names a new piece may not take: the input's variables and labels, constants, functions."""
    return (set(tape.variables) | set(CONSTANTS) | set(callable_names())
            | {label for label in tape.labels if label})


def in_binding_names(tape: Tape, known: dict[str, str], taken: set[str]):
    """The output of ``tape`` as one formula in the names of its bindings, for
    the last line of an equality chain (``cos(q)*y`` rather than ``q = x*y;
    cos(q)*y``), and the bindings that gives.

    ``known`` maps the names the derivation's lines already use to their
    text: a binding of the printer's with the same text as a known piece is
    that piece, by its name (returned among the names reused); one whose name
    means something else there is renamed (``u3``), so no name stands for two
    things; the others are new bindings. Returns (text, LaTeX printer, new
    bindings, names reused).
    """
    plan = binding_names(tape)
    if not plan:
        return to_text(tape), lambda: to_latex(tape), [], set()
    taken = taken | set(known) | set(plan.values())
    text: dict[int, str] = {}
    latex: dict[int, str] = {}
    new: list[Binding] = []
    reused: set[str] = set()
    by_text = {definition: name for name, definition in reversed(list(known.items()))}
    counter = 0
    for i in sorted(plan):
        name = plan[i]
        definition = to_text(tape, i, verbatim=text)
        if definition in by_text:
            name = by_text.pop(definition)
            reused.add(name)
        else:
            if name in known:
                counter += 1
                while f"u{counter}" in taken:
                    counter += 1
                name = f"u{counter}"
                taken.add(name)
            new.append(Binding(name, definition, to_latex(tape, i, verbatim=latex), "repeated"))
        text[i], latex[i] = name, latex_name(name)
    return (to_text(tape, verbatim=text), lambda: to_latex(tape, verbatim=latex), new,
            reused)


def pending_text(wrt: str, inner: str) -> str:
    """``d/dx(inner)``: the derivative still to be taken."""
    return f"d/d{wrt}({inner})"


# ----- Lines: small trees, printed through a tape -----

class _Line:
    """One line's expression as a tree of nodes (no sharing: every node prints once).

    Kinds: ``op`` (data: primitive, kids), ``var`` and ``name`` (data: the
    name), ``const`` (data: (value, label)), ``pending`` (data: the input
    entry whose derivative is still to be taken) and ``ref`` (data: a named
    input entry whose derivative is taken in its own part).
    """

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.data: list[Any] = []
        self.kids: list[tuple[int, ...]] = []
        self.root = -1

    def add(self, kind: str, data: Any, kids: Iterable[int] = ()) -> int:
        self.kinds.append(kind)
        self.data.append(data)
        self.kids.append(tuple(kids))
        return len(self.kinds) - 1

    def replace(self, node: int, other: int) -> None:
        """Node ``node`` becomes what ``other`` is (``other`` is then unused)."""
        self.kinds[node] = self.kinds[other]
        self.data[node] = self.data[other]
        self.kids[node] = self.kids[other]

    def tidy(self) -> None:
        """``f + -t`` becomes ``f - t`` and ``f - -t`` becomes ``f + t`` (same value)."""
        for node in self.nodes():
            if self.kinds[node] == "op" and self.data[node] in ("add", "sub"):
                left, right = self.kids[node]
                negated = _negated(self, right)
                if negated is not None:
                    self.data[node] = "sub" if self.data[node] == "add" else "add"
                    self.kids[node] = (left, negated)

    def nodes(self) -> list[int]:
        """The nodes reachable from the root, parents before children."""
        order, stack = [], [self.root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(reversed(self.kids[node]))
        return order

    def to_tape(self) -> tuple[Tape, dict[int, int]]:
        """A tape of the tree (one entry per node) and each pending/ref node's entry."""
        tape = Tape(source="")
        index: dict[int, int] = {}
        stack: list[tuple[int, bool]] = [(self.root, False)]
        while stack:
            node, done = stack.pop()
            kind = self.kinds[node]
            if kind == "op" and not done:
                stack.append((node, True))
                stack.extend((kid, False) for kid in reversed(self.kids[node]))
                continue
            index[node] = len(tape.ops)
            tape.spans.append(None)
            if kind == "op":
                tape.ops.append(self.data[node])
                tape.args.append(tuple(index[kid] for kid in self.kids[node]))
                tape.consts.append(None)
                tape.labels.append(None)
            elif kind == "const":
                tape.ops.append(CONST)
                tape.args.append(())
                tape.consts.append(self.data[node][0])
                tape.labels.append(self.data[node][1])
            else:
                name = self.data[node] if kind in ("var", "name") else "_"
                tape.ops.append(VAR)
                tape.args.append(())
                tape.consts.append(None)
                tape.labels.append(name)
                if kind in ("var", "name") and name not in tape.variable_index:
                    tape.variable_index[name] = index[node]
                    tape.variables.append(name)
        tape.output = index[self.root]
        return tape, index


# ----- The derivation -----

class _Deriver:
    def __init__(self, tape: Tape, wrt: str, order: int):
        self.tape = tape
        self.wrt = wrt
        self.order = order
        self.sweep: Sweep = derivative_sweep(tape, wrt, record=True)
        self.builder = self.sweep.builder
        self.wrt_entry = tape.variable_index.get(wrt)
        self.needed = reaches_output(tape)
        self.final_names = set(binding_names(self.sweep.tape).values())
        self.names, self.kinds = self._name_pieces()
        self.reserved = set(self.names.values())
        # Builder entries that equal a named piece print as its name.
        self.image_names: dict[int, str] = {}
        for i, name in self.names.items():
            image = self.sweep.image[i]
            if image is not None and self.builder.tape.args[image]:
                self.image_names.setdefault(image, name)
        self._texts: dict[int, tuple[str, str]] = {}
        # Pieces diff's own output binds that no line named (see in_binding_names).
        self._final_bindings: list[Binding] = []

    # ----- Naming the pieces -----

    def _name_pieces(self) -> tuple[dict[int, str], dict[int, str]]:
        tape, output = self.tape, self.tape.output
        names = dict(binding_names(tape))  # repeated pieces, named as diff prints them
        kinds = {i: "let" if tape.labels[i] else "repeated" for i in names}
        taken = (set(tape.variables) | set(CONSTANTS) | set(callable_names())
                 | {label for label in tape.labels if label} | set(names.values())
                 | self.final_names)
        for i in range(output):  # let-bound pieces used once are named too
            label = tape.labels[i]
            if self.needed[i] and tape.args[i] and label and i not in names \
                    and label not in names.values():
                names[i] = label
                kinds[i] = "let"
        counter = 0
        size = [0] * len(tape)
        for i in range(output + 1):
            if not self.needed[i] or not tape.args[i]:
                continue
            inner = [j for j in tape.args[i] if tape.args[j] and j not in names]
            total = 1 + sum(size[j] for j in inner)
            # Too big for one line: name the biggest arguments until it fits.
            for j in sorted(inner, key=lambda j: -size[j]):
                if total <= PIECE_SIZE:
                    break
                counter += 1
                while f"u{counter}" in taken:
                    counter += 1
                names[j] = f"u{counter}"
                taken.add(names[j])
                kinds[j] = "folded"
                total -= size[j]
            size[i] = total
        return names, kinds

    # ----- Copying expressions into lines -----

    def _graft(self, line: _Line, source: Tape, root: int, named: dict[int, str],
               expand_root: bool = False, rename: dict[str, str] | None = None) -> int:
        """Copy entry ``root`` of ``source`` into ``line`` as a tree; its node.

        Entries in ``named`` become names (the root too, unless ``expand_root``);
        variables in ``rename`` are renamed."""
        results: list[int] = []
        stack: list[tuple[int, bool, bool]] = [(root, False, expand_root)]
        while stack:
            entry, done, expand = stack.pop()
            op = source.ops[entry]
            if entry in named and not expand:
                results.append(line.add("name", named[entry]))
            elif op == VAR:
                label = source.labels[entry]
                results.append(line.add("var", (rename or {}).get(label, label)))
            elif op == CONST:
                results.append(line.add("const", (source.consts[entry], source.labels[entry])))
            elif not done:
                stack.append((entry, True, expand))
                stack.extend((arg, False, False) for arg in reversed(source.args[entry]))
            else:
                count = len(source.args[entry])
                kids = results[len(results) - count:]
                del results[len(results) - count:]
                results.append(line.add("op", op, kids))
        return results[-1]

    def _input_line(self, entry: int, expand_root: bool = False) -> _Line:
        line = _Line()
        line.root = self._graft(line, self.tape, entry, self.names, expand_root)
        return line

    def _print(self, line: _Line) -> tuple[str, str]:
        """The line as chaincli text and as LaTeX."""
        if line.kinds[line.root] in ("pending", "ref"):
            return self._pending(line.data[line.root])
        line.tidy()
        tape, index = line.to_tape()
        text, latex = {}, {}
        for node, entry in index.items():
            if line.kinds[node] in ("pending", "ref"):
                text[entry], latex[entry] = self._pending(line.data[node])
        return (to_text(tape, verbatim=text, reserved=self.reserved),
                to_latex(tape, verbatim=latex, reserved=self.reserved))

    def _pending(self, entry: int) -> tuple[str, str]:
        """``d/dx(E)`` for input entry ``entry``, in text and LaTeX."""
        if entry not in self._texts:
            if entry in self.names:
                name = self.names[entry]
                self._texts[entry] = (pending_text(self.wrt, name),
                                      rf"\frac{{d {latex_name(name)}}}{{d {latex_name(self.wrt)}}}")
            else:
                text, latex = self._print(self._input_line(entry, expand_root=True))
                self._texts[entry] = (pending_text(self.wrt, text),
                                      rf"\frac{{d}}{{d {latex_name(self.wrt)}}}"
                                      rf"\left({latex}\right)")
        return self._texts[entry]

    def _expression(self, entry: int) -> str:
        """Input entry ``entry`` as text, named pieces below it by name."""
        return self._print(self._input_line(entry, expand_root=True))[0]

    # ----- Parts -----

    def _expansions(self, subject: int) -> tuple[int, list[int]]:
        """How many steps the part of ``subject`` takes, and the named pieces it refers to."""
        count, refs, stack = 0, [], [subject]
        while stack:
            entry = stack.pop()
            count += 1
            for _, j, _ in self.sweep.terms.get(entry, ()):
                if j == self.wrt_entry:
                    continue
                if j in self.names:
                    refs.append(j)
                else:
                    stack.append(j)
        return count, refs

    def run(self) -> Derivation:
        output = self.tape.output
        subjects = [i for i in sorted(self.names) if self.sweep.tangent[i] is not None]
        subjects.append(output)
        sizes, refs = {}, {}
        for subject in subjects:
            sizes[subject], refs[subject] = self._expansions(subject)
        # The expression's own part always; then pieces nearest to it first.
        shown, budget = {output}, MAX_LINES - sizes[output] - 2
        queue, seen, head = [output], {output}, 0
        while head < len(queue):
            entry = queue[head]
            head += 1
            for j in refs[entry]:
                if j in seen:
                    continue
                seen.add(j)
                queue.append(j)
                if sizes[j] + 2 <= budget:
                    shown.add(j)
                    budget -= sizes[j] + 2
        omitted = [i for i in subjects if i not in shown]
        steps: list[Step] = []
        used_names: set[str] = set()
        for subject in subjects:
            if subject in shown:
                steps.extend(self._part(subject, used_names))
        bindings = self._bindings(used_names | {self.names[i] for i in shown
                                                if i in self.names})
        listed = {binding.name for binding in bindings}
        bindings.extend(b for b in self._final_bindings if b.name not in listed)
        return Derivation(self.order, self.wrt, bindings, steps,
                          sum(sizes[i] + 1 for i in omitted),
                          [self.names[i] for i in omitted], tape=self.sweep.tape)

    def _part(self, subject: int, used_names: set[str]) -> list[Step]:
        tape = self.tape
        of = self.names.get(subject)
        line = _Line()
        line.root = line.add("pending", subject)
        text, latex = self._print(line)
        if of is not None:
            kind = self.kinds[subject]
            first_rule = {"let": "let-binding", "repeated": "repeated subexpression",
                          "folded": "named piece"}[kind]
            definition = self._expression(subject)
            why = {"let": "derived once and referred to",
                   "repeated": "it occurs more than once; derived once",
                   "folded": "named to keep the lines short"}[kind]
            first_detail = f"{of} = {definition}, {why}"
        else:
            first_rule, first_detail = "", ""
        steps = [Step(text, latex, first_rule, first_detail, of, first=True, complete=False)]
        stack = [line.root]
        if tape.ops[subject] in (VAR, CONST):
            rule, detail = self._leaf_rule(subject)
            line.replace(line.root, line.add("const", (1.0 if subject == self.wrt_entry
                                                       else 0.0, None)))
            stack = []
            text, latex = self._print(line)
            steps.append(Step(text, latex, rule, detail, of))
        while stack:
            node = stack.pop()
            entry = line.data[node]
            created = self._expand(line, node, entry)
            stack.extend(reversed(created))
            rule, detail = self._rule(entry)
            text, latex = self._print(line)
            complete = not any(line.kinds[n] in ("pending", "ref") for n in line.nodes())
            steps.append(Step(text, latex, rule, detail, of, complete=complete))
        refs = [line.data[n] for n in line.nodes() if line.kinds[n] == "ref"]
        used_names.update(line.data[n] for n in line.nodes() if line.kinds[n] == "name")
        used_names.update(self.names[j] for j in refs)
        used_names.update(self._names_in(subject))
        text, latex = self._simplified(subject, used_names)
        if text != steps[-1].expression:
            detail = "fold numbers, drop 0 and 1, collect terms"
            names = list(dict.fromkeys(self.names[j] for j in refs))
            if names:
                shown = ", ".join(pending_text(self.wrt, n) for n in names[:4])
                more = f" and {len(names) - 4} more" if len(names) > 4 else ""
                if of is None:
                    detail += f"; with {shown}{more} from their own parts"
                else:
                    detail += f"; {shown}{more} stay, derived in their own parts"
            steps.append(Step(text, latex, "simplify", detail, of,
                              complete=f"d/d{self.wrt}(" not in text))
        return steps

    def _names_in(self, subject: int) -> set[str]:
        line = self._input_line(subject, expand_root=True)
        return {line.data[n] for n in line.nodes() if line.kinds[n] == "name"}

    def _simplified(self, subject: int,
                    used_names: set[str]) -> tuple[str, str | Callable[[], str]]:
        """The sweep's entry for the derivative of ``subject``."""
        if subject == self.tape.output:
            # The last line: diff's output in the names the lines use (where q = x*y).
            known = {name: self._expression(i) for i, name in self.names.items()}
            text, latex, new, reused = in_binding_names(
                self.sweep.tape, known, _taken_names(self.tape) | self.reserved)
            used_names.update(reused)
            self._final_bindings = new
            return text, latex
        entry = self.sweep.tangent[subject]
        btape = self.builder.tape
        text: dict[int, str] = {}
        latex: dict[int, str] = {}
        for image, name in self.image_names.items():
            text[image], latex[image] = name, latex_name(name)
        for j, name in self.names.items():
            tangent = self.sweep.tangent[j]
            if j != subject and tangent is not None and btape.args[tangent]:
                text[tangent], latex[tangent] = self._pending(j)
        text.pop(entry, None)
        latex.pop(entry, None)
        return (to_text(btape, entry, verbatim=text, reserved=self.reserved),
                to_latex(btape, entry, verbatim=latex, reserved=self.reserved))

    def _expand(self, line: _Line, node: int, entry: int) -> list[int]:
        """Replace pending ``node`` by the sweep's terms for ``entry``; the new pending nodes."""
        builder = self.builder
        created: list[int] = []
        pieces: list[int] = []
        for _, j, partial in self.sweep.terms.get(entry, ()):
            if j == self.wrt_entry:
                factor = None
            else:
                factor = line.add("ref" if j in self.names else "pending", j)
                if j not in self.names:
                    created.append(factor)
            if factor is None:
                piece = self._graft(line, builder.tape, partial, self.image_names)
            elif builder.is_value(partial, 1.0):
                piece = factor
            elif builder.is_value(partial, -1.0):
                piece = line.add("op", "neg", (factor,))
            else:
                piece = line.add("op", "mul", (self._graft(line, builder.tape, partial,
                                                           self.image_names), factor))
            pieces.append(piece)
        if not pieces:
            result = line.add("const", (0.0, None))
        else:
            result = pieces[0]
            for piece in pieces[1:]:
                result = line.add("op", "add", (result, piece))
        line.replace(node, result)
        # ``result``'s node is gone; a pending node created as the whole result moved.
        return [node if n == result else n for n in created]

    # ----- Rules -----

    def _leaf_rule(self, entry: int) -> tuple[str, str]:
        if entry == self.wrt_entry:
            return "variable rule", f"{pending_text(self.wrt, self.wrt)} = 1"
        what = self._expression(entry)
        return "constant rule", f"{what} does not depend on {self.wrt}: its derivative is 0"

    def _rule(self, entry: int) -> tuple[str, str]:
        tape = self.tape
        op, args = tape.ops[entry], tape.args[entry]
        terms = self.sweep.terms.get(entry, ())
        live = {k for k, _, _ in terms}
        notes = []
        for k, j in enumerate(args):
            if k in live and j == self.wrt_entry and op in ("add", "sub", "mul", "div", "neg",
                                                            "pow"):
                notes.append(f"{pending_text(self.wrt, self.wrt)} = 1")
        dropped = [j for k, j in enumerate(args) if k not in live]
        if not live:
            return "constant rule", (f"{self._expression(entry)} does not depend on "
                                     f"{self.wrt}: its derivative is 0")
        if op in ("add", "sub"):
            rule = "sum rule" if op == "add" else "difference rule"
            formula = _SUM if op == "add" else _DIFFERENCE
            if dropped:
                rule += ", constant rule"
                notes.extend(f"{pending_text(self.wrt, self._expression(j))} = 0"
                             for j in dropped)
            return rule, _joined(formula, notes)
        if op == "mul":
            if len(live) == 2:
                return "product rule", _joined(_PRODUCT, notes)
            return "constant multiple rule", _joined(_CONSTANT_MULTIPLE, notes)
        if op == "div":
            if live == {0}:
                return "constant multiple rule", _joined(_CONSTANT_DIVISOR, notes)
            return "quotient rule", _joined(_QUOTIENT if live == {0, 1} else _RECIPROCAL,
                                            notes)
        if op == "neg":
            return "constant multiple rule", _joined(_NEGATION, notes)
        if op == "pow":
            return self._power_rule(entry, live, notes)
        return self._function_rule(entry)

    def _power_rule(self, entry: int, live: set[int], notes: list[str]) -> tuple[str, str]:
        base, exponent = self.tape.args[entry]
        compound = any(j != self.wrt_entry for k, j in enumerate((base, exponent))
                       if k in live)
        if live == {0, 1}:
            return "general power rule", _joined(_GENERAL_POWER, notes)
        symbols = self._symbols(entry)
        if live == {0}:
            rule = "power rule"
            formula = (f"({symbols[0]}^n)' = "
                       f"{self._formula('pow', 0, {'a': symbols[0], 'b': 'n'})}")
            inner = base
        else:
            rule = "exponential rule"
            formula = (f"(c^{symbols[1]})' = "
                       f"{self._formula('pow', 1, {'a': 'c', 'b': symbols[1]})}")
            inner = exponent
        if compound:
            rule = f"chain rule, {rule}"
            symbol = symbols[0] if live == {0} else symbols[1]
            if inner not in self.names:
                formula += f" with {symbol} = {self._expression(inner)}"
        return rule, _joined(formula, notes)

    def _function_rule(self, entry: int) -> tuple[str, str]:
        op, args = self.tape.ops[entry], self.tape.args[entry]
        prim = PRIMITIVES[op]
        symbols = self._symbols(entry)
        rename = dict(zip(("a", "b"), symbols))
        call = f"{op}({', '.join(symbols)})"
        if prim.arity == 1:
            formulas = [f"{op}'({symbols[0]}) = {self._formula(op, 0, rename)}"]
        else:  # the partials this step uses: those of arguments that depend on x
            live = {k for k, _, _ in self.sweep.terms.get(entry, ())}
            formulas = [f"∂/∂{symbol} {call} = {self._formula(op, k, rename)}"
                        for k, symbol in enumerate(symbols) if k in live]
        live = {k for k, _, _ in self.sweep.terms.get(entry, ())}
        chain = any(args[k] != self.wrt_entry for k in live)
        inner = [(symbol, j) for symbol, j in zip(symbols, args)
                 if self.tape.args[j] and j not in self.names]
        rule = "chain rule" if chain else f"derivative of {op}"
        detail = "; ".join(formulas)
        if inner:
            detail += " with " + ", ".join(f"{s} = {self._expression(j)}" for s, j in inner)
        convention = _kink_convention(prim)
        if convention:
            detail += f"; at the kink: {convention}"
        return rule, detail

    def _symbols(self, entry: int) -> list[str]:
        """A name per argument: the argument itself when it is a name, else a fresh one."""
        taken = set(self.tape.variables) | self.reserved
        free = [s for s in _INNER_NAMES if s not in taken] or ["w_", "v_"]
        symbols = []
        for j in self.tape.args[entry]:
            if self.tape.ops[j] == VAR:
                symbols.append(self.tape.labels[j])
            elif self.tape.ops[j] == CONST and (self.tape.labels[j]
                                                or self.tape.consts[j] >= 0):
                symbols.append(self.tape.labels[j] or format_number(self.tape.consts[j]))
            elif j in self.names:
                symbols.append(self.names[j])
            else:
                symbols.append(free.pop(0) if free else f"w{len(symbols)}")
        return symbols

    def _formula(self, op: str, k: int, rename: dict[str, str]) -> str:
        """The primitive table's partial formula ``k`` of ``op``, its arguments renamed."""
        template = partial_template(op, k)
        line = _Line()
        line.root = self._graft(line, template, template.output, {}, rename=rename)
        tape, _ = line.to_tape()
        return to_text(tape)

    def _bindings(self, names: set[str]) -> list[Binding]:
        """The bindings of ``names``, and of the names their definitions use."""
        by_name = {name: i for i, name in self.names.items()}
        wanted, queue = set(), sorted((by_name[n] for n in names if n in by_name))
        while queue and len(wanted) < MAX_BINDINGS:
            entry = queue.pop(0)
            if entry in wanted:
                continue
            wanted.add(entry)
            queue.extend(by_name[n] for n in sorted(self._names_in(entry)))
        result = []
        for entry in sorted(wanted):
            text, latex = self._print(self._input_line(entry, expand_root=True))
            result.append(Binding(self.names[entry], text, latex, self.kinds[entry]))
        return result


def _joined(formula: str, notes: list[str]) -> str:
    return "; ".join(dict.fromkeys([formula, *notes]))


def _negated(line: _Line, node: int) -> int | None:
    """``t`` for a term written ``-t``, ``(-a)*t`` or ``-c``, so ``f + -t`` reads ``f - t``."""
    if line.kinds[node] == "const" and line.data[node][1] is None and line.data[node][0] < 0:
        return line.add("const", (-line.data[node][0], None))
    if line.kinds[node] != "op" or line.data[node] not in ("neg", "mul"):
        return None
    if line.data[node] == "neg":
        return line.kids[node][0]
    factor, rest = line.kids[node]
    if line.kinds[factor] == "op" and line.data[factor] == "neg":
        return line.add("op", "mul", (line.kids[factor][0], rest))
    if line.kinds[factor] == "const" and line.data[factor][1] is None \
            and line.data[factor][0] < 0:
        return line.add("op", "mul", (line.add("const", (-line.data[factor][0], None)), rest))
    return None


def _kink_convention(prim) -> str | None:
    """The primitive's own kink message at 0 (or (0, 0)): the convention it follows."""
    if prim.kink is None:
        return None
    message = prim.kink(*([0.0] * prim.arity))
    return message.replace(" (0 = 0)", "") if message else None


# ----- The result of diff --steps -----

@dataclass
class StepsResult:
    """``diff --steps``: one derivation per order, and with a point, the value there.

    ``value`` comes from the sweeps (``grad`` for the first derivative, the
    forward-over-reverse Hessian for the second), not from the formula.
    """

    expression: str
    wrt: str
    order: int
    derivations: list[Derivation]
    point: dict[str, float] | None = None
    value: float | None = None
    value_source: str = ""
    warnings: list = field(default_factory=list)

    @property
    def derivative(self) -> str:
        return self.derivations[-1].derivative

    @property
    def derivative_latex(self) -> str:
        return self.derivations[-1].derivative_latex

    def value_step(self) -> Step | None:
        """The last line with ``--at``: the value at the point."""
        if self.point is None or self.value is None:
            return None
        from ..base.numbers import format_number
        from ..base.numbers import plain_number
        where = ", ".join(f"{name} = {format_number(v)}" for name, v in self.point.items())
        text = plain_number(self.value) if math.isfinite(self.value) \
            else nonfinite_words(self.value)
        return Step(text, latex_number(self.value), f"value at {where}", self.value_source)

    def to_dict(self) -> dict[str, Any]:
        steps, bindings = [], []
        for derivation in self.derivations:
            steps.extend({**step.to_dict(), "order": derivation.order}
                         for step in derivation.steps)
            bindings.extend({**binding.to_dict(), "order": derivation.order}
                            for binding in derivation.bindings)
        last = self.value_step()
        if last is not None:
            steps.append({**last.to_dict(), "order": self.order})
        data: dict[str, Any] = {
            "expression": self.expression, "wrt": self.wrt, "order": self.order,
            "bindings": bindings, "steps": steps,
            "omitted_steps": sum(d.omitted_steps for d in self.derivations),
            "derivative": self.derivative, "latex": self.derivative_latex}
        if self.point is not None:
            data["point"] = dict(self.point)
            data["value"] = self.value
            data["warnings"] = [w.to_dict() for w in self.warnings]
        return data


def nonfinite_words(value: float) -> str:
    """A value that is not finite, in words (``inf`` and ``nan`` are not chaincli
    syntax, and every line of a derivation is), as grad's warnings word it."""
    if value != value:
        return "undefined (NaN)"
    return "infinity" if value > 0 else "minus infinity"
