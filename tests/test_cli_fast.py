"""The fast path for plain command lines: the same bytes and exit codes as the Typer app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaincli.cli.fast import recognize
from conftest import CHAINCLI

HERE = Path(__file__).parent


@pytest.mark.parametrize("argv", [
    ["grad", "sin(x*y)", "--at", "x=1,y=2", "--json"],
    ["grad", "x^2", "-a", "x=1", "-m", "forward", "-w", "x", "-f", "plain"],
    ["eval", "-", "--at", "x=1", "--format", "json"],
    ["grad", "--json", "x", "--at", "x=1", "--at", "y=2"],
    ["grad", "-x^2"], ["eval", "-tanh(x)", "--at", "x=-1"], ["grad", "--at", "x=3", "-2*x"],
    ["eval", "--at", "x=3", "--", "-a"], ["grad", "-a", "x=1", "--", "-tanh(x)"],
])
def test_plain_command_lines_are_recognized(argv):
    assert recognize(argv) is not None


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["--version"], ["grad"], ["grad", "x", "--help"], ["grad", "-h"],
    ["eval", "-tanh(x)", "-h"], ["grad", "-x", "--bogus"], ["grad", "-x", "-y"],
    ["eval", "--", "-x", "--at", "x=1"],
    ["grad", "x", "--at=x=1"], ["grad", "x", "--mode", "sideways"], ["grad", "x", "--at"],
    ["grad", "x", "--json", "--format", "plain"], ["grad", "x", "y"],
    ["grad", "x", "-f", "json", "-f", "plain"], ["eval", "x", "--mode", "forward"],
    ["grad", "x", "--", "y"], ["grad", "x", "--explain"], ["other", "x"],
])
def test_everything_else_goes_to_the_framework(argv):
    assert recognize(argv) is None


def _run(prefix, args, stdin=b""):
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "80", "LC_ALL": "C.UTF-8"}
    done = subprocess.run([*prefix, *args], input=stdin, capture_output=True, env=env,
                          cwd=HERE)
    return done.returncode, done.stdout, done.stderr


FRAMEWORK = [sys.executable, "-c", "import sys; from chaincli.cli.framework.main import main; "
             "sys.argv[0] = 'chaincli'; main()"]


@pytest.mark.parametrize("args, stdin", [
    (["grad", "sin(x*y)", "--at", "x=1,y=2", "--json"], b""),
    (["grad", "sin(x*y)", "--at", "x=1,y=2"], b""),
    (["grad", "u = x*y; sin(u) + u^2", "-a", "x=1", "-a", "y=2", "-f", "plain"], b""),
    (["grad", "x^2*y + sin(y)", "--at", "x=1,y=2", "--mode", "forward", "--wrt", "y"], b""),
    (["grad", "abs(x) + sqrt(y)", "--at", "x=0,y=0", "--json"], b""),
    (["grad", "log(x)", "--at", "x=-1", "--json"], b""),
    (["grad", "sin(x", "--at", "x=1"], b""),
    (["grad", "sin(x*y)", "--at", "x=1", "--json"], b""),
    (["grad", "x", "--at", "x=1", "--wrt", "y"], b""),
    (["grad", "@no-such-file.txt", "--at", "x=1"], b""),
    (["grad", "-", "--at", "x=1,y=2", "--json"], b"x*y\n"),
    (["eval", "u = x*y; sin(u) + u^2", "--at", "x=1,y=2"], b""),
    (["eval", "x/y", "--at", "x=1,y=0", "--format", "plain"], b""),
    (["eval", "2^10", "--json"], b""),
    (["eval", "-tanh(x)", "--at", "x=3"], b""),
    (["grad", "--at", "x=-1", "-2*tanh(x)", "--json"], b""),
    (["grad", "-a", "a1=2,x=1", "-f", "plain", "--", "-a1*exp(x)"], b""),
])
def test_fast_path_and_framework_agree(args, stdin):
    assert recognize(args) is not None
    assert _run([CHAINCLI], args, stdin) == _run(FRAMEWORK, args, stdin)


@pytest.mark.parametrize("command", ["grad", "eval"])
def test_fast_path_knows_every_option_of_its_commands(command):
    """An option the fast path did not know would be read there as an expression
    (``grad -e --at x=1`` computing -e) while the framework reads it as an option."""
    import typer.main

    from chaincli.cli import fast as cli_fast
    from chaincli.cli.framework.main import app
    group = typer.main.get_command(app)
    names = {name for param in group.commands[command].params
             for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
             if name.startswith("-")}
    known = set(cli_fast._OPTIONS[command]) | cli_fast._OTHER_OPTIONS[command]
    assert names - {"-h", "--help"} <= known


def test_short_explain_is_an_option_on_both_paths(run, cli):
    code, out, err = run("grad", "-e", "--at", "x=1")
    assert code == 2 and out == "" and "--explain" in err
    assert cli("grad", "-e", "--at", "x=1")[0] == 2
