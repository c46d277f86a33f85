"""Batch rules that are a few NumPy ufunc calls, as those calls, for the written sweep.

The recorder (``codegen``) writes down the array operations a sweep does,
and a rule (a primitive's batch value or partial, from ``sweeps``) is one
Python call among them. Where a rule on arrays is a few ufunc calls
(``np.sin(a)``; ``1 - out*out`` for the partial of tanh), its form here
makes the same calls through ``emit``, and the written sweep calls the
ufuncs itself: the same bits, no Python frame around them, an output's value
made in its slice, and a product computed twice (``t*t`` for the value of
``tanh(u)^2`` and again inside the partial of tanh) computed once.
``tests/test_batch.py`` holds every form to its rule's bits.

A form takes ``emit`` (``emit(ufunc, *operands)`` calls and records the
ufunc) and the rule's operands, and returns the rule's result; or None, before
it emits anything, where the operands are not the kind it is written for
(a number where it wants an array: the rule then gives a number, and the
sweep must see that number). It is asked only when an operand is an array.
"""

from __future__ import annotations

from typing import Callable

from .sweeps import (MAX_MULTIPLIED_EXPONENT, multiplied_power, partial_rules, value_rule,
                     whole_exponent)

# Primitives whose batch value, on an array, is one ufunc of its operands.
ONE_UFUNC = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide",
             "neg": "negative", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin",
             "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "hypot": "hypot",
             "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "arcsinh",
             "acosh": "arccosh", "atanh": "arctanh", "exp": "exp", "log": "log",
             "log2": "log2", "log10": "log10", "sqrt": "sqrt", "cbrt": "cbrt"}

_FORMS: dict[Callable, Callable] = {}


def form_of(np, rule: Callable) -> Callable | None:
    """The form of the batch value or partial ``rule``, if it has one."""
    if not _FORMS:
        _FORMS.update(_forms(np))
    return _FORMS.get(rule)


def _forms(np) -> dict[Callable, Callable]:
    ndarray = np.ndarray

    def one_ufunc(ufunc):
        return lambda emit, *operands: emit(ufunc, *operands)

    def power(emit, a, n: int):
        return multiplied_power(a, n, lambda p, q: emit(np.multiply, p, q),
                                lambda r: emit(np.true_divide, 1.0, r))

    def power_value(emit, a, b):
        n = whole_exponent(b)
        if n is None or not isinstance(a, ndarray):
            return None
        return power(emit, a, n)

    def power_partial_base(emit, a, b, out):
        n = whole_exponent(b)
        if not isinstance(a, ndarray) or type(b) is not float:
            return None
        if n is not None and 2 <= abs(n - 1) <= MAX_MULTIPLIED_EXPONENT:
            return emit(np.multiply, power(emit, a, n - 1), b)
        if b == 2.0:
            return emit(np.multiply, b, a)      # the table's 2*x
        return None

    def tanh_partial(emit, a, out):
        if not isinstance(out, ndarray):
            return None
        return emit(np.subtract, 1.0, emit(np.multiply, out, out))

    def of_array(form, index: int):
        """``form``, where operand ``index`` is an array."""
        return lambda emit, *operands: (form(emit, *operands)
                                        if isinstance(operands[index], ndarray) else None)

    forms = {value_rule(op): one_ufunc(getattr(np, name)) for op, name in ONE_UFUNC.items()}
    forms[value_rule("pow")] = power_value
    forms[partial_rules("pow")[0]] = power_partial_base
    forms[partial_rules("tanh")[0]] = tanh_partial
    forms[partial_rules("sin")[0]] = of_array(lambda emit, a, out: emit(np.cos, a), 0)
    forms[partial_rules("cos")[0]] = of_array(
        lambda emit, a, out: emit(np.negative, emit(np.sin, a)), 0)
    forms[partial_rules("sinh")[0]] = of_array(lambda emit, a, out: emit(np.cosh, a), 0)
    forms[partial_rules("cosh")[0]] = of_array(lambda emit, a, out: emit(np.sinh, a), 0)
    forms[partial_rules("sqrt")[0]] = of_array(
        lambda emit, a, out: emit(np.true_divide, 0.5, out), 1)
    forms[partial_rules("log")[0]] = of_array(
        lambda emit, a, out: emit(np.true_divide, 1.0, a), 0)
    forms[partial_rules("div")[0]] = of_array(
        lambda emit, a, b, out: emit(np.true_divide, 1.0, b), 1)
    forms[partial_rules("div")[1]] = of_array(
        lambda emit, a, b, out: emit(np.true_divide, emit(np.negative, out), b), 2)
    return forms
