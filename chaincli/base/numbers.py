"""Numbers as text: the shortest round-trip form and the plain-output form.

Every layer writes numbers (the printer, the explanations, the renderers, the
point streamer), so the spellings live at the bottom, in ``chaincli.base``.
"""

from __future__ import annotations

import math


def format_number(value: float) -> str:
    """A float as short as it can be while reading back the same."""
    if not math.isfinite(value):
        return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))  # a NumPy scalar too, without its type name


def plain_number(value: float) -> str:
    value = float(value)  # a NumPy float64's repr would be "np.float64(…)"
    if math.isfinite(value):
        return repr(value)
    return "nan" if value != value else ("inf" if value > 0 else "-inf")
