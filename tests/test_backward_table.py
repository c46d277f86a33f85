"""The backward-pass table: rows, rules from the primitive table, numbers, bounds.

Oracles: the engine's own adjoints (``TensorEvaluation.adjoints``, compared
bit for bit), a backprop of a two-layer network written by hand in NumPy,
and chaincli evaluating the printed rule formulas themselves.
"""

from __future__ import annotations

import io
import json
import random
import re

import numpy as np
import pytest

import chaincli
from chaincli.explain import backward as bt
from chaincli.base.jsonout import dumps
from chaincli.primitives import PRIMITIVES
from chaincli.primitives.base import Primitive
from chaincli.render.backward import print_backward
from chaincli.render.table import make_console
from chaincli.tape import TapeBuilder
from chaincli.explain.tensor import TensorExplanation
from chaincli.engine.results import TensorEvaluation
from chaincli.engine.tensor import sweeps

NETWORK = ("u1 = W1 @ x; a1 = u1 + b1; h = tanh(a1); z = W2 @ h; z2 = z + b2; "
           "p = softmax(z2); -sum(t * log(p))")
PARAMETERS = ["W1", "b1", "W2", "b2"]


def network_point(seed: int = 0, sizes=(3, 4, 2)):
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = sizes
    t = np.zeros(n_out)
    t[1] = 1.0
    return {"W1": rng.normal(size=(n_hidden, n_in)), "x": rng.normal(size=n_in),
            "b1": rng.normal(size=n_hidden), "W2": rng.normal(size=(n_out, n_hidden)),
            "b2": rng.normal(size=n_out), "t": t}


def network_result(seed: int = 0, mode: str = "reverse", sizes=(3, 4, 2)):
    return chaincli.compile(NETWORK).gradient(network_point(seed, sizes), wrt=PARAMETERS,
                                              mode=mode)


def same_bits(a, b) -> bool:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def rows_by_node(backward):
    return {row.node: row for row in backward.rows}


# ----- Numbers -----

@pytest.mark.parametrize("seed", range(5))
def test_adjoints_are_the_engines_to_the_last_bit(seed):
    result = network_result(seed)
    assert isinstance(result.evaluation, TensorEvaluation)
    backward = bt.backward_pass(result)
    adjoints = result.evaluation.adjoints
    assert backward.rows, "the table has rows"
    for row in backward.rows:
        assert same_bits(row.adjoint, adjoints[row.index]), row.node
        flat = np.asarray(adjoints[row.index], dtype=float).reshape(-1)
        assert row.summary.first == tuple(flat[:len(row.summary.first)])
        assert row.summary.norm == pytest.approx(np.linalg.norm(flat), rel=1e-15)
    # every node an adjoint reached is a row (this table is small: nothing left out)
    reached = [i for i, a in enumerate(adjoints)
               if a is not None and result.evaluation.tape.ops[i] != "const"]
    assert sorted(row.index for row in backward.rows) == sorted(reached)
    assert [row.index for row in backward.rows] == sorted(reached, reverse=True)


def hand_backprop(point):
    """Backprop of the network, written out as a textbook does."""
    W1, x, b1, W2, b2, t = (point[k] for k in ("W1", "x", "b1", "W2", "b2", "t"))
    a1 = W1 @ x + b1
    h = np.tanh(a1)
    z2 = W2 @ h + b2
    e = np.exp(z2 - z2.max())
    p = e / e.sum()
    d_loss = 1.0
    d_sum = -d_loss
    d_prod = d_sum * np.ones_like(t)
    d_logp = d_prod * t
    d_p = d_logp * (1.0 / p)
    d_z2 = p * (d_p - np.sum(d_p * p))
    d_W2 = np.outer(d_z2, h)
    d_h = W2.T @ d_z2
    d_a1 = d_h * (1.0 - h * h)
    d_W1 = np.outer(d_a1, x)
    return {"f": d_loss, "p": d_p, "z2": d_z2, "z": d_z2, "b2": d_z2, "W2": d_W2, "h": d_h,
            "a1": d_a1, "u1": d_a1, "b1": d_a1, "W1": d_W1}


@pytest.mark.parametrize("seed", range(5))
def test_adjoints_match_a_hand_written_numpy_backprop(seed):
    point = network_point(seed)
    result = chaincli.compile(NETWORK).gradient(point, wrt=PARAMETERS)
    rows = rows_by_node(bt.backward_pass(result))
    for node, expected in hand_backprop(point).items():
        assert same_bits(rows[node].adjoint, expected), node


