"""The console script's entry point: plain command lines skip the CLI framework.

Importing Typer (and the Click under it) takes longer than a whole one-shot
answer. So ``main`` first looks at the command line, and when it is
``grad EXPR`` or ``eval EXPR`` followed only by the options below, each
written as two words (``--at x=1``), it runs the command here with the same
command bodies (``commands``) and helpers (``cli_io``) as the Typer commands:

    grad: --at/-a, --mode/-m, --wrt/-w, --format/-f, --json
    eval: --at/-a, --format/-f, --json

Which words are expressions (one may start with ``-``: ``-tanh(x)``) is
decided by ``cli_args.arrange``, as in the Typer app. Anything else — help,
``--version``, other options or commands, ``--opt=value``, an option given
twice, a value that is not one of the choices — goes to the Typer app in
``cli``, which defines the interface and its error messages. tests/test_cli_fast.py checks
that both give the same bytes and exit codes.
"""

from __future__ import annotations

import os
import sys

_OPTIONS = {
    "grad": {"--at": "at", "-a": "at", "--mode": "mode", "-m": "mode", "--wrt": "wrt",
             "-w": "wrt", "--format": "format", "-f": "format", "--json": "json"},
    "eval": {"--at": "at", "-a": "at", "--format": "format", "-f": "format",
             "--json": "json"},
}
# The commands' other options: the fast path does not run them, but it must
# know them, so that "-e" is read as --explain here as in the full CLI, never as
# an expression (tests/test_cli_fast.py checks these against the Typer app).
_OTHER_OPTIONS = {
    "grad": {"--explain", "-e", "--max-paths", "--direction", "-d", "--points",
             "--points-format"},
    "eval": set(),
}
_HELP = ("-h", "--help")
_CHOICES = {"mode": ("reverse", "forward"), "format": ("table", "json", "plain")}


def recognize(argv: list[str]) -> dict | None:
    """The request for a plain command line, or None for anything else."""
    if not argv or argv[0] not in _OPTIONS:
        return None
    from .args import arrange
    options = _OPTIONS[argv[0]]
    flags = {"--json", *_HELP}
    words = argv[1:]
    others = _OTHER_OPTIONS[argv[0]]
    words = arrange(words, (options.keys() | others) - flags, flags) or words
    for word in words:
        if word == "--":
            break
        if word in others:
            return None  # an option only the framework runs
    request: dict = {"command": argv[0], "expr": None, "at": [], "mode": "reverse",
                     "wrt": None, "format": None, "json": False}
    seen = set()
    words = iter(words)
    for word in words:
        if word == "--":  # arrange put every expression after it
            rest = list(words)
            if len(rest) != 1 or request["expr"] is not None:
                return None
            request["expr"] = rest[0]
            break
        key = options.get(word)
        if key is None:
            if word.startswith("-") and word != "-":
                return None  # help, or an unknown option: the framework says what
            if request["expr"] is not None:
                return None
            request["expr"] = word
            continue
        if key == "json":
            if key in seen:
                return None
            seen.add(key)
            request["json"] = True
            continue
        value = next(words, None)
        if value is None:
            return None
        if key == "at":
            request["at"].append(value)
            continue
        if key in seen or (key in _CHOICES and value not in _CHOICES[key]):
            return None
        seen.add(key)
        request[key] = value
    if request["expr"] is None:
        return None
    fmt = request["format"]
    if request["json"]:
        if fmt not in (None, "json"):
            return None
        fmt = "json"
    request["format"] = fmt or "table"
    return request


def run(request: dict) -> int:
    """Run a recognized request with the commands' shared bodies; the exit status."""
    from . import commands
    if request["command"] == "grad":
        return commands.grad(request["expr"], request["at"], mode=request["mode"],
                             wrt=request["wrt"], fmt=request["format"])
    return commands.evaluate(request["expr"], request["at"], fmt=request["format"])


def guarded(request: dict) -> int:
    """``run`` with errors, Ctrl-C and closed pipes turned into messages and statuses."""
    from .plumbing import run_guarded
    return run_guarded(lambda: run(request))


def _interrupted(signum, frame) -> None:
    # Ctrl-C may come while modules are still being imported, before any
    # handler of ours could catch KeyboardInterrupt: stop at once, one line.
    try:
        os.write(2, b"Interrupted\n")
    finally:
        os._exit(130)


def main() -> None:
    """Console-script entry point."""
    import signal
    signal.signal(signal.SIGINT, _interrupted)
    # A shell asking for completions sets this variable; only Typer answers it.
    request = None if "_CHAINCLI_COMPLETE" in os.environ else recognize(sys.argv[1:])
    if request is None:
        from .framework.main import main as framework_main
        framework_main()
        return
    sys.exit(guarded(request))
