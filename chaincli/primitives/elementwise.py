"""The primitive table's elementwise family: arithmetic and the scalar functions.

Each entry gives a primitive's name and arity, its value, its local partial
derivatives (as numbers, and as formulas in chaincli's own syntax over the
argument names ``a`` and ``b``), how it prints, its domain and its kinks.
Lowering, the forward and reverse sweeps, the chain-rule explanation and the
tests all read this table; adding a function is adding one entry.

Numeric partials take the arguments followed by the primitive's own output,
so ``exp``, ``sqrt``, ``tanh`` and ``sigmoid`` reuse the value they computed.

Conventions at points where a primitive is not differentiable (each is
reported to the user as a warning when a point sits on one):

* ``abs``, ``relu``, ``step``, ``sign`` at 0: derivative 0 (the smallest
  subgradient, as PyTorch does);
* ``max``/``min`` at a tie: 1/2 to each side, so ``max(x, x)`` has slope 1;
* ``hypot`` at (0, 0): derivative 0 in both arguments;
* ``a^b`` at ``a = 0``: ∂/∂b is taken as 0 and ``0^0 = 1`` (IEEE ``pow``).

Where the value is finite but the derivative is not (``sqrt`` at 0, ``asin``
at ±1), the derivative is reported as infinite, not as an error.

The batch evaluator runs the same sweeps over NumPy arrays. An entry whose
value or partials use ``math`` or branch on their arguments gives array
versions (``array_value``, ``array_partials``) written with ``np``, a stand-in
that imports NumPy on first use, so scalar paths never load it; plain
arithmetic works on arrays as it is. The array versions keep the same kink
conventions.

The forms of one derivative, and who reads each
-----------------------------------------------

An entry states its value and its partials in up to four forms:

* ``value`` and ``partials``, Python functions: the reference. The scalar
  sweeps (``engine/scalar``: evaluate, forward, reverse) call them, and so
  do the chain-rule explanations' numbers.
* ``partial_formulas``, chaincli text over ``a`` and ``b``: what a partial
  *is* as a formula. ``symbolic.py`` parses each once into a tape template
  for ``diff`` and the symbolic Hessian; ``explain/`` prints them
  in the path tables, the backward-pass table and ``diff --steps``.
* ``code`` and ``partial_code``, Python expressions over ``{a}``, ``{b}``,
  ``{out}``: what ``engine/scalar/codegen.py`` inlines into the straight-line
  function it generates for a tape evaluated many times.
* ``array_value`` and ``array_partials``, functions over NumPy arrays: what
  the tensor sweeps and ``engine/batch/`` call, where the scalar functions
  would call ``math`` or branch; ``batch/sweeps.py`` adds its own faster forms
  for whole powers and ``tanh`` (``_BATCH_VALUE``, ``_BATCH_PARTIALS``).

The formula is the one that says what the derivative is, and the others are
written by hand on purpose rather than generated from it. They are not the
same computation, only the same number: a partial reuses the output the value
computed (``0.5/out`` for ``sqrt``, ``1 - out*out`` for ``tanh``) where the
formula can only name the arguments, and it applies the kink and IEEE
conventions (``safe_div``, ``safe_pow``, a subgradient of 0) that a
translation of the formula's text would spell differently and round
differently. A plain ``grad`` must not parse formulas at start-up (the scalar
sweeps run straight from the functions, and ``symbolic.py`` parses a formula
only when a command needs it). The code templates must give the same bits as
the functions, which a template generated from the formula would not (it
would evaluate ``1/(2*sqrt(a))``, not ``0.5/out``). The array forms pick the
NumPy ufunc that keeps the scalar conventions (``np.where`` at a kink or a
pole, as for ``pow``'s partials).

So the tests hold the forms equal instead: ``tests/test_primitives.py``
checks each partial against central differences and against its formula
(``test_partial_formulas_equal_numeric_partials``), ``tests/test_codegen.py``
checks that the generated sweeps give the interpreter's bits on the corpus
and on random expressions, and ``tests/test_batch.py`` checks the array forms
against the scalar ones (``test_array_versions_match_scalar_versions``,
``test_whole_powers_in_a_batch_agree_with_the_scalar_pow``) and what the
partials read (``test_partials_read_only_what_the_table_says``). A new entry
that gets one form wrong fails one of them.
"""

