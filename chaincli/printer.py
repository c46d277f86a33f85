"""Tape to text: an entry printed back as chaincli syntax or as LaTeX.

The printer reads how each primitive prints from the primitive table: an
infix or prefix ``symbol`` with its ``precedence`` and associativity, or
else a call ``name(a, b)``; for LaTeX, the ``latex`` template, or, given
each entry's shape, matrix notation (``a \\odot b``, ``a b^\\top``). Parentheses
are added only where the grammar needs them, and kept where leaving them out
would change the order of floating-point operations (``a + (b + c)``), so
the text evaluates to exactly what the tape does.

An entry that the output uses more than once (and that is more than a name
or a number) is printed once as a let-binding ``u1 = …;`` and by name after
that, so the text grows with the tape, not with the number of paths through
it. Printing walks the tape with an explicit stack of pieces to emit: a
100,000-deep expression prints without recursion. A caller may have entries
printed as given text (``verbatim``): the derivation steps print a pending
``d/dx(…)`` or a named piece that way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from .base.numbers import format_number, latex_number
from .primitives import CONSTANTS, PRIMITIVES, UNARY_OPERATORS, callable_names
from .tape import CONST, VAR, Tape

# An atom never needs parentheses: a name, a number, a call.
ATOM = 100
# A number with a leading minus parses (and so binds) like unary minus.
_NEGATIVE = PRIMITIVES[UNARY_OPERATORS["-"]].precedence

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
          "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi",
          "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma",
          "Phi", "Psi", "Omega"}


@dataclass(frozen=True)
class Slot:
    """Where an argument goes in a template, and when it needs parentheses.

    ``grouped``: the template already delimits it (a call, a LaTeX brace).
    Otherwise it needs parentheses when it binds looser than ``precedence``,
    or exactly as loose and ``strict`` (the non-associative side).
    """

    argument: int
    precedence: int = 0
    strict: bool = False
    grouped: bool = False
    # In LaTeX, a juxtaposition (``{a} {b}``) before a number becomes ``\\cdot``.
    juxtaposed: bool = False


Template = tuple["str | Slot", ...]


# ----- Templates, derived from the primitive table -----

_NEGATION = UNARY_OPERATORS["-"]

# The grammar's postfix forms, which no entry of the table spells: A' and A[1, 2].
_POSTFIX_TRANSPOSE = "transpose"
_SUBSCRIPT = "index"
_ARRAY_LITERAL = "stack"


def _array_template(count: int) -> Template:
    parts: list[str | Slot] = ["["]
    for k in range(count):
        parts.extend([", "] if k else [])
        parts.append(Slot(k, grouped=True))
    return (*parts, "]")


@lru_cache(maxsize=None)
def text_template(op: str) -> Template:
    prim = PRIMITIVES[op]
    if op == _POSTFIX_TRANSPOSE:
        return (Slot(0, ATOM), "'")
    if prim.symbol is None:
        parts: list[str | Slot] = [f"{prim.name}("]
        for k in range(prim.arity):
            parts.extend([", "] if k else [])
            parts.append(Slot(k, grouped=True))
        return (*parts, ")")
    if prim.arity == 1:
        return (prim.symbol, Slot(0, prim.precedence, strict=True))
    spacer = " " if prim.precedence <= _loosest_precedence() else ""
    return (Slot(0, prim.precedence, strict=prim.right_associative),
            f"{spacer}{prim.symbol}{spacer}",
            Slot(1, prim.precedence, strict=not prim.right_associative))


@lru_cache(maxsize=None)
def latex_template(op: str) -> Template:
    """The table's LaTeX template, split at its argument slots.

    An argument inside braces or ``\\left … \\right`` is grouped; one followed
    by ``^`` is a base and must be an atom; one at the top level follows the
    operator's precedence as in text.
    """
    prim = PRIMITIVES[op]
    markers = ("\x00a\x00", "\x00b\x00")[:max(prim.arity, 1)]
    text = prim.latex.format(**dict(zip(("a", "b"), markers)))
    parts: list[str | Slot] = []
    depth = 0
    literal = ""
    i = 0
    while i < len(text):
        marker = next((m for m in markers if text.startswith(m, i)), None)
        if marker is None:
            if text.startswith("\\left", i):
                depth += 1
            elif text.startswith("\\right", i):
                depth -= 1
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            literal += text[i]
            i += 1
            continue
        k = markers.index(marker)
        after = text[i + len(marker):]
        if after.startswith("^"):
            slot = Slot(k, ATOM)
        elif depth > 0:
            slot = Slot(k, grouped=True)
        else:
            strict = (k == 0) == prim.right_associative or prim.arity == 1
            slot = Slot(k, prim.precedence, strict=strict,
                        juxtaposed=k == 1 and literal.endswith(" ") and not literal.strip())
        if literal and not slot.juxtaposed:  # a juxtaposed slot prints its own space
            parts.append(literal)
        parts.append(slot)
        literal = ""
        i += len(marker)
    if literal:
        parts.append(literal)
    return tuple(parts)


@lru_cache(maxsize=None)
def _latex_superscripted(op: str) -> bool:
    # e^{x} or x^{2} cannot take another superscript without parentheses.
    template = latex_template(op)
    depth = 0
    for part in template:
        if isinstance(part, str):
            for ch in part:
                depth += {"{": 1, "}": -1}.get(ch, 0)
                if ch == "^" and depth == 0:
                    return True
    return False


@lru_cache(maxsize=1)
def _loosest_precedence() -> int:
    return min(p.precedence for p in PRIMITIVES.values() if p.symbol)


# ----- Planning: which entries are printed as let-bindings -----

def _plan(tape: Tape, output: int, fixed: dict[int, str] | None = None,
          reserved: Iterable[str] = ()) -> tuple[list[int], dict[int, str]]:
    """The entries to bind, in tape order, and the name of each.

    Entries in ``fixed`` are printed as given, so they are never bound; no
    binding takes a name in ``reserved``."""
    uses = [0] * len(tape)
    uses[output] = 1
    for i in range(output, -1, -1):
        if uses[i] and not (fixed and i in fixed):
            for j in tape.args[i]:
                uses[j] += 1
    taken = (set(tape.variables) | set(CONSTANTS) | set(callable_names())
             | set(reserved))
    bound = [i for i in range(output) if uses[i] > 1 and tape.args[i]
             and not (fixed and i in fixed)]
    names: dict[int, str] = {}
    for i in bound:  # an entry that carries its let-bound name keeps it
        label = tape.labels[i]
        if label and label not in taken:
            names[i] = label
            taken.add(label)
    counter = 0
    for i in bound:
        if i in names:
            continue
        counter += 1
        while f"u{counter}" in taken:
            counter += 1
        names[i] = f"u{counter}"
    return bound, names


class _Style:
    """How atoms, names and parentheses look in one output language."""

    open_paren = "("
    close_paren = ")"

    writes_options = True

    def template(self, op: str) -> Template:
        return text_template(op)

    def entry_template(self, tape: Tape, i: int) -> Template:
        """How entry ``i`` prints: its primitive's template, in most styles."""
        return self.template(tape.ops[i])

    def variable(self, name: str) -> str:
        return name

    def constant(self, value: float, label: str | None) -> str:
        return label or format_number(value)

    def precedence(self, tape: Tape, i: int) -> int:
        op = tape.ops[i]
        if op == CONST:
            return _NEGATIVE if tape.labels[i] is None and _negative(tape.consts[i]) else ATOM
        if op == VAR:
            return ATOM
        prim = PRIMITIVES[op]
        return prim.precedence if prim.symbol else ATOM

    def binding(self, name: str, body: str) -> str:
        return f"{name} = {body}"

    def join(self, lines: list[str]) -> str:
        return "; ".join(lines)


