"""Numbers as text: the round-trip, plain, LaTeX and display spellings.

Every layer writes numbers (the printer, the explanations, the renderers, the
point streamer, the optimizers' messages), so the spellings live at the
bottom, in ``chaincli.base``. ``format_number`` and ``plain_number`` read
back the same float; ``latex_number`` is ``format_number`` in LaTeX;
``short_number`` (5 significant digits: explanation tables, graphs) and
``rounded_number`` (6: tensor elements, a minimization's progress and its
messages) are display formats that round on purpose.
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


def latex_number(value: float) -> str:
    """A number as LaTeX, at full precision: ``1.5``, ``2 \\cdot 10^{-7}``."""
    text = format_number(value)
    if text in ("inf", "-inf", "nan"):
        return {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\mathrm{NaN}"}[text]
    if "e" in text:
        mantissa, _, exponent = text.partition("e")
        return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
    return text


def short_number(value: float) -> str:
    """A number to 5 significant digits, for explanation tables: ``-0.41615``."""
    return format(value, ".5g")


def rounded_number(value: float) -> str:
    """A number to 6 significant digits: ``-0.832294``, ``1e-05``, ``nan``."""
    return format(value, ".6g")
