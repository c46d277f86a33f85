"""chaincli's benchmark: whole processes and in-process calls, against installed peers.

    python bench/run.py            # about a minute; run it with the interpreter
                                   # chaincli is installed for
    python bench/run.py --quick    # fewer repeats
    python bench/run.py --slow     # also SymPy on the 14,000-node expression (minutes)

Workloads are generated into a temporary folder (bench/workloads.py). Every
figure is the median of several runs (wall-clock). Peers that are not
installed (qalc, jq, SymPy, PyTorch, JAX) are skipped. The machine it ran on
(``machine.describe``: CPU, NumPy's AVX-512 kernels, OpenBLAS, affinity and
load average) is printed first: figures taken under load are slower and noisier.

Cold start runs chaincli and qalc turn about, in one loop, with stdout a pipe
(as ``| cat`` would), so both meet the same load; it also counts the modules a
plain ``grad --json`` imports and their import time (``python -X importtime``),
which say more than the ratio where the machine is fast or busy. To stand in
for a one-core CPU without AVX-512:

    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" OPENBLAS_CORETYPE=Haswell \
        taskset -c 0 python bench/run.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import workloads
from machine import describe
from timing import interleaved_times, median_time

PYTHON = sys.executable
CHAINCLI = str(Path(PYTHON).parent / "chaincli")
ROWS: list[tuple[str, str, str, str, str]] = []


def process_time(command: list[str], repeat: int, stdin_path: str | None = None) -> float:
    def call():
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        finally:
            if stdin_path:
                stdin.close()
    call()  # warm the file cache
    return median_time(call, repeat)


def peak_rss_mib(command: list[str]) -> float | None:
    if not os.path.exists("/usr/bin/time"):
        return None
    done = subprocess.run(["/usr/bin/time", "-v", *command], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return int(found.group(1)) / 1024 if found else None


def ms(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def row(task: str, ours: str, peer: str = "", peer_figure: str = "", note: str = "") -> None:
    ROWS.append((task, ours, peer, peer_figure, note))
    print(f"  {task:<46} {ours:>12}  {peer:<22} {peer_figure:>10}  {note}", flush=True)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


# ----- Cold start -----

def process_times(commands: list[list[str]], repeat: int) -> list[float]:
    """Median times of whole processes run turn about (each warmed up once), stdout
    read from a pipe: every command meets the same load and file cache."""
    def call(command):
        start = time.perf_counter()
        subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - start
    for command in commands:
        call(command)
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for command, bucket in zip(commands, times):
            bucket.append(call(command))
    return [statistics.median(bucket) for bucket in times]


def import_profile(command: list[str]) -> tuple[int, float]:
    """How many modules ``command`` (a Python script and its arguments) imports,
    and their import time in seconds, as ``python -X importtime`` reports them."""
    done = subprocess.run([PYTHON, "-X", "importtime", *command], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = [line.split("|") for line in done.stderr.splitlines()
            if line.startswith("import time:") and "imported package" not in line]
    # A module imported by no other has no indent: its cumulative time holds its children's.
    top = sum(int(cumulative) for _, cumulative, name in rows
              if not name[1:].startswith(" "))
    return len(rows), top / 1e6


def cold_start(repeat: int) -> None:
    print("Cold start (whole process, stdout a pipe; chaincli and qalc run turn about)")
    grad = [CHAINCLI, "grad", "sin(x*y)", "--at", "x=1,y=2"]
    commands = {"floor": [PYTHON, "-S", "-c", "pass"], "json": grad + ["--json"],
                "table": grad, "framework": [CHAINCLI, "grad", "sin(x*y)", "--at=x=1,y=2",
                                             "--json"]}
    qalc = shutil.which("qalc")
    if qalc:
        commands["qalc"] = [qalc, "-t", "diff(sin(x*y), x)"]
    times = dict(zip(commands, process_times(list(commands.values()), repeat * 2)))
    row("python -S -c pass (interpreter floor)", ms(times["floor"]))
    for key, label in (("json", "grad sin(x*y) --json"), ("table", "grad sin(x*y) (table)")):
        if qalc:
            row(label, ms(times[key]), "qalc -t diff(...)", ms(times["qalc"]),
                f"{ratio(times[key], times['qalc'])} (target <= 0.9x)")
        else:
            row(label, ms(times[key]), "qalc", "absent")
    row("grad --at=... --json (through Typer)", ms(times["framework"]),
        note="the framework path")
    modules, seconds = import_profile(grad + ["--json"])
    row("  grad --json: modules imported, import time", f"{modules}", "", "",
        f"{ms(seconds)} of imports (python -X importtime, itself slower)")
    if _has("sympy"):
        peer = process_time([PYTHON, "-c", "import sympy as s; x, y = s.symbols('x y');"
                             "e = s.sin(x*y); print([s.diff(e, v).subs({x: 1, y: 2}).evalf()"
                             " for v in (x, y)])"], max(3, repeat // 3))
        row("  same gradient in SymPy (whole process)", "", "SymPy", ms(peer))


# ----- Big expressions -----

def big_expressions(folder: Path, repeat: int, slow: bool) -> None:
    print("Big expressions (whole process: grad @expr.txt --at @point.json --json)")
    sizes = {}
    for n in (1000, 10000):
        text, point = workloads.big_expression(n)
        expr_path, point_path = folder / f"expr{n}.txt", folder / f"point{n}.json"
        expr_path.write_text(text)
        point_path.write_text(json.dumps(point))
        command = [CHAINCLI, "grad", f"@{expr_path}", "--at", f"@{point_path}", "--json"]
        seconds = process_time(command, repeat if n == 1000 else max(2, repeat // 3))
        rss = peak_rss_mib(command)
        nodes = _count_nodes(text)
        sizes[n] = (nodes, seconds)
        target = "< 0.5 s" if n == 1000 else "< 5 s, < 300 MiB"
        row(f"{nodes:,} nodes, {n:,} variables", ms(seconds), "", "",
            f"peak {rss:.0f} MiB (target {target})" if rss else f"target {target}")
        if n == 1000:
            _torch_peer(expr_path, point_path, repeat)
            if slow and _has("sympy"):
                _sympy_peer(expr_path, point_path)
    (small_nodes, small), (big_nodes, big) = sizes[1000], sizes[10000]
    row("growth: time ratio / size ratio", f"{(big / small) / (big_nodes / small_nodes):.2f}",
        note="1.00 is linear (start-up makes the small run relatively dearer)")
    stages(folder / "expr1000.txt", folder / "point1000.json", "14k")
    stages(folder / "expr10000.txt", folder / "point10000.json", "140k")


def array_literals(folder: Path, repeat: int) -> None:
    """Parse and whole-process times of [d, d, ...] literals and of a matrix:
    long literals of plain numbers are read in one pass, so the time per
    element stays flat as the literal grows 100-fold."""
    from chaincli.language.parser import parse
    print("Array literals (in process: parse; whole process: eval sum(@lit) --json)")
    per_element = {}
    # The largest fill the 2,000,000-byte cap on an expression.
    cases = [(n, "sum([" + ",".join(str(i % 10) for i in range(n)) + "])")
             for n in (10_000, 100_000, 999_990)]
    cases.append((998_000, "sum([" + ",".join("[" + ",".join(str((i * j) % 10) for j in range(1000))
                                              + "]" for i in range(998)) + "])"))
    for n, text in cases:
        path = folder / f"literal{n}.txt"
        path.write_text(text)
        seconds = median_time(lambda: parse(text), repeat if n < 900_000 else max(2, repeat // 2))
        whole = process_time([CHAINCLI, "eval", f"@{path}", "--json"], max(2, repeat // 2))
        per_element[n] = seconds / n
        shape = "998×1000 matrix" if n == 998_000 else f"literal of {n:,} numbers"
        row(f"{shape}: parse", ms(seconds), "", "", f"eval, whole process {ms(whole)}")
    row("growth: time per element, 10^6 / 10^4", f"{per_element[999_990] / per_element[10_000]:.2f}",
        note="1.00 is linear (a quadratic parse gives about 100)")


def _count_nodes(text: str) -> int:
    from chaincli.language.parser import parse
    from chaincli.language.nodes import Binary, Call, Unary
    count = 0
    stack = [parse(text).output]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, Binary):
            stack += [node.left, node.right]
        elif isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Call):
            stack.extend(node.args)
    return count


def stages(expr_path: Path, point_path: Path, label: str) -> None:
    from chaincli.engine.scalar import evaluate
    from chaincli.io.point import parse_points
    from chaincli.engine.scalar.reverse import adjoint_sweep
    from chaincli.language.parser import parse
    from chaincli.tape import lower
    text = expr_path.read_text()
    timings = {}
    start = time.perf_counter()
    point = parse_points([f"@{point_path}"])
    timings["read --at @point.json"] = time.perf_counter() - start
    start = time.perf_counter()
    program = parse(text)
    timings["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    tape = lower(program)
    timings["lower"] = time.perf_counter() - start
    start = time.perf_counter()
    values = evaluate.primal(tape, point)
    timings["primal sweep"] = time.perf_counter() - start
    start = time.perf_counter()
    partials = evaluate.local_partials(tape, values)
    timings["local partials"] = time.perf_counter() - start
    start = time.perf_counter()
    adjoint_sweep(tape, partials)
    timings["adjoint sweep"] = time.perf_counter() - start
    for name, seconds in timings.items():
        row(f"  {label}: {name}", ms(seconds), note=f"{len(tape):,} tape entries")


def _torch_peer(expr_path: Path, point_path: Path, repeat: int) -> None:
    if not _has("torch"):
        row("  PyTorch eager", "", "PyTorch", "absent")
        return
    script = (
        "import json, sys, torch\n"
        "text = open(sys.argv[1]).read().replace('^', '**')\n"
        "point = json.load(open(sys.argv[2]))\n"
        "env = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) "
        "for k, v in point.items()}\n"
        "env.update(sin=torch.sin, cos=torch.cos, tanh=torch.tanh, exp=torch.exp,"
        " atan=torch.atan, sigmoid=torch.sigmoid)\n"
        "out = eval(text, {'__builtins__': {}}, env)\n"
        "out.backward()\n"
        "print(json.dumps({k: env[k].grad.item() for k in point}))\n")
    seconds = process_time([PYTHON, "-c", script, str(expr_path), str(point_path)],
                           max(2, repeat // 3))
    row("  same in PyTorch eager (whole process)", "", "PyTorch", ms(seconds))


def _sympy_peer(expr_path: Path, point_path: Path) -> None:
    script = (
        "import json, sys, sympy as s\n"
        "point = json.load(open(sys.argv[2]))\n"
        "syms = {k: s.Symbol(k) for k in point}\n"
        "syms.update(sigmoid=lambda a: 1 / (1 + s.exp(-a)), sin=s.sin, cos=s.cos,"
        " tanh=s.tanh, exp=s.exp, atan=s.atan)\n"
        "e = s.sympify(open(sys.argv[1]).read().replace('^', '**'), locals=syms)\n"
        "subs = {syms[k]: v for k, v in point.items()}\n"
        "print([float(e.diff(syms[k]).evalf(subs=subs)) for k in point])\n")
    seconds = process_time([PYTHON, "-c", script, str(expr_path), str(point_path)], 1)
    row("  same in SymPy (whole process)", "", "SymPy", ms(seconds))


# ----- In process -----

def in_process(folder: Path, repeat: int) -> None:
    import chaincli
    from chaincli.engine.program import COMPILE_AFTER
    print("In process (the 14k-node expression, 1,000 variables)")
    text = (folder / "expr1000.txt").read_text()
    point = json.loads((folder / "point1000.json").read_text())
    namespace = {name: getattr(math, name) for name in ("sin", "cos", "tanh", "exp", "atan")}
    namespace["sigmoid"] = lambda a: 1.0 / (1.0 + math.exp(-a))
    namespace.update(point)
    code = compile(text.replace("^", "**"), "<expr>", "eval")
    floor = median_time(lambda: eval(code, namespace), repeat * 3)
    row("eval(compile(text_with_**)) (CPython floor)", ms(floor))
    start = time.perf_counter()
    expr = chaincli.compile(text)
    row("chaincli.compile(text)", ms(time.perf_counter() - start))
    first_value = median_time(lambda: expr.value(point), 1)
    row("value(point), interpreted (first calls)", ms(first_value))
    start = time.perf_counter()
    for _ in range(COMPILE_AFTER):
        expr.value(point)
        expr.gradient(point)
    row(f"warm-up to compiled sweeps ({COMPILE_AFTER} calls each)",
        ms(time.perf_counter() - start), note="includes compiling both sweeps once")
    value = median_time(lambda: expr.value(point), repeat * 3)
    row("value(point), compiled", ms(value), "eval floor", ms(floor),
        f"{ratio(value, floor)} (target <= 5x)")
    gradient = median_time(lambda: expr.gradient(point), repeat * 3)
    row("gradient(point), reverse, compiled", ms(gradient), "value(point)", ms(value),
        f"{ratio(gradient, value)} (target <= 3x)")
    fresh = chaincli.compile(text)
    interpreted = median_time(lambda: fresh.gradient(point), 3)
    row("gradient(point), reverse, interpreted", ms(interpreted))
    forward = median_time(lambda: expr.gradient(point, mode="forward"), 1)
    row("gradient(point), forward (1,000 sweeps)", ms(forward), "reverse", ms(gradient),
        f"{ratio(forward, gradient)} (grows with variables)")
    small = chaincli.compile("x0*x1 + sin(x2)")
    small_point = {"x0": 1.0, "x1": 2.0, "x2": 3.0}
    for _ in range(COMPILE_AFTER):
        small.gradient(small_point)
    row("gradient of x0*x1 + sin(x2), compiled", ms(median_time(
        lambda: small.gradient(small_point), repeat * 20)), note="per call, incl. results")


# ----- Batch -----

def batch_gradient(expr, point):
    """chaincli's gradient at every point of a batch: the one call to the batch API."""
    return expr.gradient(point, batch=True)