class _LatexStyle(_Style):
    open_paren = r"\left("
    close_paren = r"\right)"
    writes_options = False  # the LaTeX templates read as the whole reduction

    def template(self, op: str) -> Template:
        return latex_template(op)

    def entry_template(self, tape: Tape, i: int) -> Template:
        op = tape.ops[i]
        if op == _SUBSCRIPT and i < len(tape.options) and tape.options[i]:
            return (Slot(0, ATOM), "_{" + ",".join(str(k) for k in tape.options[i]) + "}")
        if op == _ARRAY_LITERAL:  # every element, not the table's one-slot template
            parts: list[str | Slot] = [r"\left["]
            for k in range(len(tape.args[i])):
                parts.extend([", "] if k else [])
                parts.append(Slot(k, grouped=True))
            return (*parts, r"\right]")
        return super().entry_template(tape, i)

    def variable(self, name: str) -> str:
        # theta_1 and x1 are \theta_{1} and x_{1}; speed is \mathrm{speed}.
        digits = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
        base, _, rest = (digits.group(1), "", digits.group(2)) if digits else name.partition("_")
        base = f"\\{base}" if base in _GREEK else (
            base if len(base) == 1 else rf"\mathrm{{{base}}}")
        return f"{base}_{{{rest}}}" if rest else base

    def constant(self, value: float, label: str | None) -> str:
        if label:
            return r"\pi" if label == "pi" else label
        return latex_number(value)

    def precedence(self, tape: Tape, i: int) -> int:
        op = tape.ops[i]
        if op not in (VAR, CONST) and _latex_superscripted(op):
            return PRIMITIVES["pow"].precedence
        return super().precedence(tape, i)

    def join(self, lines: list[str]) -> str:
        return " \\\\\n".join(lines)


