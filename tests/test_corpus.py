"""Inputs that once broke chaincli, replayed through the CLI on every run.

Each entry of ``corpus/regressions.json`` gives the arguments, optional
stdin (``stdin`` text or ``stdin_hex`` bytes) and file (``file``, written to
a temporary path that replaces ``{file}`` in the arguments), the expected
exit status and what stdout and stderr must or must not hold. Add an entry
for every input a fuzz run or a user finds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clicheck import check_run

CORPUS = json.loads((Path(__file__).parent / "corpus" / "regressions.json").read_text())


@pytest.mark.parametrize("entry", CORPUS, ids=lambda e: e["why"][:50])
def test_regression(cli, tmp_path, entry):
    args = list(entry["args"])
    if "file" in entry:
        path = tmp_path / "input"
        path.write_text(entry["file"], encoding="utf-8")
        args = [arg.replace("{file}", str(path)) for arg in args]
    stdin = bytes.fromhex(entry["stdin_hex"]) if "stdin_hex" in entry else entry.get("stdin")
    code, out, err = cli(*args, input=stdin)
    check_run(code, out, err, json_output="--json" in args)
    assert code == entry["exit"], err
    assert entry.get("stdout_contains", "") in out
    assert entry.get("stderr_contains", "") in err
    for text in entry.get("absent", []):
        assert text not in out and text not in err
    assert len(err) <= entry.get("max_stderr", len(err))
