"""The primitive table's linear-algebra family: trace, det, logdet, inv, solve, diag, eye, amax, amin.

Entries of this family are tensor primitives (primitives/tensor.py says what
their rules are) over square matrices, with two things more than the
products and reductions have:

* a domain: ``inv``, ``solve`` and ``logdet`` need a non-singular matrix
  (``logdet`` a positive determinant). The value raises ``DomainProblem``
  with the reason, and the sweeps turn it into a domain error (exit 1) with
  a caret under the operation; NumPy's ``LinAlgError`` never leaves here.
* a ``tensor_notice``: a matrix whose condition number passes
  ``ILL_CONDITIONED`` answers with an "ill-conditioned" warning, as a kink
  does; ``amax``/``amin`` report a tie for the extreme element as a kink.

Everything is computed from a factorization, never from a product of
determinants or an explicit inverse where it can be avoided: ``logdet`` from
``slogdet`` (``log(det(A))`` overflows for a 200×200 matrix), ``solve``'s value
by LU, ``det``'s gradient (the cofactor matrix) from the singular value
decomposition, so it holds at a singular matrix too. The condition number the
warning reads is the 1-norm one, from the inverse ``logdet``'s gradient needs
anyway; each distinct matrix is inverted once however many rules ask
(``_factored``), and once a well-conditioned matrix's inverse is formed (or
when as many right-hand sides as rows would pay for it), ``solve`` answers by
a product with it, BLAS's fastest kernel (``_by_inverse``).

``amax``/``amin`` are named as NumPy names them, so they cannot be confused
with the elementwise two-argument ``max(a, b)``; the gradient goes to the
first extreme element (``argmax``'s choice).

The messages name the matrix as ``{a}``, which the sweeps replace by its
source text (``solve(A, b): A is singular``).
"""

from __future__ import annotations

import math

from ..base.shapes import shape_text
from .base import DomainProblem, Primitive, ShapeProblem, np
from .tensor import _at_least_vector, _axis, _reduce_shape

# A matrix past this condition number gets a warning: about 4 of 16 digits left.
ILL_CONDITIONED = 1e12
# Below this condition number (1/ε) a matrix is invertible in doubles.
_INVERTIBLE = 2.0 ** 52


# ----- Shapes -----

def _square(name: str, shape: tuple[int, ...]) -> int:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeProblem(f"{name} takes a square matrix, not shape {shape_text(shape)}")
    return shape[0]


def _square_shape(name: str, out):
    def shape(shapes, options):
        n = _square(name, shapes[0])
        return out(n)
    return shape


def _solve_shape(shapes, options):
    a, b = shapes
    n = _square("solve", a)
    if len(b) not in (1, 2) or b[0] != n:
        raise ShapeProblem(f"shapes {shape_text(a)} and {shape_text(b)} do not align: the "
                           f"right-hand side must have shape ({n},) or ({n}, k)")
    return b


def _diag_shape(shapes, options):
    a = shapes[0]
    if len(a) == 1:
        return (a[0], a[0])
    if len(a) == 2:
        return (min(a),)
    raise ShapeProblem(f"diag takes a vector or a matrix, not shape {shape_text(a)}")


def _eye_shape(shapes, options):
    if not options:
        raise ShapeProblem("eye(n) takes its size n, a whole-number literal: eye(3)")
    if options[0] < 1:
        raise ShapeProblem(f"eye(n) takes a size of at least 1, not {options[0]}")
    return (options[0], options[0])


# ----- Conditioning, and the inverse it is read from -----

# The few matrices most recently factored, as (a copy of the matrix, its
# inverse or None when singular, its condition number). One evaluation asks
# for the same matrix's inverse several times (logdet's and solve's notices,
# logdet's VJP, solve's VJP); each is computed once. An entry is found by
# value, never by identity, so a matrix changed in place is factored anew.
_RECENT_SIZE = 4
_recent: tuple = ()
# A larger matrix is kept alone, so the cache holds at most one large matrix
# and its inverse (2**20 elements: 8 MB each).
_LARGE = 2 ** 20

# Below this condition number the cached inverse answers solve's value and VJP
# (a product, where an LU solve costs several times as much): its error, about
# condition·ε, stays far below the 1e-12 the answers keep.
_INVERSE_IS_EXACT_ENOUGH = 1e3


def _held(a):
    """(inverse or None, condition number) of a when the cache holds it, else None."""
    for matrix, inverse, condition in _recent:
        # The corners first: a different matrix most often differs there, and
        # is told apart without a pass over its elements.
        if matrix.shape == a.shape and matrix.flat[0] == a.flat[0] \
                and matrix.flat[-1] == a.flat[-1] and np.array_equal(matrix, a):
            return inverse, condition
    return None


