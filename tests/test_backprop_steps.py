"""diff --steps of tensor expressions: the backprop equations, checked line by line.

Every line ``δn = F`` is evaluated at random points with chaincli's evaluator,
its symbols given the reverse sweep's adjoints, and must equal the sweep's
adjoint of node n; the last line must equal grad's gradient. The VJP formulas
the lines are built from are checked the same way for every tensor primitive,
and a made-up primitive whose formula is wrong fails that check.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from chaincli.calculus import backprop_steps as bs
from chaincli.calculus.derivatives import differentiate_steps
from chaincli.calculus.matrix_formula import gradient_formula
from chaincli.engine.program import compile_expression
from chaincli.engine.tensor import program as tensor_program
from chaincli.primitives import PRIMITIVES
from chaincli.primitives.base import Primitive
from chaincli.symbolic import compact
from chaincli.tape import TapeBuilder

from test_matrix_formula import INNER, OUTER, _point, _tolerance, random_case

NETWORK = "h = tanh(W1@x + b1); z = W2@h + b2; -sum(t*logsoftmax(z))"


def _network_point(rng):
    return {"W1": rng.normal(size=(4, 3)), "x": rng.normal(size=3), "b1": rng.normal(size=4),
            "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=2),
            "t": rng.random(size=2)}


def _network_arguments():
    return ",".join(f"{name}={json.dumps(np.asarray(value).tolist())}"
                    for name, value in _network_point(np.random.default_rng(0)).items())


def _check_lines(expression, wrt, point, rtol=1e-10):
    """Every line of the steps against the sweep's adjoints; the last against grad."""
    program = compile_expression(expression)
    used = {k: v for k, v in point.items() if k in program.variables}
    steps = differentiate_steps(program, wrt, 1, used)
    swept = program.gradient(used)
    adjoints = swept.evaluation.adjoints
    symbols = {name: adjoints[node] for name, node in steps.symbols.items()}
    scale = 1.0 + max(float(np.max(np.abs(a))) for a in adjoints if a is not None)
    for line in steps.lines:
        formula = compact(steps.builder.tape, line.formula)
        at = {name: value for name, value in {**used, **symbols}.items()
              if name in formula.variables}
        value = np.asarray(tensor_program.value(formula, at), dtype=float)
        expected = adjoints[line.node]
        expected = np.zeros(np.shape(value)) if expected is None else np.asarray(expected)
        assert value.shape == expected.shape or (value.size == 1 and expected.size == 1) \
            or np.broadcast_shapes(value.shape, expected.shape) == expected.shape, line
        np.testing.assert_allclose(np.broadcast_to(value, expected.shape), expected,
                                   rtol=rtol, atol=rtol * scale, err_msg=str(line))
    final = compile_expression(steps.derivative)
    value = final.value({k: v for k, v in used.items() if k in final.variables})
    assert np.shape(value) == np.shape(used[wrt]) == steps.shape
    np.testing.assert_allclose(value, swept.gradient[wrt], rtol=rtol,
                               atol=rtol * scale)
    return steps


def test_the_network_gives_the_textbook_backprop_equations():
    steps = _check_lines(NETWORK, "W1", _network_point(np.random.default_rng(3)))
    lines = {line.adjoint: line.expression for line in steps.lines}
    assert lines == {"δz": "softmax(z)*sum(t) - t", "δh": "W2'@δz",
                     "δu1": "δh*(1 - h^2)", "δW1": "outer(δu1, x)"}
    assert [p.name for p in steps.pieces] == ["u1", "h", "z"]
    assert {p.name: p.expression for p in steps.pieces}["u1"] == "W1@x + b1"
    assert steps.final == "outer(W2'@(softmax(z)*sum(t) - t)*(1 - h^2), x)"
    rules = {line.adjoint: line.rule for line in steps.lines}
    assert "a@b: δb = a'@δ" in rules["δh"]
    assert "∂tanh(a)/∂a = 1 - tanh(a)^2" in rules["δu1"]
    assert rules["δz"].endswith("logsoftmax(a): δa = δ - exp(out)*sum(δ)")


@pytest.mark.parametrize("wrt", ["W1", "b1", "W2", "b2", "x", "t"])
def test_every_variable_of_the_network_line_by_line(wrt):
    for seed in range(3):
        _check_lines(NETWORK, wrt, _network_point(np.random.default_rng(seed)))


def test_a_batch_bias_is_summed_over_the_batch_axis():
    rng = np.random.default_rng(1)
    point = {"X": rng.normal(size=(5, 3)), "W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    steps = _check_lines("sum(tanh(X@W + b))", "b", point)
    assert steps.lines[-1].expression == "sum(δu1, 0)"
    assert "broadcast along axis 0: δ summed over axis 0" in steps.lines[-1].rule


CORPUS = [("sum((X@w - y)^2)", "w"), ("x'@A@x", "x"), ("logdet(S) + trace(A@S)", "S"),
          ("a'@inv(S)@b", "S"), ("-sum(t*log(softmax(x)))", "x"), ("det(S)", "S"),
          ("logsumexp(A@x + a)", "A"), ("sum(sin(outer(x, a))@c)", "x")]


@pytest.mark.parametrize("expression, wrt", CORPUS)
def test_corpus_lines_equal_the_adjoints(expression, wrt):
    point = _point(np.random.default_rng(5), 3, 4)
    _check_lines(expression, wrt, point, _tolerance(expression, 1e-10))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(INNER), max_size=4), st.sampled_from(OUTER),
       st.sampled_from(["x", "A", "c", "S"]), st.integers(1, 4), st.integers(0, 2**31))
