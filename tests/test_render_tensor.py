"""Results holding tensors, rendered without the engine: results built by hand.

Tables on a fixed console (compared exactly at 80 and 40 columns, and for
elision of a 300×300 gradient), ``--format plain`` lines, strict JSON with
non-finite elements, and the ``grad``/``eval`` commands' dispatch (the
library call replaced by a stand-in that returns these results).
"""

from __future__ import annotations

import io
import json
import math
import time

import numpy as np
import pytest
from rich.console import Console

from chaincli.cli import commands
from chaincli.base.jsonout import dumps, json_safe
from chaincli.render.plain import plain_gradient, plain_lines
from chaincli.render.tensor import print_tensor_gradient, print_tensor_value
from chaincli.engine.results import GradientResult, ValueResult, has_tensors, is_tensor

from clicheck import strict_json

W = np.array([[0.5, -1.25, 3.0], [2.0, 0.125, -4.0]])
X = np.array([1.0, 2.0, 3.0])
B = np.array([1.0, -2.0])


def network_result() -> GradientResult:
    return GradientResult(
        "sum(tanh(W @ x + b)) + c*c", {"W": W, "x": X, "b": B, "c": 1.5}, 0.75,
        {"W": np.array([[0.25, -0.5, 1.0 / 3], [1e-7, 2.5e6, -1.0]]),
         "b": np.array([0.1, -0.2]), "c": 3.0}, "reverse")