def _factored(a):
    """(inverse or None, condition number in the 1-norm) of the square matrix a."""
    global _recent
    held = _held(a)
    if held is not None:
        return held
    with np.errstate(all="ignore"):
        try:
            inverse = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            inverse = None
        if inverse is None or not np.isfinite(inverse).all():
            inverse, condition = None, float("inf")
        else:
            # The inverse's norm times the matrix's: the 1-norm condition number,
            # exact, without the SVD the 2-norm one takes.
            condition = float(np.linalg.norm(a, 1) * np.linalg.norm(inverse, 1))
    matrix = np.array(a, dtype=float)
    matrix.setflags(write=False)
    if inverse is not None:
        inverse.setflags(write=False)
    entry = (matrix, inverse, condition)
    _recent = (entry,) if a.size > _LARGE else ((entry,) + _recent)[:_RECENT_SIZE]
    return inverse, condition


def _conditioning(args, options):
    """The "ill-conditioned" notice for the matrix argument, or None."""
    condition = _factored(np.asarray(args[0], dtype=float))[1]
    if condition > ILL_CONDITIONED or condition != condition:
        return ("ill-conditioned",
                f"{{a}} is ill-conditioned (condition number {condition:.1e}, past "
                f"{ILL_CONDITIONED:.0e}); the result may have lost most of its digits")
    return None


def _singular():
    return DomainProblem("{a} is singular")


# ----- trace -----

def _trace_vjp(g, args, out, options, wanted=(True,)):
    return (g * np.eye(np.shape(args[0])[0]),)


def _trace_jvp(tangents, args, out, options):
    return np.trace(tangents[0])


# ----- det -----

def _cofactors(a):
    """The cofactor matrix (the gradient of det), from the SVD: also at a singular matrix."""
    u, s, vt = np.linalg.svd(a)
    n = len(s)
    others = np.ones(n)
    for i in range(n):  # the product of all singular values but the i-th
        others[i] = np.prod(np.delete(s, i))
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return sign * (u * others) @ vt


def _det_vjp(g, args, out, options, wanted=(True,)):
    return (g * _cofactors(args[0]),)


def _det_jvp(tangents, args, out, options):
    return np.vdot(_cofactors(args[0]), tangents[0])


# ----- logdet -----

def _logdet(args, options):
    sign, value = np.linalg.slogdet(args[0])
    if sign == 0:
        raise _singular()
    if sign < 0:
        raise DomainProblem("the determinant is not positive")
    return value


def _inverse(a):
    inverse = _factored(np.asarray(a, dtype=float))[0]
    if inverse is None:
        raise _singular()
    return inverse


def _logdet_vjp(g, args, out, options, wanted=(True,)):
    return (g * _inverse(args[0]).T,)


def _logdet_jvp(tangents, args, out, options):
    return np.trace(np.linalg.solve(args[0], tangents[0]))


# ----- inv -----

def _inv_vjp(g, args, out, options, wanted=(True,)):
    return (-(out.T @ g @ out.T),)


def _inv_jvp(tangents, args, out, options):
    return -(out @ tangents[0] @ out)


# ----- solve -----

def _by_inverse(a, b):
    """a⁻¹ b as a product with a's inverse, or None where LU should answer.

    The inverse answers when it is formed anyway or pays for itself: the
    cache holds it (a gradient's notice and logdet's VJP ask for it), or b
    has at least as many columns as a has rows. A matrix product is BLAS's
    fastest kernel, where LU's triangular solves are not: for a 200×200
    matrix and 1,000 columns, inverting and multiplying takes 1.2 ms, a solve
    2.9 ms. A matrix past ``_INVERSE_IS_EXACT_ENOUGH`` is left to LU, whose
    error is the smaller one there."""
    a = np.asarray(a, dtype=float)
    if not (b.ndim == 2 and b.shape[1] >= len(a)) and _held(a) is None:
        return None
    inverse, condition = _factored(a)
    if inverse is None or not condition < _INVERSE_IS_EXACT_ENOUGH:
        return None
    out = inverse @ b
    # An overflow is left to the LU path, which words it.
    return out if math.isfinite(float(np.sum(out))) else None


