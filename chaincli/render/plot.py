"""A sampled curve as a terminal plot (plotext) or as CSV.

The plot draws f and ∂f/∂x against x with a legend and axis labels. Each
run of consecutive finite samples is drawn as its own segment, so where f
is undefined or infinite the plot has a gap rather than a line across it.
plotext is imported only here, when a plot is drawn.

CSV has the header ``x,f,df/dx`` and one row per sample; a value that is
undefined or infinite is an empty cell.
"""

from __future__ import annotations

import math

from ..calculus.curve import Curve
from ..base.terminal import printable


def finite_runs(values) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of consecutive finite values (end exclusive)."""
    runs = []
    start = None
    for i, value in enumerate(values):
        if math.isfinite(value):
            if start is None:
                start = i
        elif start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(values)))
    return runs


def thinned(start: int, end: int, limit: int) -> list[int]:
    """At most ``limit`` indices spread evenly over ``range(start, end)``, both ends kept."""
    count = end - start
    if count <= limit:
        return list(range(start, end))
    step = (count - 1) / (limit - 1)
    return [start + round(k * step) for k in range(limit)]


def y_limits(*series) -> tuple[float, float] | None:
    """A y range that keeps a pole from flattening everything else, or None.

    Without a pole the range is the data's. When the extremes lie far outside
    the central 90% of the samples (``1/x`` near 0, ``tan`` near π/2), the
    range is that central band widened by its own width on each side; curves
    leave the chart at its edge there, as on a graphing calculator.
    """
    import numpy
    finite = numpy.concatenate([ys[numpy.isfinite(ys)] for ys in series])
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    with numpy.errstate(all="ignore"):  # a span past the largest double is inf, and is no band
        band_low, band_high = (float(q) for q in numpy.percentile(finite, [5, 95]))
    band = band_high - band_low
    if band <= 0 or high - low <= 3 * band:
        return None
    return max(low, band_low - band), min(high, band_high + band)


# plotext maps each value to a canvas row by arithmetic that overflows past
# about 1e300 and draws a line dot by dot between consecutive points, so values
# are scaled below this and clipped a little way past the visible band.
_LARGEST_DRAWN = 1e100
_CLIP_BANDS = 100


def _drawable(value, derivative, limits):
    """The two series as plotext can draw them, the y limits to match, and the scale.

    Values past ``_LARGEST_DRAWN`` are divided by a power of ten (the y label
    says which); with a pole's band in force, values are clipped to
    ``_CLIP_BANDS`` band widths past it: beyond the chart's edge, so the
    visible part of every line is the same, at a bounded drawing cost.
    """
    import numpy
    both = numpy.concatenate([value, derivative])
    finite = both[numpy.isfinite(both)]
    largest = float(numpy.abs(finite).max()) if finite.size else 0.0
    scale = 1.0
    if largest > _LARGEST_DRAWN:
        scale = 10.0 ** math.floor(math.log10(largest))
    series = [numpy.asarray(ys, dtype=float) / scale for ys in (value, derivative)]
    if limits is not None:
        low, high = limits[0] / scale, limits[1] / scale
        reach = _CLIP_BANDS * (high - low)
        with numpy.errstate(invalid="ignore"):  # NaN stays NaN: a gap
            series = [numpy.clip(ys, low - reach, high + reach) for ys in series]
        limits = (low, high)
    return [ys.tolist() for ys in series], limits, scale


def plot_text(curve: Curve, width: int, height: int, color: bool,
              partial: str = "∂") -> str:
    """The plot as text of ``width`` × ``height`` characters; ANSI colours if ``color``."""
    import plotext as plt
    plt.clear_figure()
    plt.limitsize(False, False)
    plt.plotsize(width, height)
    plt.theme("clear")
    f = curve.output
    derivative_name = f"{partial}{f}/{partial}{curve.wrt}"
    xs = curve.x.tolist()
    limits = y_limits(curve.value, curve.derivative)
    series, limits, scale = _drawable(curve.value, curve.derivative, limits)
    # The canvas has a few dots per column; more points only cost time
    # (a million samples would take plotext seconds). Runs end where they end.
    limit = max(2, 4 * width)
    for ys, name, marker, colour in ((series[0], f, "*", "blue"),
                                     (series[1], derivative_name, "+", "red")):
        for n, (start, end) in enumerate(finite_runs(ys)):
            kept = thinned(start, end, limit)
            plt.plot([xs[i] for i in kept], [ys[i] for i in kept], marker=marker,
                     color=colour, label=name if n == 0 else None)
    held = ", ".join(f"{k}={v:g}" for k, v in curve.held.items())
    title = " ".join(printable(curve.expression).split())
    title = f"{f} = {title}" + (f"  ({held})" if held else "")
    if len(title) > width - 4:
        title = title[:width - 5] + "…"
    plt.title(title)
    # The whole interval, also where f is undefined: a gap at the edge shows too.
    plt.xlim(xs[0], xs[-1])
    if limits is not None:
        plt.ylim(*limits)
    plt.xlabel(curve.wrt)
    plt.ylabel(f"{f}, {derivative_name}" + (f"  (× {scale:.0e})" if scale != 1 else ""))
    text = plt.build()
    plt.clear_figure()
    if not color:
        text = plt.uncolorize(text)
    # plotext pads every line; trailing blanks are noise in a pipe or a file.
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _cell(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else ""


def plot_csv(curve: Curve) -> str:
    lines = ["x,f,df/dx"]
    for x, f, d in zip(curve.x.tolist(), curve.value.tolist(), curve.derivative.tolist()):
        lines.append(f"{_cell(x)},{_cell(f)},{_cell(d)}")
    return "\n".join(lines) + "\n"
