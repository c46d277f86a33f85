"""The primitive table's tensor family: products, reductions, softmax, indexing.

Elementwise primitives (primitives/elementwise.py) work on arrays as they are. These do
not: each output element depends on many input elements, so each entry
carries its own rules, written beside its value:

* ``shape(shapes, options)``: the output's shape, or ``ShapeProblem`` with
  the reason; the shape pass runs it over the whole tape before any
  arithmetic, so a mismatch is a usage error with a caret, never a NumPy
  traceback;
* ``vjp(adjoint, args, out, options, wanted)``: the adjoint of each
  argument, for reverse mode (each has its argument's shape; None where
  ``wanted`` says nobody needs it, as for a data matrix);
* ``jvp(tangents, args, out, options)``: the output's tangent, for forward
  mode (a tangent of None is zero);
* ``vjp_formulas(ranks)``: the VJP as the backward-pass table prints it, in
  the names ``a``, ``b``, ``out`` and ``δ`` (the adjoint arriving).

``options`` are the whole-number literals a call may add (``sum(A, 1)``) or
the indices of a subscript (``A[1, 2]``), as a tuple. Softmax, log-softmax
and log-sum-exp work along the last axis and subtract its maximum first, so
they never overflow.

NumPy is imported lazily (``np``), so scalar expressions never load it.
"""

from __future__ import annotations

import math

from ..base.shapes import shape_text
from .base import Primitive, ShapeProblem, np

# ----- Shapes -----


def _axis(options: tuple[int, ...], ndim: int, name: str) -> int | None:
    if not options:
        return None
    axis = options[0]
    if not -ndim <= axis < ndim:
        raise ShapeProblem(f"axis {axis} is out of range for an array of "
                           f"{ndim} ax{'is' if ndim == 1 else 'es'}")
    return axis % ndim


def _at_least_vector(name: str, shape: tuple[int, ...]) -> None:
    if len(shape) == 0:
        raise ShapeProblem(f"{name} takes an array, not a scalar")


def _add(x, y):
    if x is None:
        return y
    if y is None:
        return x
    return x + y


# ----- Matrix product: a @ b, dot(a, b) -----

def _matmul_shape(shapes, options):
    a, b = shapes
    if not a or not b:
        raise ShapeProblem(f"shapes {shape_text(a)} and {shape_text(b)}: @ takes vectors "
                           "and matrices; multiply by a scalar with *")
    if len(a) > 2 or len(b) > 2:
        raise ShapeProblem(f"shapes {shape_text(a)} and {shape_text(b)}: @ takes vectors "
                           "and matrices (at most 2 axes)")
    inner_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != inner_b:
        raise ShapeProblem(f"shapes {shape_text(a)} and {shape_text(b)} do not align")
    return a[:-1] + b[1:] if len(b) == 2 else a[:-1]


def _matmul(args, options):
    return np.matmul(args[0], args[1])


def _matmul_vjp(g, args, out, options, wanted=(True, True)):
    a, b = args
    want_a, want_b = wanted
    if a.ndim == 1 and b.ndim == 1:
        return g * b, g * a
    if b.ndim == 1:
        return (np.outer(g, b) if want_a else None), (a.T @ g if want_b else None)
    if a.ndim == 1:
        return (b @ g if want_a else None), (np.outer(a, g) if want_b else None)
    return (g @ b.T if want_a else None), (a.T @ g if want_b else None)


def _matmul_jvp(tangents, args, out, options):
    ta, tb = tangents
    a, b = args
    return _add(None if ta is None else np.matmul(ta, b),
                None if tb is None else np.matmul(a, tb))


def _matmul_formulas(ranks):
    if ranks == (1, 1):
        return ("δ*b", "δ*a")
    if ranks[1] == 1:
        return ("outer(δ, b)", "transpose(a) @ δ")
    if ranks[0] == 1:
        return ("b @ δ", "outer(a, δ)")
    return ("δ @ transpose(b)", "transpose(a) @ δ")


# ----- Outer product and transpose -----

def _outer_shape(shapes, options):
    a, b = shapes
    if len(a) != 1 or len(b) != 1:
        raise ShapeProblem(f"outer takes two vectors, not shapes {shape_text(a)} and "
                           f"{shape_text(b)}")
    return (a[0], b[0])


def _outer_vjp(g, args, out, options, wanted=(True, True)):
    a, b = args
    return g @ b, g.T @ a


