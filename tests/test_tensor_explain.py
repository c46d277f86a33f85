"""--explain for tensor expressions: the table by default, element paths for small
networks, a reasoned refusal for big ones; through the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chaincli
from chaincli.explain import tensor as te
from chaincli.cli.plumbing import parse_wrt
from chaincli.base.errors import UsageError

from test_backward_table import NETWORK, PARAMETERS, network_point, same_bits

# A network written with array literals over scalar variables: the CLI reads
# it today with --at a=1,...
LITERAL = "W = [[a, b], [c, d]]; x = [0.5, -1.0]; h = tanh(W @ x); sum(h*h)"
LITERAL_AT = "a=1,b=2,c=3,d=4"


def test_wrt_elements_are_split_from_variables():
    assert parse_wrt("W1[0,1],b1, W2[1, -1]") == ["W1[0,1]", "b1", "W2[1, -1]"]
    variables, elements = te.split_wrt(["W1[0,1]", "b1", "W1[2, 0]", "W2[1, -1]"])
    assert variables == ["W1", "b1", "W2"]
    assert elements == [("W1", (0, 1)), ("W1", (2, 0)), ("W2", (1, -1))]
    assert te.split_wrt(None) == (None, [])
    with pytest.raises(UsageError, match="whole numbers"):
        te.split_wrt(["W1[a,1]"])


def test_elements_are_checked_against_the_shapes():
    shapes = {"W1": (4, 3), "b": (4,), "s": ()}
    assert te.resolve_elements([("W1", (0, 1)), ("W1", (-1, -1)), ("b", (-4,))], shapes) \
        == ["W1[0,1]", "W1[3,2]", "b[0]"]
    with pytest.raises(UsageError, match=r"W1\[4, 0\]: index 4 is out of range"):
        te.resolve_elements([("W1", (4, 0))], shapes)
    with pytest.raises(UsageError, match="takes 2 indices"):
        te.resolve_elements([("W1", (1,))], shapes)
    with pytest.raises(UsageError, match="s is a number, not an array"):
        te.resolve_elements([("s", (0,))], shapes)


def _network():
    program = chaincli.compile(NETWORK)
    point = network_point(4)
    return program, program.gradient(point, wrt=PARAMETERS)


def test_default_and_reverse_views_are_the_table():
    program, result = _network()
    for view in (None, "reverse"):
        explanation = te.explain_tensor(program, result, view)
        assert explanation.backward is not None and explanation.scalar is None
        assert explanation.to_dict()["chain"]["kind"] == "backward"
    assert te.explain_tensor(program, result, "none").to_dict() == {}


@pytest.mark.parametrize("element", ["W1[0,1]", "W2[1,3]", "b1[2]"])
def test_paths_of_one_weight_add_up_to_its_gradient(element):
    program, result = _network()
    explanation = te.explain_tensor(program, result, "paths", elements=[element])
    assert explanation.declined is None
    chain = explanation.scalar.chain
    assert [v.variable for v in chain.variables] == [element]
    variable = chain.variables[0]
    name, index = te.split_wrt([element])[1][0]
    expected = result.gradient[name][index]
    assert variable.total == pytest.approx(expected, rel=1e-12, abs=1e-15)
    listed = sum(path.product for path in variable.paths)
    assert listed + variable.unlisted_contribution == pytest.approx(expected, rel=1e-9,
                                                                    abs=1e-15)
    assert variable.path_count >= 1


def test_paths_without_elements_take_every_element_of_the_variables():
    program = chaincli.compile("sum(tanh(W @ x))")
    point = {"W": np.array([[0.1, 0.2], [0.3, -0.4]]), "x": np.array([1.0, -1.0])}
    result = program.gradient(point, wrt=["W"])
    chain = te.explain_tensor(program, result, "paths").scalar.chain
    assert [v.variable for v in chain.variables] == ["W[0,0]", "W[0,1]", "W[1,0]", "W[1,1]"]
    for v in chain.variables:
        i, j = (int(k) for k in v.variable[2:-1].split(","))
        assert v.total == pytest.approx(result.gradient["W"][i, j], rel=1e-12)


def test_a_big_network_declines_paths_and_points_to_the_table():
    program = chaincli.compile(NETWORK)
    point = network_point(0, sizes=(40, 30, 2))
    result = program.gradient(point, wrt=PARAMETERS)
    explanation = te.explain_tensor(program, result, "paths", elements=["W1[0,1]"])
    assert explanation.scalar is None and explanation.backward is not None
    assert "W1 has 1,200 (shape (30, 40))" in explanation.declined
    assert "--explain reverse" in explanation.declined
    assert explanation.to_dict()["chain"]["kind"] == "backward"


def test_a_long_program_of_small_variables_declines_too():
    program = chaincli.compile("u = outer(v, v); w = u @ u; z = w @ w; sum(z @ z)")
    point = {"v": np.linspace(-1, 1, 60)}
    result = program.gradient(point)
    explanation = te.explain_tensor(program, result, "paths")
    assert "scalar operations" in explanation.declined


# ----- CLI -----

def test_cli_table_is_the_default_explanation(cli):
    code, out, err = cli("grad", LITERAL, "--at", LITERAL_AT)
    assert code == 0, err
    assert "backward pass" in out
    assert "δv11 = δh ⊙ (1 - h^2)" in out
    assert "δW = outer(δv11, x)" in out
    assert "★ ∂f/∂a = δa (complete)" in out
    code, again, _ = cli("grad", LITERAL, "--at", LITERAL_AT, "--explain", "reverse")
    assert again == out


def test_cli_paths_for_one_variable_of_a_literal_network(cli):
    code, out, err = cli("grad", LITERAL, "--at", LITERAL_AT, "--explain", "paths",
                         "--wrt", "a")
    assert code == 0, err
    assert "∂f/∂a: 2 paths" in out
    assert "∂h[0]/∂v9 = 1 - tanh(v9)^2" in out
    assert "backward pass" not in out


def test_cli_json_chain_carries_the_engines_adjoints(cli):
    code, out, err = cli("grad", LITERAL, "--at", LITERAL_AT, "--json")
    assert code == 0, err
    data = json.loads(out)
    chain = data["chain"]
    program = chaincli.compile(LITERAL)
    result = program.gradient({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0})
    adjoints = result.evaluation.adjoints
    assert chain["kind"] == "backward"
    for node in chain["nodes"]:
        assert same_bits(node["adjoint"], adjoints[node["entry"]])
    assert data["gradient"]["a"] == result.gradient["a"]
    code, out, _ = cli("grad", LITERAL, "--at", LITERAL_AT, "--json", "--explain", "none")
    assert "chain" not in json.loads(out)


def test_cli_element_of_a_scalar_is_a_usage_error(cli, run):
    code, out, err = cli("grad", LITERAL, "--at", LITERAL_AT, "--explain", "paths",
                         "--wrt", "a[0]")
    assert code == 2 and out == ""
    assert "Error: --wrt a[0]: a is a number, not an array" in err
    code, out, err = run("grad", LITERAL, "--at", LITERAL_AT, "--wrt", "a[0]")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("Error: --wrt a[0]")


def test_cli_console_script_prints_the_table_in_ascii(run):
    code, out, err = run("grad", LITERAL, "--at", LITERAL_AT,
                         env={"PYTHONIOENCODING": "ascii", "COLUMNS": "80"})
    assert code == 0, err
    assert "dv11 = dh * (1 - h^2)" in out
    assert max(len(line) for line in out.splitlines()) <= 80


# ----- graph -----

def test_graph_nodes_carry_shapes_values_and_adjoints():
    from chaincli.explain.graph import graph_of
    from chaincli.render.graph import to_dot, to_mermaid
    program = chaincli.compile(NETWORK)
    point = network_point(5)
    graph, _ = graph_of(program, point)
    result = program.gradient(point)
    evaluation = result.evaluation
    nodes = {node.id: node for node in graph.nodes}
    assert nodes["W1"].shape == (4, 3) and nodes["h"].shape == (4,)
    for node in graph.nodes:
        assert node.shape == evaluation.shapes[node.index]
        assert same_bits(node.value, evaluation.values[node.index])
        if evaluation.adjoints[node.index] is None:
            assert node.adjoint is None
        else:
            assert same_bits(node.adjoint, evaluation.adjoints[node.index])
    assert all(edge.partial is None for edge in graph.edges)
    norm = format(float(np.linalg.norm(result.gradient["W1"])), ".5g")
    dot = to_dot(graph)
    assert "shape (4, 3)\\nvalue norm" in dot and f"adjoint norm {norm}" in dot
    assert f"adjoint norm {norm}" in to_mermaid(graph)


def test_graph_json_and_tree_for_tensors(cli):
    code, out, err = cli("graph", LITERAL, "--at", LITERAL_AT, "--json")
    assert code == 0, err
    data = json.loads(out)
    nodes = {node["id"]: node for node in data["nodes"]}
    assert nodes["W"]["shape"] == [2, 2]
    assert nodes["W"]["value"] == [[1.0, 2.0], [3.0, 4.0]]
    assert nodes["W"]["adjoint_summary"]["shape"] == [2, 2]
    result = chaincli.compile(LITERAL).gradient({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0})
    w = result.evaluation.tape.labels.index("W")
    assert nodes["W"]["adjoint"] == result.evaluation.adjoints[w].tolist()
    assert nodes["a"]["shape"] == [] and nodes["a"]["adjoint"] == result.gradient["a"]
    assert nodes["x"]["adjoint"] is None  # data: no variable leads there
    assert "edges" in data and all("partial" not in edge for edge in data["edges"])
    code, out, err = cli("graph", LITERAL, "--at", LITERAL_AT)
    assert code == 0, err
    assert "W: stack  (2, 2)  value norm 5.4772 [1, 2, 3, 4]  adjoint norm" in out
    assert "0.37042" in out


def test_graph_json_summarizes_big_arrays():
    from chaincli.explain.backward import FULL_ADJOINT_LIMIT
    from chaincli.explain.graph import graph_of
    from chaincli.base.jsonout import dumps
    program = chaincli.compile(NETWORK)
    graph, _ = graph_of(program, network_point(0, sizes=(40, 30, 2)))
    data = json.loads(dumps(graph.to_dict()))
    w1 = next(node for node in data["nodes"] if node["id"] == "W1")
    assert 1200 > FULL_ADJOINT_LIMIT
    assert w1["value"] is None and w1["adjoint"] is None
    assert w1["value_summary"]["size"] == 1200 and w1["adjoint_summary"]["norm"] > 0


# ----- CLI, with array values -----

TEXTBOOK = ("a1 = W1 @ x + b1; h = tanh(a1); z2 = W2 @ h + b2; p = softmax(z2); "
            "-sum(t * log(p))")
TEXTBOOK_AT = ["--at", "W1=[[0.1,-0.2],[0.4,0.3],[-0.5,0.2]]", "--at", "b1=[0,0.1,-0.1]",
               "--at", "W2=[[0.3,-0.1,0.2],[-0.4,0.5,0.1]]", "--at", "b2=[0.05,-0.05]",
               "--at", "x=[0.5,-1.2]", "--at", "t=[0,1]"]


@pytest.mark.parametrize("options, shown", [
    ((), "backward pass"),
    (("--explain", "reverse"), "backward pass"),
    (("--explain", "none"), None),
    (("--explain", "paths", "--wrt", "W1[0,1]"), "∂f/∂W1[0,1]: 12 paths"),
    (("--explain", "paths", "--wrt", "W1[-3, 1],b2"), "∂f/∂W1[0,1]: 12 paths"),
    (("--explain", "forward", "--json"), '"trace"'),
    (("--explain", "reverse", "--format", "plain"), None),
])
def test_cli_views_of_a_network(cli, options, shown):
    code, out, err = cli("grad", TEXTBOOK, *TEXTBOOK_AT, *options)
    assert code == 0 and out and err == ""
    for text in ("backward pass", "∂f/∂W1[0,1]: 12 paths", '"trace"'):
        assert (text in out) == (text == shown), text


def test_cli_network_table_and_json(cli):
    code, out, err = cli("grad", TEXTBOOK, *TEXTBOOK_AT, "--wrt", "W1,b1,W2,b2")
    assert code == 0, err
    for line in ("δa1 = δh ⊙ (1 - h^2)", "δh = transpose(W2) @ δv7", "δW1 = outer(δv2, x)",
                 "δb1 = δa1  ★ b1", "★ ∂f/∂W1 = δW1 (complete)"):
        assert line in out
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, err = cli("grad", TEXTBOOK, *TEXTBOOK_AT, "--wrt", "W1,b1,W2,b2", "--json")
    data = json.loads(out)
    nodes = {node["node"]: node for node in data["chain"]["nodes"]}
    assert nodes["W1"]["adjoint"] == data["gradient"]["W1"]
    assert nodes["b2"]["adjoint"] == data["gradient"]["b2"]
    assert nodes["h"]["rule"] == ["δa1 = δh ⊙ (1 - h^2)"]


def test_cli_paths_of_one_weight_sum_to_its_gradient(cli):
    code, out, err = cli("grad", TEXTBOOK, *TEXTBOOK_AT, "--json", "--explain", "paths",
                         "--wrt", "W1[0,1]")
    assert code == 0, err
    data = json.loads(out)
    chain = data["chain"]["variables"]["W1[0,1]"]
    assert chain["total"] == pytest.approx(data["gradient"]["W1"][0][1], rel=1e-12)
    assert sum(p["product"] for p in chain["paths"]) + chain["unlisted_contribution"] == \
        pytest.approx(chain["total"], rel=1e-9)


def test_cli_big_network_declines_paths_with_a_reason(cli, run, tmp_path):
    point = network_point(0, sizes=(40, 30, 2))
    np.savez(tmp_path / "params.npz", **point)
    for invoke in (cli, run):
        code, out, err = invoke("grad", NETWORK, "--at", f"@{tmp_path / 'params.npz'}",
                                "--explain", "paths", "--wrt", "W1[0,1]")
        assert code == 0
        assert err.startswith("Warning: --explain paths lists scalar paths element by "
                              "element")
        assert "W1 has 1,200 (shape (30, 40))" in err and "--explain reverse" in err
        assert "backward pass" in out and "paths" not in out.split("backward pass")[1]


def test_cli_bad_elements_are_usage_errors(cli):
    for wrt, message in (("W1[3,0]", "index 3 is out of range for shape (3, 2)"),
                         ("W1[0]", "takes 2 indices"), ("W1[x]", "whole numbers")):
        code, out, err = cli("grad", TEXTBOOK, *TEXTBOOK_AT, "--explain", "paths",
                             "--wrt", wrt)
        assert code == 2 and out == "" and message in err and err.startswith("Error: ")


def test_readme_backward_pass_example_is_real_output(run):
    """The README's backward-pass table is what the command it shows prints."""
    import re
    import shlex
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```console\n(.*?)```", readme, flags=re.S)
                 if "backward pass:" in b)
    lines = block.splitlines()
    command = ""
    for line in lines:
        command += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            break
    words = shlex.split(command.removeprefix("$ "))
    assert words[0] == "chaincli"
    code, out, err = run(*words[1:], env={"COLUMNS": "80"})
    assert code == 0, err
    shown = block[block.index("backward pass:"):]
    printed = out[out.index("backward pass:"):]
    from golden import assert_matches
    assert_matches("\n".join(line.rstrip() for line in shown.splitlines()),
                   "\n".join(line.rstrip() for line in printed.splitlines()),
                   what="the README's backward-pass example")
