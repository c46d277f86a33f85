"""The computational graph: its data, DOT, Mermaid, the tree and the command."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import pytest

import chaincli
from chaincli.explain.graph import build_graph, graph_of
from chaincli.render.graph import graph_tree, to_dot, to_mermaid
from chaincli.render.table import ASCII as ASCII_GLYPHS
from chaincli.engine.scalar.reverse import adjoint_sweep
from chaincli.engine.scalar import evaluate


def _graph(text, point=None):
    return graph_of(chaincli.compile(text), point)[0]


def _by_id(graph):
    return {node.id: node for node in graph.nodes}


def test_shared_subexpression_is_one_node():
    graph = _graph("sin(x*y) + cos(x*y)")
    assert len(graph.nodes) == 6
    nodes = _by_id(graph)
    assert [nodes[i].label for i in ("x", "y", "v2", "v3", "v4", "f")] == \
        ["x", "y", "*", "sin", "cos", "+"]
    users = [graph.node(e.target).id for e in graph.edges if graph.node(e.source).id == "v2"]
    assert sorted(users) == ["v3", "v4"]
    assert len(graph.edges) == 6
    assert graph.node(graph.output).id == "f"


def test_labels_names_and_unused_bindings():
    graph = _graph("u = x*y; w = exp(x); sin(u) - -u + pi")
    nodes = _by_id(graph)
    assert nodes["u"].label == "*" and nodes["u"].name == "u"
    assert nodes["pi"].op == "const"
    assert "w" not in nodes            # an unused binding is not part of the graph
    assert any(node.label == "neg" for node in graph.nodes)
    assert any(node.label == "-" for node in graph.nodes)


def test_repeated_argument_gives_two_edges():
    graph = _graph("x*x")
    assert len(graph.nodes) == 2
    assert [(e.position, e.partial) for e in graph.edges] == [(0, None), (1, None)]


def test_numbers_equal_the_evaluators():
    text = "sin(x*y) + cos(x*y) + log(x + y)^2"
    program = chaincli.compile(text)
    point = {"x": 1.3, "y": 0.7}
    graph = _graph(text, point)
    tape = program.tape
    values = evaluate.primal(tape, point)
    partials = evaluate.local_partials(tape, values)
    adjoints = adjoint_sweep(tape, partials)
    for node in graph.nodes:
        assert node.value == values[node.index]
        assert node.adjoint == adjoints[node.index]
    for edge in graph.edges:
        assert edge.partial == partials[edge.target][edge.position]
    gradient = program.gradient(point).gradient
    assert _by_id(graph)["x"].adjoint == gradient["x"]


def test_done_criterion_node_xy():
    graph = _graph("sin(x*y) + cos(x*y)", {"x": 1, "y": 2})
    xy = _by_id(graph)["v2"]
    assert xy.value == 2.0
    assert math.isclose(xy.adjoint, math.cos(2) - math.sin(2), rel_tol=1e-15)
    dot = to_dot(graph)
    assert '"v2" [label="v2: *\\nvalue 2\\nadjoint -1.3254"]' in dot


def _dot_nodes(dot):
    return re.findall(r'^  ("[^"]*") \[label=', dot, re.M)


def test_dot_structure_and_escaping():
    dot = to_dot(_graph("sin(x*y) + cos(x*y)", {"x": 1, "y": 2}))
    assert dot.startswith("digraph chaincli {") and dot.rstrip().endswith("}")
    assert len(_dot_nodes(dot)) == 6
    assert dot.count(" -> ") == 6
    assert '"x" -> "v2" [label="2"];' in dot
    # A label with quotes and backslashes stays one valid DOT string.
    from chaincli.render.graph import _dot_string
    assert _dot_string('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_dot_renders_with_graphviz(run):
    code, out, err = run("graph", "sin(x*y) + cos(x*y)", "--at", "x=1,y=2", "--format", "dot")
    assert code == 0, err
    done = subprocess.run(["dot", "-Tsvg"], input=out.encode(), capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    svg = done.stdout.decode()
    assert svg.count('class="node"') == 6
    assert svg.count('class="edge"') == 6
    assert re.search(r"adjoint (-|&#45;)1\.3254", svg)  # SVG may write - as &#45;


def test_mermaid_shape():
    text = to_mermaid(_graph("u = x*y; sin(u) + u", {"x": 1, "y": 2}))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    node_lines = [line for line in lines if re.match(r"  n\d+[\[(]", line)]
    edge_lines = [line for line in lines if "-->" in line]
    assert len(node_lines) == 5 and len(edge_lines) == 5
    assert '  n2["u: *<br/>value 2<br/>adjoint' in text
    assert re.search(r'  n0 -->\|"2"\| n2', text)
    assert lines[-1] == "  class n4 output"


def _deep_chain(depth):
    return "sin(" * depth + "x" + ")" * depth


def test_tree_is_bounded_for_a_huge_graph():
    terms = " + ".join(f"sin(x*{k})" for k in range(2000))
    graph = _graph(terms)
    tree, hidden = graph_tree(graph, ASCII_GLYPHS)
    lines = _count_tree_lines(tree)
    assert lines <= 200
    assert hidden > len(graph.nodes) - 200


def _count_tree_lines(tree):
    count, stack = 0, [tree]
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.children)
    return count


def test_tree_draws_shared_nodes_once(cli):
    code, out, err = cli("graph", "sin(x*y) + cos(x*y)")
    assert code == 0, err
    assert out.count("v2: *") == 1
    assert "v2 (drawn above)" in out


def test_deep_chain_renders_everywhere(run, tmp_path):
    path = tmp_path / "deep.txt"
    path.write_text(_deep_chain(100_000))
    code, out, err = run("graph", f"@{path}", "--at", "x=0.5")
    assert code == 0, err
    assert "RecursionError" not in err
    assert len(out.splitlines()) <= 202
    assert "nodes not shown" in out
    code, out, err = run("graph", f"@{path}", "--format", "dot")
    assert code == 0, err
    assert out.count(" -> ") == 100_000
    code, out, err = run("graph", f"@{path}", "--format", "json")
    assert code == 0, err
    assert len(json.loads(out)["nodes"]) == 100_001


def test_json_output(cli):
    code, out, err = cli("graph", "sin(x*y) + cos(x*y)", "--at", "x=1,y=2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["output"] == "f" and data["point"] == {"x": 1.0, "y": 2.0}
    assert len(data["nodes"]) == 6 and len(data["edges"]) == 6
    xy = next(node for node in data["nodes"] if node["id"] == "v2")
    assert xy["value"] == 2.0 and xy["op"] == "mul"
    assert math.isclose(xy["adjoint"], math.cos(2) - math.sin(2), rel_tol=1e-15)
    assert {"from": "x", "to": "v2", "argument": 0, "partial": 2.0} in data["edges"]


def test_json_without_a_point_has_no_numbers(cli):
    code, out, _ = cli("graph", "x + 1", "-f", "json")
    data = json.loads(out)
    assert "point" not in data and all("value" not in node for node in data["nodes"])


@pytest.mark.parametrize("args, code, message", [
    (["graph", "sin(x"], 2, "ends too early"),
    (["graph", "x*y", "--at", "x=1"], 2, "no value for the variable y"),
    (["graph", "log(x)", "--at", "x=-1"], 1, "log"),
    (["graph", "x", "-f", "dot", "--json"], 2, "disagree"),
])
def test_errors(cli, args, code, message):
    got, out, err = cli(*args)
    assert got == code and out == ""
    assert message in err and "Traceback" not in err


def test_closed_pipe_is_quiet(tmp_path):
    from conftest import CHAINCLI
    path = tmp_path / "wide.txt"
    path.write_text(" + ".join(f"sin(x*{k})" for k in range(500)))
    done = subprocess.run(f'"{CHAINCLI}" graph @{path} | head -n 1', shell=True,
                          capture_output=True, timeout=120)
    assert done.stdout.decode().startswith("f: +")
    assert done.stderr == b""


def test_help_has_example(cli):
    code, out, _ = cli("graph", "--help")
    assert code == 0 and "Example: chaincli graph" in out


# ----- One node, one name; one point, one exit status -----

@pytest.mark.parametrize("expr, at, node", [
    ("abs(x)", "x=0", "f"),                # the kink is the output itself
    ("abs(x)*y", "x=0,y=1", "v1"),
    ("f = x*y; abs(f)", "x=0,y=1", "f_"),  # the user took "f"
    ("u = abs(x); u", "x=0", "f"),         # the output's let-name gives way to f
])
def test_the_output_has_one_name_everywhere(cli, expr, at, node):
    code, out, err = cli("grad", expr, "--at", at, "--json", "--explain", "reverse")
    assert code == 0, err
    data = json.loads(out)
    output = data["chain"]["output"]
    assert data["trace"]["rows"][0]["node"] == output
    assert [w["node"] for w in data["warnings"] if w["kind"] == "kink"] == [node]
    code, out, _ = cli("graph", expr, "--at", at, "--json")
    pictured = json.loads(out)
    assert pictured["output"] == output
    ids = {n["id"] for n in pictured["nodes"]}
    assert node in ids and output in ids
    for fmt, shown in (("dot", f'"{output}" [label="{output}: '), ("mermaid", f'["{output}: '),
                       ("tree", f"{output}: ")):
        code, out, _ = cli("graph", expr, "--at", at, "--format", fmt)
        assert code == 0 and shown in out, (fmt, out)
    code, out, _ = cli("grad", expr, "--at", at)
    assert f"{output} = " in out


@pytest.mark.parametrize("expr, at, status", [
    ("sqrt(x)", "x=0", 1), ("asin(x) + y", "x=1,y=2", 1), ("cbrt(x) + y", "x=0,y=1", 1),
    ("cbrt(x*y)", "x=0,y=0", 0),  # the infinite factor meets a zero: 0·∞ = 0, finite
    ("abs(x)", "x=0", 0),
])
def test_the_same_point_gets_the_same_exit_status(cli, run, expr, at, status):
    for invoke in (cli, run):
        statuses = {invoke("grad", expr, "--at", at, *extra)[0]
                    for extra in ([], ["--json"], ["--mode", "forward"])}
        statuses |= {invoke("graph", expr, "--at", at, "--format", fmt)[0]
                     for fmt in ("tree", "dot", "mermaid", "json")}
        assert statuses == {status}, (expr, statuses)
        code, out, err = invoke("graph", expr, "--at", at, "--json")
        assert out and "Warning:" in err
        # Without a point there is nothing infinite about the graph.
        assert invoke("graph", expr)[0] == 0
