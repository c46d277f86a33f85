"""An expression may start with "-", wherever it stands among the options.

Every command that takes expressions gets expressions starting with "-"
followed by each short-option letter chaincli defines (``-tanh(x)`` once read
as ``-t`` and ``-a nh(x)``), before, between and after its options and after
``--``, in process and through the installed script (and so through the fast
path for grad and eval). The answer must be that of the same expression
written as ``0 -...``, which no parser can take for an option.
"""

from __future__ import annotations

import math

import pytest
import typer.main

from chaincli.cli.framework.app import ExpressionSettings
from chaincli.cli.framework.main import app
from clicheck import strict_json
from roundtrip import run_diff


def _short_letters() -> list[str]:
    group = typer.main.get_command(app)
    names = {"-h", "-V"}
    for command in group.commands.values():
        for param in command.params:
            names.update(name for name in [*getattr(param, "opts", []),
                                           *getattr(param, "secondary_opts", [])]
                         if len(name) == 2 and name[0] == "-")
    return sorted(name[1] for name in names)


LETTERS = _short_letters()


def _expression(letter: str) -> str:
    return f"-{letter}1*tanh(x) + x^2"


def _point(letter: str) -> str:
    return f"{letter}1=2,x=-0.5"


# Each command: its options (values starting with "-" among them), how many
# expressions it takes, and what of its output must match the reference.
SPECS = {
    "grad": (lambda p: ["--at", p, "--json", "-e", "none"], 1,
             lambda d: (d["value"], d["gradient"])),
    "eval": (lambda p: ["-a", p, "--json"], 1, lambda d: d["value"]),
    "diff": (lambda p: ["-w", "x", "-n", "1", "--json"], 1, lambda d: d["derivative"]),
    "hessian": (lambda p: ["--at", p, "-w", "x", "-f", "json"], 1,
                lambda d: (d["variables"], d["hessian"])),
    "jacobian": (lambda p: ["-a", p, "--wrt", "x", "--json"], 2,
                 lambda d: (d["variables"], d["jacobian"])),
    "check": (lambda p: ["--at", p, "-w", "x", "-t", "1e-5", "--json"], 1,
              lambda d: (d["agree"], [(v["variable"], v["reverse"]) for v in d["variables"]])),
    "graph": (lambda p: ["-a", p, "--json"], 1,
              lambda d: next(n["value"] for n in d["nodes"] if n["id"] == d["output"])),
    "plot": (lambda p: ["-w", "x", "--from", "-1", "--to", "1", "-n", "4", "-f", "csv",
                        "--at", p.split(",")[0]], 1, lambda text: text),
    "minimize": (lambda p: ["--at", p, "--wrt", "x", "--method", "gd", "--lr", "0.1",
                            "--steps", "5", "--json"], 1,
                 lambda d: (d["loss"], d["parameters"], d["stopped"])),
}


def test_every_expression_command_is_covered():
    group = typer.main.get_command(app)
    takes_expressions = {name for name, command in group.commands.items()
                         if isinstance(command.context_settings, ExpressionSettings)}
    assert takes_expressions == set(SPECS)
    assert {"a", "t", "f", "w", "n", "e", "d", "m", "h", "V"} <= set(LETTERS)


def _placements(options: list[str], exprs: list[str]) -> list[list[str]]:
    return [
        [*exprs, *options],                       # before the options
        [*options, *exprs],                       # after them
        [*options[:2], *exprs, *options[2:]],     # between two of them
        [*options[:2], exprs[0], *options[2:], *exprs[1:]],  # split
        [*options, "--", *exprs],                 # after --
    ]


def _outcome(command: str, code: int, out: str, err: str):
    assert code == 0, (command, code, out, err)
    _, _, extract = SPECS[command]
    return extract(out if command == "plot" else strict_json(out))


def _cases():
    for command, (options, count, _) in SPECS.items():
        for letter in LETTERS:
            exprs = [_expression(letter), "-2*tanh(x)"][:count]
            yield command, letter, options(_point(letter)), exprs


CASES = list(_cases())


@pytest.mark.parametrize("command, letter, options, exprs", CASES,
                         ids=[f"{c}-{l}" for c, l, _, _ in CASES])
def test_in_process(cli, command, letter, options, exprs):
    reference = _outcome(command, *cli(command, *["0 " + e for e in exprs], *options))
    invoke = (lambda *args: run_diff(cli, *args[1:])) if command == "diff" else cli
    for words in _placements(options, exprs):
        outcome = _outcome(command, *invoke(command, *words))
        if command == "diff":  # the formula of "0 -..." differs; run_diff read it back
            continue
        assert outcome == reference, (command, words)


@pytest.mark.parametrize("command, letter, options, exprs", CASES,
                         ids=[f"{c}-{l}" for c, l, _, _ in CASES])
def test_installed_script(cli, run, command, letter, options, exprs):
    reference = _outcome(command, *cli(command, *["0 " + e for e in exprs], *options))
    placements = _placements(options, exprs)
    # grad and eval take the fast path: every placement; the others one each.
    if command not in ("grad", "eval"):
        placements = [placements[LETTERS.index(letter) % len(placements)]]
    for words in placements:
        if command == "diff":
            run_diff(run, *words)
            continue
        assert _outcome(command, *run(command, *words)) == reference, (command, words)


@pytest.mark.parametrize("args, expected", [
    (["eval", "-tanh(x)", "--at", "x=3", "--format", "plain"], f"{-math.tanh(3.0)!r}\n"),
    (["grad", "-2*tanh(x)", "--at", "x=3", "--format", "plain"], "x -0.019732074330880423\n"),
    (["eval", "--at", "x=3", "--", "-tanh(x)", "--format", "plain"], None),
    (["eval", "--at", "x=3", "--format", "plain", "--", "-tanh(x)"], f"{-math.tanh(3.0)!r}\n"),
    (["eval", "-2*(tanh(y)*(exp(-x^2)*x))", "--at", "x=1,y=1", "--format", "plain"],
     f"{-2 * (math.tanh(1.0) * (math.exp(-1.0) * 1.0))!r}\n"),
    (["eval", "-x", "--at", "x=-1", "--format", "plain"], "1.0\n"),
])
def test_issue_examples(cli, run, args, expected):
    for invoke in (cli, run):
        code, out, err = invoke(*args)
        if expected is None:  # after "--" everything is an expression: two of them
            assert code == 2 and out == "" and "unexpected extra argument" in err
        else:
            assert (code, out) == (0, expected), err


@pytest.mark.parametrize("args, message", [
    (["grad", "x", "--wtr", "x", "--at", "x=1"], "No such option: --wtr"),
    (["grad", "-tanh(x)", "--bogus", "--at", "x=1"], "No such option: --bogus"),
    (["eval", "-tanh(x)", "-sin(x)", "--at", "x=1"], "unexpected extra argument"),
    (["grad", "-tanh(x)", "--at"], "requires an argument"),
])
def test_misspelt_options_are_still_errors(cli, run, args, message):
    for invoke in (cli, run):
        code, out, err = invoke(*args)
        assert code == 2 and out == "" and message in err, (args, err)


def test_help_is_still_help(cli, run):
    for invoke in (cli, run):
        code, out, _ = invoke("grad", "-tanh(x)", "-h")
        assert code == 0 and "Usage:" in out
