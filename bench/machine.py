"""The machine a benchmark ran on, printed at the top of every script in bench/.

A figure means little without the machine behind it: the CPU model, whether
NumPy dispatches to AVX-512 kernels (``NPY_DISABLE_CPU_FEATURES`` can switch
them off, to stand in for a CPU without them), OpenBLAS's threads and core
type, CPU affinity (``taskset -c 0``) and the load average when the run began.
"""

from __future__ import annotations

import os
import platform
import sys



def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_avx512() -> str:
    """Which AVX-512 kernels NumPy dispatches to: 'on', 'off (switched off)'
    or 'absent' (the CPU has none)."""
    try:
        import numpy
        from numpy._core._multiarray_umath import (
            __cpu_dispatch__ as targets,
            __cpu_features__ as features,
        )
    except ImportError:
        return "unknown"
    del numpy
    # The kernels NumPy was built to dispatch to, of them the AVX-512 ones
    # this CPU has and the environment has not switched off.
    usable = [name for name in targets
              if (name == "X86_V4" or "AVX512" in name) and features.get(name)]
    if usable:
        return "on (" + ", ".join(usable) + ")"
    if os.environ.get("NPY_DISABLE_CPU_FEATURES"):
        return "off (NPY_DISABLE_CPU_FEATURES)"
    return "absent"


def describe() -> str:
    """One paragraph naming the machine, for the head of a benchmark's output."""
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = list(range(os.cpu_count() or 1))
    try:
        import numpy
        numpy_version = numpy.__version__
    except ImportError:
        numpy_version = "not installed"
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, running on "
        f"{len(affinity)} ({','.join(map(str, affinity))})",
        f"Python {platform.python_version()}, NumPy {numpy_version}; "
        f"NumPy's AVX-512 kernels: {numpy_avx512()}",
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}",
        f"Load average: {load}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
    sys.exit(0)