from __future__ import annotations

import math

from .base import Primitive, np

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import Check, Partial

INF = math.inf
NAN = math.nan


def safe_div(numerator: float, denominator: float) -> float:
    """IEEE division: ``x/0`` is ±inf or NaN instead of raising."""
    if denominator == 0.0:
        if numerator == 0.0 or math.isnan(numerator):
            return NAN
        return math.copysign(INF, numerator) * math.copysign(1.0, denominator)
    return numerator / denominator


def safe_pow(base: float, exponent: float) -> float:
    """IEEE ``pow``: overflow gives inf and a pole gives inf instead of raising."""
    try:
        return math.pow(base, exponent)
    except OverflowError:
        if base < 0 and exponent == int(exponent) and int(exponent) % 2:
            return -INF
        return INF
    except ValueError:
        if base == 0.0:
            return INF
        return NAN


def _sign(a: float) -> float:
    return (a > 0) - (a < 0) + 0.0


def _step(a: float) -> float:
    return 1.0 if a > 0 else 0.0


def _cbrt(a: float) -> float:
    root = abs(a) ** (1.0 / 3.0)
    # One Newton step makes exact cubes come out exact (cbrt(27) == 3).
    if root:
        root -= (root * root * root - abs(a)) / (3.0 * root * root)
    return math.copysign(root, a)


def _sigmoid(a: float) -> float:
    # Branch on the sign so exp never overflows.
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    z = math.exp(a)
    return z / (1.0 + z)


def _softplus(a: float) -> float:
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


def _pow_partial_base(a: float, b: float, out: float) -> float:
    if b == 0.0:
        return 0.0
    return b * safe_pow(a, b - 1.0)


def _pow_partial_exponent(a: float, b: float, out: float) -> float:
    if a > 0.0:
        return out * math.log(a)
    if a == 0.0:
        return 0.0
    return NAN  # a negative base has no real power nearby for non-integer b


def _pow_domain(a: float, b: float) -> str | None:
    if a < 0.0 and b != math.floor(b):
        return "a negative number to a non-integer power is not real (use cbrt for cube roots)"
    if a == 0.0 and b < 0.0:
        return "0 to a negative power is a pole (division by zero)"
    return None


def _kink_at_zero(name: str, convention: str = "0") -> Check:
    def kink(a: float) -> str | None:
        if a == 0.0:
            return f"{name} is not differentiable at 0; its derivative there is taken as {convention}"
        return None
    return kink


def _tie(name: str) -> Check:
    def kink(a: float, b: float) -> str | None:
        if a == b:
            return f"{name} has a tie ({a:g} = {b:g}); each argument gets derivative 1/2"
        return None
    return kink


def _hypot_kink(a: float, b: float) -> str | None:
    if a == 0.0 and b == 0.0:
        return "hypot is not differentiable at (0, 0); its derivatives there are taken as 0"
    return None


def _atan2_kink(y: float, x: float) -> str | None:
    if y == 0.0 and x == 0.0:
        return "atan2 is not differentiable at (0, 0); its derivatives there are NaN"
    return None


def _atan2_partial_y(y: float, x: float, out: float) -> float:
    return safe_div(x, x * x + y * y)


def _atan2_partial_x(y: float, x: float, out: float) -> float:
    return safe_div(-y, x * x + y * y)


def _hypot_partial(index: int) -> Partial:
    def partial(a: float, b: float, out: float) -> float:
        if out == 0.0:
            return 0.0
        return (a, b)[index] / out
    return partial


