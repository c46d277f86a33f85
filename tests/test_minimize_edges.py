"""minimize at its edges: a gradient that rounds to 0, shapes past NumPy's
limits, and the output files (--out, --trace) when they cannot be written or
the run is stopped while writing them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clicheck import check_run, strict_json
from conftest import CHAINCLI


# ----- a zero gradient is not always a minimum -----

@pytest.mark.parametrize("method, lr", [("gd", "1000"), ("momentum", "1000"),
                                        ("adam", "5000")])
@pytest.mark.parametrize("expr", ["exp(x)", "1 + exp(x)", "exp(x) + exp(y)"])
def test_a_gradient_that_underflowed_is_no_minimum(run, expr, method, lr):
    # One step lands where exp(x) is 0 in floating point: the gradient is
    # exactly 0 and the loss flat beyond, but the loss never has a minimum.
    code, out, err = run("minimize", expr, "--wrt", "x" if "y" not in expr else "x,y",
                         "--at", "x=1" if "y" not in expr else "x=1,y=2", "--method", method,
                         "--lr", lr, "--json")
    check_run(code, out, err, json_output=True)
    data = strict_json(out)
    assert code == 1 and data["stopped"] == "no-minimum", data["message"]
    assert data["gradient_norm"] == 0.0
    assert "rounded to 0" in data["message"] and "not a fit" in err


@pytest.mark.parametrize("expr", ["relu(x)", "relu(x)^2", "relu(x) + relu(y)^2"])
def test_a_flat_minimum_the_loss_reaches_is_still_converged(run, expr):
    code, out, err = run("minimize", expr, "--at", "x=5" if "y" not in expr else "x=5,y=3",
                         "--method", "gd", "--lr", "1000", "--json")
    data = strict_json(out)
    assert code == 0 and data["stopped"] == "converged", data["message"]
    assert data["loss"] == 0.0


def test_an_exact_landing_on_a_minimum_is_converged(run):
    code, out, _ = run("minimize", "x^2", "--at", "x=1", "--method", "gd", "--lr", "0.5",
                       "--json")
    data = strict_json(out)
    assert code == 0 and data["stopped"] == "converged" and data["parameters"] == {"x": 0.0}


# ----- --init past NumPy's axes -----

@pytest.mark.parametrize("axes", [33, 40, 64, 65, 70, 200])
def test_init_with_too_many_axes_is_a_usage_error(run, axes):
    code, out, err = run("minimize", "sum(W)", "--init", "W=" + "x".join(["1"] * axes))
    check_run(code, out, err, json_output=False)
    assert code == 2 and out == ""
    assert err == f"Error: --init W: {axes} dimensions; at most 32 are allowed\n"


def test_init_with_32_axes_runs(run):
    code, out, err = run("minimize", "sum(W*W)", "--init", "W=" + "x".join(["1"] * 32),
                         "--json")
    assert code == 0, err
    assert strict_json(out)["shapes"]["W"] == [1] * 32


# ----- --out and --trace that cannot be written -----

@pytest.mark.parametrize("name", [".json", ".npz", ".JSON", "sub/.json"])
def test_out_that_is_only_an_extension(run, tmp_path, name):
    (tmp_path / "sub").mkdir()
    target = str(tmp_path / name)
    code, out, err = run("minimize", "(x - 1)^2", "--at", "x=0", "--out", target)
    assert code == 2 and out == ""
    assert err.startswith(f"Error: --out {target}: the name is only the extension") and \
        err.count("\n") == 1


def test_out_inside_a_file_is_not_a_folder(run, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    code, out, err = run("minimize", "(x - 1)^2", "--at", "x=0", "--out", f"{plain}/fit.json")
    assert code == 2 and out == ""
    assert err == f"Error: --out {plain}/fit.json: {plain} is not a folder\n"


def test_out_in_a_folder_no_file_can_be_made_in_is_refused_before_the_run(run, tmp_path):
    # /sys refuses new files even to root, whose os.access says yes.
    if os.path.isdir("/sys") and not os.access("/sys", os.W_OK):
        pytest.skip("needs /sys mounted read-only")
    trace = tmp_path / "t.jsonl"
    code, out, err = run("minimize", "(x - 1)^2", "--at", "x=0", "--out", "/sys/fit.json",
                         "--trace", str(trace))
    assert code == 2 and out == "" and not trace.exists()
    assert err.startswith("Error: --out /sys/fit.json: cannot write in the folder /sys (")


def test_out_keeps_the_permissions_of_the_file_it_replaces(run, tmp_path):
    fit = tmp_path / "fit.json"
    fit.write_text("{}")
    fit.chmod(0o600)
    code, _, err = run("minimize", "(x - 1)^2", "--at", "x=0", "--out", str(fit))
    assert code == 0, err
    assert json.loads(fit.read_text()) == {"x": 1.0}
    assert fit.stat().st_mode & 0o777 == 0o600


def test_out_refuses_a_read_only_file(cli, tmp_path, monkeypatch):
    # Root may write any file, so the permission is what os.access reports.
    fit = tmp_path / "fit.json"
    fit.write_text("{}")
    real = os.access
    monkeypatch.setattr(os, "access",
                        lambda path, mode, **k: False if str(path) == str(fit) else
                        real(path, mode, **k))
    code, out, err = cli("minimize", "(x - 1)^2", "--at", "x=0", "--out", str(fit))
    assert code == 2 and out == ""
    assert err == f"Error: --out {fit}: the file is read-only\n"
    assert fit.read_text() == "{}"


def test_trace_that_takes_nothing_stops_before_the_run_naming_trace(run, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    fit = tmp_path / "fit.json"
    start = time.monotonic()
    code, out, err = run("minimize", "(x - 3)^2", "--at", "x=0", "--method", "gd", "--lr",
                         "1e-9", "--tol", "0", "--steps", "100000000", "--trace", "/dev/full",
                         "--out", str(fit), timeout=60)
    assert code == 2 and out == ""
    assert err == "Error: --trace /dev/full: cannot write it (No space left on device)\n"
    assert time.monotonic() - start < 30 and not fit.exists()


@pytest.mark.parametrize("where, message", [("{name}", "it is a folder"),
                                            ("file/{name}", "{tmp}/file is not a folder"),
                                            ("missing/{name}",
                                             "the folder {tmp}/missing does not exist")])
@pytest.mark.parametrize("option, name", [("--trace", "t.jsonl"), ("--out", "fit.json")])
def test_trace_and_out_that_cannot_be_opened(run, tmp_path, where, message, option, name):
    # The two files minimize writes are refused in the same words.
    (tmp_path / name).mkdir()
    (tmp_path / "file").write_text("x")
    target = str(tmp_path / where.format(name=name))
    code, out, err = run("minimize", "(x - 1)^2", "--at", "x=0", option, target)
    assert code == 2 and out == ""
    assert err == f"Error: {option} {target}: {message.format(tmp=tmp_path)}\n"


# ----- signals while --out is written -----

@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_signals_while_out_is_written_leave_no_temporary_file(tmp_path, signal_name):
    # 32 MB of parameters: the temporary file lives long enough to be seen.
    number = getattr(signal, signal_name)
    process = subprocess.Popen(
        [CHAINCLI, "minimize", "sum(W*W)", "--init", "W=2000x2000", "--steps", "0", "--out",
         "fit.npz"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = False
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            # The written one, not the empty file that tests the folder up front.
            seen = any(entry.name.endswith(".tmp") and entry.stat().st_size > 0
                       for entry in os.scandir(tmp_path))
        except FileNotFoundError:
            continue
        if seen:
            process.send_signal(number)
            process.send_signal(number)
            break
        time.sleep(0.0005)
    out, err = process.communicate(timeout=120)
    assert seen, "the temporary file was never seen"
    assert sorted(os.listdir(tmp_path)) == ["fit.npz"], err
    with np.load(tmp_path / "fit.npz", allow_pickle=False) as saved:
        assert saved["W"].shape == (2000, 2000)
    if signal_name == "SIGINT":
        assert process.returncode == 130 and err == b"Interrupted\n"
    else:
        assert process.returncode == -signal.SIGTERM