def test_forward_mode_table_is_the_reverse_mode_table():
    reverse = bt.backward_pass(network_result(3, "reverse"))
    forward = bt.backward_pass(network_result(3, "forward"))
    assert [r.node for r in forward.rows] == [r.node for r in reverse.rows]
    for a, b in zip(forward.rows, reverse.rows):
        assert same_bits(a.adjoint, b.adjoint)
        assert a.rules == b.rules


# ----- Rules -----

def test_rules_of_the_network_read_as_a_textbook_writes_them():
    rows = rows_by_node(bt.backward_pass(network_result()))
    texts = {node: [line.text for line in row.rules] for node, row in rows.items()}
    assert texts["f"] == ["δv14 = -δf"]
    assert texts["h"] == ["δa1 = δh ⊙ (1 - h^2)"]
    assert texts["z"] == ["δW2 = outer(δz, h)", "δh = transpose(W2) @ δz"]
    assert texts["u1"] == ["δW1 = outer(δu1, x)"]
    assert texts["a1"] == ["δu1 = δa1", "δb1 = δa1"]
    assert texts["p"] == ["δz2 = p*(δp - sum(δp*p))"]
    assert texts["v12"] == ["δp = δv12 ⊙ (1/p)"]
    assert rows["h"].definition == "tanh(a1)"
    assert rows["u1"].definition == "W1 @ x"
    assert rows["W1"].shape == (4, 3) and rows["W1"].definition is None


def test_each_parameter_gradient_is_marked_where_it_is_produced():
    backward = bt.backward_pass(network_result())
    rows = rows_by_node(backward)
    marked = {line.gradient_of: row.node for row in backward.rows for line in row.rules
              if line.gradient_of}
    assert marked == {"W1": "u1", "b1": "a1", "W2": "z", "b2": "z2"}
    for name in PARAMETERS:
        assert rows[name].gradient_of == name
    # the data (x, t) gets no adjoint, so no rule line and no row
    assert "x" not in rows and "t" not in rows
    assert all(line.target not in ("x", "t") for row in backward.rows for line in row.rules)


def _evaluate_rule(formula: str, values: dict) -> object:
    """A printed rule formula, evaluated by chaincli itself."""
    text = formula.replace("⊙", "*").replace("·", "*")
    renamed = {}

    def name_of(match):
        new = "d_" + match.group(1)
        renamed[new] = match.group(1)
        return new

    text = re.sub(r"δ([A-Za-z0-9_]+)", name_of, text)
    program = chaincli.compile(text)
    point = {}
    for name in program.variables:
        point[name] = values[("adjoint", renamed[name])] if name in renamed \
            else values[("value", name)]
    return program.value(point)


def _check_rules_numerically(result):
    """Every rule line whose target has one contribution evaluates to its adjoint."""
    evaluation = result.evaluation
    backward = bt.backward_pass(result)
    tape = evaluation.tape
    names = bt.Names(tape)
    values = {}
    for i in range(len(tape)):
        values[("value", names(i))] = evaluation.values[i]
        if evaluation.adjoints[i] is not None:
            values[("adjoint", names(i))] = evaluation.adjoints[i]
    contributions = {}
    for row in backward.rows:
        for line in row.rules:
            contributions[line.target] = contributions.get(line.target, 0) + 1
    checked = 0
    for row in backward.rows:
        for line in row.rules:
            # a mean's rule divides by its count n, which the formula names, not binds
            if contributions[line.target] != 1 or re.search(r"/n\b", line.formula) \
                    or " at the index" in line.formula or "summed to shape" in line.formula:
                continue
            got = _evaluate_rule(line.formula, values)
            np.testing.assert_allclose(got, values[("adjoint", line.target)], rtol=1e-13,
                                       atol=1e-15, err_msg=line.text)
            checked += 1
    return checked


def test_printed_rules_compute_the_adjoints():
    assert _check_rules_numerically(network_result(1)) >= 8


