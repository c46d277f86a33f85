"""Repeated tensor and batch gradients reuse the C heap instead of faulting in
fresh pages.

engine/allocator.py raises glibc's thresholds once, so the megabytes a sweep
frees at the end of a call are kept for the next one. Each case runs in a
fresh interpreter (the thresholds belong to the process), counting minor page
faults over ten calls: of a Gaussian likelihood's gradient with arrays of
400 KB, and of a batch gradient over 200,000 points (results of 1.6 MB, swept
in slices of 128 KiB). With the thresholds left alone, glibc returns that
memory and the next call faults it in again, hundreds of times a call.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys
import numpy as np
import chaincli
if sys.argv[1] == "left-alone":
    from chaincli.engine import allocator
    allocator.raise_thresholds = lambda: None
rng = np.random.default_rng(0)
if sys.argv[2] == "tensor":
    m = rng.normal(size=(100, 100))
    point = {"X": rng.normal(size=(500, 100)), "mu": rng.normal(size=100),
             "S": m @ m.T / 100 + np.eye(100)}
    expr = chaincli.compile("D = X - mu; 250*logdet(S) + 0.5*sum(D' * solve(S, D'))")
    call = lambda: expr.gradient(point)
else:
    point = {name: rng.uniform(-1.5, 1.5, 200_000) for name in "xyz"}
    expr = chaincli.compile("tanh(0.5*x - 1.5*y + z)^2")
    call = lambda: expr.gradient(point, batch=True)
for _ in range(5):
    call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    call()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_call(setting: str, workload: str, folder) -> float:
    # Run from an empty folder, so the installed package is the one imported.
    done = subprocess.run([sys.executable, "-c", SCRIPT, setting, workload],
                          capture_output=True, text=True, check=True, cwd=folder)
    return float(done.stdout)


@pytest.mark.parametrize("workload", ["tensor", "batch"])
def test_a_repeated_gradient_touches_no_fresh_memory(tmp_path, workload):
    assert faults_per_call("raised", workload, tmp_path) < 20
    if platform.libc_ver()[0] == "glibc":
        # The thresholds are what keeps the memory: without them, the faults return.
        assert faults_per_call("left-alone", workload, tmp_path) > 100
