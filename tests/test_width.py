"""The width output is laid out for: COLUMNS that no terminal has (0, negative,
not a number, a billion) is ignored, so every command prints what it prints
at the default 80 columns, through the installed script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaincli.base import terminal

ABSURD = ["0", "-5", "abc", "100000000", "1e3", " "]

COMMANDS = [
    ["grad", "x*y + sin(x)", "--at", "x=1,y=2"],
    ["grad", "sum(x*x)", "--at", "x=[1,2,3]"],
    ["grad", "sum(W @ v)", "--at", "W=[[1,2],[3,4]],v=[1,1]", "--wrt", "v"],
    ["grad", "x*y", "--at", "x=1,y=2", "--explain", "none"],
    ["eval", "x*2", "--at", "x=3"],
    ["eval", "x*2", "--at", "x=[1,2]"],
    ["eval", "A @ A", "--at", "A=[[1,2],[3,4]]"],
    ["diff", "sin(x)*x", "--wrt", "x", "--steps"],
    ["hessian", "x^2*y", "--at", "x=1,y=2"],
    ["jacobian", "x*y", "x+y", "--at", "x=1,y=2"],
    ["check", "x*y", "--at", "x=1,y=2"],
    ["check", "sum(x*x)", "--at", "x=[1,2]"],
    ["graph", "x*y"],
    ["graph", "sum(W @ v)"],
    ["plot", "sin(x)", "--wrt", "x", "--from", "0", "--to", "3"],
    ["minimize", "(x - 1)^2", "--at", "x=0"],
    ["minimize", "(x - 1)^2", "--at", "x=0", "--plot"],
    ["grad", "--help"],
]


def _run(args, columns, **extra):
    env = {name: value for name, value in os.environ.items()
           if name not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env.update(COLUMNS=columns, **extra)
    script = Path(sys.executable).parent / "chaincli"
    done = subprocess.run([str(script), *args], capture_output=True, env=env, timeout=120,
                          cwd=Path(__file__).parent)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a)[:40])
def test_an_absurd_width_prints_what_80_columns_print(args):
    expected = _run(args, "80")
    assert expected[0] == 0 and expected[1], expected
    for columns in ABSURD:
        assert _run(args, columns) == expected, columns


@pytest.mark.parametrize("args", [COMMANDS[1], COMMANDS[6], COMMANDS[12]],
                         ids=lambda a: a[0])
def test_an_absurd_width_when_rich_draws(args):
    # Colour forces Rich to draw (not the plain drawing of render_box), and Rich
    # would take COLUMNS=0 as given.
    expected = _run(args, "80", FORCE_COLOR="1")
    assert expected[0] == 0 and b"\x1b[" in expected[1]
    for columns in ("0", "100000000"):
        assert _run(args, columns, FORCE_COLOR="1") == expected, columns


def test_widths(monkeypatch):
    monkeypatch.setattr(terminal, "terminal_columns", lambda fds=(0, 1, 2): None)
    for columns, width in [("0", 80), ("-5", 80), ("abc", 80), ("10000000000", 80),
                           ("10001", 80), ("", 80), ("10000", 10000), ("132", 132),
                           ("20", 20), ("5", 20), ("1", 20), ("٣", 80), (" 90 ", 90)]:
        monkeypatch.setenv("COLUMNS", columns)
        assert terminal.output_width() == width, columns
    monkeypatch.delenv("COLUMNS")
    assert terminal.output_width() == 80


def test_progress_bar_under_an_absurd_width():
    from pty_run import run_on_terminal
    code, _, text = run_on_terminal(["minimize", "(x - 3)^2 + (y + 1)^2", "--at", "x=0,y=0", "--method", "gd",
         "--lr", "1e-6", "--steps", "30000", "--tol", "0", "--json"], columns="0")
    assert code == 0
    assert "step" in text and "|grad|" in text
