"""grad --points: JSON lines and CSV in, one line out per line in, bad rows kept in place."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

import chaincli
from chaincli.io import stream
from test_batch import close

EXPR = "sin(x*y) + log(x) + sqrt(y)"

ROWS = [
    '{"x": 1, "y": 2}',
    '[1]',
    '',
    '{"x": -1, "y": 2}',
    '{"x": 0.5, "y": "a"}',
    '{"x": 1e308, "y": 1e10}',
    'not json',
    '{"x": 2}',
    '{"x": 2.5, "y": 0.25, "z": 9}',
    '{"x": 1, "y": true}',
]


def scalar_error(text, point):
    try:
        chaincli.compile(text).gradient(point)
    except chaincli.base.errors.ChaincliError as error:  # type: ignore[attr-defined]
        return error.message
    return None


def test_jsonl_rows_in_order_with_errors_in_place(run, tmp_path):
    path = tmp_path / "points.jsonl"
    path.write_text("\n".join(ROWS) + "\n")
    code, out, err = run("grad", EXPR, "--points", str(path), "--json")
    assert code == 1, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["line"] for line in lines] == list(range(1, len(ROWS) + 1))
    ok = {1: {"x": 1.0, "y": 2.0}, 9: {"x": 2.5, "y": 0.25}}
    for line in lines:
        if line["line"] in ok:
            expected = chaincli.compile(EXPR).gradient(ok[line["line"]])
            assert close(line["value"], expected.value)
            for name in ("x", "y"):
                assert close(line["gradient"][name], expected.gradient[name])
        else:
            assert set(line) == {"line", "error"} and line["error"]
    by_line = {line["line"]: line for line in lines}
    assert by_line[4]["error"] == scalar_error(EXPR, {"x": -1.0, "y": 2.0})
    assert by_line[6]["error"] == scalar_error(EXPR, {"x": 1e308, "y": 1e10})
    assert by_line[3]["error"] == "the line is empty"
    assert "no value for y" in by_line[8]["error"]
    assert "must be a number" in by_line[10]["error"]


def test_all_good_rows_exit_zero_and_at_gives_missing_values(run, tmp_path):
    path = tmp_path / "points.jsonl"
    path.write_text('{"x": 1}\n{"x": 2, "y": 5}\n')
    code, out, err = run("grad", "x*y", "--points", str(path), "--at", "y=3")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"line": 1, "value": 3.0, "gradient": {"x": 3.0, "y": 1.0}},
                     {"line": 2, "value": 10.0, "gradient": {"x": 5.0, "y": 2.0}}]


def test_csv_in_and_out(run, tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x,y\n1,2\n3,abc\n2,2,2\n0.5,1\n")
    code, out, err = run("grad", "x*y", "--points", str(path), "--format", "csv",
                         "--mode", "forward")
    assert code == 1, err
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["line", "value", "d/dx", "d/dy", "error"]
    assert table[1] == ["2", "2.0", "2.0", "1.0", ""]
    assert table[2][:4] == ["3", "", "", ""] and "must be a number" in table[2][4]
    assert table[3][0] == "4" and "fields" in table[3][4]
    assert table[4] == ["5", "0.5", "1.0", "0.5", ""]


def test_csv_from_stdin_with_points_format_and_json_out(run):
    code, out, err = run("grad", "x^2", "--points", "-", "--points-format", "csv",
                         "--wrt", "x", input="x\n3\n")
    assert code == 0, err
    assert json.loads(out) == {"line": 2, "value": 9.0, "gradient": {"x": 6.0}}


def test_infinite_partial_is_written_as_a_string_and_exits_one(run, tmp_path):
    path = tmp_path / "points.jsonl"
    path.write_text('{"x": 0}\n{"x": 4}\n')
    code, out, err = run("grad", "sqrt(x)", "--points", str(path))
    assert code == 1, err
    assert [json.loads(line)["gradient"]["x"] for line in out.splitlines()] == \
        ["Infinity", 0.25]


def test_rows_stay_aligned_across_chunks(cli, monkeypatch, tmp_path):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)
    rows = [f'{{"x": {k - 5}}}' if k % 4 else "oops" for k in range(1, 21)]
    path = tmp_path / "points.jsonl"
    path.write_text("\n".join(rows) + "\n")
    code, out, _ = cli("grad", "log(x)", "--points", str(path), "--json")
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["line"] for line in lines] == list(range(1, 21))
    for k, line in enumerate(lines, start=1):
        if k % 4 == 0 or k - 5 <= 0:
            assert "error" in line
        else:
            assert math.isclose(line["value"], math.log(k - 5))


@pytest.mark.parametrize("args, message", [
    (["grad", "x", "--points", "p.jsonl", "--format", "plain"], "JSON lines"),
    (["grad", "x", "--at", "x=1", "--format", "csv"], "--format csv is for"),
    (["eval", "x", "--at", "x=1", "--format", "csv"], "'csv' is not one of"),
    (["hessian", "x^2", "--at", "x=1", "--format", "csv"], "'csv' is not one of"),
    (["check", "x^2", "--at", "x=1", "--format", "csv"], "'csv' is not one of"),
    (["grad", "x", "--points", "p.jsonl", "--direction", "x=1"], "--direction cannot be used"),
    (["grad", "x", "--points", "p.jsonl", "--explain", "reverse", "--max-paths", "3"],
     "--explain, --max-paths cannot be used with --points"),
    (["grad", "x", "--at", "x=1", "--points-format", "csv"], "give --points too"),
    (["grad", "x", "--points", "no-such-file.jsonl"], "no such file"),
    (["grad", "-", "--points", "-"], "both come from stdin"),
    (["grad", "x", "--points", "p.txt", "--points-format", "xml"], "jsonl or csv"),
    (["grad", "sin(", "--points", "-"], "ends too early"),
])
def test_usage_errors(cli, args, message):
    code, out, err = cli(*args, input="")
    assert code == 2 and out == ""
    assert message in err


def test_csv_points_take_plain_decimals_only(cli, tmp_path):
    # The same literals --at takes: no "1_000", "inf" or digits of other scripts.
    points = tmp_path / "p.csv"
    points.write_text("x,y\n1_000,1\n\u0661\u0662,1\ninf,1\n2.5e0,1\n")
    code, out, err = cli("grad", "x*y", "--points", str(points), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert ["error" in row for row in rows] == [True, True, True, False]
    assert rows[3]["gradient"] == {"x": 1.0, "y": 2.5}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_endless_line_stops_at_the_bound(run, fmt):
    # /dev/zero is one line that never ends: refused at the bound, not read on.
    import resource

    def cap():  # a reader that kept the line would reach this and fail otherwise
        resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))

    import subprocess
    from conftest import CHAINCLI
    done = subprocess.run([CHAINCLI, "grad", "x", "--points", "/dev/zero",
                           "--points-format", fmt], capture_output=True, timeout=60,
                          preexec_fn=cap)
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        f"Error: line 1 of the points is longer than {stream.MAX_LINE_CHARS:,} characters"]


def test_lines_up_to_the_bound_are_read(monkeypatch):
    monkeypatch.setattr(stream, "MAX_LINE_CHARS", 12)
    rows = [row for chunk in stream.read_rows(io.BytesIO(b'{"x": 1}\n{"x":    2}\n'), "jsonl")
            for row in chunk]
    assert [row.point for row in rows] == [{"x": 1}, {"x": 2}]
    with pytest.raises(chaincli.base.errors.PointError, match="line 2 of the points"):
        list(stream.read_rows(io.BytesIO(b'{"x": 1}\n{"x":      2}\n'), "jsonl"))