@pytest.mark.parametrize("text,point,expected", [
    ("sum(c * v)", {"c": 2.0, "v": [1.0, -2.0, 3.0]}, "δc = sum(δv2 ⊙ v)"),
    ("sum(A + b)", {"A": [[1.0, 2.0], [3.0, 4.0]], "b": [5.0, 6.0]}, "δb = sum(δv2, 0)"),
    ("sum(exp(v) / s)", {"v": [0.5, 1.0], "s": 3.0}, "δs = sum(δv3 ⊙ (-v1/s^2))"),
    ("norm(sigmoid(v))", {"v": [0.5, -1.0]}, "δv = δv1 ⊙ (v1*(1 - v1))"),
    ("logsumexp(W @ v)", {"W": [[1.0, 2.0], [0.5, -1.0]], "v": [0.3, 0.2]},
     "δv = transpose(W) @ δv2"),
    ("mean(v * w)", {"v": [1.0, 2.0], "w": [3.0, -1.0]}, "δw = δv2 ⊙ v"),
])
def test_broadcasting_and_other_primitives(text, point, expected):
    point = {k: np.array(v) if isinstance(v, list) else v for k, v in point.items()}
    result = chaincli.compile(text).gradient(point)
    backward = bt.backward_pass(result)
    lines = [line.text for row in backward.rows for line in row.rules]
    assert expected in lines
    _check_rules_numerically(result)


def test_a_node_used_twice_accumulates():
    result = chaincli.compile("sum(v * v + 3*v)").gradient({"v": np.array([1.0, 2.0])})
    lines = [line.text for row in bt.backward_pass(result).rows for line in row.rules]
    targets = [line for line in lines if line.startswith("δv ")]
    assert targets[0].startswith("δv = ") and len(targets) == 3
    assert all(line.startswith("δv += ") for line in targets[1:])


def test_index_and_array_literal_rows():
    result = chaincli.compile("u = [x*y, x + y, 2*x]; sum(u * u) + u[1]").gradient(
        {"x": 1.5, "y": -0.5})
    rows = rows_by_node(bt.backward_pass(result))
    assert rows["u"].definition == "[v2, v3, v5]"  # v4 is the constant 2
    assert [line.text for line in rows["u"].rules] == ["δv2 = δu[0]", "δv3 = δu[1]",
                                                       "δv5 = δu[2]"]
    index_row = next(row for row in rows.values() if row.op == "index")
    assert index_row.definition == "u[1]"
    # the sweep reaches u[1] before u * u: its line comes first, the others add to it
    assert index_row.rules[0].text == f"δu = δ{index_row.node} at the index, 0 elsewhere"


def _one_node_result(prim, shapes, options, values):
    builder = TapeBuilder("test")
    args = tuple(builder.variable(f"x{k}", None) for k in range(len(shapes)))
    node = builder.operation(prim.name, args, None, options)
    tape = builder.tape
    builder.operation("sum", (node,), None)
    tape.output = len(tape) - 1
    point = {f"x{k}": (float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float))
             for k, v in enumerate(values)}
    entry_shapes = sweeps.shapes(tape, {name: np.shape(v) for name, v in point.items()})
    computed = sweeps.primal(tape, point, entry_shapes)
    wanted = [True] * len(tape)
    adjoints = sweeps.adjoint_sweep(tape, computed, entry_shapes, wanted)

    class Result:
        expression = "test"
        gradient = {name: None for name in point}
        evaluation = TensorEvaluation(tape, computed, entry_shapes, adjoints)
    return Result(), node