def _half_sign(side: float) -> Partial:
    # max/min partials: 1 to the winning side, 1/2 to each on a tie.
    def partial(a: float, b: float, out: float) -> float:
        return 0.5 + side * 0.5 * _sign(a - b)
    return partial


def _positive(name: str) -> Check:
    def domain(a: float) -> str | None:
        if a < 0.0:
            return f"{name} needs a positive argument"
        if a == 0.0:
            return f"{name}(0) is -infinity (a pole)"
        return None
    return domain


def _within_one(name: str, closed: bool) -> Check:
    def domain(a: float) -> str | None:
        if abs(a) > 1.0 or (not closed and abs(a) == 1.0):
            where = "[-1, 1]" if closed else "(-1, 1)"
            return f"{name} needs an argument in {where}"
        return None
    return domain


def _at_least_one(a: float) -> str | None:
    return "acosh needs an argument of at least 1" if a < 1.0 else None


def _non_negative(a: float) -> str | None:
    return "sqrt needs a non-negative argument" if a < 0.0 else None


def _nonzero_divisor(a: float, b: float) -> str | None:
    return "division by zero" if b == 0.0 else None


# ----- Array versions (same conventions as the scalar ones above) -----

def _array_sigmoid(a):
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _array_power(a, b):
    # ``**`` on an array takes NumPy's fast paths for small constant exponents
    # (x**2 is a square); on two plain floats Python's ** would give complex
    # numbers or raise, so np.power it is.
    if isinstance(a, float) and isinstance(b, float):
        return np.power(a, b)
    return a ** b


def _array_pow_partial_base(a, b, out):
    if isinstance(b, float):
        if b == 0.0:
            return 0.0
        return b * a if b == 2.0 else b * _array_power(a, b - 1.0)  # a**1 is a
    return np.where(b == 0.0, 0.0, b * np.power(a, b - 1.0))


def _array_pow_partial_exponent(a, b, out):
    return np.where(a > 0.0, out * np.log(np.where(a > 0.0, a, 1.0)),
                    np.where(a == 0.0, 0.0, NAN))


def _array_hypot_partial(index: int):
    def partial(a, b, out):
        return np.where(out == 0.0, 0.0, (a, b)[index] / np.where(out == 0.0, 1.0, out))
    return partial


def _array_half_sign(side: float):
    def partial(a, b, out):
        return 0.5 + side * 0.5 * np.sign(a - b)
    return partial


def _at_zero(a):
    return a == 0.0


def _tied(a, b):
    return a == b


def _both_zero(a, b):
    return (a == 0.0) & (b == 0.0)


def _array_step(a):
    return np.where(a > 0, 1.0, 0.0)


