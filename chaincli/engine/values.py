"""What a value is: a finite float, or a checked float64 array.

The library's own check of the values a point gives (``CompiledExpression``
runs it on every value of the Python API) and the one the readers in
``chaincli.io`` finish with, so every value that reaches the sweeps has one
form: a ``float``, or a float64, C-contiguous NumPy array with at least one
axis, no empty axis and only finite elements. Anything else is a
``PointError`` saying where and why. ``freeze`` checks an array once and
keeps it where nothing can write to it, so no later check looks at it
again. A scalar never imports NumPy (``np`` is imported on first use);
nested lists are walked level by level, never recursively, and at most
``MAX_DIMS`` deep, NumPy's own limit.
"""

from __future__ import annotations

import math
import weakref

from ..base.errors import PointError
from ..base.finite import all_finite_array
from ..base.shapes import element_text, shape_text
from ..primitives.base import np

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Any

MAX_DIMS = 32
# Dtype kinds read as numbers: bool, signed and unsigned integers, floats.
_NUMERIC_KINDS = "biuf"


def finite_number(value, where: str) -> float:
    """``value`` (an int or float) as a finite float, or a ``PointError`` saying
    that ``where`` (``the value of x``) must be one."""
    try:
        number = float(value)
    except OverflowError:  # an int beyond the doubles
        number = math.inf
    if not math.isfinite(number):
        raise PointError(f"{where} must be a finite number")
    return number


def normalize_value(name: str, value: Any) -> Any:
    """A value given through the Python API, checked as ``--at`` values are.

    A finite int or float gives a float (without importing NumPy); a nested
    list, NumPy scalar or array gives a float, or a float64 C-contiguous array
    with no empty axis and finite elements (0-d arrays become floats). Bools,
    strings, complex, object arrays, ragged lists and NaN or infinite elements
    raise ``PointError``."""
    if type(value) is float or type(value) is int:
        return finite_number(value, f"the value of {name}")
    return normalize(name, value)


def normalize_arrays(values: dict[str, Any]) -> dict[str, Any]:
    """``normalize_value`` of NumPy arrays and numbers by name, with NumPy's
    floating-point warnings turned off once for all of them (base/finite.py);
    a frozen array passes as it is."""
    result = {}
    fresh = {}
    for name, value in values.items():
        ref = _FROZEN.get(id(value))
        if ref is not None and ref() is value:
            result[name] = value
        else:
            fresh[name] = value
    if fresh:
        with np.errstate(all="ignore"):
            for name, value in fresh.items():
                result[name] = checked_array(np.asarray(value), f"the value of {name}",
                                             quiet=True) \
                    if isinstance(value, (np.ndarray, np.generic)) \
                    and not isinstance(value, np.bool_) else normalize_value(name, value)
    return result


# The arrays ``freeze`` made, by id. Each weak reference drops its entry when
# its array is freed, before the id can name another object.
_FROZEN: dict[int, weakref.ref] = {}


def freeze(value: Any, where: str = "the value to freeze") -> float | np.ndarray:
    """``value`` checked as a point's values are (``normalize``), and an array
    kept on memory nothing can write to: a copy in a ``bytes`` object, whose
    read-only view cannot be made writeable again. It cannot change, so every
    later check takes it without looking at its elements. A float stays a
    float; an array ``freeze`` made is returned as it is."""
    ref = _FROZEN.get(id(value))
    if ref is not None and ref() is value:
        return value
    checked = normalize("", value, where)
    if isinstance(checked, float):
        return checked
    frozen = np.frombuffer(checked.tobytes(), dtype=np.float64).reshape(checked.shape)
    key = id(frozen)
    _FROZEN[key] = weakref.ref(frozen, lambda _, key=key: _FROZEN.pop(key, None))
    return frozen


def dtype_problem(dtype: np.dtype) -> str | None:
    """Why arrays of ``dtype`` cannot be values, or None when they can."""
    if dtype.hasobject:
        return "holds Python objects (an object array), which chaincli never loads"
    if dtype.kind == "c":
        return "holds complex numbers; chaincli works with real numbers"
    if dtype.kind in "US":
        return "holds text, not numbers"
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        return f"holds {dtype.name if dtype.kind != 'V' else 'structured'} data, not numbers"
    return None


