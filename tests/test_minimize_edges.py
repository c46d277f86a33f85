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