def _solve(args, options):
    a, b = args
    out = _by_inverse(a, b)
    if out is not None:
        return out
    try:
        out = np.linalg.solve(a, b[:, None] if b.ndim == 1 else b)
    except np.linalg.LinAlgError:
        raise _singular() from None
    if not np.isfinite(out).all():
        # From a matrix that doubles can invert, a solution past the doubles is an
        # overflow of b's scale, not a singular matrix.
        if _factored(np.asarray(a, dtype=float))[1] < _INVERTIBLE:
            raise DomainProblem("the solution overflows a double")
        raise _singular()
    return out[:, 0] if b.ndim == 1 else out


def _multiple_of(g, b):
    """c when g is exactly c·b for a number c, else None: the adjoint a quadratic
    form b' solve(A, b) sends back (a Gaussian's, a Mahalanobis distance's)."""
    if g.shape != b.shape or not b.size:
        return None
    # The ratio is read at the first column's largest element, and checked on
    # that column before the whole: most g fail there, at little cost.
    first = (slice(None),) + (0,) * (b.ndim - 1)
    k = int(np.argmax(np.abs(b[first])))
    if b[first][k] == 0.0:
        return None
    c = g[first][k] / b[first][k]
    if not np.array_equal(g[first], c * b[first]) or not np.array_equal(g, c * b):
        return None
    return float(c)


def _symmetric_solve_vjp(c, out, wanted):
    """solve's VJP for the adjoint c·b when A is symmetric: solve(A', c·b) =
    c·solve(A, b), the forward sweep's answer, with no second solve; and
    out @ out' is one symmetric product."""
    gb = c * out
    ga = None
    if wanted[0]:
        ga = -c * (np.outer(out, out) if out.ndim == 1 else out @ out.T)
    return ga, (gb if wanted[1] else None)


def _solve_vjp_of_multiple(c, k, args, out, options, wanted=(True, True)):
    """solve's VJP when the sweep knows the adjoint is c·b (argument k = 1)."""
    a = args[0]
    if k != 1 or not np.array_equal(a, a.T):
        return None
    return _symmetric_solve_vjp(c, out, wanted)


def _solve_vjp(g, args, out, options, wanted=(True, True)):
    a, b = args
    g = np.asarray(g, dtype=float)
    c = _multiple_of(g, b) if np.array_equal(a, a.T) else None
    if c is not None:
        return _symmetric_solve_vjp(c, out, wanted)
    inverse, condition = _factored(np.asarray(a, dtype=float))
    if inverse is not None and condition < _INVERSE_IS_EXACT_ENOUGH:
        gb = inverse.T @ (g[:, None] if g.ndim == 1 else g)
    else:
        gb = np.linalg.solve(a.T, g[:, None] if g.ndim == 1 else g)
    ga = None
    if wanted[0]:
        ga = -(gb @ (out[None, :] if out.ndim == 1 else out.T))
    return ga, ((gb[:, 0] if g.ndim == 1 else gb) if wanted[1] else None)


def _solve_jvp(tangents, args, out, options):
    (ta, tb), (a, b) = tangents, args
    rhs = np.zeros(np.shape(out)) if tb is None else np.asarray(tb, dtype=float)
    if ta is not None:
        rhs = rhs - ta @ out
    if not rhs.any():
        return np.zeros(np.shape(out))
    return _solve([a, rhs], options)


def _solve_formulas(ranks):
    if ranks[1] == 1:
        return ("-outer(solve(a', δ), out)", "solve(a', δ)")
    return ("-solve(a', δ) @ out'", "solve(a', δ)")


# ----- diag and eye -----

def _diag_vjp(g, args, out, options, wanted=(True,)):
    a = args[0]
    if a.ndim == 1:
        return (np.diagonal(g).copy(),)
    adjoint = np.zeros(a.shape)
    k = np.arange(len(g))
    adjoint[k, k] = g
    return (adjoint,)


def _diag_jvp(tangents, args, out, options):
    t = tangents[0]
    return np.diag(t) if t.ndim == 1 else np.diagonal(t).copy()


# ----- amax and amin -----