TABLE: list[Primitive] = [
    # ----- Arithmetic operators -----
    Primitive("add", 2, lambda a, b: a + b,
              (lambda a, b, out: 1.0, lambda a, b, out: 1.0),
              ("1", "1"), "{a} + {b}", symbol="+", precedence=10,
              code="{a} + {b}", partial_code=("1.0", "1.0"),
              partials_read_arguments=False),
    Primitive("sub", 2, lambda a, b: a - b,
              (lambda a, b, out: 1.0, lambda a, b, out: -1.0),
              ("1", "-1"), "{a} - {b}", symbol="-", precedence=10,
              code="{a} - {b}", partial_code=("1.0", "-1.0"),
              partials_read_arguments=False),
    Primitive("mul", 2, lambda a, b: a * b,
              (lambda a, b, out: b, lambda a, b, out: a),
              ("b", "a"), "{a} {b}", symbol="*", precedence=20,
              code="{a} * {b}", partial_code=("{b}", "{a}")),
    Primitive("div", 2, lambda a, b: a / b,
              (lambda a, b, out: 1.0 / b, lambda a, b, out: -out / b),
              ("1/b", "-a/b^2"), r"\frac{{{a}}}{{{b}}}", symbol="/", precedence=20,
              domain=_nonzero_divisor,
              smooth_region=((-3.0, 3.0), (0.5, 3.0)),
              code="{a} / {b}", partial_code=("1.0 / {b}", "-{out} / {b}"),
              partials_read_output=True),
    Primitive("neg", 1, lambda a: -a, (lambda a, out: -1.0,), ("-1",), "-{a}",
              symbol="-", precedence=30, code="-{a}", partial_code=("-1.0",),
              partials_read_arguments=False),
    Primitive("pow", 2, math.pow,
              (_pow_partial_base, _pow_partial_exponent),
              ("b*a^(b - 1)", "a^b*log(a)"), "{a}^{{{b}}}",
              symbol="^", precedence=40, right_associative=True,
              domain=_pow_domain,
              smooth_region=((0.2, 3.0), (-2.5, 2.5)),
              array_value=_array_power,
              array_partials=(_array_pow_partial_base, _array_pow_partial_exponent),
              partials_read_output=True),

    # ----- Trigonometric -----
    Primitive("sin", 1, math.sin, (lambda a, out: math.cos(a),), ("cos(a)",),
              r"\sin\left({a}\right)",
              array_value=lambda a: np.sin(a), array_partials=(lambda a, out: np.cos(a),),
              partial_code=("math.cos({a})",)),
    Primitive("cos", 1, math.cos, (lambda a, out: -math.sin(a),), ("-sin(a)",),
              r"\cos\left({a}\right)",
              array_value=lambda a: np.cos(a), array_partials=(lambda a, out: -np.sin(a),),
              partial_code=("-math.sin({a})",)),
    Primitive("tan", 1, math.tan, (lambda a, out: 1.0 + out * out,), ("1 + tan(a)^2",),
              r"\tan\left({a}\right)", smooth_region=((-1.4, 1.4),),
              array_value=lambda a: np.tan(a), partial_code=("1.0 + {out} * {out}",),
              partials_read_arguments=False, partials_read_output=True),
    Primitive("asin", 1, math.asin,
              (lambda a, out: safe_div(1.0, math.sqrt(1.0 - a * a)),),
              ("1/sqrt(1 - a^2)",), r"\arcsin\left({a}\right)",
              domain=_within_one("asin", closed=True), smooth_region=((-0.9, 0.9),),
              array_value=lambda a: np.arcsin(a),
              array_partials=(lambda a, out: 1.0 / np.sqrt(1.0 - a * a),)),
    Primitive("acos", 1, math.acos,
              (lambda a, out: safe_div(-1.0, math.sqrt(1.0 - a * a)),),
              ("-1/sqrt(1 - a^2)",), r"\arccos\left({a}\right)",
              domain=_within_one("acos", closed=True), smooth_region=((-0.9, 0.9),),
              array_value=lambda a: np.arccos(a),
              array_partials=(lambda a, out: -1.0 / np.sqrt(1.0 - a * a),)),
    Primitive("atan", 1, math.atan, (lambda a, out: 1.0 / (1.0 + a * a),),
              ("1/(1 + a^2)",), r"\arctan\left({a}\right)",
              array_value=lambda a: np.arctan(a), partial_code=("1.0 / (1.0 + {a} * {a})",)),
    Primitive("atan2", 2, math.atan2, (_atan2_partial_y, _atan2_partial_x),
              ("b/(a^2 + b^2)", "-a/(a^2 + b^2)"),
              r"\operatorname{{atan2}}\left({a}, {b}\right)",
              kink=_atan2_kink, kink_mask=_both_zero, smooth_region=((0.3, 3.0), (0.3, 3.0)),
              array_value=lambda y, x: np.arctan2(y, x),
              array_partials=(lambda y, x, out: x / (x * x + y * y),
                              lambda y, x, out: -y / (x * x + y * y))),
    Primitive("hypot", 2, math.hypot, (_hypot_partial(0), _hypot_partial(1)),
              ("a/hypot(a, b)", "b/hypot(a, b)"),
              r"\sqrt{{{a}^{{2}} + {b}^{{2}}}}",
              kink=_hypot_kink, kink_mask=_both_zero, smooth_region=((0.3, 3.0), (0.3, 3.0)),
              array_value=lambda a, b: np.hypot(a, b),
              array_partials=(_array_hypot_partial(0), _array_hypot_partial(1)),
              partials_read_output=True),

    # ----- Hyperbolic -----
    Primitive("sinh", 1, math.sinh, (lambda a, out: math.cosh(a),), ("cosh(a)",),
              r"\sinh\left({a}\right)",
              array_value=lambda a: np.sinh(a), array_partials=(lambda a, out: np.cosh(a),)),
    Primitive("cosh", 1, math.cosh, (lambda a, out: math.sinh(a),), ("sinh(a)",),
              r"\cosh\left({a}\right)",
              array_value=lambda a: np.cosh(a), array_partials=(lambda a, out: np.sinh(a),)),
    Primitive("tanh", 1, math.tanh, (lambda a, out: 1.0 - out * out,), ("1 - tanh(a)^2",),
              r"\tanh\left({a}\right)",
              array_value=lambda a: np.tanh(a), partial_code=("1.0 - {out} * {out}",),
              partials_read_arguments=False, partials_read_output=True),
    Primitive("asinh", 1, math.asinh, (lambda a, out: 1.0 / math.sqrt(a * a + 1.0),),
              ("1/sqrt(a^2 + 1)",), r"\operatorname{{arsinh}}\left({a}\right)",
              array_value=lambda a: np.arcsinh(a),
              array_partials=(lambda a, out: 1.0 / np.sqrt(a * a + 1.0),)),
    Primitive("acosh", 1, math.acosh,
              (lambda a, out: safe_div(1.0, math.sqrt(a * a - 1.0)),),
              ("1/sqrt(a^2 - 1)",), r"\operatorname{{arcosh}}\left({a}\right)",
              domain=_at_least_one, smooth_region=((1.2, 4.0),),
              array_value=lambda a: np.arccosh(a),
              array_partials=(lambda a, out: 1.0 / np.sqrt(a * a - 1.0),)),
    Primitive("atanh", 1, math.atanh, (lambda a, out: 1.0 / (1.0 - a * a),),
              ("1/(1 - a^2)",), r"\operatorname{{artanh}}\left({a}\right)",
              domain=_within_one("atanh", closed=False), smooth_region=((-0.9, 0.9),),
              array_value=lambda a: np.arctanh(a)),

    # ----- Exponentials and logarithms -----
    Primitive("exp", 1, math.exp, (lambda a, out: out,), ("exp(a)",), r"e^{{{a}}}",
              array_value=lambda a: np.exp(a), partial_code=("{out}",),
              partials_read_arguments=False, partials_read_output=True),
    Primitive("log", 1, math.log, (lambda a, out: 1.0 / a,), ("1/a",),
              r"\ln\left({a}\right)", domain=_positive("log"),
              smooth_region=((0.1, 5.0),),
              array_value=lambda a: np.log(a), partial_code=("1.0 / {a}",)),
    Primitive("log2", 1, math.log2, (lambda a, out: 1.0 / (a * math.log(2.0)),),
              ("1/(a*log(2))",), r"\log_{{2}}\left({a}\right)", domain=_positive("log2"),
              smooth_region=((0.1, 5.0),),
              array_value=lambda a: np.log2(a)),
    Primitive("log10", 1, math.log10, (lambda a, out: 1.0 / (a * math.log(10.0)),),
              ("1/(a*log(10))",), r"\log_{{10}}\left({a}\right)", domain=_positive("log10"),
              smooth_region=((0.1, 5.0),),
              array_value=lambda a: np.log10(a)),
    Primitive("sqrt", 1, math.sqrt, (lambda a, out: safe_div(0.5, out),),
              ("1/(2*sqrt(a))",), r"\sqrt{{{a}}}", domain=_non_negative,
              smooth_region=((0.1, 5.0),),
              array_value=lambda a: np.sqrt(a), array_partials=(lambda a, out: 0.5 / out,),
              partials_read_arguments=False, partials_read_output=True),
    Primitive("cbrt", 1, _cbrt, (lambda a, out: safe_div(1.0, 3.0 * out * out),),
              ("1/(3*cbrt(a)^2)",), r"\sqrt[3]{{{a}}}",
              smooth_region=((0.2, 5.0),),
              array_value=lambda a: np.cbrt(a),
              array_partials=(lambda a, out: 1.0 / (3.0 * out * out),),
              partials_read_arguments=False, partials_read_output=True),

    # ----- Piecewise and activation functions -----
    Primitive("abs", 1, abs, (lambda a, out: _sign(a),), ("sign(a)",),
              r"\left|{a}\right|", kink=_kink_at_zero("abs"), kink_mask=_at_zero,
              smooth_region=((0.2, 3.0),),
              array_partials=(lambda a, out: np.sign(a),)),
    Primitive("sign", 1, _sign, (lambda a, out: 0.0,), ("0",),
              r"\operatorname{{sgn}}\left({a}\right)", kink=_kink_at_zero("sign"), kink_mask=_at_zero,
              smooth_region=((0.2, 3.0),),
              array_value=lambda a: np.sign(a),
              partials_read_arguments=False),
    Primitive("step", 1, _step, (lambda a, out: 0.0,), ("0",),
              r"H\left({a}\right)", kink=_kink_at_zero("step"), kink_mask=_at_zero,
              smooth_region=((0.2, 3.0),),
              array_value=_array_step,
              partials_read_arguments=False),
    Primitive("relu", 1, lambda a: a if a > 0 else 0.0, (lambda a, out: _step(a),),
              ("step(a)",), r"\operatorname{{relu}}\left({a}\right)",
              kink=_kink_at_zero("relu"), kink_mask=_at_zero, smooth_region=((0.2, 3.0),),
              array_value=lambda a: np.where(a > 0, a, 0.0),
              array_partials=(lambda a, out: _array_step(a),)),
    Primitive("max", 2, lambda a, b: a if a >= b else b, (_half_sign(1.0), _half_sign(-1.0)),
              ("(1 + sign(a - b))/2", "(1 - sign(a - b))/2"),
              r"\max\left({a}, {b}\right)", kink=_tie("max"), kink_mask=_tied,
              smooth_region=((1.0, 3.0), (-3.0, 0.0)),
              array_value=lambda a, b: np.where(a >= b, a, b),
              array_partials=(_array_half_sign(1.0), _array_half_sign(-1.0))),
    Primitive("min", 2, lambda a, b: a if a <= b else b, (_half_sign(-1.0), _half_sign(1.0)),
              ("(1 - sign(a - b))/2", "(1 + sign(a - b))/2"),
              r"\min\left({a}, {b}\right)", kink=_tie("min"), kink_mask=_tied,
              smooth_region=((1.0, 3.0), (-3.0, 0.0)),
              array_value=lambda a, b: np.where(a <= b, a, b),
              array_partials=(_array_half_sign(-1.0), _array_half_sign(1.0))),
    Primitive("sigmoid", 1, _sigmoid, (lambda a, out: out * (1.0 - out),),
              ("sigmoid(a)*(1 - sigmoid(a))",), r"\sigma\left({a}\right)",
              array_value=_array_sigmoid, partial_code=("{out} * (1.0 - {out})",),
              partials_read_arguments=False, partials_read_output=True),
    Primitive("softplus", 1, _softplus, (lambda a, out: _sigmoid(a),), ("sigmoid(a)",),
              r"\operatorname{{softplus}}\left({a}\right)",
              array_value=lambda a: np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a))),
              array_partials=(lambda a, out: _array_sigmoid(a),)),
]
