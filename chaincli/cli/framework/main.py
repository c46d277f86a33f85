"""The Typer application with every command registered, and its entry point.

``app`` defines the application, its shared options and grad and eval; the
command modules beside it (calculus, pictures, minimize) add theirs to it.
Importing them here, and only here, registers the commands without any of
them importing this module back. ``cli.fast`` hands over to ``main`` what it
does not run itself.
"""

from __future__ import annotations

import os
import sys

import typer

from . import calculus, minimize, pictures  # noqa: F401 - they register their commands
from ...base.errors import UsageError
from ..plumbing import run_guarded
from .app import app


def main() -> None:
    """Entry point of the Typer app (``cli.fast.main`` hands it what it does not run)."""
    # What escapes the app (Ctrl-C, a closed or full stdout while printing
    # help) gets the usual message; completion requests exit by themselves.
    sys.exit(run_guarded(_run_app, passthrough=(SystemExit,)))


# The shells Typer writes a completion script for.
COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def completion_shell_problem(argv: list[str]) -> UsageError | None:
    """Why ``--install-completion`` or ``--show-completion`` cannot serve the shell
    chaincli was started from, or None. Typer finds that shell among the parent
    processes; where there is none (a detached job) or it is one without a
    script (``sh``), it would print ``Shell None is not supported`` on stdout."""
    wanted = [option for option in ("--install-completion", "--show-completion")
              if option in argv]
    if not wanted or os.environ.get("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"):
        return None
    try:
        import shellingham  # Typer's own way to find the shell
    except ImportError:  # pragma: no cover - Typer requires it
        return None
    hint = f"run chaincli {wanted[0]} from bash, zsh or fish"
    try:
        name, _ = shellingham.detect_shell()
    except shellingham.ShellDetectionFailure:
        return UsageError(f"{wanted[0]}: no shell among the processes that started "
                          "chaincli, so there is no shell to complete in", hint=hint)
    if name.lower() not in COMPLETION_SHELLS:
        return UsageError(f"{wanted[0]}: chaincli was started from {name}, which has no "
                          "completion script (bash, zsh and fish have)", hint=hint)
    return None


def _run_app() -> int:
    """The app, with the framework's usage errors as one ``Error:`` line like any other."""
    problem = completion_shell_problem(sys.argv[1:])
    if problem is not None:
        raise problem
    try:  # Typer carries its own copy of Click; earlier releases used Click itself
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the Typer release
        from click import exceptions
    try:
        return app(standalone_mode=False) or 0
    except getattr(exceptions, "NoArgsIsHelpError", ()) as error:
        error.show()  # the help text itself
        return error.exit_code
    except exceptions.ClickException as error:
        context = getattr(error, "ctx", None)
        hint = f"{context.command_path} -h lists the options" if context else None
        raise UsageError(error.format_message().rstrip("."), hint=hint) from None
    except typer.Abort:
        raise KeyboardInterrupt from None