def _outer_jvp(tangents, args, out, options):
    (ta, tb), (a, b) = tangents, args
    return _add(None if ta is None else np.outer(ta, b),
                None if tb is None else np.outer(a, tb))


def _transpose_shape(shapes, options):
    return tuple(reversed(shapes[0]))


def _transpose(args, options):
    return np.transpose(args[0])


def _transpose_vjp(g, args, out, options, wanted=(True, True)):
    return (np.transpose(g),)


def _transpose_jvp(tangents, args, out, options):
    return np.transpose(tangents[0])


# ----- ones_like: the constant a gradient formula broadcasts -----
# The adjoint of a sum is its own adjoint copied to every element; written
# as a formula that is δ*ones_like(a), so the formula has a's shape.

def _ones_like_vjp(g, args, out, options, wanted=(True,)):
    return (np.zeros(np.shape(args[0])) if wanted[0] else None,)


def _ones_like_jvp(tangents, args, out, options):
    return np.zeros(np.shape(args[0]))


# ----- Reductions: sum, mean, norm -----

def _reduce_shape(name):
    def shape(shapes, options):
        a = shapes[0]
        axis = _axis(options, len(a), name)
        if axis is None:
            return ()
        return a[:axis] + a[axis + 1:]
    return shape


def _spread(g, shape, options):
    """The adjoint of a reduction, copied back over the axis it reduced: a
    read-only view that repeats each element, as ``np.broadcast_to`` makes it."""
    axis = _axis(options, len(shape), "")
    g = np.asarray(g, dtype=float)
    if axis is not None:
        g = g.reshape(shape[:axis] + (1,) + shape[axis + 1:])
    if not g.flags.c_contiguous or (g.ndim and (g.ndim != len(shape) or any(
            n != 1 and n != m for n, m in zip(g.shape, shape)))):
        return np.broadcast_to(g, shape)  # which refuses shapes that do not fit
    # The view made directly: broadcast_to's Python layers cost more than a
    # small reduction's adjoint.
    strides = (0,) * len(shape) if g.ndim == 0 else tuple(
        0 if n == 1 else stride for n, stride in zip(g.shape, g.strides))
    view = np.ndarray(shape, np.float64, g, 0, strides)
    view.flags.writeable = False
    return view


# The reductions call the ufuncs' own ``reduce``: the arithmetic of ``np.sum``,
# ``np.mean`` and ``np.max`` (the same pairwise sums, the same bits) without
# their Python layers, which cost more than the sum of a small array.

def _sum(args, options):
    return np.add.reduce(args[0], axis=_axis(options, np.ndim(args[0]), "sum"))


def _sum_vjp(g, args, out, options, wanted=(True, True)):
    return (_spread(g, np.shape(args[0]), options),)


def _sum_jvp(tangents, args, out, options):
    return np.sum(tangents[0], axis=_axis(options, np.ndim(args[0]), "sum"))


def _count(args, out):
    return np.size(args[0]) // max(np.size(out), 1)


def _mean(args, options):
    a = args[0]
    axis = _axis(options, np.ndim(a), "mean")
    # np.mean's own steps: the sum, then one division by the count.
    return np.true_divide(np.add.reduce(a, axis=axis), np.size(a) if axis is None
                          else np.shape(a)[axis])


def _mean_vjp(g, args, out, options, wanted=(True, True)):
    return (_spread(g, np.shape(args[0]), options) / _count(args, out),)


def _mean_jvp(tangents, args, out, options):
    return np.mean(tangents[0], axis=_axis(options, np.ndim(args[0]), "mean"))


# Squares of magnitudes between these bounds neither overflow (even summed
# over MAX_ELEMENTS of them) nor lose digits to underflow, so the plain sum of
# squares is exact to rounding there, and ordinary values keep its bits.
_NORM_LOW, _NORM_HIGH = 2.0 ** -480, 2.0 ** 480


def norm_value(a):
    """The 2-norm of ``a``, scaled as ``hypot`` is outside the range where the
    squares are safe: ``norm([1e-200, 0])`` is 1e-200 and ``norm([1e200,
    1e200])`` is finite. ``a`` may be an object array (scalarize); the
    scale is then a constant of the expansion, taken from the elements' values,
    which changes no derivative, as the norm is homogeneous in it."""
    if np.size(a) == 0:
        return np.sqrt(np.sum(a * a))
    high, low = float(np.max(a)), float(np.min(a))
    top = max(high, -low)
    with np.errstate(all="ignore"):
        # An inf or NaN element (an adjoint's summary) makes the norm inf or NaN.
        if top == 0.0 or _NORM_LOW <= top <= _NORM_HIGH or \
                not (math.isfinite(high) and math.isfinite(low)):
            return np.sqrt(np.sum(a * a))
        scaled = a / top
        return np.sqrt(np.sum(scaled * scaled)) * top


