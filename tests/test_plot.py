"""plot: sampling with the batch evaluator, the terminal picture and CSV."""

from __future__ import annotations

import csv
import io
import math

import pytest

import chaincli
from chaincli.calculus.curve import sample_curve
from chaincli.render.plot import finite_runs, plot_text

NO_TERMINAL = {"COLUMNS": "", "NO_COLOR": ""}


def test_plot_draws_both_curves_with_legend_and_labels(run):
    code, out, err = run("plot", "sin(x)", "--wrt", "x", "--from", "-3", "--to", "3",
                         env=NO_TERMINAL)
    assert (code, err) == (0, "")
    assert "\x1b" not in out                       # no escape codes in a pipe
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert 10 <= len(lines) <= 24
    assert "f = sin(x)" in lines[0]
    assert any("** f" in line for line in lines)
    assert any("++ ∂f/∂x" in line for line in lines)
    assert lines[-1].startswith("f, ∂f/∂x") and lines[-1].rstrip().endswith("x")
    assert "-3.0" in lines[-2] and "3.0" in lines[-2]
    # Both curves have marks on the canvas, not just in the legend.
    canvas = "\n".join(lines[3:-3])
    assert canvas.count("*") > 20 and canvas.count("+") > 20


def test_columns_sets_the_width(run):
    code, out, _ = run("plot", "x^2", "--wrt", "x", "--from", "-1", "--to", "1",
                       env={"COLUMNS": "50"})
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 50


def test_ascii_output_when_the_encoding_has_no_partial_sign(run):
    code, out, err = run("plot", "x^2", "--wrt", "x", "--from", "-1", "--to", "1",
                         env={**NO_TERMINAL, "PYTHONIOENCODING": "ascii"})
    assert code == 0, err
    assert "df/dx" in out and out.isascii()


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_csv_equals_the_scalar_evaluator(cli):
    code, out, err = cli("plot", "sin(x)*y + x^3", "--wrt", "x", "--from", "-2", "--to",
                         "1.5", "--at", "y=2", "--samples", "8", "--format", "csv")
    assert code == 0, err
    rows = _rows(out)
    assert rows[0] == ["x", "f", "df/dx"]
    assert len(rows) == 9
    program = chaincli.compile("sin(x)*y + x^3")
    assert float(rows[1][0]) == -2.0 and float(rows[-1][0]) == 1.5
    for x, f, d in rows[1:]:
        result = program.gradient({"x": float(x), "y": 2.0})
        assert math.isclose(float(f), result.value, rel_tol=1e-13, abs_tol=1e-15)
        assert math.isclose(float(d), result.gradient["x"], rel_tol=1e-13, abs_tol=1e-15)


def test_csv_has_empty_cells_where_undefined(cli):
    code, out, err = cli("plot", "log(x)", "--wrt", "x", "--from", "-1", "--to", "1",
                         "--samples", "11", "-f", "csv")
    assert code == 0, err
    assert "f is undefined or infinite at 6 of 11 samples" in err
    for x, f, d in _rows(out)[1:]:
        if float(x) <= 0:
            assert (f, d) == ("", "")
        else:
            assert math.isclose(float(f), math.log(float(x)))
            assert math.isclose(float(d), 1 / float(x))


def test_finite_runs():
    nan, inf = math.nan, math.inf
    assert finite_runs([nan, 1, 2, nan, 3, inf, 4, 5]) == [(1, 3), (4, 5), (6, 8)]
    assert finite_runs([1, 2]) == [(0, 2)]
    assert finite_runs([nan]) == []


def test_undefined_samples_are_gaps_not_lines(monkeypatch):
    import plotext
    drawn = []
    original = plotext.plot

    def record(xs, ys, **options):
        drawn.append((list(xs), options.get("label")))
        return original(xs, ys, **options)

    monkeypatch.setattr(plotext, "plot", record)
    program = chaincli.compile("log(abs(x))")
    curve = sample_curve(program, "x", -1.0, 1.0, 11, {})
    text = plot_text(curve, 80, 24, color=False)
    # f and its derivative are each two segments, split at x = 0 where log is undefined.
    assert len(drawn) == 4
    assert all(0.0 not in xs for xs, _ in drawn)
    assert [label for _, label in drawn] == ["f", None, "∂f/∂x", None]
    assert "\x1b" not in text


def test_log_on_minus_one_to_one_leaves_the_left_half_empty(cli):
    code, out, err = cli("plot", "log(x)", "--wrt", "x", "--from", "-1", "--to", "1",
                         env={"COLUMNS": "80"})
    assert code == 0, err
    lines = out.splitlines()
    canvas = [line for line in lines[2:-3] if "┤" in line or "│" in line]
    left = [line.split("│" if "│" in line else "┤", 1)[1][:30] for line in canvas]
    # Only the legend (top left) sits in the left part of the canvas.
    assert all(set(part.strip()) <= set() for part in left[2:])


