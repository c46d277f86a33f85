"""How long tensor values take to read, and tensor results to write.

Run: python bench/values.py   (against the installed chaincli)

Reading: ``parse_points`` on a bracket literal, a CSV file, an .npz archive
and a JSON point, beside NumPy's own readers of the same files. Writing:
JSON, plain lines and the table for a gradient, built by hand (no engine
run). Each figure is the median of 5 runs, wall-clock, in process.
The machine it ran on (``machine.describe``) is printed first.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console

from chaincli.base.jsonout import dumps
from chaincli.io.point import parse_points
from chaincli.render.plain import plain_gradient
from chaincli.render.tensor import print_tensor_gradient
from chaincli.engine.results import GradientResult
from machine import describe
from timing import median_time as median


def row(task: str, ours: float, peer: str = "", peer_time: float | None = None) -> None:
    figure = f"{peer_time * 1000:9.1f} ms" if peer_time is not None else ""
    print(f"  {task:<44} {ours * 1000:9.1f} ms   {peer:<22} {figure}", flush=True)


def main() -> None:
    print(describe())
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        vector = rng.normal(size=100_000)
        literal = "v=[" + ",".join(map(repr, vector.tolist())) + "]"
        matrix = rng.normal(size=(100_000, 10))
        csv_path = folder / "data.csv"
        csv_path.write_text("\n".join(",".join(map(repr, r)) for r in matrix.tolist()) + "\n")
        npz_path = folder / "params.npz"
        np.savez(npz_path, W1=rng.normal(size=(128, 784)), b1=np.zeros(128),
                 W2=rng.normal(size=(10, 128)), b2=np.zeros(10))
        json_path = folder / "point.json"
        json_path.write_text(json.dumps({"W": rng.normal(size=(100, 100)).tolist()}))

        print("Reading values (parse_points)")
        row("literal of 100,000 numbers", median(lambda: parse_points([literal])))
        row("CSV of 100,000 x 10 numbers", median(lambda: parse_points([f"X=@{csv_path}"])),
            "numpy.loadtxt", median(lambda: np.loadtxt(csv_path, delimiter=",")))
        row(".npz of a 784-128-10 network (101,770)",
            median(lambda: parse_points([f"@{npz_path}"])),
            "numpy.load, every array", median(lambda: dict(np.load(npz_path))))
        row("JSON point with a 100 x 100 matrix", median(lambda: parse_points([f"@{json_path}"])))

        gradient = rng.normal(size=(1000, 100))
        result = GradientResult("f", {"W": gradient}, 1.0, {"W": gradient}, "reverse")
        print("Writing a 1000 x 100 gradient")
        row("JSON (to_dict and strict dumps)", median(lambda: dumps(result.to_dict())),
            "json.dumps(tolist())", median(lambda: json.dumps(gradient.tolist())))
        row("--format plain lines", median(lambda: plain_gradient(result)))

        def table() -> None:
            print_tensor_gradient(result, Console(width=80, file=io.StringIO(),
                                                  color_system=None))
        row("table at 80 columns", median(table))


if __name__ == "__main__":
    main()