def _norm(args, options):
    return norm_value(args[0])


def _norm_vjp(g, args, out, options, wanted=(True, True)):
    if out == 0.0:  # the kink at 0: derivative 0, as abs has
        return (np.zeros(np.shape(args[0])),)
    # a/out first: |a/out| <= 1, where g*a could overflow or underflow.
    return (g * (np.asarray(args[0]) / out),)


def _norm_jvp(tangents, args, out, options):
    if out == 0.0:
        return 0.0
    return np.vdot(np.asarray(args[0]) / out, tangents[0])


def _norm_kink(a) -> str | None:
    if np.any(a):
        return None
    return "norm is not differentiable at 0; its derivative there is taken as 0"


# ----- Softmax, log-softmax, log-sum-exp (along the last axis) -----

def _last_axis_shape(name, keep):
    def shape(shapes, options):
        a = shapes[0]
        _at_least_vector(name, a)
        return a if keep else a[:-1]
    return shape


def _logsumexp_keep(a):
    top = np.maximum.reduce(a, axis=-1, keepdims=True)
    return top + np.log(np.add.reduce(np.exp(a - top), axis=-1, keepdims=True))


def _softmax(args, options):
    a = args[0]
    e = np.exp(a - np.maximum.reduce(a, axis=-1, keepdims=True))
    return e / np.add.reduce(e, axis=-1, keepdims=True)


def _softmax_vjp(g, args, out, options, wanted=(True, True)):
    return (out * (g - np.add.reduce(g * out, axis=-1, keepdims=True)),)


def _softmax_jvp(tangents, args, out, options):
    t = tangents[0]
    return out * (t - np.sum(out * t, axis=-1, keepdims=True))


def _logsoftmax(args, options):
    return args[0] - _logsumexp_keep(args[0])


def _logsoftmax_vjp(g, args, out, options, wanted=(True, True)):
    return (g - np.exp(out) * np.sum(g, axis=-1, keepdims=True),)


def _logsoftmax_jvp(tangents, args, out, options):
    t = tangents[0]
    return t - np.sum(np.exp(out) * t, axis=-1, keepdims=True)


def _logsumexp(args, options):
    return _logsumexp_keep(args[0])[..., 0]


def _logsumexp_vjp(g, args, out, options, wanted=(True, True)):
    return (np.asarray(g)[..., None] * np.exp(args[0] - np.asarray(out)[..., None]),)


def _logsumexp_jvp(tangents, args, out, options):
    return np.sum(np.exp(args[0] - np.expand_dims(out, -1)) * tangents[0], axis=-1)


# ----- Indexing and array literals -----

def _index_shape(shapes, options):
    a = shapes[0]
    if not a:
        raise ShapeProblem("a scalar has no elements to index")
    if len(options) > len(a):
        raise ShapeProblem(f"{len(options)} indices for an array of shape {shape_text(a)}")
    for index, size in zip(options, a):
        if not -size <= index < size:
            raise ShapeProblem(f"index {index} is out of range for an axis of length {size} "
                               f"(shape {shape_text(a)})")
    return a[len(options):]


def _index(args, options):
    return args[0][tuple(options)]


def _index_vjp(g, args, out, options, wanted=(True, True)):
    adjoint = np.zeros(np.shape(args[0]))
    adjoint[tuple(options)] = g
    return (adjoint,)


def _index_jvp(tangents, args, out, options):
    return tangents[0][tuple(options)]


# Arrays have at most this many axes (NumPy's own limit is 64); a deeper
# literal is refused at once rather than built up axis by axis.
MAX_AXES = 32


def _stack_shape(shapes, options):
    first = shapes[0]
    if len(first) >= MAX_AXES:
        raise ShapeProblem(f"an array has at most {MAX_AXES} axes; this literal is nested "
                           "deeper")
    for other in shapes[1:]:
        if other != first:
            raise ShapeProblem(f"the elements of an array must have one shape, not "
                               f"{shape_text(first)} and {shape_text(other)}")
    return (len(shapes), *first)


def _stack(args, options):
    return np.stack([np.asarray(arg) for arg in args])


def _stack_vjp(g, args, out, options, wanted=(True, True)):
    return tuple(g[k] for k in range(len(args)))