@pytest.mark.parametrize("args, code, message", [
    (["--from", "1", "--to", "1"], 2, "must be less than --to"),
    (["--from", "2", "--to", "1"], 2, "must be less than --to"),
    (["--from", "0", "--to", "1", "--samples", "1"], 2, "at least 2"),
    (["--from", "0", "--to", "1", "--samples", "2000000"], 2, "at most"),
    (["--from", "zero", "--to", "1"], 2, "--from 'zero'"),
    (["--from", "0", "--to", "1", "--wrt", "z"], 2, "--wrt names z, which the expression"),
    (["--from", "0", "--to", "1", "--at", "x=1"], 2, "plotted variable"),
])
def test_usage_errors(cli, args, code, message):
    full = ["plot", "x*y", "--at", "y=2", *args]
    if "--wrt" not in args:
        full += ["--wrt", "x"]
    got, out, err = cli(*full)
    assert got == code and out == ""
    assert message in err and "Traceback" not in err


def test_undefined_everywhere_is_a_math_error(cli):
    code, out, err = cli("plot", "log(x)", "--wrt", "x", "--from", "-2", "--to", "-1")
    assert code == 1 and out == ""
    assert "undefined at every sample" in err


def test_constant_expression_bounds(cli):
    code, out, _ = cli("plot", "sin(x)", "--wrt", "x", "--from", "-pi", "--to", "pi",
                       "--samples", "3", "-f", "csv")
    assert code == 0
    assert [float(row[0]) for row in _rows(out)[1:]] == [-math.pi, 0.0, math.pi]


def test_help_has_example(cli):
    code, out, _ = cli("plot", "--help")
    assert code == 0 and "Example: chaincli plot" in out


def test_thinning_keeps_the_ends_of_each_run():
    from chaincli.render.plot import thinned
    assert thinned(3, 8, 10) == [3, 4, 5, 6, 7]
    kept = thinned(10, 1_000_010, 320)
    assert len(kept) == 320 and kept[0] == 10 and kept[-1] == 1_000_009
    assert kept == sorted(set(kept))


def test_many_samples_draw_the_same_gaps(monkeypatch):
    import plotext
    drawn = []
    original = plotext.plot

    def record(xs, ys, **options):
        drawn.append(list(xs))
        return original(xs, ys, **options)

    monkeypatch.setattr(plotext, "plot", record)
    curve = sample_curve(chaincli.compile("log(x)"), "x", -1.0, 1.0, 200_001, {})
    plot_text(curve, 80, 24, color=False)
    assert len(drawn) == 2 and all(len(xs) <= 320 for xs in drawn)
    first_defined = float(curve.x[curve.x > 0][0])
    assert all(xs[0] == first_defined and xs[-1] == 1.0 for xs in drawn)


def test_colour_only_when_asked():
    curve = sample_curve(chaincli.compile("x^2"), "x", -1.0, 1.0, 21, {})
    assert "\x1b[" in plot_text(curve, 60, 20, color=True)
    assert "\x1b" not in plot_text(curve, 60, 20, color=False)


def test_unused_values_are_warned_about(cli):
    code, out, err = cli("plot", "x^2", "--wrt", "x", "--from", "0", "--to", "1",
                         "--at", "q=3", "-f", "csv", "--samples", "2")
    assert code == 0 and out == "x,f,df/dx\n0.0,0.0,0.0\n1.0,1.0,2.0\n"
    assert "q is not a variable of the expression" in err


def test_a_pole_does_not_flatten_the_plot():
    import numpy as np
    from chaincli.render.plot import y_limits
    x = np.linspace(-1, 1, 201)
    with np.errstate(divide="ignore"):
        f = 1 / x
        d = -1 / x ** 2
    low, high = y_limits(f, d)
    assert -1e4 < low < -1 and 1 < high < 1e4
    assert y_limits(np.sin(x), np.cos(x)) is None
    assert y_limits(np.array([np.nan]), np.array([np.inf])) is None


@pytest.mark.parametrize("expr, start, stop", [
    ("exp(x)", "0", "1000"),        # finite values up to 1e307 beside a pole's band
    ("x*1e308", "0", "10"),         # a span past the largest double
    ("-x*1e308 + 1e308", "-1", "1"),
])
def test_values_near_the_largest_double_are_drawn(run, expr, start, stop):
    code, out, err = run("plot", expr, "--wrt", "x", "--from", start, "--to", stop,
                         env=NO_TERMINAL, timeout=60)
    assert code == 0, err
    assert all(line.startswith("Warning:") for line in err.splitlines()), err
    lines = out.splitlines()
    assert f"f = {expr}" in lines[0]
    # The axis says how the values were scaled to be drawn.
    assert "(× 1e+" in lines[-1]
    canvas = "\n".join(lines[3:-3])
    assert "*" in canvas or "+" in canvas  # exp is its own derivative: + covers *


def test_lines_leaving_the_chart_cost_a_bounded_drawing():
    # A pole's band fixes the chart; a point 1e89 band widths away is drawn
    # at the edge's side of the canvas, not dot by dot along the whole way.
    import numpy as np
    from chaincli.render.plot import _CLIP_BANDS, _drawable
    x = np.linspace(-1, 1, 201)
    f = np.where(x == 0, 1e90, 1 / np.where(x == 0, 1, x))
    d = np.full_like(x, 1.0)
    series, (low, high), scale = _drawable(f, d, (-10.0, 10.0))
    assert scale == 1.0 and (low, high) == (-10.0, 10.0)
    assert max(series[0]) == 10.0 + _CLIP_BANDS * 20.0
    assert series[1] == d.tolist()