def checked_array(arr: np.ndarray, where: str, quiet: bool = False) -> float | np.ndarray:
    """``arr`` as a value: float64, C-contiguous, finite, no empty axis; 0-d gives a float.
    ``quiet``: NumPy's floating-point warnings are off already."""
    # Native float64 only: '>f8' from a file has the same char, 'd'.
    if type(arr) is np.ndarray and arr.dtype.char == "d" and arr.dtype.isnative and arr.size \
            and 0 < arr.ndim <= MAX_DIMS and arr.flags.c_contiguous \
            and all_finite_array(np, arr, quiet):
        return arr  # the common case: a value as it is, once its elements pass
    problem = dtype_problem(arr.dtype)
    if problem:
        raise PointError(f"{where} {problem}")
    if arr.ndim > MAX_DIMS:
        raise PointError(f"{where} has {arr.ndim} dimensions; at most {MAX_DIMS} are allowed")
    if arr.size == 0:
        raise PointError(f"{where} is empty (shape {shape_text(arr.shape)}); a value needs "
                         "at least one element")
    arr = np.asarray(arr, dtype=np.float64)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if not all_finite_array(np, arr, quiet):
        finite = np.isfinite(arr)
        if arr.ndim == 0:
            raise PointError(f"{where} must be a finite number")
        bad = np.argwhere(~finite)[0]
        number = float(arr[tuple(bad)])
        raise PointError(f"{where}: the element {element_text(bad)} is {number!r}; every "
                         "element must be a finite number")
    if arr.ndim == 0:
        return float(arr)
    return arr


def from_nested(data, where: str, describe=None) -> np.ndarray:
    """A rectangular nested list (or tuple) of numbers as an array.

    Walked one level at a time: ``level`` holds every item at the current
    depth, so the deepest input costs a loop, not a recursion. ``describe``
    spells an item that is not a number (``json_text`` for JSON input; by
    default as Python writes it)."""
    shape: list[int] = []
    level = [data]
    while True:
        lists = [isinstance(item, (list, tuple)) for item in level]
        if not any(lists):
            break
        if not all(lists):
            raise PointError(f"{where} is ragged: it mixes numbers and lists at depth "
                             f"{len(shape) + 1}; an array must be rectangular")
        lengths = {len(item) for item in level}
        if len(lengths) > 1:
            low, high = min(lengths), max(lengths)
            raise PointError(f"{where} is ragged: lists of {low} and of {high} items at depth "
                             f"{len(shape) + 1}; an array must be rectangular")
        length = lengths.pop()
        if length == 0:
            raise PointError(f"{where} is empty; a value needs at least one element")
        shape.append(length)
        if len(shape) > MAX_DIMS:
            raise PointError(f"{where} is nested more than {MAX_DIMS} deep")
        level = [item for items in level for item in items]
    import numbers  # the abstract numbers, for arrays only: scalars never need them
    for item in level:
        if type(item) is not float and type(item) is not int and (
                isinstance(item, bool) or not isinstance(item, numbers.Real)):
            raise PointError(f"{where}: {(describe or _short_repr)(item)} is not a number")
    try:
        flat = np.array(level, dtype=np.float64)
    except OverflowError:  # an integer past 1.8e308
        raise PointError(f"{where}: every element must be a finite number (at most about "
                         "1.8e308)") from None
    return flat.reshape(shape)


def _short_repr(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def normalize(name: str, value, where: str | None = None,
              describe=None) -> float | np.ndarray:
    """A user-supplied value (number, nested list, NumPy scalar or array) checked and
    converted: a finite float, or a float64 C-contiguous array (``checked_array``).
    ``describe`` spells a value that is not a number, as in ``from_nested``."""
    where = where or f"the value of {name}"
    if isinstance(value, bool) or isinstance(value, np.bool_):
        raise PointError(f"{where} must be a number, not {(describe or repr)(value)}")
    if isinstance(value, (list, tuple)):
        return checked_array(from_nested(value, where, describe), where)
    if isinstance(value, (np.ndarray, np.generic)):
        return checked_array(np.asarray(value), where)
    import numbers
    if isinstance(value, numbers.Real):
        return finite_number(value, where)
    raise PointError(f"{where} must be a number or an array of numbers, not "
                     f"{describe(value) if describe else type(value).__name__}")