def render(printer, result, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    printer(result, console)
    return console.file.getvalue()


GRADIENT_80 = """\
f = sum(tanh(W @ x + b)) + c*c
at W: array of shape (2, 3), x = [1.0, 2.0, 3.0], b = [1.0, -2.0], c = 1.5
f = 0.75
gradient (reverse mode)
┏━━━━━━━━━━┳━━━━━━━━━━━━━━┓
┃ variable ┃ ∂f/∂variable ┃
┡━━━━━━━━━━╇━━━━━━━━━━━━━━┩
│ c        │          3.0 │
└──────────┴──────────────┘
∂f/∂W  shape (2, 3)  norm 2.5e+06  min -1  max 2.5e+06
┏━━━┳━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━┓
┃   ┃     0 ┃       1 ┃        2 ┃
┡━━━╇━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━┩
│ 0 │  0.25 │    -0.5 │ 0.333333 │
│ 1 │ 1e-07 │ 2.5e+06 │       -1 │
└───┴───────┴─────────┴──────────┘
∂f/∂b  shape (2,)  norm 0.223607  min -0.2  max 0.1
┏━━━┳━━━━━━━┓
┃   ┃ ∂f/∂b ┃
┡━━━╇━━━━━━━┩
│ 0 │   0.1 │
│ 1 │  -0.2 │
└───┴───────┘
Tensor elements are shown to 6 significant digits; --format plain or --json
gives every digit.
"""


GRADIENT_40 = """\
f = sum(tanh(W @ x + b)) + c*c
at W: array of shape (2, 3),
x = [1.0, 2.0, 3.0], b = [1.0, -2.0],
c = 1.5
f = 0.75
gradient (reverse mode)
┏━━━━━━━━━━┳━━━━━━━━━━━━━━┓
┃ variable ┃ ∂f/∂variable ┃
┡━━━━━━━━━━╇━━━━━━━━━━━━━━┩
│ c        │          3.0 │
└──────────┴──────────────┘
∂f/∂W  shape (2, 3)  norm 2.5e+06
min -1  max 2.5e+06
┏━━━┳━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━┓
┃   ┃     0 ┃       1 ┃        2 ┃
┡━━━╇━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━┩
│ 0 │  0.25 │    -0.5 │ 0.333333 │
│ 1 │ 1e-07 │ 2.5e+06 │       -1 │
└───┴───────┴─────────┴──────────┘
∂f/∂b  shape (2,)  norm 0.223607
min -0.2  max 0.1
┏━━━┳━━━━━━━┓
┃   ┃ ∂f/∂b ┃
┡━━━╇━━━━━━━┩
│ 0 │   0.1 │
│ 1 │  -0.2 │
└───┴───────┘
Tensor elements are shown to 6
significant digits; --format plain or
--json gives every digit.
"""


VALUE_80 = """\
f = W @ x
value  shape (2,)  norm 12.0026  min -9.75  max 7
┏━━━┳━━━━━━━┓
┃   ┃     f ┃
┡━━━╇━━━━━━━┩
│ 0 │     7 │
│ 1 │ -9.75 │
└───┴───────┘
Tensor elements are shown to 6 significant digits; --format plain or --json
gives every digit.
"""


THREE_AXES_40 = """\
f = T
value  shape (2, 3, 4)  norm 46.5188
min -5  max 18
┏━━━━━┳━━━━┳━━━━┳━━━━┳━━━━┓
┃     ┃  0 ┃  1 ┃  2 ┃  3 ┃
┡━━━━━╇━━━━╇━━━━╇━━━━╇━━━━┩
│ 0,0 │ -5 │ -4 │ -3 │ -2 │
│ 0,1 │ -1 │  0 │  1 │  2 │
│ 0,2 │  3 │  4 │  5 │  6 │
│ 1,0 │  7 │  8 │  9 │ 10 │
│ 1,1 │ 11 │ 12 │ 13 │ 14 │
│ 1,2 │ 15 │ 16 │ 17 │ 18 │
└─────┴────┴────┴────┴────┘
Tensor elements are shown to 6
significant digits; --format plain or
--json gives every digit.
"""


def test_gradient_table_80_columns():
    assert render(print_tensor_gradient, network_result(), 80) == GRADIENT_80


def test_gradient_table_40_columns():
    assert render(print_tensor_gradient, network_result(), 40) == GRADIENT_40


def test_value_table():
    result = ValueResult("W @ x", {"W": W, "x": X}, W @ X)
    assert render(print_tensor_value, result, 80) == VALUE_80


def test_three_axes_are_flattened_per_leading_index():
    t = np.arange(24.0).reshape(2, 3, 4) - 5
    assert render(print_tensor_value, ValueResult("T", {"T": t}, t), 40) == THREE_AXES_40


@pytest.mark.parametrize("width", [80, 40, 120])
def test_large_gradient_is_elided_and_counted(width):
    big = np.arange(90_000.0).reshape(300, 300) / 7
    result = GradientResult("sum(W)", {"W": big}, 1.0, {"W": big}, "reverse")
    text = render(print_tensor_gradient, result, width)
    lines = text.splitlines()
    assert max(map(len, lines)) <= width
    header = next(line for line in lines if line.startswith("┃"))
    columns = [cell.strip() for cell in header.strip("┃").split("┃")]
    shown = [int(c) for c in columns if c.isdigit()]
    assert "…" in columns
    # The first and last columns are kept around the gap.
    assert shown[0] == 0 and shown[-1] == 299 and len(shown) >= 2
    assert shown == sorted(shown) and len(shown) < 300
    rows = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    labels = [int(r) for r in rows if r.isdigit()]
    assert labels == list(range(8)) + list(range(292, 300))
    assert rows[8] == "…"
    note = " ".join(text[text.index("… 284 of 300 rows"):].split())
    assert note.startswith(f"… 284 of 300 rows and {300 - len(shown)} of 300 columns not "
                           "shown; --format plain lists every element")
    # The last row ends with the element [299, 299], to 6 significant digits.
    last_row = next(line for line in lines if line.startswith("│ 299 │"))
    assert last_row.endswith(f" {format(big[299, 299], '.6g')} │")


def test_long_vector_is_elided():
    v = np.arange(1000.0)
    text = render(print_tensor_value, ValueResult("v", {"v": v}, v), 80)
    assert "… 984 of 1,000 rows not shown" in text
    assert "│ 999 │ 999 │" in text and "│   7 │   7 │" in text and "│   8 │" not in text


def test_statistics_line():
    g = np.array([[3.0, -4.0], [0.0, 0.0]])
    result = GradientResult("f", {"A": g}, 0.0, {"A": g}, "forward")
    text = render(print_tensor_gradient, result, 80)
    assert "gradient (forward mode)\n∂f/∂A  shape (2, 2)  norm 5  min -4  max 3\n" in text
    huge = np.array([1e200, -1e200])  # the norm must not overflow
    text = render(print_tensor_gradient,
                  GradientResult("f", {"v": huge}, 0.0, {"v": huge}, "reverse"), 80)
    assert f"norm {format(math.sqrt(2) * 1e200, '.6g')}" in text


def test_non_finite_elements_are_shown():
    g = np.array([np.nan, np.inf, -1.0])
    text = render(print_tensor_gradient, GradientResult("f", {"v": g}, 1.0, {"v": g},
                                                        "reverse"), 80)
    assert "│ 0 │   nan │" in text and "│ 1 │   inf │" in text


def test_ascii_console_gets_ascii_glyphs():
    from chaincli.render.table import make_console

    class AsciiFile(io.StringIO):
        encoding = "ascii"

    stream = AsciiFile()
    big = np.arange(400.0).reshape(20, 20)
    print_tensor_gradient(GradientResult("f", {"W": big}, 1.0, {"W": big}, "reverse"),
                          make_console(stream, width=60))
    text = stream.getvalue()
    assert text.isascii() and "df/dW" in text and "..." in text


# ----- Plain and JSON -----

def test_plain_lines():
    assert plain_gradient(network_result()) == (
        "W[0,0] 0.25\nW[0,1] -0.5\nW[0,2] 0.3333333333333333\n"
        "W[1,0] 1e-07\nW[1,1] 2500000.0\nW[1,2] -1.0\n"
        "b[0] 0.1\nb[1] -0.2\nc 3.0\n")
    t = np.array([[[1.0, np.nan]], [[np.inf, -np.inf]]])
    assert plain_lines("T", t) == "T[0,0,0] 1.0\nT[0,0,1] nan\nT[1,0,0] inf\nT[1,0,1] -inf\n"
    assert plain_lines("s", np.float64(0.1)) == "s 0.1\n"


def test_plain_lines_round_trip():
    values = np.random.default_rng(3).normal(size=(7, 5)) * 1e-3
    lines = plain_lines("W", values).splitlines()
    assert len(lines) == 35
    read = {name: float(number) for name, number in (line.split() for line in lines)}
    assert read["W[6,4]"] == values[6, 4]
    assert [read[f"W[{i},{j}]"] for i in range(7) for j in range(5)] == values.ravel().tolist()


def test_gradient_json():
    data = strict_json(dumps(network_result().to_dict()))
    assert data == {
        "expression": "sum(tanh(W @ x + b)) + c*c",
        "point": {"W": W.tolist(), "x": [1.0, 2.0, 3.0], "b": [1.0, -2.0], "c": 1.5},
        "value": 0.75,
        "gradient": {"W": [[0.25, -0.5, 1.0 / 3], [1e-7, 2.5e6, -1.0]], "b": [0.1, -0.2],
                     "c": 3.0},
        "shapes": {"W": [2, 3], "x": [3], "b": [2], "c": []},
        "mode": "reverse",
        "warnings": [],
    }


def test_scalar_json_has_no_shapes():
    result = GradientResult("x*y", {"x": 1.0, "y": 2.0}, 2.0, {"x": 2.0, "y": 1.0}, "reverse")
    assert not has_tensors(result)
    assert dumps(result.to_dict()) == (
        '{"expression": "x*y", "point": {"x": 1.0, "y": 2.0}, "value": 2.0, '
        '"gradient": {"x": 2.0, "y": 1.0}, "mode": "reverse", "warnings": []}')


def test_json_is_strict_for_non_finite_elements():
    g = np.array([[1.0, np.nan], [np.inf, -np.inf]])
    result = GradientResult("f", {"W": np.ones((2, 2))}, math.inf, {"W": g}, "reverse")
    text = dumps(result.to_dict())
    assert "NaN," not in text and "Infinity," not in text.replace('"Infinity",', "")
    data = strict_json(text)
    assert data["gradient"]["W"] == [[1.0, "NaN"], ["Infinity", "-Infinity"]]
    assert data["value"] == "Infinity"
    # Arrays handed to the writer directly are made safe the same way.
    assert json.loads(dumps({"g": g, "s": np.float32(0.5), "n": np.float64("nan")})) == {
        "g": [[1.0, "NaN"], ["Infinity", "-Infinity"]], "s": 0.5, "n": "NaN"}
    assert json_safe(np.array(2.5)) == 2.5 and json_safe(np.arange(3)) == [0, 1, 2]


def test_large_gradient_json_is_fast():
    g = np.random.default_rng(4).normal(size=(1000, 100))
    result = GradientResult("f", {"W": g}, 1.0, {"W": g}, "reverse")
    start = time.perf_counter()
    text = dumps(result.to_dict())
    elapsed = time.perf_counter() - start
    assert strict_json(text)["gradient"]["W"][999][99] == g[999, 99]
    assert elapsed < 2.0  # about 0.1 s: a Python step per element at most


def test_value_json():
    result = ValueResult("W @ x", {"W": W, "x": X}, W @ X)
    assert result.to_dict() == {
        "expression": "W @ x", "point": {"W": W.tolist(), "x": X.tolist()},
        "value": [7.0, -9.75], "shape": [2], "shapes": {"W": [2, 3], "x": [3]},
        "warnings": []}
    scalar = ValueResult("x", {"x": 2.0}, 2.0)
    assert scalar.to_dict() == {"expression": "x", "point": {"x": 2.0}, "value": 2.0,
                                "warnings": []}


def test_predicates():
    assert is_tensor(np.ones(2)) and not is_tensor(np.float64(1)) and not is_tensor(1.0)
    assert not is_tensor(np.array(1.0))
    assert has_tensors(ValueResult("sum(x)", {"x": np.ones(2)}, 2.0))
    assert has_tensors(ValueResult("[x, x]", {"x": 1.0}, np.ones(2)))
    assert has_tensors(GradientResult("f", {"x": 1.0}, 1.0, {"x": np.ones(1)}, "reverse"))
    assert not has_tensors(ValueResult("x", {"x": 1.0}, 1.0))
    assert network_result().all_finite
    assert not GradientResult("f", {"v": np.ones(2)}, 1.0,
                              {"v": np.array([1.0, np.nan])}, "reverse").all_finite


# ----- The commands, with the library call replaced -----

class StandIn:
    """What ``compile_expression`` would return, answering with ready results."""

    def __init__(self, gradient=None, value=None):
        self._gradient, self._value = gradient, value

    def gradient(self, point, mode="reverse", wrt=None):
        return self._gradient

    def evaluate(self, point):
        return self._value


@pytest.fixture
def answers(monkeypatch):
    def install(gradient=None, value=None):
        monkeypatch.setattr(commands, "load_expression", lambda expr, at: (StandIn(gradient, value), {}))
    return install


def test_grad_command_formats(cli, answers):
    answers(gradient=network_result())
    code, out, err = cli("grad", "f", "--json")
    assert code == 0 and err == ""
    data = strict_json(out)
    assert data["shapes"]["W"] == [2, 3] and "chain" not in data and "trace" not in data
    code, out, err = cli("grad", "f", "--format", "plain")
    assert code == 0 and out == plain_gradient(network_result())
    code, out, err = cli("grad", "f")
    assert code == 0 and "∂f/∂W  shape (2, 3)" in out and err == ""


def test_direction_along_tensor_variables(cli):
    args = ("grad", "sum(W @ x)", "--at", "W=[[1,2],[3,4]],x=[1,1]")
    code, out, err = cli(*args, "--direction", "x=[1,0]", "--json")
    assert code == 0, err
    data = strict_json(out)
    assert data["directional_derivative"] == 4.0 and data["direction"]["x"] == [1.0, 0.0]
    code, out, err = cli(*args, "--direction", "x=[1,0,0]")
    assert code == 2 and out == "" and err.startswith("Error: --direction x has shape (3,)")


def test_non_finite_tensor_gradient_exits_1(cli, answers):
    g = np.array([1.0, np.nan])
    answers(gradient=GradientResult("f", {"v": np.ones(2)}, 1.0, {"v": g}, "reverse"))
    code, out, err = cli("grad", "f", "--json")
    assert code == 1 and strict_json(out)["gradient"]["v"] == [1.0, "NaN"]


def test_eval_command_with_an_array_value(cli, answers):
    answers(value=ValueResult("W @ x", {"W": W, "x": X}, W @ X))
    code, out, err = cli("eval", "f", "--json")
    assert code == 0 and strict_json(out) == {"value": [7.0, -9.75], "shape": [2]}
    code, out, err = cli("eval", "f", "--format", "plain")
    assert code == 0 and out == "[0] 7.0\n[1] -9.75\n"
    code, out, err = cli("eval", "f")
    assert code == 0 and "value  shape (2,)  norm 12.0026  min -9.75  max 7" in out


def test_eval_command_with_a_scalar_value_of_tensors(cli, answers):
    answers(value=ValueResult("sum(x)", {"x": X}, 6.0))
    code, out, err = cli("eval", "f", "--json")
    assert code == 0 and out == '{"value": 6.0}\n'
    code, out, err = cli("eval", "f", "--format", "plain")
    assert code == 0 and out == "6.0\n"


def test_very_narrow_terminal_folds_and_still_marks_the_gap():
    big = np.arange(90_000.0).reshape(300, 300) / 7
    text = render(print_tensor_gradient,
                  GradientResult("sum(W)", {"W": big}, 1.0, {"W": big}, "reverse"), 20)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 20
    header = next(line for line in lines if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["", "0", "…"]
    assert "299 of 300" in " ".join(text.split())