def test_random_expressions_every_line_equals_the_adjoint(inner, outer, wrt, n, seed):
    expression, wrt, point = random_case(inner, outer, wrt, n, seed)
    _check_lines(expression, wrt, point, _tolerance(expression, 1e-10))


def test_a_constant_gradient_keeps_the_variables_shape():
    steps = _check_lines("sum(x*0) + sum(3*x)", "x", {"x": np.array([1.0, 2.0])})
    assert steps.final == steps.derivative == "3*ones_like(x)"
    steps = _check_lines("sum(x*0) + y", "x", {"x": np.array([1.0, 2.0]), "y": 1.0})
    assert steps.final == "0*ones_like(x)"


def test_a_long_chain_is_bounded_and_counted():
    layers = 120
    text = "h0 = x; " + "; ".join(f"h{k} = tanh(A@h{k - 1})" for k in range(1, layers + 1))
    text += f"; sum(h{layers})"
    rng = np.random.default_rng(0)
    point = {"x": rng.normal(size=3), "A": rng.normal(size=(3, 3)) / 3}
    program = compile_expression(text)
    steps = differentiate_steps(program, "x", 1, point)
    assert len(steps.lines) == bs.MAX_LINES
    assert steps.omitted_lines > 0
    assert len(steps.lines) + steps.omitted_lines >= layers
    assert all(len(line.rules) <= bs.MAX_RULES for line in steps.lines)
    assert len(steps.pieces) <= bs.MAX_PIECES


def test_a_deep_chain_answers_bounded_without_its_last_line(run, tmp_path):
    text = "x"
    for _ in range(3000):
        text = f"tanh({text})"
    (tmp_path / "deep.txt").write_text(f"sum({text})")
    code, out, err = run("diff", f"@{tmp_path / 'deep.txt'}", "--wrt", "x", "--steps",
                         "--format", "text", "--at", "x=[1,2]")
    assert code == 0, err
    assert len(out.splitlines()) < bs.MAX_LINES + bs.MAX_PIECES + 5
    assert "2960 lines left out" in out and "chaincli diff without --steps prints it" in out
    code, out, err = run("diff", f"@{tmp_path / 'deep.txt'}", "--wrt", "x", "--steps",
                         "--json", "--at", "x=[1,2]")
    data = json.loads(out)
    assert data["final"] is None and data["derivative"].startswith("u1 = tanh(x)")


# ----- The table's VJP formulas, which every line is built from -----

def _formula_matches_the_sweep(tape, shapes, point, wrt):
    formula = gradient_formula(tape, shapes, wrt)
    value = np.asarray(tensor_program.value(formula, {k: v for k, v in point.items()
                                                      if k in formula.variables}))
    names = [wrt]
    _, gradient, _, _ = tensor_program.gradient(tape, point, names, "reverse", "")
    return np.allclose(value, gradient[wrt], rtol=1e-10, atol=1e-12)


def _one_primitive_tape(op, shapes):
    """``sum(c*op(a, b))`` with a fixed random weight ``c`` of the output's shape."""
    builder = TapeBuilder("test")
    arguments = tuple(builder.variable(name, None) for name in "ab"[:len(shapes)])
    out = builder.operation(op, arguments, None)
    weight = builder.variable("c", None)
    builder.operation("sum", (builder.operation("mul", (weight, out), None),), None)
    tape = builder.tape
    tape.output = len(tape) - 1
    return tape


def _primitive_check(op, argument_shapes, rng):
    tape = _one_primitive_tape(op, argument_shapes)
    point = {name: rng.normal(size=shape) for name, shape in zip("ab", argument_shapes)}
    if op in ("logdet", "inv", "det", "solve"):
        point["a"] = point["a"] @ point["a"].T + 3 * np.eye(argument_shapes[0][0])
    operation = tape.args[tape.args[tape.output][0]][1]
    point["c"] = rng.normal(size=tuple(tensor_program.shapes_at(tape, {**point, "c": 0.0})
                                       [operation]))
    shapes = tensor_program.shapes_at(tape, point)
    return all(_formula_matches_the_sweep(tape, shapes, point, name)
               for name in "ab"[:len(argument_shapes)])


TENSOR_CASES = [("matmul", [(3, 2), (2,)]), ("matmul", [(3, 2), (2, 4)]), ("outer", [(3,), (2,)]),
                ("dot", [(3,), (3,)]), ("transpose", [(3, 2)]), ("softmax", [(4,)]),
                ("logsoftmax", [(4,)]), ("inv", [(3, 3)]), ("solve", [(3, 3), (3,)]),
                ("trace", [(3, 3)]), ("diag", [(3,)])]


