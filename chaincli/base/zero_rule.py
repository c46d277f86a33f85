"""The chain rule's one product: a partial times a tangent or an adjoint, 0·∞ = 0.

Every sweep multiplies a local partial by what arrives along an edge (a
tangent going up the tape, an adjoint coming down) and nothing else; this
module is that product. It needs no tape and imports nothing of the package
but ``base.finite``,
so it sits in ``chaincli.base``, below the scalar and tensor sweeps (and the
explanations' path products) that share it. A zero partial, tangent or
adjoint is an exact zero (the edge carries nothing), so its product with an
infinite or NaN factor is 0, not NaN: forward and reverse mode then agree at
``sqrt(x^2)`` or ``0*sqrt(x)`` at 0, and the tensor sweeps agree with the
element-by-element expansion of their tape (``engine/tensor/scalarize.py``),
whose scalar sweeps apply the rule edge by edge.

``times`` is the rule on two floats (the scalar sweeps, the dual-number
sweep of the Hessian, the path products of the explanations);
``times_elementwise`` is the same rule on arrays, element by element (the
tensor sweeps). Neither loads NumPy unless handed an array.
"""

from __future__ import annotations

import math

from .finite import all_finite_array


def times(a: float, b: float) -> float:
    """``a · b``, with 0 · anything (∞ and NaN too) taken as 0."""
    return 0.0 if a == 0.0 or b == 0.0 else a * b


def times_elementwise(a, b, quiet: bool = False):
    """``(a · b, finite)`` element by element (broadcasting), 0·∞ taken as 0.

    ``finite`` says whether the plain product was finite everywhere; when it
    was not, the elements with an exact zero factor were set to 0, and the
    caller may look for the non-finite factor to report it. The finite case,
    the common one, costs one multiplication and one pass (base/finite.py);
    only a product with an inf or NaN element is looked at element by element."""
    import numpy as np

    if quiet:  # the caller has NumPy's warnings off already
        return _times_elementwise(np, a, b)
    with np.errstate(all="ignore"):
        return _times_elementwise(np, a, b)


def _times_elementwise(np, a, b):
    product = np.multiply(a, b)
    if type(product) is np.ndarray:
        if all_finite_array(np, product, quiet=True):
            return product, True
    elif math.isfinite(float(product)):
        return product, True
    zero = (np.asarray(a) == 0.0) | (np.asarray(b) == 0.0)
    if zero.any():
        product = np.where(zero, 0.0, product)
    return product, False
