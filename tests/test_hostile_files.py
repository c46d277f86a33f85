"""Hostile files of values: damaged .npy headers, forged and bombed .npz archives,
endless CSV and JSON, duplicate names, and what the messages quote.

The installed ``chaincli`` runs in a child process under a memory cap and a
timeout, and every run keeps one contract: no traceback and no "internal
error"; exit 2 for bad input, 1 for a math error, 0 with strict JSON on
stdout; on an error exactly one ``Error:`` line and nothing on stdout; no
file left behind. Properties over random input run in process, where the
same reader answers without a child's start-up.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincli.io import arrays as array_input
from chaincli.base.errors import ChaincliError, PointError
from chaincli.io.point import parse_points
from clicheck import strict_json
from conftest import CHAINCLI

MEMORY_CAP = 1536 * 1024 * 1024  # bytes of address space for each child
TIMEOUT = 20  # seconds for each child


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_capped(folder: Path, *args: str, timeout: float = TIMEOUT, program=None,
               rows: bool = False):
    """``chaincli ARGS`` (or ``program``) in ``folder`` under the memory cap:
    (exit status, stdout, stderr, seconds), after checking the contract.
    ``rows``: a stream of points, whose bad rows are lines of output."""
    before = sorted(os.listdir(folder))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "COLUMNS": "100"}
    env.pop("CHAINCLI_DEBUG", None)
    started = time.monotonic()
    done = subprocess.run(program or [CHAINCLI, *args], capture_output=True, cwd=folder,
                          env=env, timeout=timeout, preexec_fn=_cap_memory)
    seconds = time.monotonic() - started
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace")
    context = f"exit {done.returncode}\nstdout: {out[:300]!r}\nstderr: {err[:600]!r}"
    assert "Traceback" not in err and "internal error" not in err, context
    assert "not enough memory" not in err, context
    assert done.returncode in (0, 1, 2), context
    if rows:
        for line in out.splitlines():
            strict_json(line)
    elif done.returncode == 0:
        strict_json(out)
    else:
        assert out == "", context
        errors = [line for line in err.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and err.startswith("Error: "), context
    assert sorted(os.listdir(folder)) == before, "a file was left behind"
    return done.returncode, out, err, seconds


def refused(folder: Path, *args: str, timeout: float = TIMEOUT) -> str:
    """The one-line message of a run that must be refused as bad input (exit 2)."""
    code, _, err, _ = run_capped(folder, *args, "--json", timeout=timeout)
    assert code == 2, err
    assert err.count("\n") == 1, err
    return err


# ----- Writing damaged files -----

def npy_bytes(header: str | bytes, data: bytes = b"\0" * 64, version: int = 1) -> bytes:
    """A .npy file with ``header`` as its header text, padded as NumPy pads it."""
    text = header.encode("latin-1") if isinstance(header, str) else header
    width = 2 if version == 1 else 4
    text += b" " * (-(len(text) + 7 + width) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + data


def header(shape: str, descr: str = "'<f8'") -> str:
    return "{'descr': %s, 'fortran_order': False, 'shape': %s, }" % (descr, shape)


def forged_claim_npz(path: Path, claimed: int, method: int) -> None:
    """An .npz whose one member, W, claims ``claimed`` bytes in the central directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        with archive.open("W.npy", "w") as member:
            np.lib.format.write_array(member, np.ones(3))
    data = buffer.getvalue()
    central, end = data.rfind(b"PK\x01\x02"), data.rfind(b"PK\x05\x06")
    name_length, extra_length, comment_length = struct.unpack(
        "<HHH", data[central + 28:central + 34])
    fixed = 46 + name_length + extra_length
    entry = bytearray(data[central:central + fixed + comment_length])
    entry[24:28] = struct.pack("<I", 0xFFFFFFFF)  # the size is in the zip64 field
    zip64 = struct.pack("<HHQ", 1, 8, claimed)
    entry[30:32] = struct.pack("<H", extra_length + len(zip64))
    entry = bytes(entry[:fixed]) + zip64 + bytes(entry[fixed:])
    tail = bytearray(data[end:])
    tail[12:16] = struct.pack("<I", len(entry))
    path.write_bytes(data[:central] + entry + bytes(tail))


