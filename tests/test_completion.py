"""Shell completion for bash, zsh and fish, through the shells' own protocol.

A shell's completion script runs ``chaincli`` with ``_CHAINCLI_COMPLETE`` set
(and the words typed so far in ``COMP_WORDS``/``COMP_CWORD`` for bash,
``_TYPER_COMPLETE_ARGS`` for zsh and fish); these tests do the same with the
installed script, and for bash also run the installed completion function in
bash itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import CHAINCLI

NO_DETECTION = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def complete(shell: str, words: str, cwd=None) -> list[str]:
    """What chaincli offers for the last word of ``words`` (a trailing space: a new word)."""
    env = {**os.environ, "_CHAINCLI_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        parts = words.split(" ")
        env.update(COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
        if shell == "fish":
            env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    done = subprocess.run([CHAINCLI], env=env, capture_output=True, text=True, timeout=60,
                          cwd=cwd)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    if shell == "zsh":  # _arguments '*: :(("a":"help" "b"))' -> the values
        import re
        return re.findall(r'"((?:[^"\\]|\\.)*)"(?::"(?:[^"\\]|\\.)*")?', out)
    return [line.split("\t")[0] for line in out.splitlines() if line]


SHELLS = ["bash", "zsh", "fish"]


@pytest.mark.parametrize("shell", SHELLS)
def test_commands_complete(shell):
    assert set(complete(shell, "chaincli gr")) == {"grad", "graph"}
    assert {"grad", "eval", "diff", "hessian", "jacobian", "check", "graph", "plot"} <= \
        set(complete(shell, "chaincli "))


@pytest.mark.parametrize("shell", SHELLS)
def test_options_complete(shell):
    offered = complete(shell, "chaincli grad x --")
    assert {"--at", "--mode", "--wrt", "--format", "--json", "--explain", "--points"} <= \
        set(offered)
    assert "--tolerance" in complete(shell, "chaincli check x --t")
    for command in ("hessian", "jacobian", "check"):
        assert "--wrt" in complete(shell, f"chaincli {command} x --w"), command


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("words, values", [
    ("chaincli grad x --mode ", ["reverse", "forward"]),
    ("chaincli grad x --explain ", ["paths", "forward", "reverse", "none"]),
    ("chaincli grad x -f ", ["table", "json", "plain", "csv"]),
    ("chaincli diff x --format ", ["text", "latex", "json", "table"]),
    ("chaincli hessian x --method ", ["ad", "symbolic"]),
    ("chaincli graph x --format ", ["tree", "dot", "mermaid", "json"]),
    ("chaincli plot x --format ", ["text", "csv"]),
    ("chaincli grad x --mode f", ["forward"]),
    # after an expression that starts with "-" and holds option letters
    ("chaincli check -tanh(x) --at x=1 -f ", ["table", "json", "plain"]),
])
def test_choice_values_complete(shell, words, values):
    assert complete(shell, words) == values


@pytest.mark.parametrize("shell", SHELLS)
def test_files_after_at_complete(shell, tmp_path):
    (tmp_path / "point.json").write_text('{"x": 1}')
    (tmp_path / "points.csv").write_text("x\n1\n")
    (tmp_path / "expr.txt").write_text("x^2")
    (tmp_path / "sub").mkdir()
    assert complete(shell, "chaincli grad x --at @po", cwd=tmp_path) == \
        ["@point.json", "@points.csv"]
    assert complete(shell, "chaincli grad @e", cwd=tmp_path) == ["@expr.txt"]
    assert complete(shell, "chaincli hessian @", cwd=tmp_path) == \
        ["@expr.txt", "@point.json", "@points.csv", "@sub/"]
    assert complete(shell, f"chaincli eval @{tmp_path}/ex") == [f"@{tmp_path}/expr.txt"]
    assert complete(shell, "chaincli grad x --points po", cwd=tmp_path) == \
        ["point.json", "points.csv"]
    # An expression is not a file name: nothing is offered without the @.
    assert complete(shell, "chaincli grad po", cwd=tmp_path) == []


@pytest.mark.parametrize("shell, marker", [("bash", "complete_bash"), ("zsh", "compdef"),
                                           ("fish", "complete --command chaincli")])
def test_show_completion_prints_the_script(run, shell, marker):
    code, out, err = run("--show-completion", shell, env=NO_DETECTION)
    assert code == 0, err
    assert marker in out and "_CHAINCLI_COMPLETE" in out


@pytest.mark.parametrize("shell, path", [
    ("bash", ".bash_completions/chaincli.sh"), ("zsh", ".zfunc/_chaincli"),
    ("fish", ".config/fish/completions/chaincli.fish")])
def test_install_completion_writes_the_script(run, tmp_path, shell, path):
    code, out, err = run("--install-completion", shell,
                         env={**NO_DETECTION, "HOME": str(tmp_path)})
    assert code == 0, err
    assert "_CHAINCLI_COMPLETE" in (tmp_path / path).read_text()


@pytest.mark.parametrize("option", ["--install-completion", "--show-completion"])
def test_completion_from_a_shell_without_a_script_is_refused(tmp_path, option):
    """Started from sh, which Typer writes no script for: one Error line, exit 2,
    nothing on stdout and nothing written."""
    done = subprocess.run(["sh", "-c", f'"$0" {option}; exit $?', CHAINCLI],
                          env={**os.environ, "HOME": str(tmp_path)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"Error: {option}: chaincli was started from ")
    assert "bash, zsh or fish" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_completion_with_no_shell_to_find_is_refused(monkeypatch):
    """A detached job has no shell among its parents: the message says so."""
    import shellingham

    from chaincli.cli.framework.main import completion_shell_problem

    def no_shell():
        raise shellingham.ShellDetectionFailure()
    monkeypatch.delenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", raising=False)
    monkeypatch.setattr(shellingham, "detect_shell", no_shell)
    problem = completion_shell_problem(["--install-completion"])
    assert "no shell among the processes that started chaincli" in problem.message
    assert completion_shell_problem(["grad", "x", "--at", "x=1"]) is None
    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("zsh", "/bin/zsh"))
    assert completion_shell_problem(["--show-completion"]) is None


def _from_bash(option, home):
    return subprocess.run(["bash", "--norc", "-c", f'"$0" {option}; exit $?', CHAINCLI],
                          env={**os.environ, "HOME": str(home)}, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_install_completion_from_bash_as_the_readme_says(tmp_path):
    """``chaincli --install-completion`` run from bash, verbatim: bash's script is
    written under HOME."""
    done = _from_bash("--install-completion", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "_CHAINCLI_COMPLETE" in (tmp_path / ".bash_completions/chaincli.sh").read_text()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_show_completion_from_bash_as_the_readme_says(tmp_path):
    """``chaincli --show-completion`` run from bash, verbatim: bash's script on
    stdout, nothing written."""
    done = _from_bash("--show-completion", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "complete_bash" in done.stdout and "_CHAINCLI_COMPLETE" in done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_runs_the_installed_function(tmp_path):
    """bash itself: load the script --show-completion prints, then complete as on Tab."""
    (tmp_path / "point.json").write_text("{}")
    bin_dir = os.path.dirname(CHAINCLI)
    script = (
        'source <(chaincli --show-completion bash)\n'
        'ask() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=();\n'
        '        _chaincli_completion chaincli; printf "%s," "${COMPREPLY[@]}"; echo; }\n'
        'ask chaincli gr\n'
        'ask chaincli grad "-tanh(x)" --mode ""\n'
        'ask chaincli grad x --at @po\n')
    env = {**os.environ, **NO_DETECTION, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["grad,graph,", "reverse,forward,", "@point.json,"]


def test_completion_requests_skip_the_fast_path():
    """With the variable set, even a plain grad line goes to Typer, which answers it."""
    env = {**os.environ, "_CHAINCLI_COMPLETE": "complete_bash",
           "COMP_WORDS": "chaincli ev", "COMP_CWORD": "1"}
    done = subprocess.run([CHAINCLI, "grad", "x", "--at", "x=1"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "eval\n")


def test_plain_grad_does_not_load_the_framework(tmp_path):
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write(str(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('typer', 'click', 'rich', 'shellingham')))))\n"
            "sys.argv = ['chaincli', 'grad', '-tanh(x)', '--at', 'x=1', '--json']\n"
            "from chaincli.cli.fast import main\n"
            "main()\n")
    env = {k: v for k, v in os.environ.items() if k != "_CHAINCLI_COMPLETE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)  # not the checkout's chaincli/
    assert done.returncode == 0, done.stderr
    assert '"x": -0.41997434161402614' in done.stdout
    assert done.stderr == "[]"