@pytest.mark.parametrize("prim", sorted(PRIMITIVES.values(), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_every_primitive_has_a_row_printed_from_its_table_entry(prim):
    from test_tensor_rules import draw_case
    rng = random.Random(hash(prim.name) % 1000)
    case = draw_case(prim, rng)
    assert case is not None, f"no shapes for {prim.name}"
    shapes, options, values = case
    result, node = _one_node_result(prim, shapes, options, values)
    rows = {row.index: row for row in bt.backward_pass(result).rows}
    row = rows[node]
    assert row.op == prim.name
    assert len(row.rules) == min(len(shapes), bt.MAX_RULE_LINES)
    for k, line in enumerate(row.rules):
        assert line.target == f"x{k}"
        if prim.elementwise:
            continue
        ranks = tuple(len(s) for s in shapes)
        formula = prim.vjp_formulas(ranks)[k]
        # the table's formula, with a, b, out and δ replaced by node names
        expected = re.sub(r"(?<![A-Za-z0-9_.])a(?![A-Za-z0-9_(])", "x0", formula)
        expected = re.sub(r"(?<![A-Za-z0-9_.])b(?![A-Za-z0-9_(])", "x1", expected)
        expected = re.sub(r"(?<![A-Za-z0-9_.])out(?![A-Za-z0-9_(])", row.node, expected)
        assert line.formula == expected.replace("δ", "δ" + row.node)


def test_a_new_primitive_gets_a_row_without_new_rendering_code(monkeypatch):
    def cube_shape(shapes, options):
        return shapes[0]
    double = Primitive("twice", 1, lambda args, options: 2 * args[0], (), (), "",
                       elementwise=False, shape=cube_shape,
                       vjp=lambda g, args, out, options, wanted=(True,): (2 * g,),
                       jvp=lambda t, args, out, options: 2 * t[0],
                       vjp_formulas=lambda ranks: ("2*δ twice over",))
    cube = Primitive("cube", 1, lambda a: a ** 3, (lambda a, out: 3 * a * a,), ("3*a^2",),
                     "")
    monkeypatch.setitem(PRIMITIVES, "twice", double)
    monkeypatch.setitem(PRIMITIVES, "cube", cube)
    builder = TapeBuilder("test")
    v = builder.variable("v", None)
    c = builder.operation("cube", (v,), None)
    d = builder.operation("twice", (c,), None)
    builder.operation("sum", (d,), None)
    tape = builder.tape
    backward = bt.backward_pass(swept_at_v(tape))
    rows = {row.index: row for row in backward.rows}
    assert rows[d].rules[0].text == "δv1 = 2*δv2 twice over"
    assert rows[c].rules[0].text == "δv = δv1 ⊙ (3*v^2)"
    assert same_bits(rows[tape.variable_index["v"]].adjoint, 2 * 3 * np.array([1.0, 4.0]))
    out = io.StringIO()
    print_backward(backward, make_console(out, width=80))
    assert "2*δv2 twice over" in out.getvalue() and "3*v^2" in out.getvalue()


# ----- Bounds -----

def test_a_long_chain_gives_a_bounded_table_that_counts_what_it_left_out():
    depth = 2000
    lets = "; ".join(f"u{k} = tanh(u{k - 1} * 0.5)" if k else "u0 = tanh(v)"
                     for k in range(depth))
    result = chaincli.compile(f"{lets}; sum(u{depth - 1})").gradient(
        {"v": np.array([0.1, 0.2])})
    backward = bt.backward_pass(result)
    assert len(backward.rows) == bt.MAX_ROWS
    assert backward.nodes == 2 * depth + 1  # tanh and * per level but the first, sum, v
    assert backward.omitted_rows == backward.nodes - bt.MAX_ROWS
    assert backward.rows[0].node == "f" and backward.rows[-1].node == "v"
    # += is decided over every row, kept or not: each node has one contribution
    assert not any(line.accumulates for row in backward.rows for line in row.rules)
    out = io.StringIO()
    print_backward(backward, make_console(out, width=80))
    text = out.getvalue()
    flat = " ".join(text.split())
    assert f"{backward.omitted_rows:,} more nodes" in flat
    assert f"{backward.omitted_rows:,} of {backward.nodes:,} nodes left out" in flat
    assert len(text.splitlines()) < 400
    data = backward.to_dict()
    assert data["omitted_nodes"] == backward.omitted_rows
    assert len(data["nodes"]) == bt.MAX_ROWS


def test_a_wide_array_literal_keeps_its_row_short():
    n = 500
    elements = ", ".join(f"x*{k + 1}" for k in range(n))
    result = chaincli.compile(f"sum([{elements}])").gradient({"x": 0.5})
    backward = bt.backward_pass(result)
    stack = next(row for row in backward.rows if row.op == "stack")
    assert len(stack.rules) == bt.MAX_RULE_LINES
    assert stack.omitted_rules == n - bt.MAX_RULE_LINES
    assert stack.definition.endswith(f"… {n - bt.MAX_DEFINITION_ARGUMENTS} more]")
    out = io.StringIO()
    print_backward(backward, make_console(out, width=80))
    assert f"{n - bt.MAX_RULE_LINES} more arguments" in out.getvalue()


# ----- Rendering -----

@pytest.mark.parametrize("width", [80, 40])
def test_the_table_fits_the_terminal_and_loses_nothing(width):
    backward = bt.backward_pass(network_result())
    out = io.StringIO()
    print_backward(backward, make_console(out, width=width))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    squeezed = re.sub(r"\s+", "", text)
    for row in backward.rows:
        assert row.node in squeezed
        for line in row.rules:
            if width == 80 and len(line.text) <= 30:
                assert line.text in text  # unbroken in the table's rule column
            elif width == 40:
                assert re.sub(r"\s+", "", line.text) in squeezed  # blocks: folded, whole
    assert "★" in text and "∂f/∂W1=δW1" in squeezed
    norm = rows_by_node(backward)["W1"].summary.norm
    assert f"norm{format(norm, '.5g')}" in squeezed  # the W1 gradient's norm, 5 digits


def test_ascii_output_replaces_the_greek():
    backward = bt.backward_pass(network_result())
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    print_backward(backward, make_console(stream, width=80))
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "dW2 = outer(dz, h)" in text
    assert "da1 = dh * (1 - h^2)" in text


# ----- JSON -----

def test_json_carries_every_adjoint_in_full_and_round_trips():
    result = network_result(2)
    backward = bt.backward_pass(result)
    data = json.loads(dumps(TensorExplanation(backward).to_dict()))
    chain = data["chain"]
    assert chain["kind"] == "backward" and chain["output"] == "f"
    assert chain["parameters"] == PARAMETERS
    adjoints = result.evaluation.adjoints
    for node in chain["nodes"]:
        assert node["adjoint_complete"] is True
        assert same_bits(node["adjoint"], adjoints[node["entry"]])
        assert node["shape"] == list(np.shape(adjoints[node["entry"]]))
    by_node = {node["node"]: node for node in chain["nodes"]}
    assert by_node["h"]["rule"] == ["δa1 = δh ⊙ (1 - h^2)"]
    assert by_node["h"]["definition"] == "tanh(a1)"
    assert by_node["W1"]["gradient_of"] == "W1"
    assert by_node["u1"]["rules"][0]["gradient_of"] == "W1"


def test_json_summarizes_an_adjoint_past_the_limit():
    result = network_result(0, sizes=(40, 30, 2))
    data = json.loads(dumps(bt.backward_pass(result).to_dict()))
    by_node = {node["node"]: node for node in data["nodes"]}
    w1 = by_node["W1"]
    assert 30 * 40 > bt.FULL_ADJOINT_LIMIT
    assert w1["adjoint"] is None and w1["adjoint_complete"] is False
    summary = w1["adjoint_summary"]
    gradient = result.gradient["W1"]
    assert summary["shape"] == [30, 40] and summary["size"] == 1200
    assert summary["first"] == gradient.reshape(-1)[:bt.FIRST_ENTRIES].tolist()
    assert summary["max"] == gradient.max() and summary["min"] == gradient.min()
    assert summary["norm"] == pytest.approx(np.linalg.norm(gradient), rel=1e-14)
    assert by_node["b1"]["adjoint_complete"] is True


ELEMENTWISE = sorted((p for p in PRIMITIVES.values() if p.elementwise), key=lambda p: p.name)


@pytest.mark.parametrize("prim", ELEMENTWISE, ids=lambda p: p.name)
def test_every_elementwise_rule_computes_its_adjoint(prim):
    """Each elementwise primitive's printed rule, evaluated by chaincli, is the
    adjoint the sweep computed (including a broadcast scalar argument)."""
    rng = np.random.default_rng(len(prim.name))
    low, high = prim.smooth_region[0]
    names = ["u", "s"][:prim.arity]
    call = (f"{prim.name}({', '.join(names)})" if prim.symbol is None
            else (f"{prim.symbol}u" if prim.arity == 1 else f"u {prim.symbol} s"))
    point = {"u": rng.uniform(low, high, size=3)}
    if prim.arity == 2:
        low2, high2 = prim.smooth_region[-1]
        point["s"] = float(rng.uniform(low2, high2))
    result = chaincli.compile(f"sum(w * {call})").gradient(
        {**point, "w": rng.normal(size=3)}, wrt=names)
    assert _check_rules_numerically(result) >= 1


def test_a_negative_factor_is_parenthesized():
    builder = TapeBuilder("test")
    v = builder.variable("v", None)
    product = builder.operation("mul", (builder.constant(-2.0, None), v), None)
    builder.operation("sum", (product,), None)
    tape = builder.tape
    lines = [line.text for row in bt.backward_pass(swept_at_v(tape)).rows for line in row.rules]
    assert f"δv = δv{product} ⊙ (-2)" in lines


def swept_at_v(tape):
    """A result of the tensor sweeps over ``tape`` (its last entry the output) at
    v = [1, 2], as ``backward_pass`` reads one."""
    tape.output = len(tape) - 1
    point = {"v": np.array([1.0, 2.0])}
    entry_shapes = sweeps.shapes(tape, {"v": (2,)})
    values = sweeps.primal(tape, point, entry_shapes)
    adjoints = sweeps.adjoint_sweep(tape, values, entry_shapes, [True] * len(tape))

    class Result:
        expression = "test"
        gradient = {"v": None}
        evaluation = TensorEvaluation(tape, values, entry_shapes, adjoints)
    return Result()
