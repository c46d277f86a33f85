"""Tensor values in points: bracket literals, JSON, .npy, .npz and CSV files, and the API.

Every form is read through ``point.parse_points`` (what ``--at`` calls);
bad input must raise one ``PointError`` or ``InputError`` (exit 2) with a
message naming the problem. The command line is exercised where the
answer does not need tensor arithmetic: errors in the input, and notices.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chaincli
from chaincli.base.errors import ChaincliError, ExitStatus, InputError, PointError
from chaincli.engine.values import normalize_value
from chaincli.io.point import parse_points


def parse(*specs: str, notices=None):
    return parse_points(list(specs), notices=notices)


def error_of(*specs: str) -> str:
    with pytest.raises(ChaincliError) as caught:
        parse_points(list(specs))
    assert caught.value.exit_status == ExitStatus.USAGE_ERROR
    return caught.value.message


def assert_tensor(value, expected) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.float64 and value.flags.c_contiguous
    assert value.shape == expected.shape
    np.testing.assert_array_equal(value, expected)


# ----- Bracket literals -----

def test_vector_and_matrix_literals():
    point = parse("x=[1,2,3]", "W=[[1, 2], [3, 4]]")
    assert_tensor(point["x"], [1, 2, 3])
    assert_tensor(point["W"], [[1, 2], [3, 4]])


def test_elements_may_be_constant_expressions():
    point = parse("v=[pi/2, -1e-3, atan2(1, 2), 2^10]")
    assert_tensor(point["v"], [math.pi / 2, -1e-3, math.atan2(1, 2), 1024])


def test_pairs_split_outside_brackets_only():
    point = parse("x=[1,2],y=3,W=[[1,2],[3,4]], z = atan2(1, 2)")
    assert list(point) == ["x", "y", "W", "z"]
    assert point["y"] == 3.0 and type(point["y"]) is float
    assert point["z"] == math.atan2(1, 2)
    assert_tensor(point["W"], [[1, 2], [3, 4]])


def test_scalars_stay_floats_and_one_element_lists_stay_arrays():
    point = parse("x=1,y=2.5")
    assert point == {"x": 1.0, "y": 2.5} and all(type(v) is float for v in point.values())
    assert_tensor(parse("x=[5]")["x"], [5])
    assert_tensor(parse("x=[[5]]")["x"], [[5]])


def test_three_dimensional_literal():
    assert_tensor(parse("T=[[[1,2],[3,4]],[[5,6],[7,8]]]")["T"],
                  np.arange(1, 9).reshape(2, 2, 2))


@pytest.mark.parametrize("spec, words", [
    ("x=[1,[2]]", "ragged"),
    ("x=[[1,2],[3]]", "ragged"),
    ("x=[[1,2],3]", "ragged"),
    ("x=[]", "empty"),
    ("x=[[],[]]", "empty"),
    ("x=[1,,2]", "missing"),
    ("x=[1,2,]", "missing"),
    ("x=[,1]", "missing"),
    ("x=[1,2", "closing ']' is missing"),
    ("x=[1]2", "after the closing bracket"),
    ("x=[1][2]", "after the closing bracket"),
    ("x=[[1][2]]", "comma is missing"),
    ("x=[1 [2]]", "without a comma"),
    ("x=[nan]", "'nan' is not a number"),
    ("x=[inf, 1]", "'inf' is not a number"),
    ("x=[1e999]", "not a finite number"),
    ("x=[1_000]", "'1_000' is not a number"),
    ("x=[a, 1]", "'a' is not a number"),
    ("x=[sqrt(-1)]", "is not a number"),
    ("x=[١]", "is not a number"),
    ("x=[1,2],x=[3,4]", "x is given twice"),
    ("x=" + "[" * 40 + "1" + "]" * 40, "more than 32 deep"),
])
def test_bad_literals(spec, words):
    assert words in error_of(spec)


def test_bad_element_names_the_element():
    assert error_of("x=[1, foo]") == "--at x=[…]: the element 'foo' is not a number"


def test_deep_brackets_do_not_recurse():
    deep = "x=" + "[" * 100_000 + "1" + "]" * 100_000
    assert "more than 32 deep" in error_of(deep)


def test_large_literal():
    values = np.random.default_rng(1).normal(size=5000)
    text = "v=[" + ",".join(map(repr, values.tolist())) + "]"
    assert_tensor(parse(text)["v"], values)


# ----- JSON -----

def test_json_point_with_nested_lists(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"W": [[1, 2], [3, 4]], "b": [0.5, -1], "c": 3}))
    point = parse(f"@{path}")
    assert_tensor(point["W"], [[1, 2], [3, 4]])
    assert_tensor(point["b"], [0.5, -1])
    assert point["c"] == 3.0 and type(point["c"]) is float


def test_named_json_value(tmp_path):
    (tmp_path / "v.json").write_text("[1, 2, 3]")
    (tmp_path / "s.json").write_text("2.5")
    (tmp_path / "o.json").write_text('{"a": 1}')
    assert_tensor(parse(f"v=@{tmp_path / 'v.json'}")["v"], [1, 2, 3])
    assert parse(f"s=@{tmp_path / 's.json'}") == {"s": 2.5}
    assert "reads it as a point" in error_of(f"o=@{tmp_path / 'o.json'}")


@pytest.mark.parametrize("value, words", [
    ([[1, 2], [3]], "ragged"),
    ([1, "2"], '"2" is not a number'),
    ([1, True], "true is not a number"),
    ([1, None], "null is not a number"),
    ([], "empty"),
    ([1, 1e400], "finite"),
    ([[1, {"a": 1}]], "is not a number"),
])
def test_bad_json_values(tmp_path, value, words):
    path = tmp_path / "p.json"
    text = json.dumps({"x": value}).replace("Infinity", "1e400")
    path.write_text(text)
    message = error_of(f"@{path}")
    assert words in message and "x" in message


# ----- .npy and .npz -----

def test_npy_values_convert_to_float64(tmp_path):
    np.save(tmp_path / "i.npy", np.arange(6, dtype=np.int32).reshape(2, 3))
    np.save(tmp_path / "b.npy", np.array([True, False]))
    np.save(tmp_path / "f32.npy", np.array([0.5, 1.5], dtype=np.float32))
    np.save(tmp_path / "be.npy", np.array([1.0, 2.0], dtype=">f8"))
    np.save(tmp_path / "fortran.npy", np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    np.save(tmp_path / "zero_d.npy", np.float64(4.0))
    point = parse(*(f"{stem}=@{tmp_path / (stem + '.npy')}"
                    for stem in ("i", "b", "f32", "be", "fortran", "zero_d")))
    assert_tensor(point["i"], [[0, 1, 2], [3, 4, 5]])
    assert_tensor(point["b"], [1, 0])
    assert_tensor(point["f32"], [0.5, 1.5])
    assert_tensor(point["be"], [1, 2])
    assert_tensor(point["fortran"], np.arange(6.0).reshape(2, 3))
    assert point["zero_d"] == 4.0 and type(point["zero_d"]) is float


def test_npz_archive_gives_every_array(tmp_path):
    np.savez(tmp_path / "p.npz", W1=np.ones((2, 3)), b1=np.zeros(2))
    np.savez_compressed(tmp_path / "c.npz", W2=np.eye(2))
    point = parse(f"@{tmp_path / 'p.npz'}", f"@{tmp_path / 'c.npz'}", "x=[1,2,3]")
    assert list(point) == ["W1", "b1", "W2", "x"]
    assert_tensor(point["W1"], np.ones((2, 3)))
    assert_tensor(point["W2"], np.eye(2))


def test_object_arrays_and_pickles_are_refused_unloaded(tmp_path, monkeypatch):
    # A pickle that would record its loading: it must never run.
    class Loud:
        def __reduce__(self):
            return (print, ("LOADED",))

    np.save(tmp_path / "obj.npy", np.array([Loud()], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "obj.npz", o=np.array([Loud()], dtype=object))
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps([1.0, 2.0]))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    assert "object array" in error_of(f"o=@{tmp_path / 'obj.npy'}")
    assert "object array" in error_of(f"@{tmp_path / 'obj.npz'}")
    assert "not a NumPy .npy array" in error_of(f"p=@{tmp_path / 'pickle.npy'}")


@pytest.mark.parametrize("array, words", [
    (np.array([1 + 2j]), "complex"),
    (np.array(["a", "b"]), "not numbers"),
    (np.array([b"a"]), "not numbers"),
    (np.zeros(2, dtype=[("a", "f8")]), "structured"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "not numbers"),
    (np.zeros((0, 3)), "empty (shape (0, 3))"),
    (np.array([1.0, np.nan]), "the element [1] is nan"),
    (np.array([[1.0, 2.0], [3.0, -np.inf]]), "the element [1, 1] is -inf"),
])
def test_npy_values_refused(tmp_path, array, words):
    path = tmp_path / "a.npy"
    np.save(path, array)
    assert words in error_of(f"a=@{path}")
    np.savez(tmp_path / "a.npz", a=array)
    assert words in error_of(f"@{tmp_path / 'a.npz'}")


def test_files_that_are_not_what_their_names_say(tmp_path):
    (tmp_path / "text.npy").write_text("1,2,3\n")
    (tmp_path / "text.npz").write_text("1,2,3\n")
    np.save(tmp_path / "real.npy", np.ones(3))
    truncated = (tmp_path / "real.npy").read_bytes()[:-5]
    (tmp_path / "cut.npy").write_bytes(truncated)
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04" + b"\0" * 40)
    np.savez(tmp_path / "badname.npz", **{"layer.weight": np.ones(2)})
    assert "not a NumPy .npy array" in error_of(f"t=@{tmp_path / 'text.npy'}")
    assert "not an .npz archive" in error_of(f"@{tmp_path / 'text.npz'}")
    assert "truncated" in error_of(f"c=@{tmp_path / 'cut.npy'}")
    assert "not a .npy array" in error_of(f"@{tmp_path / 'other.npz'}")
    assert "holds no arrays" in error_of(f"@{tmp_path / 'empty.npz'}")
    assert "not a readable .npz archive" in error_of(f"@{tmp_path / 'broken.npz'}")
    assert "not named like a variable" in error_of(f"@{tmp_path / 'badname.npz'}")
    # A .npz read as one value, or a .npy or .csv without a name, is a usage slip.
    assert "read all of them with --at @" in error_of(f"W=@{tmp_path / 'badname.npz'}")
    assert "give it a name" in error_of(f"@{tmp_path / 'real.npy'}")
    assert "cannot tell the format" in error_of(f"W=@{tmp_path / 'data.txt'}")


def test_npy_header_claiming_more_data_than_the_file_holds(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
        handle.write(b"\0" * 64)
    assert "truncated" in error_of(f"h=@{path}")


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        parse(f"W=@{tmp_path / 'nothere.npy'}")
    with pytest.raises(InputError, match="no such file"):
        parse(f"@{tmp_path / 'nothere.npz'}")


def test_name_given_twice_across_files_and_options(tmp_path):
    np.savez(tmp_path / "p.npz", W=np.ones(2))
    assert "W is given twice" in error_of(f"@{tmp_path / 'p.npz'}", "W=[1,2]")


# ----- CSV -----

def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_matrix_row_and_column(tmp_path):
    matrix = write(tmp_path, "m.csv", "1,2,3\n4,5,6\n")
    column = write(tmp_path, "c.csv", "1\n2\n3\n")
    row = write(tmp_path, "r.csv", "1,2,3\n")
    single = write(tmp_path, "s.csv", "7\n")
    point = parse(f"M=@{matrix}", f"c=@{column}", f"r=@{row}", f"s=@{single}")
    assert_tensor(point["M"], [[1, 2, 3], [4, 5, 6]])
    # One column or one row is a vector (n,), never (n, 1).
    assert_tensor(point["c"], [1, 2, 3])
    assert_tensor(point["r"], [1, 2, 3])
    assert_tensor(point["s"], [7])


def test_csv_header_is_skipped_with_a_notice(tmp_path):
    path = write(tmp_path, "h.csv", "height, weight\n1.5,60\n1.8,80\n")
    notices: list[str] = []
    point = parse(f"X=@{path}", notices=notices)
    assert_tensor(point["X"], [[1.5, 60], [1.8, 80]])
    assert notices == [f"--at X=@{path}: skipped the header row of {path} (height, weight)"]


def test_csv_quirks(tmp_path):
    # Blank lines, spaces around fields, a trailing comma, CRLF, a byte-order mark,
    # quoted numbers.
    path = tmp_path / "q.csv"
    path.write_bytes(b'\xef\xbb\xbf1, 2 ,3,\r\n\r\n  \r\n4,"5",6,\r\n\n')
    assert_tensor(parse(f"Q=@{path}")["Q"], [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("text, words", [
    ("1,2\n3\n", "line 2 has 1 field, the first row 2"),
    ("1,2\n3,4,5\n", "line 2 has 3 fields"),
    ("1,nan\n", "line 1, column 2: 'nan' is not a number"),
    ("1,inf\n", "'inf' is not a number"),
    ("1,1e999\n", "'1e999' is not a finite number"),
    ("1_000,2\n", "'1_000' is not a number"),
    ("١,2\n", "'١' is not a number"),
    ("1,,2\n", "column 2: an empty field is not a number"),
    ("1;2\n3;4\n", "(fields are separated by commas)"),
    ("1\t2\n", "'1\\t2' is not a number (fields are separated by commas)"),
    ("\n\n", "holds no numbers"),
    ("", "holds no numbers"),
    ("a,b\n", "holds no numbers"),
    ("a,b\nc,d\n", "line 2, column 1: 'c' is not a number"),
    ("1,2\nx,y\n", "line 2, column 1: 'x' is not a number"),
])
def test_bad_csv(tmp_path, text, words):
    path = write(tmp_path, "bad.csv", text)
    message = error_of(f"X=@{path}")
    assert words in message and message.startswith(f"--at X=@{path}: ")


def test_binary_file_named_csv(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "a.csv").write_bytes((tmp_path / "a.npy").read_bytes())
    assert "is not UTF-8 text" in error_of(f"A=@{tmp_path / 'a.csv'}")
    (tmp_path / "nul.csv").write_bytes(b"1,2\x00\n")
    message = error_of(f"N=@{tmp_path / 'nul.csv'}")
    assert "line 1, column 2: '2\\x00' is not a number" in message


def test_large_csv_is_read_exactly(tmp_path):
    data = np.random.default_rng(2).normal(size=(20_000, 10))
    path = tmp_path / "big.csv"
    path.write_text("\n".join(",".join(map(repr, row)) for row in data.tolist()) + "\n")
    assert_tensor(parse(f"X=@{path}")["X"], data)


# ----- The Python API -----

def test_normalize_value_scalars():
    assert normalize_value("x", 3) == 3.0 and type(normalize_value("x", 3)) is float
    assert type(normalize_value("x", 2.5)) is float
    assert type(normalize_value("x", np.float32(2))) is float
    zero_d = normalize_value("x", np.array(7))
    assert zero_d == 7.0 and type(zero_d) is float


def test_normalize_value_arrays():
    assert_tensor(normalize_value("W", [[1, 2], [3, 4]]), [[1, 2], [3, 4]])
    assert_tensor(normalize_value("W", ((1, 2), (3, 4))), [[1, 2], [3, 4]])
    assert_tensor(normalize_value("v", np.arange(3, dtype=np.int64)), [0, 1, 2])
    assert_tensor(normalize_value("v", np.asfortranarray(np.eye(3))), np.eye(3))
    strided = np.arange(10.0)[::2]
    assert_tensor(normalize_value("v", strided), [0, 2, 4, 6, 8])
    same = np.ones((2, 2))
    assert normalize_value("W", same) is same  # already right: not copied


@pytest.mark.parametrize("value, words", [
    (True, "must be a number"),
    (np.bool_(True), "must be a number"),
    ("1", "not str"),
    (None, "not NoneType"),
    (1 + 2j, "not complex"),
    (float("nan"), "finite"),
    (math.inf, "finite"),
    (10 ** 400, "finite"),
    ([1, [2]], "ragged"),
    ([[1, 2], [3]], "ragged"),
    ([], "empty"),
    ([1.0, float("nan")], "the element [1] is nan"),
    ([1, True], "True is not a number"),
    (np.array([1 + 2j]), "complex"),
    (np.array([None], dtype=object), "object array"),
    (np.array(["a"]), "not numbers"),
    (np.zeros((3, 0)), "empty"),
    (np.array([np.inf]), "the element [0] is inf"),
])
def test_normalize_value_refuses(value, words):
    with pytest.raises(PointError) as caught:
        normalize_value("x", value)
    assert words in caught.value.message


# ----- Cold start and the command line -----

def test_scalar_points_do_not_import_numpy(tmp_path):
    code = ("import sys; from chaincli.io.point import parse_points; "
            "from chaincli.engine.values import normalize_value; "
            "p = parse_points(['x=1,y=pi/2', 'z=atan2(1, 2)']); normalize_value('x', 2); "
            "print('numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=tmp_path)  # the installed package, not the checkout
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("at, words", [
    ("x=[1,,2]", "an element is missing"),
    ("x=[[1,2],[3]]", "ragged"),
    ("x=[nan]", "'nan' is not a number"),
])
def test_cli_bad_tensor_input(cli, run, at, words):
    for invoke in (cli, run):
        code, out, err = invoke("grad", "x", "--at", at, "--json")
        assert code == 2 and out == ""
        assert err.startswith("Error: ") and words in err and err.count("\n") == 1
        assert "Traceback" not in err


def test_cli_bad_files(run, tmp_path):
    np.save(tmp_path / "obj.npy", np.array([None], dtype=object), allow_pickle=True)
    (tmp_path / "t.npy").write_text("hello")
    for at in (f"W=@{tmp_path / 'obj.npy'}", f"W=@{tmp_path / 't.npy'}",
               f"@{tmp_path / 't.npy'}", f"W=@{tmp_path / 'missing.csv'}"):
        code, out, err = run("grad", "W", "--at", at)
        assert code == 2 and out == "", (at, err)
        assert err.startswith("Error: ") and err.count("\n") == 1, (at, err)


def test_cli_csv_header_notice_is_a_warning(cli, run, tmp_path):
    path = write(tmp_path, "h.csv", "a,b\n1,2\n")
    for invoke in (cli, run):
        code, out, err = invoke("eval", "y", "--at", f"y=2,X=@{path}", "--json")
        assert code == 0 and json.loads(out) == {"value": 2.0}
        assert f"Warning: --at X=@{path}: skipped the header row of {path} (a, b)\n" in err


def test_cli_scalar_json_point_file_unchanged(cli, tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"x": 1, "y": 2}')
    code, out, err = cli("grad", "x*y", "--at", f"@{path}", "--json", "--explain", "none")
    assert code == 0, err
    assert out == ('{"expression": "x*y", "point": {"x": 1.0, "y": 2.0}, "value": 2.0, '
                   '"gradient": {"x": 2.0, "y": 1.0}, "mode": "reverse", "warnings": []}\n')


# ----- Random input -----


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet="[],()1.-e x=ya", max_size=40))
def test_any_bracket_text_is_a_point_or_one_point_error(text):
    try:
        point = parse_points([text])
    except PointError as error:
        assert error.message and "\n" not in error.message
        return
    for value in point.values():
        assert type(value) is float or (value.dtype == np.float64 and value.size > 0
                                        and np.isfinite(value).all())


finite_arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
                           elements=st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(finite_arrays)
def test_literal_json_and_npy_read_back_exactly(tmp_path_factory, array):
    folder = tmp_path_factory.mktemp("round")
    text = json.dumps(array.tolist())
    (folder / "a.json").write_text(text)
    np.save(folder / "a.npy", array)
    point = parse_points([f"L={text.replace(' ', '')}", f"J=@{folder / 'a.json'}",
                          f"N=@{folder / 'a.npy'}"])
    for name in "LJN":
        assert_tensor(point[name], array)


def test_a_big_endian_array_in_a_python_point_is_made_native():
    """'>f8' has the char of float64; the point still holds native float64."""
    expr = chaincli.compile("sum(x*x)")
    x = np.array([1.0, 2.0], dtype=">f8")
    for _ in range(3):  # interpreted, then compiled
        result = expr.gradient({"x": x})
        assert_tensor(result.point["x"], [1.0, 2.0])
        assert result.point["x"].dtype.isnative
        assert np.array_equal(result.gradient["x"], [2.0, 4.0])
