"""Each convention has one home: the name pattern, shapes and elements as text,
the notices cap, the cut of long input, and parameters named in the library's
words while the command line names its options."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import chaincli
from chaincli.base.errors import DomainError, PointError, UsageError
from chaincli.base.shapes import element_name, element_text, shape_text, size
from chaincli.base.text import NAME, abbreviate, is_name
from chaincli.calculus.curve import sample_curve
from chaincli.calculus.derivatives import differentiate
from chaincli.explain.tensor import resolve_elements
from chaincli.engine.results import MAX_NODE_NOTICES
from chaincli.optimize.problem import Problem, check_settings, parse_init, run

PACKAGE = Path(chaincli.__file__).resolve().parent


def test_the_name_pattern_is_the_grammars():
    grammar = (PACKAGE / "grammar" / "chaincli.lark").read_text(encoding="utf-8")
    assert re.search(r"^NAME: /(.*)/$", grammar, re.M).group(1) == NAME
    assert is_name("W_1") and is_name("_x")
    assert not is_name("1x") and not is_name("x\n") and not is_name("é")


def test_shapes_and_elements_as_text():
    assert shape_text((4, 3)) == "(4, 3)" and shape_text((2,)) == "(2,)" and shape_text(()) == "()"
    assert shape_text((np.int64(2),)) == "(2,)"  # a NumPy extent reads as a number
    assert element_text((np.int64(1), 0)) == "[1, 0]"
    assert element_name("W", (0, 1)) == "W[0,1]"
    assert size((3, 4, 5)) == 60 and size(()) == 1


def test_an_element_reads_the_same_in_the_value_check_and_in_the_sweeps():
    program = chaincli.compile("sum(log(x))")
    bad_value = np.array([[1.0, 2.0], [3.0, np.inf]])
    with pytest.raises(PointError, match=re.escape("the element [1, 1] is inf")):
        program.gradient({"x": bad_value})
    with pytest.raises(DomainError, match=re.escape("at element [1, 1]")):
        program.gradient({"x": np.array([[1.0, 2.0], [3.0, -1.0]])})


def test_abbreviate_keeps_each_callers_cut():
    long = "1" * 50
    assert abbreviate(long) == "1" * 24 + "…" + "1" * 8 + " (50 characters)"
    assert abbreviate(long, 60) == long
    with pytest.raises(chaincli.base.errors.ParseError) as caught:
        chaincli.compile("x*" + "9" * 400)
    assert "9" * 12 + "…" + "9" * 8 + " (400 characters)" in caught.value.message


@pytest.mark.parametrize("point", [{"x": 0.0}, {"x": np.zeros(2)}], ids=["scalar", "tensor"])
def test_the_notices_cap_is_one_for_scalar_and_tensor_sweeps(point):
    terms = 3 + MAX_NODE_NOTICES
    text = " + ".join(f"sum(abs({k}*x))" for k in range(1, terms + 1))
    notices = [n for n in chaincli.compile(text).gradient(point).warnings if n.kind == "kink"]
    named = [n for n in notices if n.node is not None]
    assert len(named) == MAX_NODE_NOTICES
    assert notices[-1].message == f"{terms - MAX_NODE_NOTICES} more nodes sit on a kink"


def test_the_library_names_parameters_as_its_keyword_arguments():
    program = chaincli.compile("x^2 + y")
    with pytest.raises(PointError) as caught:
        program.gradient({"x": 1.0, "y": 2.0}, wrt=["z"])
    assert caught.value.message.startswith("wrt names z, which the expression")
    with pytest.raises(UsageError, match="^order must be between 0 and"):
        differentiate(program, "x", order=99)
    with pytest.raises(UsageError, match="^tol must be a finite number, 0 or more$"):
        check_settings("gd", None, 10, -1.0)
    with pytest.raises(UsageError, match="^lr has no meaning for lbfgs"):
        check_settings("lbfgs", 0.1, 10, 0.0)
    with pytest.raises(UsageError, match="^init 'W' is not name=shape"):
        parse_init(["W"])
    with pytest.raises(UsageError, match=r"^wrt W\[4, 0\]: index 4 is out of range"):
        resolve_elements([("W", (4, 0))], {"W": (3, 2)})
    with pytest.raises(UsageError, match=r"^start \(2\) must be less than stop \(1\)$"):
        sample_curve(program, "x", 2.0, 1.0, 10, {"y": 0.0})
    result = run(Problem(chaincli.compile("(x-1)^2"), {"x": 0.0}, None), "lbfgs", tol=1e-6)
    assert result.stopped == "converged" and " at most tol 1e-06" in result.message
    for message in (caught.value.message, result.message):
        assert "--" not in message


def test_the_command_line_names_the_options(run):
    code, out, err = run("minimize", "x^2", "--at", "x=1", "--tol", "-1")
    assert (code, out) == (2, "") and err.startswith("Error: --tol must be a finite number")
    code, out, err = run("grad", "x^2", "--at", "x=1", "--wrt", "z")
    assert code == 2 and err.startswith("Error: --wrt names z, which the expression")
    code, out, err = run("diff", "x^2", "--wrt", "x", "--order", "99")
    assert code == 2 and err.startswith("Error: --order must be between 0 and")
    code, out, err = run("plot", "x^2", "--wrt", "x", "--from", "2", "--to", "1")
    assert code == 2 and err.startswith("Error: --from (2) must be less than --to (1)")
    code, out, err = run("hessian", "sum(W)", "--at", "W=[[1,2],[3,4]]", "--wrt", "W[4,0]")
    assert code == 2 and err.startswith("Error: --wrt W[4, 0]: index 4 is out of range")
    code, out, err = run("minimize", "(x-1)^2", "--at", "x=0", "--method", "lbfgs",
                         "--tol", "1e-6", "--json")
    assert code == 0 and " at most --tol 1e-06" in json.loads(out)["message"]