# The precedence of a product; matrix notation writes several operations as one.
_PRODUCT = PRIMITIVES["mul"].precedence
# ⊙ binds looser than the matrix product it stands beside (``W^⊤ δ ⊙ g`` is
# ``(W^⊤ δ) ⊙ g``) and tighter than a sum.
_HADAMARD = (PRIMITIVES["add"].precedence + _PRODUCT) / 2
# A number written as a product (1ᵀt, aᵀb) is parenthesized as a factor: (1ᵀt) 1.
_SCALAR_PRODUCT = (_HADAMARD + _PRODUCT) / 2


class _MatrixLatexStyle(_LatexStyle):
    """LaTeX in matrix notation, for a tape whose entry shapes are known.

    An elementwise product of arrays is ``a \\odot b`` (juxtaposition is the
    matrix product); ``sum`` is a product with ones (``\\mathbf{1}^\\top t``, and
    ``A^\\top \\mathbf{1}`` for the column sums), ``outer(a, b)`` is ``a b^\\top``,
    ``dot(a, b)`` is ``a^\\top b`` and ``solve(A, b)`` is ``A^{-1} b``, each
    parenthesized as the product it is."""

    def __init__(self, shapes: list[tuple[int, ...]]) -> None:
        self.shapes = shapes

    def _form(self, tape: Tape, i: int) -> tuple[Template, int] | None:
        op = tape.ops[i]
        if op in (VAR, CONST) or i >= len(self.shapes):
            return None
        ranks = [len(self.shapes[j]) for j in tape.args[i]]
        options = tape.options[i] if i < len(tape.options) else ()
        product = Slot(1, _PRODUCT, strict=True, juxtaposed=True)
        if op == "mul" and all(ranks):
            return (Slot(0, _HADAMARD), r" \odot ", Slot(1, _HADAMARD, strict=True)), _HADAMARD
        if op == "ones_like":
            return (r"\mathbf{1}",), ATOM
        if op == "eye":
            return ("I",), ATOM
        if op == "sum":
            rank = ranks[0]
            if rank == 2 and tuple(options) == (0,):
                return (Slot(0, ATOM), r"^{\top} \mathbf{1}"), _PRODUCT
            if rank == 1 and tuple(options) in ((), (0,)):
                return ((r"\mathbf{1}^{\top}", Slot(0, _PRODUCT, strict=True, juxtaposed=True)),
                        _SCALAR_PRODUCT)
            if rank == 2 and not options:
                return ((r"\mathbf{1}^{\top}", Slot(0, _PRODUCT, strict=True, juxtaposed=True),
                         r" \mathbf{1}"), _SCALAR_PRODUCT)
            axis = rf"_{{\text{{axis }} {options[0]}}}" if options else ""
            return (rf"\sum{axis} ", Slot(0, ATOM)), _PRODUCT
        if op == "mean":
            axis = rf"_{{\text{{axis }} {options[0]}}}" if options else ""
            return (rf"\operatorname{{mean}}{axis}\left(", Slot(0, grouped=True),
                    r"\right)"), ATOM
        if op in ("amax", "amin"):
            word = r"\max" if op == "amax" else r"\min"
            return (rf"{word}\left(", Slot(0, grouped=True), r"\right)"), ATOM
        if op == "logsumexp":
            return (r"\operatorname{logsumexp}\left(", Slot(0, grouped=True), r"\right)"), ATOM
        if op == "outer":
            return (Slot(0, _PRODUCT), Slot(1, ATOM, juxtaposed=True), r"^{\top}"), _PRODUCT
        if op == "dot" and ranks == [1, 1]:
            return (Slot(0, ATOM), r"^{\top}", product), _SCALAR_PRODUCT
        if op == "solve":
            return (Slot(0, ATOM), r"^{-1}", product), _PRODUCT
        return None

    def entry_template(self, tape: Tape, i: int) -> Template:
        form = self._form(tape, i)
        return form[0] if form else super().entry_template(tape, i)

    def precedence(self, tape: Tape, i: int) -> int:
        form = self._form(tape, i)
        return form[1] if form else super().precedence(tape, i)