@pytest.mark.parametrize("op, shapes", TENSOR_CASES)
def test_each_tensor_primitive_formula_equals_its_vjp(op, shapes):
    assert _primitive_check(op, shapes, np.random.default_rng(2))


def test_a_made_up_primitive_with_a_wrong_formula_is_caught(monkeypatch):
    def scaled(formula):
        return Primitive("twice", 1, lambda args, options: 2 * args[0], (), (), "",
                         elementwise=False, shape=lambda shapes, options: shapes[0],
                         vjp=lambda g, args, out, options, wanted=(True,): (2 * g,),
                         jvp=lambda t, args, out, options: 2 * t[0],
                         vjp_formulas=lambda ranks: (formula,))
    monkeypatch.setitem(PRIMITIVES, "twice", scaled("2*δ"))
    assert _primitive_check("twice", [(3,)], np.random.default_rng(0))
    monkeypatch.setitem(PRIMITIVES, "twice", scaled("3*δ"))
    assert not _primitive_check("twice", [(3,)], np.random.default_rng(0))


# ----- The command -----

def test_text_table_json_and_latex_carry_the_same_lines(run):
    args = ["diff", NETWORK, "--wrt", "W1", "--steps", "--at", _network_arguments()]
    code, text, err = run(*args, "--format", "text")
    assert code == 0, err
    assert "δh  = W2'@δz" in text and "δu1 = δh*(1 - h^2)" in text
    assert "where h = tanh(u1)" in text
    code, out, err = run(*args, "--json")
    data = json.loads(out)
    assert [s["adjoint"] for s in data["steps"]] == ["δz", "δh", "δu1", "δW1"]
    for step in data["steps"]:
        assert f"{step['adjoint']} = {step['expression']}".split(" = ")[1] in text
    assert data["shape"] == [4, 3]
    code, plain, _ = run("diff", NETWORK, "--wrt", "W1", "--at", _network_arguments())
    assert data["derivative"] == plain.strip()
    code, table, err = run(*args)
    assert code == 0 and "δW1 =" in table
    code, latex, err = run(*args, "--format", "latex")
    assert code == 0
    assert r"\delta_{h} &= W_{2}^{\top} \delta_{z}" in latex
    assert r"\delta_{u_{1}} &= \delta_{h} \odot \left(1 - h^{2}\right)" in latex
    assert r"\delta_{W_{1}} &= \delta_{u_{1}} x^{\top}" in latex


@pytest.mark.parametrize("args, message", [
    (["--order", "2"], "derives its gradient, --order 1, not 2"),
    ([], "give them with --at"),
])
def test_steps_refusals_exit_2(run, args, message):
    at = [] if not args else ["--at", "x=[1,2],A=[[1,2],[3,4]]"]
    code, out, err = run("diff", "x'@A@x", "--wrt", "x", "--steps", *at, *args)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_a_vjp_in_words_is_refused_as_diff_refuses_it(run):
    code, out, err = run("diff", "sum(A[0])", "--wrt", "A", "--steps", "--at", "A=[[1,2],[3,4]]")
    assert code == 2 and out == ""
    assert "no formula form" in err


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_latex_compiles(run, tmp_path):
    chunks = []
    for wrt in ("W1", "b1", "W2"):
        code, latex, err = run("diff", NETWORK, "--wrt", wrt, "--steps", "--format", "latex",
                               "--at", _network_arguments())
        assert code == 0, err
        chunks.append(latex)
    for expression, wrt, at in [("sum(tanh(X@W + b))", "b", "X=[[1,2],[3,4]],W=[[1,2],[3,4]],b=[1,2]"),
                                ("a'@inv(S)@b + logdet(S)", "S", "a=[1,2],b=[3,4],S=[[2,1],[1,2]]")]:
        code, latex, err = run("diff", expression, "--wrt", wrt, "--format", "latex",
                               "--at", at)
        assert code == 0, err
        chunks.append(f"\\[{latex}\\]\n")
    document = ("\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n"
                "\\begin{document}\n" + "\n".join(chunks) + "\\end{document}\n")
    (tmp_path / "steps.tex").write_text(document, encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "steps.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def test_the_readme_example_is_what_chaincli_prints(run):
    import re
    import shlex
    from pathlib import Path
    from golden import assert_matches
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```console\n\$ (chaincli diff [^\n]*--wrt W1 --steps[^\n]*)\n(.*?)```",
                      readme, flags=re.S)
    words = shlex.split(block.group(1))
    code, out, err = run(*words[1:])
    assert code == 0, err
    assert_matches(block.group(2), out, what="the README's backprop steps")
    code, latex, err = run(*words[1:-4], "--format", "latex", *words[-2:])
    assert code == 0, err
    shown = re.search(r"```latex\n(.*?)\n```", readme, flags=re.S).group(1)
    assert f"&= {shown} &&" in latex
