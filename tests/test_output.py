"""Terminals, environments, closed pipes and Ctrl-C: output that never misbehaves.

Environment cases run in process (CliRunner) where the setting is read at
run time, and through the installed script where it is fixed at start-up
(PYTHONIOENCODING, the C locale). Signal and pipe cases need a real process.
"""

from __future__ import annotations

import os
import json
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaincli.cli.framework.main import app
from clicheck import check_run, strict_json
from conftest import CHAINCLI

EXPR = "sin(x*y) + exp(x)/y"
AT = "x=1.234567,y=2"
ENVIRONMENTS = [{"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}, {"COLUMNS": "20"},
                {"TERM": "dumb"}, {"COLUMNS": "20", "FORCE_COLOR": "1", "TERM": "dumb"}]


def numbers_in(text: str) -> str:
    """The digits, signs and points of ``text`` outside colour codes, in order."""
    return "".join(re.findall(r"[0-9.\-]", re.sub(r"\x1b\[[0-9;]*m", "", text)))


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: ",".join(e))
def test_json_is_byte_identical_in_every_environment(cli, env):
    _, plain_out, _ = cli("grad", EXPR, "--at", AT, "--json")
    code, out, err = cli("grad", EXPR, "--at", AT, "--json", env=env)
    assert code == 0 and out == plain_out and err == ""


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: ",".join(e))
def test_table_renders_with_numbers_folded_not_cut(cli, env):
    _, json_out, _ = cli("grad", EXPR, "--at", AT, "--json")
    gradient = strict_json(json_out)["gradient"]
    code, out, err = cli("grad", EXPR, "--at", AT, env=env)
    check_run(code, out, err, json_output=False)
    assert code == 0 and "…" not in out
    if "FORCE_COLOR" in env and "NO_COLOR" not in env and env.get("TERM") != "dumb":
        assert "\x1b[" in out
    for value in gradient.values():
        # Every digit of every partial, in order, however narrow the table.
        assert numbers_in(repr(value)) in numbers_in(out), out


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"PYTHONIOENCODING": "ascii", "COLUMNS": "20"},
                                 {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
                                  "PYTHONIOENCODING": ""}],
                         ids=["ascii", "ascii-narrow", "C-locale"])
def test_table_without_unicode_uses_ascii_fallbacks(run, env):
    code, out, err = run("grad", EXPR + " # π", "--at", AT, env=env)
    assert code == 0, err
    assert "Traceback" not in err and "Error" not in err
    out.encode("ascii")  # every byte printable in the encoding
    assert "df/d" in out.replace("\n", "").replace(" ", "").replace("|", "")
    code, json_ascii, _ = run("grad", EXPR, "--at", AT, "--json", env=env)
    _, json_utf8, _ = run("grad", EXPR, "--at", AT, "--json")
    assert code == 0 and json_ascii == json_utf8


def test_warnings_and_errors_survive_an_ascii_stderr(run):
    code, _, err = run("grad", "abs(x) # ∂", "--at", "x=0", env={"PYTHONIOENCODING": "ascii"})
    assert code == 0 and "Warning: abs(x)" in err and "Traceback" not in err
    code, _, err = run("grad", "2*π", env={"PYTHONIOENCODING": "ascii"})
    assert code == 2 and err.startswith("Error: ") and "U+03C0" in err


def test_ascii_console_in_process():
    runner = CliRunner(charset="ascii")
    result = runner.invoke(app, ["grad", "x*y # →", "--at", "x=1,y=2"])
    assert result.exit_code == 0, result.stderr
    assert "df/d" in result.stdout and "->" in result.stdout


# ----- Closed pipes -----

def _run_into_closed_pipe(args, read: int, env=None):
    """Run chaincli with stdout a pipe whose reader takes ``read`` bytes and leaves."""
    process = subprocess.Popen([CHAINCLI, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
                               cwd=Path(__file__).parent)
    head = process.stdout.read(read)
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=120)
    process.stderr.close()
    return process.returncode, head, err.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def long_sum(tmp_path_factory):
    path = tmp_path_factory.mktemp("expr") / "sum.txt"
    # 20,000 variables: the JSON and the table are far longer than a pipe holds.
    path.write_text("+".join(f"x{i}*{i}" for i in range(20_000)))
    point = path.with_name("point.json")
    point.write_text("{" + ",".join(f'"x{i}": 1' for i in range(20_000)) + "}")
    return path, point


@pytest.mark.parametrize("fmt", ["json", "table", "plain"])
@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_closed_pipe_ends_quietly_and_never_with_status_0(long_sum, fmt, unbuffered):
    path, point = long_sum
    code, head, err = _run_into_closed_pipe(
        ["grad", f"@{path}", "--at", f"@{point}", "--format", fmt], 100,
        env={"PYTHONUNBUFFERED": unbuffered})
    assert len(head) == 100
    assert err == ""
    assert code == 141