def zip_bomb(path: Path, elements: int) -> None:
    """An honest deflated .npz of ``elements`` float64 zeros, written without
    compressing them: after a full flush every megabyte of zeros deflates to
    the same bytes."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": (elements,)})
    block = 1 << 20
    size = elements * 8
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = [compressor.compress(head.getvalue()) + compressor.flush(zlib.Z_FULL_FLUSH)]
    zeros = bytes(block)
    piece = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH) == piece
    stream.append(piece * (size // block - 1))
    stream.append(compressor.compress(bytes(size % block)) + compressor.flush())
    deflated = b"".join(stream)
    crc = zlib.crc32(head.getvalue())
    for _ in range(size // block):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(size % block), crc)
    total = len(head.getvalue()) + size
    name = b"W.npy"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(deflated),
                        total, len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                          len(deflated), total, len(name), 0, 0, 0, 0, 0, 0) + name
    offset = len(local) + len(deflated)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)
    path.write_bytes(local + deflated + central + end)


# ----- Damaged .npy headers: exit 2 and chaincli's words -----

DAMAGED_HEADERS = {
    "negative": header("(-1,)"),
    "negatives": header("(-2, -3)"),
    "an expression": header("(10**30, 0)"),
    "a huge size": header(f"({10 ** 30}, 0)"),
    "a bool": header("(True,)"),
    "65 axes": header("(" + "1, " * 65 + ")"),
    "an unclosed parenthesis": "{'descr': '<f8', 'fortran_order': False, 'shape': (1, ",
    "a misquoted string": "{'descr': '<f8, 'fortran_order': False, 'shape': (1,), }",
    "an unclosed string": "{'descr': '''<f8', 'fortran_order': False, 'shape': (1,), }",
    "3000 minus signs": header("(" + "-" * 3000 + "1,)"),
    "a 5000-character key": header("(1,)").replace("}", "'" + "k" * 5000 + "': 1}"),
    "no shape": "{'descr': '<f8', 'fortran_order': False}",
    "a list": "['descr', '<f8']",
    "a call": header("(1,)", descr="__import__('os').system('true')"),
    "an unknown dtype": header("(1,)", descr="'<q99'"),
}


@pytest.mark.parametrize("text", DAMAGED_HEADERS.values(), ids=DAMAGED_HEADERS.keys())
def test_damaged_npy_header_is_a_damaged_file(tmp_path, text):
    (tmp_path / "w.npy").write_bytes(npy_bytes(text))
    err = refused(tmp_path, "eval", "sum(W)", "--at", "W=@w.npy")
    assert err.startswith("Error: --at W=@w.npy ")
    assert len(err) < 300  # the header is never echoed whole


def test_header_past_numpys_bound_is_one_line_in_chaincli_words(tmp_path):
    (tmp_path / "w.npy").write_bytes(npy_bytes(header("(1,)") + " " * 20_000, version=2))
    err = refused(tmp_path, "eval", "sum(W)", "--at", "W=@w.npy")
    assert "header of 20," in err and "10,000" in err
    assert "pickle" not in err


def test_forged_header_never_runs(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "w.npy").write_bytes(npy_bytes(header(
        "(1,)", descr=f"__import__('pathlib').Path({str(marker)!r}).touch() or '<f8'"),
        data=b"\0" * 8))
    refused(tmp_path, "eval", "sum(W)", "--at", "W=@w.npy")
    assert not marker.exists()


def test_text_arrays_are_called_text(tmp_path):
    np.save(tmp_path / "t.npy", np.array(["a" * 24]))
    err = refused(tmp_path, "eval", "sum(T)", "--at", "T=@t.npy")
    assert "holds text, not numbers" in err and "str96" not in err


def test_npy_with_honest_header_still_reads(tmp_path):
    array = np.arange(24.0).reshape(2, 3, 4)
    np.save(tmp_path / "w.npy", array)
    (tmp_path / "f.npy").write_bytes(npy_bytes(
        "{'fortran_order': True, \"shape\": (2, 3, 4,), 'descr': '>i4'}",
        data=np.asfortranarray(array.astype(">i4")).tobytes(order="F")))
    for name in ("w.npy", "f.npy"):
        code, out, err, _ = run_capped(tmp_path, "eval", "sum(W*W)", "--at", f"W=@{name}",
                                       "--json")
        assert code == 0, err
        assert strict_json(out)["value"] == float((array * array).sum())


def test_npy_header_claiming_more_elements_than_a_value_holds(tmp_path):
    bound = array_input.MAX_ELEMENTS
    (tmp_path / "w.npy").write_bytes(npy_bytes(header(f"({bound + 1},)", descr="'|u1'"),
                                               data=b"\0" * (bound + 1)))
    err = refused(tmp_path, "eval", "sum(W)", "--at", "W=@w.npy")
    assert f"{bound + 1:,} elements" in err and f"at most {bound:,}" in err


# ----- .npz archives: forged sizes and bombs refused before the memory is taken -----

@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED],
                         ids=["deflated", "stored"])
def test_member_claiming_more_than_the_archive_can_hold(tmp_path, method):
    forged_claim_npz(tmp_path / "p.npz", 2 * 10 ** 12, method)
    assert (tmp_path / "p.npz").stat().st_size < 400
    err = refused(tmp_path, "eval", "sum(W)", "--at", "@p.npz")
    assert "damaged .npz archive" in err and "2,000,000,000,000 bytes" in err


def test_zip_bomb_is_refused_from_its_header(tmp_path):
    elements = 250_000_000
    zip_bomb(tmp_path / "bomb.npz", elements)
    assert (tmp_path / "bomb.npz").stat().st_size < 2_500_000
    with zipfile.ZipFile(tmp_path / "bomb.npz") as archive:  # an honest archive
        assert archive.infolist()[0].file_size > 8 * elements
    code, _, err, seconds = run_capped(tmp_path, "eval", "sum(W)", "--at", "@bomb.npz",
                                       "--json")
    assert code == 2 and f"{elements:,} elements" in err
    assert seconds < 10


def test_arrays_of_an_archive_share_one_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(array_input, "MAX_ELEMENTS", 10)
    np.savez(tmp_path / "p.npz", a=np.ones(6), b=np.ones(6))
    with pytest.raises(PointError, match="counting the arrays before it"):
        parse_points([f"@{tmp_path / 'p.npz'}"])
    np.savez(tmp_path / "q.npz", a=np.ones(6), b=np.ones(4))
    assert sorted(parse_points([f"@{tmp_path / 'q.npz'}"])) == ["a", "b"]


# ----- CSV and JSON: bounded bytes, lines and numbers -----

def test_csv_pointing_at_an_endless_file(tmp_path):
    (tmp_path / "d.csv").symlink_to("/dev/zero")
    code, _, err, seconds = run_capped(tmp_path, "eval", "sum(X)", "--at", "X=@d.csv",
                                       "--json")
    assert code == 2 and f"{array_input.MAX_CSV_LINE:,} characters" in err
    assert seconds < 15


def test_json_read_through_the_python_api_is_bounded(tmp_path):
    (tmp_path / "p.json").symlink_to("/dev/zero")
    (tmp_path / "v.json").symlink_to("/dev/zero")
    script = ("import sys; from chaincli.io.point import parse_points\n"
              "from chaincli.base.errors import ChaincliError\n"
              "for spec in ('@p.json', 'v=@v.json'):\n"
              "    try: parse_points([spec])\n"
              "    except ChaincliError as error: print(error.message)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=TIMEOUT, preexec_fn=_cap_memory)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("larger than 2,000,000 bytes") == 2


def test_csv_past_the_byte_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(array_input, "MAX_CSV_BYTES", 1000)
    (tmp_path / "blank.csv").write_text("\n" * 5000)
    (tmp_path / "ok.csv").write_text("1,2\n" * 250)
    with pytest.raises(PointError, match="larger than 1,000 bytes"):
        parse_points([f"X=@{tmp_path / 'blank.csv'}"])
    assert parse_points([f"X=@{tmp_path / 'ok.csv'}"])["X"].shape == (250, 2)


def test_csv_past_the_element_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(array_input, "MAX_ELEMENTS", 100)
    (tmp_path / "x.csv").write_text("1,2,3,4\n" * 30)
    with pytest.raises(PointError, match="more than 100 numbers"):
        parse_points([f"X=@{tmp_path / 'x.csv'}"])


def test_csv_of_one_row_that_looks_like_a_header(tmp_path):
    (tmp_path / "h.csv").write_text("0x10\n")
    err = refused(tmp_path, "eval", "sum(X)", "--at", "X=@h.csv")
    assert "holds no numbers" in err and "(0x10) was taken for a header" in err


def test_long_fields_are_cut_in_messages(tmp_path):
    (tmp_path / "x.csv").write_text("1\n1" + "0" * 5000 + "e999\n")
    err = refused(tmp_path, "eval", "sum(X)", "--at", "X=@x.csv")
    assert "not a finite number" in err and len(err) < 300


def test_name_twice_in_a_json_point(tmp_path):
    (tmp_path / "p.json").write_text('{"v": 1, "v": [1, 2]}')
    err = refused(tmp_path, "eval", "sum(v)", "--at", "@p.json")
    assert 'the name "v" is given twice' in err


JSON_VALUES = [
    ('{"x": true}', "not true"),
    ('{"x": null}', "not null"),
    ('{"x": {"y": 1}}', 'not {"y": 1.0}'),
    ('{"x": "2"}', 'not "2"'),
    ('{"x": [1, true]}', "true is not a number"),
    ('{"x": [1, null]}', "null is not a number"),
    ('{"x": [1, "2"]}', '"2" is not a number'),
    ('{"1x": 1}', '"1x" is not a variable name'),
    ('{"x": "' + "s" * 5000 + '"}', "(5002 characters)"),
]


@pytest.mark.parametrize("text, words", JSON_VALUES)
def test_json_points_are_quoted_in_json(tmp_path, text, words):
    (tmp_path / "p.json").write_text(text)
    err = refused(tmp_path, "eval", "1", "--at", "@p.json")
    assert words in err
    assert "True" not in err and "None" not in err and "'" not in err
    assert len(err) < 300


@pytest.mark.parametrize("text, words", [
    ("true", "not true"), ('"abc"', 'not "abc"'), ("[[1, false]]", "false is not"),
    ("null", "not null"),
])
def test_json_values_are_quoted_in_json(tmp_path, text, words):
    (tmp_path / "v.json").write_text(text)
    err = refused(tmp_path, "eval", "sum(v)", "--at", "v=@v.json")
    assert words in err and "True" not in err and "None" not in err and "'" not in err


def test_deep_json_names_no_python_error(tmp_path):
    (tmp_path / "p.json").write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    err = refused(tmp_path, "eval", "1", "--at", "@p.json")
    assert "nested too deeply" in err and "Error)" not in err


def test_math_on_file_values_is_exit_1(tmp_path):
    (tmp_path / "x.csv").write_text("1,-1\n")
    code, _, err, _ = run_capped(tmp_path, "eval", "sum(log(X))", "--at", "X=@x.csv",
                                 "--json")
    assert code == 1 and "log needs a positive argument" in err


# ----- Random input -----

def read_or_refuse(spec: str):
    """The point ``spec`` gives, or None after a one-line ChaincliError; anything
    else (another exception) fails the property."""
    try:
        return parse_points([spec])
    except ChaincliError as error:
        assert error.message and "\n" not in error.message and len(error.message) < 400, \
            error.message
        return None


HEADER_ALPHABET = "{}()[],:'\" -0123456789<>|fiub8TrueFalsdcpohnt_*\\"


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(alphabet=HEADER_ALPHABET, max_size=120),
    st.tuples(st.integers(0, 70), st.integers(0, 70), st.binary(max_size=12)).map(
        lambda t: (header("(2, 3)").encode()[:t[0]] + t[2]
                   + header("(2, 3)").encode()[t[0] + t[1]:])),
    st.lists(st.integers(-3, 2 ** 40), max_size=40).map(
        lambda dims: header("(" + "".join(f"{d}, " for d in dims) + ")"))))
def test_random_npy_headers_are_read_or_refused(tmp_path, text):
    path = tmp_path / "r.npy"
    path.write_bytes(npy_bytes(text, data=b"\0" * 48))
    point = read_or_refuse(f"W=@{path}")
    if point is not None:
        value = point["W"]
        assert type(value) is float or (value.dtype == np.float64 and value.size > 0)


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=80))
def test_random_header_bytes_keep_the_command_line_contract(tmp_path, junk):
    folder = tmp_path / str(abs(hash(junk)))
    folder.mkdir(exist_ok=True)
    (folder / "w.npy").write_bytes(npy_bytes(header("(2,)")[:20].encode() + junk,
                                             data=b"\0" * 16))
    code, _, _, seconds = run_capped(folder, "eval", "sum(W)", "--at", "W=@w.npy", "--json")
    assert code == 2 and seconds < 10


words = st.text(alphabet="ab1 ", max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 30, 10 ** 30) | words
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words, inner, max_size=3),
    max_leaves=20)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["x", "y", "W", "1x"]), json_values, max_size=3),
       json_values)
def test_random_json_is_read_or_refused_in_json_words(tmp_path, point_data, value):
    (tmp_path / "p.json").write_text(json.dumps(point_data))
    (tmp_path / "v.json").write_text(json.dumps(value))
    for spec in (f"@{tmp_path / 'p.json'}", f"v=@{tmp_path / 'v.json'}"):
        try:
            point = parse_points([spec])
        except ChaincliError as error:
            message = error.message
            assert "\n" not in message and len(message) < 400
            assert "True" not in message and "None" not in message, message
            assert "'" not in message.replace(str(tmp_path), ""), message
            continue
        for item in point.values():
            assert type(item) is float or (item.dtype == np.float64 and item.size > 0
                                           and np.isfinite(item).all())


numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10 ** 6, 10 ** 6)
csv_fields = st.one_of(numbers.map(lambda n: (repr(n), float(n))),
                       st.text(alphabet='ab1.e-+ ,"\t;x_', max_size=6).map(lambda t: (t, None)))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(csv_fields, min_size=1, max_size=4), max_size=6),
       st.sampled_from(["\n", "\r\n"]))
def test_random_csv_is_read_exactly_or_refused(tmp_path, rows, newline):
    path = tmp_path / "r.csv"
    path.write_bytes(newline.join(",".join(text for text, _ in row) for row in rows).encode())
    point = read_or_refuse(f"X=@{path}")
    plain = rows and len({len(row) for row in rows}) == 1 and all(
        number is not None for row in rows for _, number in row)
    if not plain:
        if point is not None:
            assert point["X"].dtype == np.float64 and np.isfinite(point["X"]).all()
        return
    assert point is not None, "a plain table of numbers was refused"
    expected = np.array([[number for _, number in row] for row in rows])
    assert point["X"].tolist() == (expected.ravel() if 1 in expected.shape
                                   else expected).tolist()


def test_stream_rows_quote_long_fields_cut(tmp_path):
    (tmp_path / "p.csv").write_text("x\n1\n" + "a" * 5000 + "\n")
    code, out, err, _ = run_capped(tmp_path, "grad", "x*x", "--points", "p.csv", rows=True)
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["gradient"] == {"x": 2.0}
    assert "(5000 characters)" in lines[1]["error"] and len(lines[1]["error"]) < 200
