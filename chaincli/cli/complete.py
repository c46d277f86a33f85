"""Shell completion: the values a shell cannot guess by itself.

Commands, options and the values of choice options complete from the Typer
app's own definitions (``chaincli --install-completion``). What needs help is
a file named after ``@`` (``grad @expr.txt``, ``--at @point.json``), which a
shell's file completion does not see past the ``@``; and ``--points FILE``,
completed here too because fish's script turns file completion off. These
run only when the shell asks (the ``_CHAINCLI_COMPLETE`` variable is set),
never on a plain command line.
"""

from __future__ import annotations

import os


def _paths(prefix: str) -> list[str]:
    """Files and folders (with a trailing ``/``) whose path starts with ``prefix``."""
    folder, start = os.path.split(prefix)
    try:
        entries = sorted(os.scandir(os.path.expanduser(folder) or "."), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(start) or (entry.name.startswith(".")
                                                and not start.startswith(".")):
            continue
        path = os.path.join(folder, entry.name)
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        found.append(path + "/" if is_dir else path)
    return found


def at_file(incomplete: str) -> list[str]:
    """``@`` and a file name, for an argument or option that reads ``@path``."""
    if not incomplete.startswith("@"):
        return []
    return ["@" + path for path in _paths(incomplete[1:])]


def file_name(incomplete: str) -> list[str]:
    """A file name, for an option whose value is a file."""
    return _paths(incomplete)
