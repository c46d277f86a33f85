"""The gradient of a tensor expression as a matrix formula: ``2*X'@(X@w - y)``.

``diff`` of a scalar expression runs a forward sweep of formulas
(``symbolic``). A tensor expression's gradient is built the way ``grad``
computes it: one reverse sweep from the output down, where each adjoint is a
formula (an entry of an ``ExpressionBuilder`` tape) instead of an array. The
rule at each node is the one the backward-pass table prints, from the
primitive table: a tensor primitive's ``vjp_formulas`` with ``a``, ``b``,
``out`` and ``δ`` instantiated on the node's arguments, its value and the
adjoint arriving; an elementwise primitive's ``partial_formulas`` as
``δ*partial``, summed back over the axes its argument was broadcast along
(``sum(…, 0)`` for a bias). There is no second set of rules here: what this
module adds is only algebra that holds whatever the rule, the simplifications
a textbook makes (``(A')' = A``, a vector's transpose is itself, a product
with ``ones_like`` of the same shape drops it, ``(t/s)*s = t``).

The shapes come from the point (only its shapes are read), so the formula
is written for them and has exactly the variable's shape. A VJP the table
writes in words (indexing, ``amax``, a convolution's options) has no formula
form, and the gradient through it is refused with that reason.

Everything walks tapes in order with loops; nothing recurses on the depth of
the input.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from ..base.errors import UsageError
from ..base.shapes import shape_text
from ..engine.tensor.sweeps import broadcast_shapes, shapes as entry_shapes_at
from ..language.parser import parse
from ..primitives import PRIMITIVES
from ..symbolic import FORMULA_ARGUMENTS, ExpressionBuilder, partial_template
from ..tape import CONST, VAR, Tape, depends_on_variables, lower, reaches_output

Shape = tuple[int, ...]

# The names a VJP formula is written in; δ is not a chaincli name, so the
# adjoint is read under one that no user formula reaches.
ADJOINT = "_adjoint"


class Refusal(UsageError):
    """A gradient with no formula form here; the message says which node and why."""


@lru_cache(maxsize=None)
def vjp_template(text: str) -> Tape | None:
    """A VJP formula parsed into a template tape, or None when it is prose."""
    try:
        return lower(parse(text.replace("δ", ADJOINT)))
    except Exception:  # a formula in words ("δ at the index, 0 elsewhere")
        return None


def _word_substitute(text: str, name: str, value: str) -> str:
    import re
    return re.sub(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_(])", value, text)


class TensorExpressionBuilder(ExpressionBuilder):
    """An ``ExpressionBuilder`` that knows each entry's shape and simplifies
    the matrix algebra the reverse sweep produces."""

    def __init__(self, variable_shapes: Mapping[str, Shape]) -> None:
        super().__init__()
        self._variable_shapes = dict(variable_shapes)
        self._shapes: list[Shape] = []

    # ----- Shapes -----

    def declare(self, name: str, shape: Shape) -> None:
        """A variable of this shape, for a name the expression does not have."""
        self._variable_shapes[name] = tuple(shape)

    def variable_shape(self, name: str) -> Shape:
        return self._variable_shapes[name]

    def shapes_so_far(self) -> list[Shape]:
        """The shape of every entry built so far."""
        if len(self.tape):
            self.shape(len(self.tape) - 1)
        return list(self._shapes)

    def shape(self, i: int) -> Shape:
        tape = self.tape
        for k in range(len(self._shapes), len(tape)):
            op = tape.ops[k]
            if op == VAR:
                shape = tuple(self._variable_shapes.get(tape.labels[k], ()))
            elif op == CONST:
                shape = ()
            else:
                prim = PRIMITIVES[op]
                argument_shapes = [self._shapes[j] for j in tape.args[k]]
                shape = (broadcast_shapes(argument_shapes) if prim.elementwise
                         else tuple(prim.shape(argument_shapes, tape.options[k])))
            self._shapes.append(shape)
        return self._shapes[i]

    # ----- Operations -----

    def entry(self, op: str, args: tuple[int, ...], options: tuple[int, ...] = ()) -> int:
        """``op(*args)`` with static options (``sum(x, 0)``, ``eye(3)``)."""
        if op == "sum" and tuple(options) == (0,):
            diagonal = _diagonal_of(self, args[0])
            if diagonal is not None:
                return diagonal  # the column sums of diag(v) are v
        if options:
            return self.tape_builder.operation(op, tuple(args), None, tuple(options))
        return self.apply(op, args)

    def apply(self, op: str, args) -> int:
        args = tuple(args)
        rule = _TENSOR_RULES.get(op)
        if rule is not None:
            simpler = rule(self, *args)
            if simpler is not None:
                return simpler
        if not PRIMITIVES[op].elementwise:  # the scalar folding reads scalar values
            return self.tape_builder.operation(op, args, None)
        return super().apply(op, args)

    def copy_entry(self, source: Tape, i: int, image: list,
                   arguments: dict[str, int] | None = None) -> int:
        """As the scalar builder copies an entry, with its static options kept."""
        if i < len(source.options) and source.options[i]:
            return self.entry(source.ops[i], tuple(image[j] for j in source.args[i]),
                              source.options[i])
        return super().copy_entry(source, i, image, arguments)


# ----- Simplification rules for tensors -----
# Each returns an equivalent entry, or None to leave the operation to the
# scalar rules (which hold elementwise as they are).

def _is_zero(b: TensorExpressionBuilder, i: int) -> bool:
    return b.is_value(i, 0.0)


def _transpose(b: TensorExpressionBuilder, x: int) -> int | None:
    inner = b.match(x, "transpose")
    if inner:
        return inner[0]
    if len(b.shape(x)) <= 1:
        return x
    negated = b.match(x, "neg")
    if negated:
        return b.apply("neg", (b.apply("transpose", negated),))
    for op in ("add", "sub"):  # (P + Q)' is P' + Q'
        terms = b.match(x, op)
        if terms and all(len(b.shape(j)) == 2 for j in terms):
            return b.apply(op, tuple(b.apply("transpose", (j,)) for j in terms))
    return None


def _product(b: TensorExpressionBuilder, x: int, y: int) -> int | None:
    if _is_zero(b, x) or _is_zero(b, y):
        return b.constant(0.0)
    for side, other, first in ((x, y, True), (y, x, False)):
        negated = b.match(side, "neg")
        if negated:
            inner = (negated[0], other) if first else (other, negated[0])
            return b.apply("neg", (b.apply("matmul", inner),))
        if b.is_number(side):  # c @ A is c*A only for a scalar c, which @ refuses
            return None
        scaled = b.match(side, "mul")
        if scaled and b.is_number(scaled[0]):
            inner = (scaled[1], other) if first else (other, scaled[1])
            return b.apply("mul", (scaled[0], b.apply("matmul", inner)))
    for side, other in ((x, y), (y, x)):  # A@I and I@A are A
        if b.match(side, "eye") is not None and len(b.shape(other)) == 2:
            return other
    scaling = _diagonal_of(b, x)
    if scaling is not None:
        inner = _diagonal_of(b, y)
        if inner is not None:  # diag(a)@diag(c) is diag(a*c)
            return b.apply("diag", (b.apply("mul", (scaling, inner)),))
        product = b.match(y, "matmul")
        if product and _diagonal_of(b, product[0]) is not None:  # diag(a)@(diag(c)@M)
            merged = b.apply("diag", (b.apply("mul", (scaling, _diagonal_of(b, product[0]))),))
            return b.apply("matmul", (merged, product[1]))
        for op in ("add", "sub"):  # diag(a)@(I - r), r a row broadcast, is diag(a) - outer(a, r)
            terms = b.match(y, op)
            if (terms and b.match(terms[0], "eye") is not None
                    and len(b.shape(terms[1])) == 1):
                return b.apply(op, (x, b.apply("outer", (scaling, terms[1]))))
    if len(b.shape(x)) == 1 and len(b.shape(y)) == 2:
        return b.apply("matmul", (b.apply("transpose", (y,)), x))  # x@A is A'@x
    return None


def _sum_of_products(b: TensorExpressionBuilder, x: int, y: int, op: str) -> int | None:
    """``P@r ± Q@r`` as ``(P ± Q)@r`` and ``l@P ± l@Q`` as ``l@(P ± Q)``."""
    left, right = b.match(x, "matmul"), b.match(y, "matmul")
    if not left or not right:
        return None
    if left[1] == right[1] and b.shape(left[0]) == b.shape(right[0]):
        return b.apply("matmul", (b.apply(op, (left[0], right[0])), left[1]))
    if left[0] == right[0] and b.shape(left[1]) == b.shape(right[1]):
        return b.apply("matmul", (left[0], b.apply(op, (left[1], right[1]))))
    return None


def _elementwise_product(b: TensorExpressionBuilder, x: int, y: int) -> int | None:
    for side, other in ((x, y), (y, x)):
        ones = b.match(side, "ones_like")
        if ones and broadcast_shapes([b.shape(side), b.shape(other)]) == b.shape(other):
            return other
        quotient = b.match(other, "div")
        if quotient and quotient[1] == side:  # (t/s)*s is t
            return quotient[0]
        for op in ("sub", "add"):  # s*(p - t/s) is s*p - t
            terms = b.match(other, op)
            if terms:
                quotient = b.match(terms[1], "div")
                if quotient and quotient[1] == side:
                    return b.apply(op, (b.apply("mul", (side, terms[0])), quotient[0]))
    return None


def _reduce(b: TensorExpressionBuilder, x: int) -> int | None:
    if _is_zero(b, x):
        return x
    negated = b.match(x, "neg")
    if negated:
        return b.apply("neg", (b.apply("sum", negated),))
    return None


def _diagonal_of(b: TensorExpressionBuilder, i: int) -> int | None:
    """``v`` when entry ``i`` is the diagonal matrix ``diag(v)`` of a vector, else None."""
    argument = b.match(i, "diag")
    if argument and len(b.shape(argument[0])) == 1:
        return argument[0]
    return None


def _diagonal(b: TensorExpressionBuilder, v: int) -> int | None:
    """``diag(ones_like(v))`` is ``eye(n)``, and ``diag(c*ones_like(v))`` is ``c*eye(n)``."""
    if len(b.shape(v)) != 1:
        return None
    if b.match(v, "ones_like"):
        return b.entry("eye", (), (b.shape(v)[0],))
    product = b.match(v, "mul")
    if product and not b.shape(product[0]) and b.match(product[1], "ones_like"):
        return b.apply("mul", (product[0], b.entry("eye", (), (b.shape(v)[0],))))
    return None


def _solve(b: TensorExpressionBuilder, a: int, rhs: int) -> int | None:
    """``solve(A, I)`` is ``inv(A)``."""
    if b.match(rhs, "eye") is not None:
        return b.apply("inv", (a,))
    return None


def _inverse(b: TensorExpressionBuilder, a: int) -> int | None:
    """``inv(A')`` is ``inv(A)'``, as the Cookbook writes it."""
    inner = b.match(a, "transpose")
    if inner:
        return b.apply("transpose", (b.apply("inv", inner),))
    return None


def _exponential(b: TensorExpressionBuilder, x: int) -> int | None:
    """``exp(logsoftmax(z))`` is ``softmax(z)``."""
    inner = b.match(x, "logsoftmax")
    if inner:
        return b.apply("softmax", inner)
    return None


def _ones(b: TensorExpressionBuilder, x: int) -> int | None:
    """``ones_like(3*x)`` is ``ones_like(x)``: only the shape is read, so the
    argument is walked down elementwise operations to one of the same shape."""
    shape, start = b.shape(x), x
    while True:
        op = b.tape.ops[x]
        if op in (VAR, CONST) or not PRIMITIVES[op].elementwise:
            break
        same = [j for j in b.tape.args[x] if b.shape(j) == shape]
        if not same:
            break
        x = same[0]
    return None if x == start else b.tape_builder.operation("ones_like", (x,), None)


_TENSOR_RULES = {"ones_like": _ones, "exp": _exponential, "diag": _diagonal, "solve": _solve, "inv": _inverse, "transpose": _transpose, "matmul": _product, "dot": _product,
                 "mul": _elementwise_product, "sum": _reduce,
                 "add": lambda b, x, y: _sum_of_products(b, x, y, "add"),
                 "sub": lambda b, x, y: _difference(b, x, y)}


def _difference(b: TensorExpressionBuilder, x: int, y: int) -> int | None:
    if x == y and b.shape(x):  # T - T is zero of T's shape, which the scalar 0 is not
        return b.tape_builder.operation("sub", (x, y), None)
    return _sum_of_products(b, x, y, "sub")


# ----- The reverse sweep of formulas -----

def gradient_formula(tape: Tape, shapes: list[Shape], wrt: str) -> Tape:
    """The tape of ``∂output/∂wrt`` for a scalar ``output``, at these entry shapes."""
    b = TensorExpressionBuilder(variable_shapes_of(tape, shapes))
    needed = reaches_output(tape)
    image: list[int | None] = [None] * len(tape)
    for i in range(tape.output + 1):
        if needed[i]:
            image[i] = b.copy_entry(tape, i, image)
    wanted = depends_on_variables(tape, {wrt})
    adjoint: list[int | None] = [None] * len(tape)
    adjoint[tape.output] = b.constant(1.0)
    for i in range(tape.output, -1, -1):
        if adjoint[i] is None or tape.ops[i] in (VAR, CONST):
            continue
        for k, j in enumerate(tape.args[i]):
            if not wanted[j]:
                continue
            term = contribution(b, tape, shapes, image, adjoint[i], i, k)
            if _is_zero(b, term):
                continue
            adjoint[j] = term if adjoint[j] is None else b.apply("add", (adjoint[j], term))
    index = tape.variable_index[wrt]
    result = adjoint[index]
    target = tuple(shapes[index])
    if result is None:
        result = b.constant(0.0)
    if b.shape(result) != target:
        if broadcast_shapes([b.shape(result), target]) != target:
            raise AssertionError(f"gradient formula of shape {b.shape(result)}, not {target}")
        # A constant gradient, written with its variable's shape.
        result = b.tape_builder.operation(
            "mul", (result, b.tape_builder.operation("ones_like", (image[index],), None)), None)
    return b.finish(result)


def contribution(b: TensorExpressionBuilder, tape: Tape, shapes: list[Shape],
                  image: list, node_adjoint: int, i: int, k: int) -> int:
    """The adjoint that node ``i`` passes to its argument ``k``, from the table."""
    op = tape.ops[i]
    prim = PRIMITIVES[op]
    args = tape.args[i]
    if prim.elementwise:
        arguments = dict(zip(FORMULA_ARGUMENTS, (image[j] for j in args)))
        partial = b.copy(partial_template(op, k), arguments)
        term = b.apply("mul", (node_adjoint, partial))
        return _unbroadcast(b, term, tuple(shapes[i]), tuple(shapes[args[k]]), tape, i)
    ranks = tuple(len(shapes[j]) for j in args)
    text = prim.vjp_formulas(ranks)[k]
    # n in a formula is the size the rule divides by or the identity's order.
    if op == "trace":
        text = _word_substitute(text, "n", str(shapes[args[0]][0]))
    elif op == "mean":
        count = _size(shapes[args[0]]) // max(_size(shapes[i]), 1)
        text = _word_substitute(text, "n", str(count))
    if vjp_template(text) is None:
        raise Refusal(f"the gradient through {_name(tape, i)} has no formula form: the VJP "
                      f"of {op} is written in words, “{text}”", hint="chaincli grad computes it")
    _check_formula_form(tape, shapes, i, text)
    template = vjp_template(text)
    arguments = dict(zip(FORMULA_ARGUMENTS, (image[j] for j in args)))
    arguments["out"] = image[i]
    arguments[ADJOINT] = node_adjoint
    return b.copy(template, arguments)


def _check_formula_form(tape: Tape, shapes: list[Shape], i: int, text: str) -> None:
    """Refuse a node whose table formula does not cover its options or ranks."""
    op = tape.ops[i]
    options = tape.options[i]
    a_shape = shapes[tape.args[i][0]] if tape.args[i] else ()
    if op in ("sum", "mean") and options and options[0] % max(len(a_shape), 1) != 0:
        raise Refusal(f"the gradient through {_name(tape, i)} has no formula form: "
                      f"{op} along axis {options[0]} spreads its adjoint along a later axis, "
                      "which the formula δ*ones_like(a) does not", hint="chaincli grad "
                      "computes it; sum(A', 0) sums a matrix's rows as a formula can")
    if op in ("softmax", "logsoftmax", "logsumexp") and len(a_shape) > 1:
        raise Refusal(f"the gradient through {_name(tape, i)} has no formula form: the VJP "
                      f"of {op} “{text}” is written for a vector, and this is a matrix",
                      hint="chaincli grad computes it")
    if options and op not in ("sum", "mean", "eye"):
        raise Refusal(f"the gradient through {_name(tape, i)} has no formula form: the VJP "
                      f"of {op} “{text}” does not carry its options",
                      hint="chaincli grad computes it")


def _unbroadcast(b: TensorExpressionBuilder, term: int, node: Shape, shape: Shape,
                 tape: Tape, i: int) -> int:
    """``term`` summed back over the axes the argument was broadcast along."""
    if shape == node or _is_zero(b, term):
        return term
    if not shape:
        return b.apply("sum", (term,))
    for _ in range(len(node) - len(shape)):
        term = b.entry("sum", (term,), (0,))
    if node[len(node) - len(shape):] != shape:
        raise Refusal(f"the gradient through {_name(tape, i)} has no formula form: it "
                      "broadcasts a length-1 axis, whose adjoint sum(…, axis) with "
                      "the axis kept chaincli does not write", hint="chaincli grad computes it")
    return term


def _size(shape: Shape) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


def _name(tape: Tape, i: int) -> str:
    text = tape.source_text(i)
    return text if text else tape.name(i)


# ----- The Hessian of a vector variable as a matrix formula -----

# The direction the Hessian is applied to; a leading underscore keeps it out
# of reach of every user name, and it never appears in the printed formula.
_DIRECTION = "_direction"


def hessian_formula(tape: Tape, shapes: list[Shape], wrt: str) -> Tape:
    """The tape of ``∂²output/∂wrt²`` for a vector ``wrt``: an n×n matrix formula.

    The gradient ``g`` is a formula (``gradient_formula``); the reverse sweep
    of ``sum(g*v)`` for a direction ``v`` gives ``H'@v``, a formula linear in
    ``v`` built from the same rules, and the matrix is read off it: ``v`` is
    ``eye(n)``, ``A@f`` is ``A@F``, ``c*f`` is ``diag(c)@F`` and so on. A
    piece with no such reading (a matrix linear in ``v``, which needs three
    axes) is refused with a pointer at ``hessian``.
    """
    target = tuple(shapes[tape.variable_index[wrt]])
    if len(target) != 1:
        raise Refusal(f"the second derivative by {wrt}, of shape {shape_text(target)}, "
                      f"has {2 * len(target)} axes; a matrix formula has two",
                      hint="chaincli hessian computes it at a point, element by element")
    gradient = gradient_formula(tape, shapes, wrt)
    variable_shapes = variable_shapes_of(tape, shapes)
    variable_shapes[_DIRECTION] = target
    b = TensorExpressionBuilder(variable_shapes)
    g = b.copy(gradient)
    directional = b.apply("sum", (b.apply("mul", (g, b.variable(_DIRECTION))),))
    along = b.finish(directional)
    if wrt not in along.variables:  # the gradient is constant
        return _zero_matrix(variable_shapes, target[0])
    applied = gradient_formula(along, _entry_shapes(along, variable_shapes), wrt)
    return _matrix_of(applied, variable_shapes, target[0])


def _zero_matrix(variable_shapes: Mapping[str, Shape], n: int) -> Tape:
    b = TensorExpressionBuilder(variable_shapes)
    return b.finish(b.tape_builder.operation("mul", (b.constant(0.0), b.entry("eye", (), (n,))),
                                             None))


def formula_shapes(tape: Tape, variable_shapes: Mapping[str, Shape]) -> list[Shape]:
    """The shape of every entry of a formula over these variables (for its LaTeX)."""
    return _entry_shapes(tape, variable_shapes)


def _entry_shapes(tape: Tape, variable_shapes: Mapping[str, Shape]) -> list[Shape]:
    return [tuple(s) for s in entry_shapes_at(tape, {name: variable_shapes[name]
                                                     for name in tape.variables})]


def variable_shapes_of(tape: Tape, shapes: list[Shape]) -> dict[str, Shape]:
    return {tape.labels[i]: tuple(shapes[i]) for i in range(len(tape)) if tape.ops[i] == VAR}


def _matrix_of(tape: Tape, variable_shapes: Mapping[str, Shape], n: int) -> Tape:
    """The matrix ``M`` with ``tape = M@v``, for a tape linear in the direction ``v``.

    Each entry that depends on ``v`` is read as the matrix of its linear map
    (a row vector for a scalar entry); the others are copied as they are."""
    b = TensorExpressionBuilder(variable_shapes)
    linear = depends_on_variables(tape, {_DIRECTION})
    if not linear[tape.output]:  # the gradient is constant
        return _zero_matrix(variable_shapes, n)
    needed = reaches_output(tape)
    image: list[int | None] = [None] * len(tape)
    matrix: list[int | None] = [None] * len(tape)
    for i in range(tape.output + 1):
        if not needed[i]:
            continue
        if not linear[i]:
            image[i] = b.copy_entry(tape, i, image)
            continue
        if tape.ops[i] == VAR:
            matrix[i] = b.entry("eye", (), (n,))
            continue
        matrix[i] = _linear_map(b, tape, i, image, matrix, linear)
    return b.finish(matrix[tape.output])


def _linear_map(b: TensorExpressionBuilder, tape: Tape, i: int, image: list,
                matrix: list, linear: list[bool]) -> int:
    op, args = tape.ops[i], tape.args[i]
    rank = [len(b.shape(matrix[j] if linear[j] else image[j])) - (1 if linear[j] else 0)
            for j in args]  # the rank of each argument's value
    maps = [matrix[j] for j in args]
    fixed = [image[j] for j in args]
    both = all(linear[j] for j in args)
    if op in ("neg", "transpose") and rank[0] <= 1:
        return maps[0] if op == "transpose" else b.apply("neg", (maps[0],))
    if op in ("add", "sub") and both:
        if rank[0] > 1 or rank[1] > 1:
            raise _three_axes(tape, i)
        return b.apply(op, (maps[0], maps[1]))  # a scalar's row broadcasts over rows
    if op == "sum" and not tape.options[i] and rank[0] <= 1:
        return maps[0] if rank[0] == 0 else b.entry("sum", (maps[0],), (0,))
    if op in ("mul", "div") and not both:
        k = 0 if linear[args[0]] else 1
        if op == "div" and k == 1:
            raise _three_axes(tape, i, "it divides by the direction")
        factor, f_rank, c_rank = fixed[1 - k], rank[k], rank[1 - k]
        if op == "div":
            factor = b.apply("div", (b.constant(1.0), factor))
        if c_rank == 0:
            return b.apply("mul", (factor, maps[k]))
        if c_rank == 1 and f_rank == 0:
            return b.apply("outer", (factor, maps[k]))
        if c_rank == 1 and f_rank == 1:
            return b.apply("matmul", (b.apply("diag", (factor,)), maps[k]))
    if op in ("matmul", "dot") and not both:
        k = 0 if linear[args[0]] else 1
        c = fixed[1 - k]
        if rank[k] == 1 and rank[1 - k] == 2:
            c = c if k == 1 else b.apply("transpose", (c,))  # f@C is C'@f
            return b.apply("matmul", (c, maps[k]))
        if rank[k] == 1 and rank[1 - k] == 1:
            return b.apply("matmul", (b.apply("transpose", (maps[k],)), c))
    if op == "solve" and not linear[args[0]] and rank[1] == 1:
        return b.apply("solve", (fixed[0], maps[1]))
    raise _three_axes(tape, i)


def _three_axes(tape: Tape, i: int, why: str = "") -> Refusal:
    reason = why or (f"a piece of its derivation, {tape.ops[i]}, is a matrix that moves with "
                     "the variable, and its derivative has three axes")
    return Refusal(f"the Hessian has no matrix formula here: {reason}",
                   hint="chaincli hessian computes it at a point, element by element")

