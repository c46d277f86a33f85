"""The layers of docs/architecture.md, checked by import-linter's ``lint-imports``.

The contracts live in pyproject.toml (``[tool.importlinter]``). They run on the
installed package, as every test does, and a copy of it with one import or one
module added shows that a broken contract fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import chaincli

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "pyproject.toml"
PACKAGE = Path(chaincli.__file__).resolve().parent


def _lint_imports() -> str:
    candidate = Path(sys.executable).parent / "lint-imports"
    found = str(candidate) if candidate.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is part of the test extra: pip install '.[test]'"
    return found


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    else:
        env.pop("PYTHONPATH", None)
    return subprocess.run([_lint_imports(), "--config", str(CONFIG), "--no-cache"],
                          capture_output=True, text=True, cwd=cwd, env=env)


def test_the_installed_package_keeps_every_contract(tmp_path):
    done = _lint(tmp_path)  # not the checkout: tmp_path is the working folder
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("path, text", [
    # a batch sweep reaching up to a renderer, inside a function
    ("engine/batch/sweeps.py", "\n\ndef _up():\n    from ...render.plain import plain_gradient\n"),
    # a new module nobody placed in a layer
    ("stray.py", '"""Unplaced."""\n'),
    # the library importing the command-line framework
    ("engine/scalar/forward.py", "\n\ndef _up():\n    import typer\n"),
], ids=["upward import", "unplaced module", "typer in the library"])
def test_a_broken_contract_fails(tmp_path, path, text):
    copy = tmp_path / "site" / "chaincli"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / path, "a", encoding="utf-8") as handle:
        handle.write(text)
    done = _lint(tmp_path, pythonpath=tmp_path / "site")
    assert done.returncode != 0
    assert "BROKEN" in done.stdout


def test_every_module_imports_first_in_a_fresh_interpreter(tmp_path):
    """No module relies on another being imported before it (the primitive
    families were once importable only after the registry)."""
    names = sorted(
        "chaincli." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and path.stem != "tables")
    assert "chaincli.primitives.tensor" in names
    failures = []
    for start in range(0, len(names), 4):  # a few at a time: the machine may be shared
        batch = [(name, subprocess.Popen([sys.executable, "-c", f"import {name}"],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, cwd=tmp_path))
                 for name in names[start:start + 4]]
        for name, process in batch:
            _out, err = process.communicate()
            if process.returncode != 0:
                failures.append(f"{name}: {err.strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def test_tensor_results_are_recognised_by_type(run):
    # sum([x, 2*x]) has scalars in and out; only the kind of evaluation says
    # that the tensor sweeps computed it.
    code, out, err = run("grad", "sum([x, 2*x])", "--at", "x=1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["gradient"] == {"x": 3.0}
    assert data["chain"]["kind"] == "backward"  # the tensor explanation
