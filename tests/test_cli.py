"""The command line, in process (CliRunner) and as the installed script."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest

import chaincli
from chaincli.cli.framework.main import app

EXPECTED_SIN_XY = {
    "expression": "sin(x*y)",
    "point": {"x": 1.0, "y": 2.0},
    "value": math.sin(2.0),
    "gradient": {"x": 2 * math.cos(2.0), "y": math.cos(2.0)},
    "mode": "reverse",
    "warnings": [],
}


def without_chain(data: dict) -> dict:
    """The JSON object less its ``chain`` key, which must be there."""
    assert "chain" in data
    return {key: value for key, value in data.items() if key != "chain"}


def test_grad_json_exact(cli):
    code, out, err = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    assert without_chain(json.loads(out)) == EXPECTED_SIN_XY


def test_grad_json_without_explanation_is_unchanged(cli):
    code, out, err = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--json", "--explain", "none")
    assert code == 0, err
    assert json.loads(out) == EXPECTED_SIN_XY


def test_grad_json_has_full_precision(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--format", "json")
    assert repr(2 * math.cos(2.0)) in out


@pytest.mark.parametrize("at", [["--at", "x=1,y=2"], ["--at", "x=1", "--at", "y=2"],
                                ["-a", "y=2,x=1"], ["--at", "x = 1, y = 2"]])
def test_at_forms(cli, at):
    code, out, err = cli("grad", "sin(x*y)", "--json", *at)
    assert code == 0, err
    assert json.loads(out)["gradient"] == EXPECTED_SIN_XY["gradient"]


def test_at_values_may_be_constant_expressions(cli):
    code, out, _ = cli("grad", "sin(x)", "--at", "x=pi/2", "--json")
    data = json.loads(out)
    assert data["point"] == {"x": math.pi / 2}
    assert data["value"] == 1.0


def test_at_json_file(cli, tmp_path):
    point = tmp_path / "point.json"
    point.write_text('{"x": 1, "y": 2.0}')
    code, out, err = cli("grad", "sin(x*y)", "--at", f"@{point}", "--json")
    assert code == 0, err
    assert json.loads(out)["gradient"] == EXPECTED_SIN_XY["gradient"]


def test_expression_from_stdin_and_file(cli, tmp_path):
    code, out, _ = cli("grad", "-", "--at", "x=1,y=2", "--json", input="sin(x*y)\n")
    assert json.loads(out)["gradient"] == EXPECTED_SIN_XY["gradient"]
    path = tmp_path / "expr.txt"
    path.write_text("u = x*y\nsin(u)\n")
    code, out, _ = cli("grad", f"@{path}", "--at", "x=1,y=2", "--json")
    assert json.loads(out)["gradient"] == EXPECTED_SIN_XY["gradient"]


def test_forward_mode_and_wrt(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--mode", "forward",
                       "--wrt", "y", "--json")
    data = json.loads(out)
    assert data["mode"] == "forward"
    assert data["gradient"] == {"y": math.cos(2.0)}


def test_plain_format_for_read(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--format", "plain")
    assert out == f"x {2 * math.cos(2.0)!r}\ny {math.cos(2.0)!r}\n"


def test_table_format_shows_value_and_gradient(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2")
    assert code == 0
    assert repr(math.sin(2.0)) in out
    assert repr(2 * math.cos(2.0)) in out


def test_expression_starting_with_minus(cli):
    code, out, err = cli("grad", "-x^2", "--at", "x=3", "--json")
    assert code == 0, err
    assert json.loads(out)["gradient"] == {"x": -6.0}


def test_eval(cli):
    code, out, _ = cli("eval", "u = x*y; sin(u) + u^2", "--at", "x=1,y=2", "--json")
    assert json.loads(out) == {"value": math.sin(2.0) + 4.0}
    code, out, _ = cli("eval", "2^10", "--format", "plain")
    assert out == "1024.0\n"


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"chaincli {chaincli.__version__}"


def test_every_command_has_help_with_an_example(cli):
    import typer.main
    group = typer.main.get_group(app)
    assert set(group.commands) >= {"grad", "eval"}
    for name in group.commands:
        code, out, _ = cli(name, "--help")
        assert code == 0
        assert "Example: chaincli " + name in out, name


def test_every_command_is_in_the_readme():
    import typer.main
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in typer.main.get_group(app).commands:
        assert f"chaincli {name}" in readme, name


def test_installed_script_json(run):
    code, out, err = run("grad", "sin(x*y)", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    assert without_chain(json.loads(out)) == EXPECTED_SIN_XY


@pytest.mark.parametrize("env", [
    {"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}, {"COLUMNS": "20"},
    {"PYTHONIOENCODING": "ascii"}, {"TERM": "dumb"},
])
def test_json_bytes_do_not_depend_on_the_terminal(run, env):
    base = run("grad", "u = x*y; sin(u) + 1/u", "--at", "x=1,y=2", "--json")
    varied = run("grad", "u = x*y; sin(u) + 1/u", "--at", "x=1,y=2", "--json", env=env)
    assert varied == base


def test_json_is_strict_for_non_finite_numbers(run):
    code, out, _ = run("grad", "sqrt(x) + x", "--at", "x=0", "--json")
    json.loads(out, parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    assert "Infinity" in out


def test_broken_pipe_is_quiet(tmp_path):
    from conftest import CHAINCLI
    expr = " + ".join(f"x{i}" for i in range(3000))
    point = ",".join(f"x{i}=1" for i in range(3000))
    pipeline = f"{CHAINCLI} grad @{tmp_path / 'e.txt'} --at {point} --format plain | head -c 10"
    (tmp_path / "e.txt").write_text(expr)
    done = subprocess.run(["bash", "-c", pipeline], capture_output=True, timeout=120)
    assert done.stdout == b"x0 1.0\nx1 "
    assert done.stderr == b""


def test_interrupt_exits_130(tmp_path):
    import signal
    import time
    from conftest import CHAINCLI
    proc = subprocess.Popen([CHAINCLI, "grad", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)  # let it start and block reading stdin
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out == b""
    assert err.decode().strip() == "Interrupted"


def test_direction_seeds_the_forward_trace(cli):
    code, out, err = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--direction", "x=1,y=-1",
                         "--explain", "forward", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["trace"]["seeds"] == [{"x": 1.0, "y": -1.0}]
    expected = 2 * math.cos(2.0) - math.cos(2.0)
    assert data["directional_derivative"] == pytest.approx(expected, rel=1e-15)
    assert data["trace"]["rows"][-1]["node"] == "f"
    assert data["trace"]["rows"][-1]["tangents"] == [pytest.approx(expected, rel=1e-15)]


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["grad", "--help"],
                                  ["grad", "x", "--at", "x=1", "--json"]])
def test_unwritable_stdout_is_one_error_line(args):
    from conftest import CHAINCLI
    with open("/dev/full", "wb") as full:
        done = subprocess.run([CHAINCLI, *args], stdout=full, stderr=subprocess.PIPE,
                              timeout=60)
    assert done.returncode == 2
    assert done.stderr.decode().startswith("Error: cannot write the output")
    assert b"Traceback" not in done.stderr


def _readme_commands():
    """The self-contained ``chaincli`` lines of the README's shell examples."""
    import re
    import shlex
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            # Lines that read files or pipes need their inputs; the rest run as written.
            # The completion lines look for the shell that runs them (and one writes
            # to HOME): test_completion.py runs them from bash.
            if line.startswith("chaincli ") and not re.search(r"[|<>@]|\.(jsonl?|csv|txt)\b", line) \
                    and "-completion" not in line:
                yield shlex.split(line, comments=True)


@pytest.mark.parametrize("words", list(_readme_commands()), ids=" ".join)
def test_readme_examples_run_verbatim(run, words):
    code, out, err = run(*words[1:])
    assert code == 0, err
    assert out
