"""Repeated tensor gradients reuse the C heap instead of faulting in fresh pages.

engine/tensor/allocator.py raises glibc's thresholds once, so the megabytes a
sweep frees at the end of a call are kept for the next one. Each case runs in
a fresh interpreter (the thresholds belong to the process), counting minor
page faults over ten calls of a Gaussian likelihood's gradient with arrays
of 400 KB; with the thresholds left alone, glibc returns that memory and the
next call faults it in again, hundreds of times a call.
"""

from __future__ import annotations

import platform
import subprocess
import sys

SCRIPT = """
import resource, sys
import numpy as np
import chaincli
if sys.argv[1] == "left-alone":
    from chaincli.engine.tensor import allocator
    allocator.raise_thresholds = lambda: None
rng = np.random.default_rng(0)
m = rng.normal(size=(100, 100))
point = {"X": rng.normal(size=(500, 100)), "mu": rng.normal(size=100),
         "S": m @ m.T / 100 + np.eye(100)}
expr = chaincli.compile("D = X - mu; 250*logdet(S) + 0.5*sum(D' * solve(S, D'))")
for _ in range(5):
    expr.gradient(point)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    expr.gradient(point)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_call(setting: str, folder) -> float:
    # Run from an empty folder, so the installed package is the one imported.
    done = subprocess.run([sys.executable, "-c", SCRIPT, setting], capture_output=True,
                          text=True, check=True, cwd=folder)
    return float(done.stdout)


def test_a_repeated_gradient_touches_no_fresh_memory(tmp_path):
    assert faults_per_call("raised", tmp_path) < 20
    if platform.libc_ver()[0] == "glibc":
        # The thresholds are what keeps the memory: without them, the faults return.
        assert faults_per_call("left-alone", tmp_path) > 100