def batch(repeat: int) -> None:
    import numpy as np

    import chaincli
    print("Batch (1,000,000 points, sin(x*y) + x^2)")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-2, 2, 1_000_000), rng.uniform(-2, 2, 1_000_000)
    expr = chaincli.compile("sin(x*y) + x^2")

    def by_hand():
        u = x * y
        c = np.cos(u)
        return np.sin(u) + x ** 2, c * y + 2 * x, c * x

    ours, hand = interleaved_times(lambda: batch_gradient(expr, {"x": x, "y": y}), by_hand,
                                   repeat)
    result = batch_gradient(expr, {"x": x, "y": y})
    value, dx, dy = by_hand()
    difference = max(float(np.max(np.abs(result.value - value))),
                     float(np.max(np.abs(result.gradient["x"] - dx))),
                     float(np.max(np.abs(result.gradient["y"] - dy))))
    row("gradient over arrays", ms(ours), "NumPy by hand", ms(hand),
        f"{ratio(ours, hand)}; max |difference| {difference:g}")
    if _has("torch"):
        import torch
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.tensor(y, requires_grad=True)

        def torch_gradient():
            tx.grad = ty.grad = None
            out = torch.sin(tx * ty) + tx ** 2
            out.backward(torch.ones_like(out))
        row("  same in PyTorch (CPU)", "", "PyTorch", ms(median_time(torch_gradient, repeat)))