def test_complete_json_exits_0_and_parses(run, long_sum):
    path, point = long_sum
    code, out, err = run("grad", f"@{path}", "--at", f"@{point}", "--json",
                         env={"PYTHONUNBUFFERED": "1"})
    assert code == 0, err
    assert len(strict_json(out)["gradient"]) == 20_000


# ----- Ctrl-C -----

def test_ctrl_c_during_a_long_run_exits_130_with_one_line(tmp_path):
    """The expression arrives through a FIFO: once chaincli has opened it,
    it is running its own code, so the signal lands in a long parse, not in
    the interpreter's start-up."""
    fifo = tmp_path / "expr.fifo"
    os.mkfifo(fifo)
    text = "+".join(f"sin(x*{i})" for i in range(140_000))  # seconds of work, under the cap
    process = subprocess.Popen([CHAINCLI, "grad", f"@{fifo}", "--at", "x=1", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=Path(__file__).parent)
    writer = threading.Thread(target=fifo.write_text, args=(text,))
    writer.start()
    writer.join(timeout=60)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err == b"Interrupted\n"
    assert out == b""


# ----- Output that cannot be written -----

@pytest.mark.parametrize("fmt", ["json", "table", "plain"])
def test_a_full_disk_or_closed_stdout_is_an_error_not_a_crash(fmt):
    args = [CHAINCLI, "grad", "x", "--at", "x=1", "--format", fmt]
    if Path("/dev/full").exists():
        with open("/dev/full", "wb") as full:
            done = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, timeout=60)
        assert done.returncode == 2
        assert done.stderr == b"Error: cannot write the output: No space left on device\n"
    done = subprocess.run(args, stderr=subprocess.PIPE, timeout=60,
                          preexec_fn=lambda: os.close(1))
    assert done.returncode == 2
    assert done.stderr == b"Error: cannot write the output: stdout is closed\n"


# ----- The output's name in every header -----

_BOUND_F = [
    (["grad", "f = x*y; f^2", "--at", "x=1,y=2"], ["f_ = f = x*y; f^2", "f_ = 4.0"]),
    (["hessian", "f = x*y; f^2", "--at", "x=1,y=2"], ["f_ = f = x*y; f^2", "f_ = 4.0"]),
    (["check", "f = x*y; f^2", "--at", "x=1,y=2"], ["f_ = f = x*y; f^2"]),
    (["minimize", "f = x*x; f^2 + 1", "--wrt", "x", "--at", "x=1"],
     ["minimize f_ = f = x*x; f^2 + 1"]),
    (["grad", "f = W @ x; sum(f)", "--at", "W=[[1,2],[3,4]]", "--at", "x=[1,1]"],
     ["f_ = f = W @ x; sum(f)", "f_ = 10.0", "∂f_/∂W  shape (2, 2)", "∂f_/∂x  shape (2,)"]),
    (["eval", "f = W @ x; f", "--at", "W=[[1,2],[3,4]]", "--at", "x=[1,1]"],
     ["f_ = f = W @ x; f"]),
    (["hessian", "f = W @ x; sum(f^2)", "--at", "W=[[1,2],[3,4]]", "--at", "x=[1,1]"],
     ["f_ = f = W @ x; sum(f^2)", "f_ = 58.0"]),
    (["check", "f = W @ x; sum(f)", "--at", "W=[[1,2],[3,4]]", "--at", "x=[1,1]"],
     ["f_ = f = W @ x; sum(f)"]),
]


@pytest.mark.parametrize("args, lines", _BOUND_F, ids=lambda a: " ".join(a)[:40])
def test_headers_name_the_output_as_the_tables_do(run, args, lines):
    code, out, err = run(*args, env={"COLUMNS": "100"})
    assert code == 0, err
    shown = [line.rstrip() for line in out.splitlines()]
    for line in lines:
        assert any(shown_line.startswith(line) for shown_line in shown), (line, out)
    assert "f = f = " not in out.replace("_ = f = ", "")


def test_the_plot_title_and_legend_name_the_output(run):
    code, out, err = run("plot", "f = x*y; f^2", "--wrt", "x", "--at", "y=2", "--from", "0",
                         "--to", "1", env={"COLUMNS": "100", "LINES": "30"})
    assert code == 0, err
    assert "f_ = f = x*y; f^2" in out and "∂f_/∂x" in out
    assert "f = f = " not in out.replace("_ = f = ", "")


def test_the_hessian_json_has_no_new_key(run):
    code, out, err = run("hessian", "f = x*y; f^2", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    assert set(json.loads(out)) == {"expression", "point", "value", "variables", "hessian",
                                    "method", "warnings"}