def _extreme(largest: bool):
    name = "amax" if largest else "amin"

    # NumPy's functions are looked up at each call: importing this module must
    # not import NumPy.
    def reduce(a, **keywords):
        return (np.max if largest else np.min)(a, **keywords)

    def pick(a, **keywords):
        return (np.argmax if largest else np.argmin)(a, **keywords)

    def value(args, options):
        return reduce(args[0], axis=_axis(options, np.ndim(args[0]), name))

    def chosen(a, options):
        """A mask of the element each slice's gradient goes to (the first extreme one)."""
        axis = _axis(options, a.ndim, name)
        mask = np.zeros(a.shape, dtype=bool)
        if axis is None:
            mask.flat[pick(a)] = True
        else:
            np.put_along_axis(mask, np.expand_dims(pick(a, axis=axis), axis), True, axis)
        return mask, axis

    def vjp(g, args, out, options, wanted=(True,)):
        mask, axis = chosen(args[0], options)
        g = np.asarray(g, dtype=float)
        return (np.where(mask, g if axis is None else np.expand_dims(g, axis), 0.0),)

    def jvp(tangents, args, out, options):
        mask, axis = chosen(args[0], options)
        return np.sum(np.where(mask, tangents[0], 0.0), axis=axis)

    def tie(args, options):
        a = args[0]
        axis = _axis(options, a.ndim, name)
        extreme = reduce(a, axis=axis, keepdims=True)
        ties = np.sum(a == extreme, axis=axis)
        if np.all(ties <= 1):
            return None
        word = "largest" if largest else "smallest"
        return ("kink", f"{name} has a tie for the {word} element; its derivative goes to "
                        "the first of them")

    return value, vjp, jvp, tie


def _linalg(name: str, arity: int, value, shape, vjp, jvp, formulas, latex: str,
            description: str, **extra) -> Primitive:
    return Primitive(name, arity, value, (), (), latex, elementwise=False, shape=shape,
                     vjp=vjp, jvp=jvp, vjp_formulas=formulas, description=description,
                     **extra)


_amax, _amax_vjp, _amax_jvp, _amax_tie = _extreme(True)
_amin, _amin_vjp, _amin_jvp, _amin_tie = _extreme(False)

LINALG_TABLE: list[Primitive] = [
    _linalg("trace", 1, lambda args, options: np.trace(args[0]),
            _square_shape("trace", lambda n: ()), _trace_vjp, _trace_jvp,
            lambda ranks: ("δ*eye(n)",), r"\operatorname{{tr}}\left({a}\right)",
            "sum of the diagonal of a square matrix", argument_kinds=("square",)),
    _linalg("det", 1, lambda args, options: np.linalg.det(args[0]),
            _square_shape("det", lambda n: ()), _det_vjp, _det_jvp,
            lambda ranks: ("δ*out*inv(a)'",), r"\det\left({a}\right)",
            "determinant of a square matrix", argument_kinds=("square",), expands=False),
    _linalg("logdet", 1, _logdet, _square_shape("logdet", lambda n: ()), _logdet_vjp,
            _logdet_jvp, lambda ranks: ("δ*inv(a)'",), r"\log\det\left({a}\right)",
            "log of a positive determinant, from a factorization",
            argument_kinds=("spd",), expands=False, tensor_notice=_conditioning),
    _linalg("inv", 1, lambda args, options: _inverse(args[0]).copy(),
            _square_shape("inv", lambda n: (n, n)), _inv_vjp, _inv_jvp,
            lambda ranks: ("-out' @ δ @ out'",), r"{a}^{{-1}}",
            "inverse of a square matrix", argument_kinds=("square",), expands=False,
            tensor_notice=_conditioning),
    _linalg("solve", 2, _solve, _solve_shape, _solve_vjp, _solve_jvp, _solve_formulas,
            r"{a}^{{-1}} {b}", "x with a @ x = b (b a vector or a matrix), by LU",
            argument_kinds=("square", "any"), expands=False, tensor_notice=_conditioning,
            vjp_of_multiple=_solve_vjp_of_multiple),
    _linalg("diag", 1, lambda args, options: np.diag(args[0]), _diag_shape, _diag_vjp,
            _diag_jvp, lambda ranks: ("diag(δ)",), r"\operatorname{{diag}}\left({a}\right)",
            "vector to diagonal matrix; matrix to its diagonal"),
    _linalg("eye", 0, lambda args, options: np.eye(options[0]), _eye_shape,
            lambda g, args, out, options, wanted=(): (), lambda t, args, out, options: None,
            lambda ranks: (), r"I_{{n}}", "the n×n identity matrix: eye(3)", options=("n",)),
    _linalg("amax", 1, _amax, _reduce_shape("amax"), _amax_vjp, _amax_jvp,
            lambda ranks: ("δ at the largest element of a, 0 elsewhere",),
            r"\max {a}", "largest element, of all or along an axis", options=("axis",),
            tensor_notice=_amax_tie),
    _linalg("amin", 1, _amin, _reduce_shape("amin"), _amin_vjp, _amin_jvp,
            lambda ranks: ("δ at the smallest element of a, 0 elsewhere",),
            r"\min {a}", "smallest element, of all or along an axis", options=("axis",),
            tensor_notice=_amin_tie),
]