def _negative(value: float) -> bool:
    return value < 0 or (value == 0 and math.copysign(1.0, value) < 0)


# ----- Printing -----

def to_text(tape: Tape, output: int | None = None, verbatim: dict[int, str] | None = None,
            reserved: Iterable[str] = ()) -> str:
    """``output`` (default: the tape's) as chaincli syntax that parses back.

    An entry in ``verbatim`` below the output is printed as the text given
    (an atom: it is never put in parentheses), and no let-binding the printer
    introduces takes a name in ``reserved``."""
    return _print(tape, tape.output if output is None else output, _Style(), verbatim,
                  reserved)


def to_latex(tape: Tape, output: int | None = None, verbatim: dict[int, str] | None = None,
             reserved: Iterable[str] = (), shapes: list[tuple[int, ...]] | None = None) -> str:
    """``output`` as LaTeX math (no surrounding ``$``); the options as for ``to_text``.

    With ``shapes`` (each entry's), in matrix notation: ``a \\odot b``,
    ``\\mathbf{1}^\\top t``, ``a b^\\top`` (``_MatrixLatexStyle``)."""
    style = _LatexStyle() if shapes is None else _MatrixLatexStyle(shapes)
    return _print(tape, tape.output if output is None else output, style, verbatim, reserved)


def latex_name(name: str) -> str:
    """A variable or bound name as LaTeX: ``x1`` is ``x_{1}``, ``theta`` is ``\\theta``."""
    return _LatexStyle().variable(name)


def binding_names(tape: Tape, output: int | None = None) -> dict[int, str]:
    """The entries the printer binds as ``u1 = …;`` (or by their let-name), named."""
    return _plan(tape, tape.output if output is None else output)[1]


def bindings_text(tape: Tape) -> list[tuple[str, str]]:
    """The let-bindings ``to_text`` prints, in order: each name and its body."""
    bound, names = _plan(tape, tape.output)
    style = _Style()
    shown = {i: style.variable(name) for i, name in names.items()}
    return [(names[i], _expression(tape, i, shown, style)) for i in bound]


def _print(tape: Tape, output: int, style: _Style, verbatim: dict[int, str] | None = None,
           reserved: Iterable[str] = ()) -> str:
    bound, names = _plan(tape, output, verbatim, reserved)
    # A bound name prints like a variable: u1 is u_{1}, speed is \mathrm{speed}.
    shown = {i: style.variable(name) for i, name in names.items()}
    if verbatim:
        shown.update(verbatim)
    lines = [style.binding(shown[i], _expression(tape, i, shown, style)) for i in bound]
    lines.append(_expression(tape, output, shown, style))
    return style.join(lines)


