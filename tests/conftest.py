"""Shared fixtures. The tests exercise the *installed* package.

``python -m pytest`` puts the checkout first on ``sys.path``, where
``chaincli/`` lacks the grammar that the wheel maps in; the checkout is taken
off the path so a file missing from the package fails here, as it would for
a user. The installed copy may live under the checkout too (the README's
``.venv`` inside the clone): what must not be imported is the checkout's own
``chaincli/`` folder, wherever the environment is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]

import chaincli  # noqa: E402

if Path(chaincli.__file__).resolve().parent == ROOT / "chaincli":
    raise RuntimeError("tests must run against the installed chaincli: pip install . first")

from typer.testing import CliRunner  # noqa: E402

from chaincli.cli.framework.main import app  # noqa: E402


def _script() -> str:
    candidate = Path(sys.executable).parent / "chaincli"
    return str(candidate) if candidate.exists() else "chaincli"


CHAINCLI = _script()


@pytest.fixture
def cli():
    """Invoke the Typer app in process; returns (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None, env=None):
        result = runner.invoke(app, list(args), input=input, env=env)
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def run():
    """Run the installed console script in a subprocess from a neutral folder."""

    def invoke(*args: str, input: bytes | str | None = None, env=None, timeout=120):
        full_env = {**os.environ, **(env or {})}
        if isinstance(input, str):
            input = input.encode()
        done = subprocess.run([CHAINCLI, *args], input=input, capture_output=True,
                              env=full_env, timeout=timeout, cwd=Path(__file__).parent)
        return done.returncode, done.stdout.decode("utf-8", "replace"), \
            done.stderr.decode("utf-8", "replace")

    return invoke
