"""Tables drawn without Rich are the very characters Rich draws, or Rich draws them.

``render_box`` draws a plain (not a terminal) table output itself, to spare a
one-shot ``grad`` the cost of importing Rich. Here every table chaincli prints
is drawn both ways, at several widths, and must be the same text.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import chaincli
from chaincli.render import table as render_table
from chaincli.explain.chain import explain
from chaincli.render.box import Grid, NotPlain, draw
from expressions import CORPUS


class _Pipe(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return False


FELL_BACK = []


def _both(monkeypatch, width: int, show) -> tuple[str, str]:
    """``show(console)``'s output drawn here (console None) and by Rich."""
    real = render_table.make_console
    monkeypatch.setattr(render_table, "make_console",
                        lambda *a, **k: FELL_BACK.append(1) or real(*a, **k))
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", str(width))
    plain = _Pipe()
    monkeypatch.setattr(sys, "stdout", plain)
    FELL_BACK.clear()
    show(None)
    monkeypatch.undo()
    rich_out = _Pipe()
    show(render_table.make_console(rich_out, width=width))
    return plain.getvalue(), rich_out.getvalue()


POINT = {"x": 0.7, "y": 1.3, "z": -0.4}
EXTRA = [
    "u = x*y; sin(u) + cos(u)*y^2",
    "f = x*y; abs(f)",
    "2",
    "x",
    "x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + x13 + x14 + x15",
    "u1 = x*x; u2 = u1*u1; u3 = u2*u2; u4 = u3*u3; u5 = u4*u4; u6 = u5*u5; u6",
    "sin(sin(sin(sin(sin(sin(sin(sin(x))))))))",
    "x*y  # a comment with é and \u202e",
    "tanh(" * 30 + "x" + ")" * 30,
]


@pytest.mark.parametrize("width", [40, 80, 132])
@pytest.mark.parametrize("view", ["paths", "forward", "reverse", "none"])
@pytest.mark.parametrize("text", CORPUS + EXTRA)
def test_gradient_tables_are_drawn_as_rich_draws_them(monkeypatch, width, view, text):
    expr = chaincli.compile(text)
    point = {name: POINT.get(name, 0.5) for name in expr.variables}
    try:
        result = expr.gradient(point)
    except chaincli.base.errors.DomainError:
        return
    explanation = explain(result, view, max_paths=4)
    ours, theirs = _both(monkeypatch, width,
                         lambda console: render_table.print_gradient(result, explanation,
                                                                     console))
    assert ours == theirs
    if width >= 80 and view in ("paths", "none") and text in (
            "sin(x*y)", "u = x*y; sin(u) + cos(u)*y^2", "x", "2"):
        assert not FELL_BACK, "drawn by Rich, not here"
    if width >= 80 and view in ("paths", "none"):
        ALL_CASES.append(not FELL_BACK)


ALL_CASES: list[bool] = []


def test_most_tables_are_drawn_here():
    # Runs after the comparisons above (pytest keeps the file's order).
    # The default views at a usual width: all but the odd wide or foreign table.
    assert len(ALL_CASES) > 50 and sum(ALL_CASES) >= 0.8 * len(ALL_CASES), \
        (sum(ALL_CASES), len(ALL_CASES))


def test_the_usual_output_is_drawn_here(monkeypatch):
    """The README's example at 80 columns takes the plain path (no Rich needed)."""
    result = chaincli.compile("sin(x*y)").gradient({"x": 1.0, "y": 2.0})
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys, "stdout", _Pipe())
    sheet = render_table._Sheet("utf-8")
    calls = []
    monkeypatch.setattr(render_table, "make_console",
                        lambda *a, **k: calls.append(1) or pytest.fail("Rich was used"))
    render_table.print_gradient(result, explain(result, "paths"))
    assert not calls and sheet is not None


def test_a_plain_grad_table_does_not_import_rich(tmp_path):
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write(str(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('rich', 'typer')))))\n"
            "sys.argv = ['chaincli', 'grad', 'sin(x*y)', '--at', 'x=1,y=2']\n"
            "from chaincli.cli.fast import main\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                                                         "COLUMNS": "80",
                                                         "LC_ALL": "C.UTF-8"})
    assert done.returncode == 0, done.stderr
    assert "∂f/∂x: 1 path" in done.stdout
    assert done.stderr == "[]"


def test_what_it_cannot_promise_is_left_to_rich():
    grid = Grid("t", [("a", "left")], caption="a caption")
    grid.add_row("1")
    with pytest.raises(NotPlain):
        draw(grid, 80)
    wide = Grid("t", [("a", "left")])
    wide.add_row("x" * 100)
    with pytest.raises(NotPlain):
        draw(wide, 80)
    foreign = Grid("t", [("a", "left")])
    foreign.add_row("日本")
    with pytest.raises(NotPlain):
        draw(foreign, 80)