def _expression(tape: Tape, root: int, shown: dict[int, str], style: _Style) -> str:
    """The text of entry ``root``; bound entries below it appear by name."""
    pieces: list[str] = []
    # Work items: a literal string, or (entry, slot) to print in that slot.
    stack: list[str | tuple[int, Slot | None]] = [(root, None)]
    starts_with_digit: dict[int, bool] = {}
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            pieces.append(item)
            continue
        i, slot = item
        # The root of a binding's body is expanded; below it, bound entries are names.
        named = slot is not None and i in shown
        parens = not named and _needs_parens(style.precedence(tape, i), slot)
        if slot is not None and slot.juxtaposed and not named and not parens:
            # x (-y), not x -y: a minus after a juxtaposition reads as a subtraction.
            parens = tape.ops[i] == _NEGATION or (tape.ops[i] == CONST and tape.labels[i] is None
                                                  and _negative(tape.consts[i]))
        if slot is not None and slot.juxtaposed:
            digit = not named and not parens and _starts_with_digit(
                tape, i, shown, style, starts_with_digit)
            pieces.append(r" \cdot " if digit else " ")
        op = tape.ops[i]
        if named:
            pieces.append(shown[i])
            continue
        if op == VAR:
            pieces.append(style.variable(tape.labels[i]))
            continue
        if op == CONST:
            pieces.append(_wrap(style.constant(tape.consts[i], tape.labels[i]), style, parens))
            continue
        todo: list[str | tuple[int, Slot | None]] = []
        if parens:
            todo.append(style.open_paren)
        template = style.entry_template(tape, i)
        if op == _ARRAY_LITERAL and style.writes_options:
            template = _array_template(len(tape.args[i]))
        if i < len(tape.options) and tape.options[i] and style.writes_options:
            template = _with_options(template, op, tape.options[i])
        for part in template:
            if isinstance(part, str):
                todo.append(part)
            else:
                todo.append((tape.args[i][part.argument], part))
        if parens:
            todo.append(style.close_paren)
        stack.extend(reversed(todo))
    return "".join(pieces)


def _with_options(template: Template, op: str, options: tuple[int, ...]) -> Template:
    """A call's template with its whole-number options written as its last
    arguments (``sum(x, 0)``, ``eye(3)``); a subscript's as ``A[1, 2]``."""
    written = ", ".join(str(k) for k in options)
    if op == _SUBSCRIPT:
        return (Slot(0, ATOM), f"[{written}]")
    if template[-1] != ")":
        return template
    separator = ", " if PRIMITIVES[op].arity else ""
    return (*template[:-1], f"{separator}{written})")


def _needs_parens(precedence: int, slot: Slot | None) -> bool:
    if slot is None or slot.grouped:
        return False
    return precedence < slot.precedence or (precedence == slot.precedence and slot.strict)


def _wrap(text: str, style: _Style, parens: bool) -> str:
    return f"{style.open_paren}{text}{style.close_paren}" if parens else text


def _starts_with_digit(tape: Tape, i: int, shown: dict[int, str], style: _Style,
                       memo: dict[int, bool]) -> bool:
    """Whether the LaTeX of entry ``i`` in a juxtaposition begins with a digit.

    Follows the leftmost argument down (a loop, not recursion) while the
    template starts with it and it needs no parentheses.
    """
    path = []
    answer = False
    while True:
        if i in memo:
            answer = memo[i]
            break
        path.append(i)
        op = tape.ops[i]
        if i in shown or op == VAR:
            break
        if op == CONST:
            answer = tape.labels[i] is None and not _negative(tape.consts[i])
            break
        first = style.entry_template(tape, i)[0]
        if not isinstance(first, Slot):
            break
        child = tape.args[i][first.argument]
        if _needs_parens(style.precedence(tape, child), first):
            break
        i = child
    for j in path:
        memo[j] = answer
    return answer
