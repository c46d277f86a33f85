"""Sampling a function and its derivative along one variable, for plots.

``sample_curve`` holds every other variable at the given point, spreads the
samples evenly over ``[start, stop]`` and computes f and ∂f/∂x at all of them
in one batch sweep (``chaincli.engine.batch``). Where f is undefined (``log(x)`` for
x ≤ 0) the batch gives NaN; the renderers (``render_plot``) draw those
samples as gaps and write them as empty CSV cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..base.errors import DomainError, Phrase, UsageError
from ..base.numbers import format_number
from ..engine.results import Notice, unused_values

# A million samples take about 100 MB in a deep expression's sweep; more is
# never needed for a picture and is refused rather than slowly computed.
MAX_SAMPLES = 1_000_000


@dataclass(frozen=True)
class Curve:
    expression: str
    wrt: str                    # the variable along the horizontal axis
    held: dict[str, float]      # the other variables, fixed
    x: Any                      # NumPy arrays of one length
    value: Any                  # f, NaN where undefined
    derivative: Any             # ∂f/∂wrt, NaN where undefined
    warnings: tuple[Notice, ...] = ()
    output: str = "f"           # f's name in the title (Tape.output_name)


def sample_curve(program, wrt: str, start: float, stop: float, samples: int,
                 point: Mapping[str, float]) -> Curve:
    """f and ∂f/∂``wrt`` at ``samples`` evenly spaced points of [start, stop]."""
    if not start < stop:
        raise UsageError(Phrase("{start} ({low}) must be less than {stop} ({high})",
                                low=format_number(start), high=format_number(stop)))
    if samples < 2:
        raise UsageError(Phrase("{samples} must be at least 2, not {given}", given=samples))
    if samples > MAX_SAMPLES:
        raise UsageError(Phrase("{samples} must be at most {most:,}, not {given:,}",
                                most=MAX_SAMPLES, given=samples))
    program.require_variables([wrt], "wrt")
    program.require_scalars(point, "plot")
    if wrt in point:
        raise UsageError(f"{wrt} is the plotted variable; leave it out of --at")
    if not math.isfinite(stop - start):
        raise UsageError(Phrase("the interval is too wide to sample ({stop} minus {start} "
                                "overflows)"))
    import numpy as np
    held = {name: point[name] for name in program.variables if name in point}
    xs = np.linspace(start, stop, samples)
    result = program.gradient({**held, wrt: xs}, wrt=[wrt], batch=True)
    values = np.asarray(result.value, dtype=float)
    if not np.isfinite(values).any():
        where = ", ".join(f"{k}={format_number(v)}" for k, v in held.items())
        raise DomainError(f"{program.text.strip()[:60]} is undefined at every sample of "
                          f"{wrt} in [{format_number(start)}, {format_number(stop)}]"
                          + (f" with {where}" if where else ""))
    derivative = np.asarray(result.gradient[wrt], dtype=float)
    warnings = unused_values(point, program.tape.variable_index)
    for name, array in (("f", values), (f"the derivative of f by {wrt}", derivative)):
        missing = int(samples - np.isfinite(array).sum())
        if missing:
            warnings.append(Notice("domain", f"{name} is undefined or infinite at {missing:,} "
                                   f"of {samples:,} samples: gaps in the plot, empty cells "
                                   "in CSV", variables=(wrt,)))
    return Curve(program.text, wrt, held, xs, values, derivative, tuple(warnings),
                 program.tape.output_name())
