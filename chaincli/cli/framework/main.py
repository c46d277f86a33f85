"""The Typer application with every command registered, and its entry point.

``app`` defines the application, its shared options and grad and eval; the
command modules beside it (calculus, pictures, minimize) add theirs to it.
Importing them here, and only here, registers the commands without any of
them importing this module back. ``cli.fast`` hands over to ``main`` what it
does not run itself.
"""

from __future__ import annotations

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


def _run_app() -> int:
    """The app, with the framework's usage errors as one ``Error:`` line like any other."""
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
