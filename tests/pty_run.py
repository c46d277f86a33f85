"""Run the installed console script with stderr on a pseudo-terminal.

The progress bar is drawn only when stderr is a terminal; the tests that look
at it run chaincli this way and read what the terminal received.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path


def run_on_terminal(args: list[str], columns: str, timeout: float = 60):
    """(exit status, stdout bytes, the terminal's text) of ``chaincli ARGS``."""
    master, slave = pty.openpty()
    script = Path(sys.executable).parent / "chaincli"
    env = {**os.environ, "TERM": "xterm", "COLUMNS": columns}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([str(script), *args], stdout=subprocess.PIPE, stderr=slave,
                               env=env)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = process.communicate(timeout=timeout)
    os.close(master)
    return process.returncode, out, seen.decode("utf-8", "replace")