def _stack_jvp(tangents, args, out, options):
    return np.stack([np.zeros(np.shape(arg)) if t is None else np.asarray(t, dtype=float)
                     for t, arg in zip(tangents, args)])


def _no_scalar_partials(*args):
    raise TypeError("a tensor primitive has no scalar partials")


def _tensor(name: str, arity: int, value, shape, vjp, jvp, formulas, latex: str,
            description: str, **extra) -> Primitive:
    return Primitive(name, arity, value, (), (), latex, elementwise=False, shape=shape,
                     vjp=vjp, jvp=jvp, vjp_formulas=formulas, description=description,
                     **extra)


# Arity -1 takes any number of arguments (array literals).
TENSOR_TABLE: list[Primitive] = [
    # ----- Products -----
    _tensor("matmul", 2, _matmul, _matmul_shape, _matmul_vjp, _matmul_jvp, _matmul_formulas,
            r"{a} {b}", "matrix product (NumPy's @)", symbol="@", precedence=20),
    _tensor("dot", 2, _matmul, _matmul_shape, _matmul_vjp, _matmul_jvp, _matmul_formulas,
            r"{a} \cdot {b}", "dot product: a @ b"),
    _tensor("outer", 2, lambda args, options: np.outer(args[0], args[1]), _outer_shape,
            _outer_vjp, _outer_jvp, lambda ranks: ("δ @ b", "transpose(δ) @ a"),
            r"{a} \otimes {b}", "outer product of two vectors"),
    _tensor("transpose", 1, _transpose, _transpose_shape, _transpose_vjp, _transpose_jvp,
            lambda ranks: ("transpose(δ)",), r"{a}^{{\top}}", "axes reversed"),

    _tensor("ones_like", 1, lambda args, options: np.ones(np.shape(args[0])),
            lambda shapes, options: tuple(shapes[0]), _ones_like_vjp, _ones_like_jvp,
            lambda ranks: ("0*δ",), r"\mathbf{{1}}_{{{a}}}",
            "an array of ones with a's shape"),

    # ----- Reductions -----
    _tensor("sum", 1, _sum, _reduce_shape("sum"), _sum_vjp, _sum_jvp,
            lambda ranks: ("δ*ones_like(a)",), r"\sum {a}",
            "sum of all elements, or along an axis", options=("axis",)),
    _tensor("mean", 1, _mean, _reduce_shape("mean"), _mean_vjp, _mean_jvp,
            lambda ranks: ("δ/n*ones_like(a)",), r"\operatorname{{mean}} {a}",
            "mean of all elements, or along an axis", options=("axis",)),
    _tensor("norm", 1, _norm, lambda shapes, options: (), _norm_vjp, _norm_jvp,
            lambda ranks: ("δ*a/out",), r"\left\|{a}\right\|",
            "2-norm (Frobenius for a matrix)", kink=_norm_kink),

    # ----- Along the last axis -----
    _tensor("softmax", 1, _softmax, _last_axis_shape("softmax", True), _softmax_vjp,
            _softmax_jvp, lambda ranks: ("out*(δ - sum(δ*out))",),
            r"\operatorname{{softmax}}\left({a}\right)", "exp(a)/sum(exp(a)), last axis"),
    _tensor("logsoftmax", 1, _logsoftmax, _last_axis_shape("logsoftmax", True),
            _logsoftmax_vjp, _logsoftmax_jvp, lambda ranks: ("δ - exp(out)*sum(δ)",),
            r"\log\operatorname{{softmax}}\left({a}\right)", "a - logsumexp(a), last axis"),
    _tensor("logsumexp", 1, _logsumexp, _last_axis_shape("logsumexp", False), _logsumexp_vjp,
            _logsumexp_jvp, lambda ranks: ("δ*softmax(a)",),
            r"\log\sum e^{{{a}}}", "log(sum(exp(a))), last axis"),

    # ----- Syntax: A[i, j] and [a, b, ...] -----
    _tensor("index", 1, _index, _index_shape, _index_vjp, _index_jvp,
            lambda ranks: ("δ at the index, 0 elsewhere",), r"{a}_{{i}}",
            "an element or a row: A[i, j]"),
    _tensor("stack", -1, _stack, _stack_shape, _stack_vjp, _stack_jvp,
            lambda ranks: tuple(f"δ[{k}]" for k in range(len(ranks))), r"\left[{a}\right]",
            "an array literal: [a, b, ...]"),
]

# Written with their own syntax, never called by name.
SYNTAX_ONLY = frozenset({"index", "stack"})