# ----- Streaming -----

def streaming(folder: Path, repeat: int) -> None:
    print("Streaming (100,000 points, sin(x*y) + x^2)")
    jsonl, csv_path = folder / "points.jsonl", folder / "points.csv"
    workloads.write_jsonl(str(jsonl), 100_000)
    workloads.write_csv(str(csv_path), 100_000)
    jq = shutil.which("jq")
    peer = process_time([jq, "-c", ".", str(jsonl)], repeat) if jq else None
    for label, command in [
        ("grad --points FILE.jsonl --json", [CHAINCLI, "grad", "sin(x*y) + x^2", "--points",
                                             str(jsonl), "--json"]),
        ("grad --points FILE.csv --format csv", [CHAINCLI, "grad", "sin(x*y) + x^2",
                                                 "--points", str(csv_path), "--format",
                                                 "csv"]),
    ]:
        seconds = process_time(command, repeat)
        rss = peak_rss_mib(command)
        note = f"peak {rss:.0f} MiB" if rss else ""
        if peer:
            row(label, ms(seconds), "jq -c . FILE.jsonl", ms(peer),
                f"{ratio(seconds, peer)} (target <= 3x); {note}")
        else:
            row(label, ms(seconds), "jq", "absent", note)


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--slow", action="store_true", help="also the slow SymPy peer")
    options = parser.parse_args()
    repeat = 5 if options.quick else 11
    print(describe())
    if not os.path.exists(CHAINCLI):
        sys.exit(f"no chaincli script next to {PYTHON}; install chaincli first")
    with tempfile.TemporaryDirectory(prefix="chaincli-bench-") as name:
        folder = Path(name)
        cold_start(repeat)
        big_expressions(folder, max(3, repeat // 2), options.slow)
        array_literals(folder, max(3, repeat // 2))
        in_process(folder, max(3, repeat // 2))
        batch(max(3, repeat // 2))
        streaming(folder, max(3, repeat // 2))


if __name__ == "__main__":
    main()
