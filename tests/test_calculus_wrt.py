"""``--wrt`` for hessian, jacobian and check: rows and columns of the chosen variables.

A restricted result is the full one with the other rows and columns left
out, bit for bit (each column is its own sweep); checked in process, through
the installed script, and on the library functions.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chaincli
from chaincli.calculus.derivatives import MAX_MATRIX_ENTRIES, check_gradient, hessian, jacobian
from chaincli.base.errors import PointError, UsageError
from clicheck import strict_json

NETWORK = "h = tanh(W1@x + b1); p = softmax(W2@h + b2); -sum(t*log(p))"
NETWORK_AT = ["--at", "W1=[[0.5,-0.3],[0.2,0.8],[-0.6,0.1]],b1=[0.1,0,-0.1]",
              "--at", "W2=[[0.3,-0.2,0.5],[-0.4,0.6,0.1]],b2=[0,0.1],x=[1,-2],t=[0,1]"]
W2 = [f"W2[{i},{j}]" for i in range(2) for j in range(3)]


@pytest.fixture(params=["cli", "run"])
def invoke(request):
    """In process and through the installed script."""
    return request.getfixturevalue(request.param)


def _json(invoke, *args):
    code, out, err = invoke(*args, "--json")
    assert code == 0, err
    return strict_json(out)


def _submatrix(data, key, names, rows=True):
    index = [data["variables"].index(name) for name in names]
    matrix = data[key]
    if rows:
        return [[matrix[i][j] for j in index] for i in index]
    return [[row[j] for j in index] for row in matrix]


def test_hessian_of_a_network_by_its_last_layer(invoke):
    full = _json(invoke, "hessian", NETWORK, *NETWORK_AT)
    part = _json(invoke, "hessian", NETWORK, *NETWORK_AT, "--wrt", "W2")
    assert part["variables"] == W2
    assert part["hessian"] == _submatrix(full, "hessian", W2)
    assert part["value"] == full["value"] and part["point"] == full["point"]
    # An element alone, a negative index, the order given, a name given twice.
    part = _json(invoke, "hessian", NETWORK, *NETWORK_AT, "-w", "b2,W2[-1,-1],b2,W2[0,0]")
    names = ["b2[0]", "b2[1]", "W2[1,2]", "W2[0,0]"]
    assert part["variables"] == names
    assert part["hessian"] == _submatrix(full, "hessian", names)


def test_hessian_of_scalars(invoke):
    data = _json(invoke, "hessian", "x^2*y + sin(y)", "--at", "x=1,y=2", "--wrt", "y,x")
    assert data["variables"] == ["y", "x"]
    assert data["hessian"] == [[-math.sin(2.0), 2.0], [2.0, 4.0]]
    code, out, err = invoke("hessian", "x^2*y + sin(y)", "--at", "x=1,y=2", "--wrt", "y",
                            "--method", "symbolic", "--format", "plain")
    assert (code, err) == (0, "") and float(out) == -math.sin(2.0)
    code, out, err = invoke("hessian", "x^2*y + sin(y)", "--at", "x=1,y=2", "-w", "x")
    assert code == 0 and "∂²f" in out and " y " not in out.splitlines()[-2]


def test_jacobian_of_a_matrix_product_by_its_vector(invoke):
    at = ["--at", "W=[[1,2],[3,4],[5,6]],x=[1,-1]"]
    data = _json(invoke, "jacobian", "W @ x", *at, "--wrt", "x")
    assert data["variables"] == ["x[0]", "x[1]"]
    assert data["jacobian"] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert data["outputs"] == ["(W @ x)[0]", "(W @ x)[1]", "(W @ x)[2]"]
    full = _json(invoke, "jacobian", "W @ x", *at)
    names = ["W[2,1]", "x[1]"]
    part = _json(invoke, "jacobian", "W @ x", *at, "--wrt", "W[2,1],x[1]")
    assert part["variables"] == names
    assert part["jacobian"] == _submatrix(full, "jacobian", names, rows=False)
    code, out, err = invoke("jacobian", "W @ x", *at, "--wrt", "x", "--format", "plain")
    assert code == 0 and out.split() == ["1.0", "2.0", "3.0", "4.0", "5.0", "6.0"]
    code, out, err = invoke("jacobian", "W @ x", *at, "--wrt", "x")
    header = next(line for line in out.splitlines() if "output" in line)
    assert "x[0]" in header and "x[1]" in header and "W[" not in header


def test_jacobian_of_several_scalar_expressions(invoke):
    data = _json(invoke, "jacobian", "x*y", "x + z", "--at", "x=1,y=2,z=3", "-w", "z,y")
    assert data["variables"] == ["z", "y"]
    assert data["jacobian"] == [[0.0, 1.0], [1.0, 0.0]]  # x*y has no z: a zero there


def test_check_of_the_parameters_without_the_data(invoke):
    full = _json(invoke, "check", NETWORK, *NETWORK_AT)
    part = _json(invoke, "check", NETWORK, *NETWORK_AT, "--wrt", "W1,b1,W2,b2")
    assert [row["variable"].partition("[")[0] for row in full["variables"]] == \
        ["W1", "x", "b1", "W2", "b2", "t"]
    assert part["variables"] == [row for row in full["variables"]
                                 if row["variable"].partition("[")[0] != "x"
                                 and not row["variable"].startswith("t")]
    assert part["agree"] is True
    one = _json(invoke, "check", NETWORK, *NETWORK_AT, "--wrt", "W2[1,2]")
    [row] = one["variables"]
    assert row["variable"] == "W2[1,2]"
    assert (row["elements_checked"], row["elements"]) == (1, 6)
    assert row["reverse"] == pytest.approx(row["forward"], rel=1e-12) and row["reverse"] != 0.0
    code, out, err = invoke("check", NETWORK, *NETWORK_AT, "-w", "b2")
    assert code == 0, err
    assert "b2[" in out and "W1[" not in out and "x[" not in out


def test_check_of_scalars(invoke):
    code, out, err = invoke("check", "x^2*y", "--at", "x=1,y=2", "--wrt", "y",
                            "--format", "plain")
    assert code == 0, err
    [line] = out.splitlines()
    assert line.split()[0] == "y" and line.split()[1] == "1.0" and line.endswith("ok")


@pytest.mark.parametrize("command", ["hessian", "jacobian", "check"])
@pytest.mark.parametrize("wrt, message", [
    ("q", "Error: --wrt names q, which the expression does not use"),
    ("W2,q,r", "--wrt names q, r"),
    ("b2[2]", "--wrt b2[2]: index 2 is out of range for shape (2,)"),
    ("W2[0]", "--wrt W2[0]: W2 has shape (2, 3), so an element takes 2 indices"),
    ("W2[a,b]", "an element is written with whole numbers"),
    (",", "--wrt needs at least one variable name"),
])
def test_a_name_that_is_not_there_is_a_usage_error(invoke, command, wrt, message):
    code, out, err = invoke(command, NETWORK, *NETWORK_AT, "--wrt", wrt)
    assert (code, out) == (2, ""), err
    assert err.startswith("Error: ") and message in err and len(err.splitlines()) <= 2


@pytest.mark.parametrize("command", ["hessian", "jacobian", "check"])
def test_an_element_of_a_number_is_a_usage_error(invoke, command):
    code, out, err = invoke(command, "x^2*y", "--at", "x=1,y=2", "--wrt", "x[0]")
    assert (code, out) == (2, "") and "Error: --wrt x[0]: x is a number, not an array" in err


def test_help_shows_the_option(cli):
    for command in ("hessian", "jacobian", "check"):
        code, out, _ = cli(command, "--help")
        assert code == 0 and "--wrt" in out and "-w" in out, command


# ----- The library functions -----

def test_library_hessian_counts_only_the_chosen_elements():
    program = chaincli.compile("sum(tanh(X @ w))")
    rng = np.random.default_rng(0)
    point = {"X": rng.normal(size=(40, 30)), "w": rng.normal(size=30) / 10}
    assert (40 * 30 + 30) ** 2 > MAX_MATRIX_ENTRIES
    with pytest.raises(UsageError, match="entries"):
        hessian(program, point)
    result = hessian(program, point, wrt=["w"])
    assert result.variables == [f"w[{k}]" for k in range(30)]
    z = point["X"] @ point["w"]
    expected = point["X"].T @ np.diag(-2 * np.tanh(z) / np.cosh(z) ** 2) @ point["X"]
    np.testing.assert_allclose(result.hessian, expected, rtol=1e-10, atol=1e-12)


def test_library_functions_take_wrt():
    program = chaincli.compile("x^2*y + sin(y)")
    point = {"x": 1.0, "y": 2.0}
    assert hessian(program, point, wrt=["x"]).hessian == [[4.0]]
    assert jacobian([program], point, wrt=["y"]).jacobian == \
        [[1.0 + math.cos(2.0)]]
    result = check_gradient(program, point, wrt=["y"])
    assert [row.variable for row in result.rows] == ["y"] and result.agree
    for call in (lambda: hessian(program, point, wrt=["z"]),
                 lambda: jacobian([program], point, wrt=["z"]),
                 lambda: check_gradient(program, point, wrt=["z"])):
        with pytest.raises(PointError, match="^wrt names z"):
            call()
    with pytest.raises(UsageError, match="at least one"):
        hessian(program, point, wrt=[])


def test_json_of_a_restricted_hessian_is_strict(run):
    code, out, err = run("hessian", "sqrt(x) + y^2", "--at", "x=0,y=1", "--wrt", "x", "--json")
    assert code == 1
    data = json.loads(out, parse_constant=lambda name: pytest.fail(f"bare {name}"))
    assert data["variables"] == ["x"]
