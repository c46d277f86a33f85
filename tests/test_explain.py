"""The chain-rule explanation agrees with the sweeps, and stays bounded."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings

import chaincli
from chaincli.engine.scalar import evaluate
from chaincli.explain import chain as explain
from chaincli.base.errors import DomainError
from chaincli.engine.scalar.forward import directional_derivative, forward_gradient
from chaincli.base.jsonout import dumps
from chaincli.primitives import ELEMENTWISE, PRIMITIVES
from expressions import CORPUS, CORPUS_POINT, expressions, points


def gradient_of(text: str, point: dict, **options):
    expr = chaincli.compile(text)
    return expr.gradient({k: v for k, v in point.items() if k in expr.variables}, **options)


def chain_sum(variable) -> float:
    """What the explanation says ∂f/∂x is: listed products plus the unlisted sum."""
    return math.fsum([p.product for p in variable.paths] + [variable.unlisted_contribution])


def assert_sums_to_gradient(variable, expected: float) -> None:
    scale = math.fsum([abs(p.product) for p in variable.paths]
                      + [abs(variable.unlisted_contribution), abs(expected), 1.0])
    assert math.isclose(chain_sum(variable), expected, rel_tol=1e-9, abs_tol=1e-12 * scale), \
        (variable.variable, chain_sum(variable), expected)


def all_paths(tape, start: int):
    """Every path from the output down to ``start`` as (entry, argument) edges, by brute force."""
    found = []
    stack = [(tape.output, [])]
    while stack:
        i, edges = stack.pop()
        if i == start:
            found.append(edges)
            continue
        for k, j in enumerate(tape.args[i]):
            stack.append((j, edges + [(i, k)]))
    return found


# ----- Paths sum to the gradient -----

@pytest.mark.parametrize("text", CORPUS)
def test_path_sums_equal_the_reverse_gradient_on_the_corpus(text):
    result = gradient_of(text, CORPUS_POINT)
    chain = explain.chain(result)
    assert [v.variable for v in chain.variables] == list(result.gradient)
    for variable in chain.variables:
        assert variable.total == result.gradient[variable.variable]
        assert_sums_to_gradient(variable, result.gradient[variable.variable])


@pytest.mark.parametrize("text", CORPUS)
def test_path_counts_and_products_match_brute_force_on_the_corpus(text):
    result = gradient_of(text, CORPUS_POINT)
    evaluation = result.evaluation
    tape = evaluation.tape
    chain = explain.chain(result, max_paths=10_000)
    for variable in chain.variables:
        paths = all_paths(tape, tape.variable_index[variable.variable])
        assert variable.path_count == len(paths)
        assert not variable.truncated and variable.unlisted_contribution == 0.0
        brute = sorted(math.prod(evaluation.partials[i][k] for i, k in edges)
                       for edges in paths)
        listed = sorted(p.product for p in variable.paths)
        assert listed == pytest.approx(brute, rel=1e-12, abs=1e-300)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), points())
def test_path_sums_equal_the_gradient_on_random_expressions(text, point):
    try:
        result = gradient_of(text, point)
    except DomainError:
        return  # a generated expression may overflow; that is tested elsewhere
    if not result.all_finite:
        return
    # A limit of 2 paths makes most variables leave some paths to the adjoints.
    for max_paths in (2, 1000):
        for variable in explain.chain(result, max_paths=max_paths).variables:
            assert len(variable.paths) <= max_paths
            assert_sums_to_gradient(variable, result.gradient[variable.variable])


def test_unlisted_contribution_is_the_gradient_less_the_listed_paths():
    result = gradient_of("u = x*x; v = u*u*x; w = v*v + sin(v)*u; w*w", {"x": 1.1})
    (x,) = explain.chain(result, max_paths=3).variables
    assert x.truncated and x.unlisted_count == x.path_count - 3
    listed = math.fsum(p.product for p in x.paths)
    assert x.unlisted_contribution == pytest.approx(result.gradient["x"] - listed, rel=1e-12)


def test_search_budget_leaves_the_rest_to_the_adjoints(monkeypatch):
    monkeypatch.setattr(explain, "STEP_BUDGET", 3)
    result = gradient_of("u = x*x; v = u*u; w = v*v; w*w", {"x": 1.01})
    (x,) = explain.chain(result, max_paths=16).variables
    assert 1 <= len(x.paths) < 16 and x.path_count == 16
    assert_sums_to_gradient(x, result.gradient["x"])


# ----- Shape of the chain -----

def test_sin_xy_factors_and_products():
    result = gradient_of("sin(x*y)", {"x": 1.0, "y": 2.0})
    chain = explain.chain(result)
    x, y = chain.variables
    (path,) = x.paths
    assert path.nodes == ("f", "v2", "x")
    assert [(f.of, f.wrt, f.formula) for f in path.factors] == [("f", "v2", "cos(v2)"),
                                                                  ("v2", "x", "y")]
    assert [f.value for f in path.factors] == [math.cos(2.0), 2.0]
    assert path.product == result.gradient["x"]
    assert [(f.formula, f.value) for f in y.paths[0].factors] == [("cos(v2)", math.cos(2.0)),
                                                                   ("x", 1.0)]
    assert [(e.node, e.definition) for e in chain.legend] == [("v2", "x*y"), ("f", "sin(v2)")]


def test_shared_subexpression_gives_two_paths_through_one_node():
    result = gradient_of("sin(x*y) + cos(x*y)", {"x": 1.0, "y": 2.0})
    tape = result.evaluation.tape
    assert tape.ops.count("mul") == 1
    x = explain.chain(result).variables[0]
    assert x.path_count == 2
    assert [p.nodes for p in x.paths] == [("f", "v3", "v2", "x"), ("f", "v4", "v2", "x")]
    assert [p.factors[1].formula for p in x.paths] == ["cos(v2)", "-sin(v2)"]


def test_a_repeated_argument_is_two_paths_told_apart_by_position():
    result = gradient_of("x*x", {"x": 3.0})
    x = explain.chain(result).variables[0]
    assert x.path_count == 2
    factors = [p.factors[0] for p in x.paths]
    assert sorted(f.argument for f in factors) == [0, 1]
    assert all(f.repeated and f.formula == "x" and f.value == 3.0 for f in factors)


def test_let_names_constants_and_the_output_name():
    result = gradient_of("f = x*2; u = f + pi; sin(u)", {"x": 1.0})
    chain = explain.chain(result)
    assert chain.output == "f_"  # "f" is taken by the user's binding
    (path,) = chain.variables[0].paths
    assert path.nodes == ("f_", "u", "f", "x")
    assert [f.formula for f in path.factors] == ["cos(u)", "1", "2"]
    assert {e.node: e.definition for e in chain.legend} == {
        "f": "x*2", "u": "f + pi", "f_": "sin(u)"}


def test_output_that_is_a_variable_and_a_variable_the_output_ignores():
    result = gradient_of("u = z; x", {"x": 1.0, "z": 2.0})
    z, x = explain.chain(result).variables
    assert z.path_count == 0 and z.paths == () and z.total == 0.0
    assert x.path_count == 1 and x.paths[0].nodes == ("x",) and x.paths[0].product == 1.0


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_every_partial_formula_evaluates_to_its_partial(name):
    # The formulas are chaincli syntax; with the arguments named b and a (the
    # other way round from the table), substitution must swap them in one go.
    primitive = PRIMITIVES[name]
    arg_names = ["b", "a"][:primitive.arity]
    region = primitive.smooth_region * primitive.arity
    point = {n: lo + 0.37 * (hi - lo) for n, (lo, hi) in zip(arg_names, region)}
    expr = chaincli.compile(_apply(primitive, arg_names))
    result = expr.gradient(point)
    names = explain.Names(result.evaluation.tape)
    output = result.evaluation.tape.output
    for k in range(primitive.arity):
        factor = names.factor(result.evaluation, output, k)
        assert math.isclose(chaincli.compile(factor.formula).value(point), factor.value,
                            rel_tol=1e-12, abs_tol=1e-12), (name, k, factor.formula)


def _apply(primitive, args):
    if primitive.symbol is None:
        return f"{primitive.name}({', '.join(args)})"
    if primitive.arity == 1:
        return f"{primitive.symbol}{args[0]}"
    return f"{args[0]} {primitive.symbol} {args[1]}"


# ----- The 2^30 chain -----

CHAIN_30 = "; ".join(["u1 = x*x"] + [f"u{i} = u{i - 1}*u{i - 1}" for i in range(2, 31)]) + "; u30"


def test_two_to_the_thirty_paths_are_counted_not_listed():
    result = gradient_of(CHAIN_30, {"x": 1.0 + 2.0 ** -40})
    chain = explain.chain(result)
    (x,) = chain.variables
    assert x.path_count == 2 ** 30 and len(x.paths) == 16 and x.truncated
    assert x.unlisted_count == 2 ** 30 - 16
    assert_sums_to_gradient(x, result.gradient["x"])
    for path in x.paths:
        assert path.steps == 30
        assert path.omitted_steps == 30 - explain.MAX_SHOWN_STEPS
        assert len(path.factors) == explain.MAX_SHOWN_STEPS
        assert path.nodes[0] == "f" and path.nodes[-1] == "x"
    # Every path's product is x^(2^30 - 1); sixteen of them plus the rest is 2^30 times it.
    each = result.value / result.point["x"]
    assert [p.product for p in x.paths] == pytest.approx([each] * 16, rel=1e-12)
    assert x.unlisted_contribution == pytest.approx((2 ** 30 - 16) * each, rel=1e-9)
    assert len(chain.legend) <= 2 * explain.MAX_SHOWN_STEPS


def test_huge_path_counts_stay_short_in_json():
    text = "; ".join(["u1 = x*x"] + [f"u{i} = u{i - 1}*u{i - 1}" for i in range(2, 80)]) + "; u79"
    result = gradient_of(text, {"x": 1.0})
    data = explain.chain(result).to_dict()
    assert data["variables"]["x"]["path_count"] == explain.approximate_count(2 ** 79)
    assert explain.approximate_count(2 ** 79) == "6.04e+23"
    assert explain.count_for_json(2 ** 63 - 1) == 2 ** 63 - 1


@pytest.mark.parametrize("count, text", [
    (2 ** 100_000, "9.99e+30102"), (10 ** 20, "1.00e+20"), (10 ** 20 - 1, "1.00e+20"),
    (123_456_789_012_345_678_901, "1.23e+20"),
], ids=["2^100000", "10^20", "10^20-1", "1.23e20"])
def test_approximate_count(count, text):
    assert explain.approximate_count(count) == text


# ----- Traces -----

@pytest.mark.parametrize("text", CORPUS)
def test_trace_values_tangents_and_adjoints_match_the_sweeps(text):
    result = gradient_of(text, CORPUS_POINT)
    evaluation = result.evaluation
    tape = evaluation.tape
    values = evaluate.primal(tape, result.point)
    forward = explain.forward_trace(result)
    reverse = explain.reverse_trace(result)
    assert forward.sweeps == len(tape.variables)
    assert [row.index for row in forward.rows] == [row.index for row in reverse.rows][::-1]
    for row in forward.rows + reverse.rows:
        assert row.value == values[row.index]
    by_index = {row.index: row for row in forward.rows}
    tangents = forward_gradient(tape, evaluation.partials, tape.variables)
    for sweep, seed in enumerate(forward.seeds):
        (name,) = seed
        assert by_index[tape.output].tangents[sweep] == tangents[name]
        assert by_index[tape.variable_index[name]].tangents[sweep] == 1.0
    for row in reverse.rows:
        if tape.ops[row.index] == "var":
            assert row.adjoint == result.gradient[row.node]
    assert reverse.rows[0].index == tape.output and reverse.rows[0].adjoint == 1.0


def test_forward_trace_takes_a_seed_direction():
    result = gradient_of("x^2*y + sin(y)", {"x": 1.0, "y": 2.0})
    direction = {"x": 0.6, "y": -0.8}
    trace = explain.forward_trace(result, direction)
    assert trace.sweeps == 1 and trace.seeds == (direction,)
    output = [row for row in trace.rows if row.node == "f"][0]
    tape = result.evaluation.tape
    assert output.tangents == (directional_derivative(tape, result.evaluation.partials,
                                                      direction),)


def test_trace_of_sin_xy_reads_like_the_textbook():
    result = gradient_of("sin(x*y)", {"x": 1.0, "y": 2.0})
    reverse = explain.reverse_trace(result)
    assert [(r.node, r.definition, r.adjoint) for r in reverse.rows] == [
        ("f", "sin(v2)", 1.0), ("v2", "x*y", math.cos(2.0)), ("y", None, math.cos(2.0)),
        ("x", None, 2 * math.cos(2.0))]
    assert [(p.wrt, p.formula, p.value) for p in reverse.rows[1].partials] == [
        ("x", "y", 2.0), ("y", "x", 1.0)]
    forward = explain.forward_trace(result)
    assert [r.tangents for r in forward.rows] == [
        (1.0, 0.0), (0.0, 1.0), (2.0, 1.0), (2 * math.cos(2.0), math.cos(2.0))]


def test_traces_of_a_huge_tape_are_cut_and_say_so():
    depth = 500
    result = gradient_of("sin(" * depth + "x*y" + ")" * depth, {"x": 0.3, "y": 0.2})
    reverse = explain.reverse_trace(result)
    assert reverse.entries == depth + 3
    assert len(reverse.rows) == explain.MAX_TRACE_ROWS
    assert reverse.omitted_entries == depth + 3 - explain.MAX_TRACE_ROWS
    assert reverse.rows[0].node == "f" and reverse.rows[-1].node == "x"
    data = reverse.to_dict()
    assert data["omitted_after"] == explain.MAX_TRACE_ROWS // 2
    assert len(data["rows"]) == explain.MAX_TRACE_ROWS
    # The one long path per variable shows its ends; its product is still the gradient.
    x = explain.chain(result).variables[0]
    assert x.paths[0].steps == depth + 1
    assert math.isclose(x.paths[0].product, result.gradient["x"], rel_tol=1e-12)


def test_forward_sweeps_are_bounded_and_counted():
    text = " + ".join(f"sin(x{i})" for i in range(30))
    result = gradient_of(text, {f"x{i}": 0.1 * i for i in range(30)})
    trace = explain.forward_trace(result)
    assert trace.sweeps == 30 and len(trace.seeds) == explain.MAX_SWEEPS
    chain = explain.chain(result)
    assert len(chain.variables) == explain.MAX_VARIABLES
    assert chain.omitted_variables == 30 - explain.MAX_VARIABLES


# ----- Views and JSON -----

def test_views_hold_what_they_show():
    result = gradient_of("sin(x*y)", {"x": 1.0, "y": 2.0})
    assert explain.explain(result, "none").to_dict() == {}
    assert set(explain.explain(result).to_dict()) == {"chain"}
    assert set(explain.explain(result, "reverse").to_dict()) == {"trace"}
    assert set(explain.explain(result, "forward", with_chain=True).to_dict()) == {
        "chain", "trace"}
    with pytest.raises(ValueError):
        explain.explain(result, "sideways")


def test_json_is_strict_when_a_partial_is_infinite():
    result = gradient_of("sqrt(x) + x", {"x": 0.0})
    text = dumps(explain.explain(result, "reverse", with_chain=True).to_dict())
    assert "Infinity" in text and "NaN" not in text


def test_forward_mode_results_are_explained_from_adjoints_too():
    result = gradient_of("u = x*y; sin(u) + u^2", {"x": 1.0, "y": 2.0}, mode="forward")
    for variable in explain.chain(result).variables:
        assert_sums_to_gradient(variable, result.gradient[variable.variable])


@pytest.mark.parametrize("text, max_paths", [("sqrt(0*x)", 16), ("x + 0*sqrt(x)*sqrt(x)", 1)])
def test_a_zero_factor_is_exact_in_path_products(text, max_paths):
    # At x = 0 an infinite sqrt partial meets a zero: the sweeps take 0·∞ as 0,
    # and so must the listed products and the sum of the unlisted paths.
    result = gradient_of(text, {"x": 0.0})
    (variable,) = explain.chain(result, max_paths=max_paths).variables
    products = [path.product for path in variable.paths]
    assert all(math.isfinite(p) for p in products)
    assert math.isfinite(variable.unlisted_contribution)
    assert sum(products) + variable.unlisted_contribution == result.gradient["x"]


# ----- Rules printed as a textbook prints them -----

def _argument_sets(prim, rng):
    """The shapes of arguments a rule is printed for: names, one name twice,
    and a short constant in a slot, each with a point in the smooth region."""
    names = ("x", "y")[:prim.arity]
    regions = list(prim.smooth_region) * prim.arity
    sets = [tuple(("name", n) for n in names)]
    if prim.arity == 2:
        sets.append((("name", "x"), ("name", "x")))
        for slot in range(2):
            low, high = regions[slot]
            for value in {round(low + (high - low) * t, 1) for t in (0.25, 0.5, 0.9)}:
                arguments = [("name", n) for n in names]
                arguments[slot] = ("number", value, None)
                sets.append(tuple(arguments))
    for arguments in sets:
        for _ in range(8):
            point, args = {}, []
            for slot, argument in enumerate(arguments):
                if argument[0] == "number":
                    args.append(argument[1])
                    continue
                if argument[1] not in point:
                    point[argument[1]] = rng.uniform(*regions[slot])
                args.append(point[argument[1]])
            if prim.domain is not None and prim.domain(*args):
                continue
            if prim.kink is not None and prim.kink(*args):
                continue
            yield arguments, point, tuple(args)


@pytest.mark.parametrize("prim", sorted(ELEMENTWISE.values(), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_every_printed_rule_evaluates_to_the_local_partial(prim):
    """The simplified rule text, read back by chaincli, is the partial the sweeps use."""
    import random
    rng = random.Random(f"printed-rule-{prim.name}")
    checked = 0
    for arguments, point, args in _argument_sets(prim, rng):
        out = prim.value(*args)
        for k in range(prim.arity):
            expected = prim.partials[k](*args, out)
            for own in (None, "o"):
                text = explain.partial_text(prim.name, k, arguments, own)
                program = chaincli.compile(text)
                values = {**point, "o": out}
                got = program.value({name: values[name] for name in program.variables})
                assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-14), \
                    (prim.name, k, arguments, own, text, got, expected)
                checked += 1
    assert checked


@pytest.mark.parametrize("text, point, line", [
    ("w^2", {"w": 3.0}, "∂f/∂w = 2*w = 6"),
    ("w^3 + 1", {"w": 2.0}, "∂v2/∂w = 3*w^2 = 12"),
    ("x/w", {"x": 3.0, "w": 2.0}, "∂f/∂w = -x/w^2 = -0.75"),
    ("x^0.5", {"x": 4.0}, "∂f/∂x = 0.5/x^0.5 = 0.25"),
])
def test_chain_tables_print_the_simplified_rule(text, point, line):
    from chaincli.render.table import make_console, print_gradient
    import io
    result = gradient_of(text, point)
    out = io.StringIO()
    print_gradient(result, explain.explain(result, "reverse"),
                   console=make_console(file=out, width=100))
    assert line in out.getvalue()
    assert "- 1)" not in out.getvalue()


@pytest.mark.parametrize("prim", sorted(ELEMENTWISE.values(), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_the_table_writes_each_partial_as_the_simplifier_would(prim):
    # On distinct names partial_text prints the formula as written, without
    # running the simplifier: that is right only while this holds.
    arguments = tuple(("name", n) for n in ("p", "q")[:prim.arity])
    for k, formula in enumerate(prim.partial_formulas):
        written = explain.instantiate(formula, {"a": "p", "b": "q"})
        assert explain.simplified_partial_text(prim.name, k, arguments) == written
        assert explain.partial_text(prim.name, k, arguments) == written


def test_a_rule_using_a_piece_twice_writes_it_out():
    assert explain.partial_text("sigmoid", 0, (("name", "x"), )) == \
        "sigmoid(x)*(1 - sigmoid(x))"
    assert explain.partial_text("sigmoid", 0, (("name", "x"),), own="s") == "s*(1 - s)"
    assert explain.partial_text("mul", 0, (("name", "x"), ("name", "x"))) == "x"
    assert explain.partial_text("pow", 0, (("name", "w"), ("number", 2.0, None))) == "2*w"
    assert explain.partial_text("pow", 0, (("name", "w"), ("number", 3.0, None))) == "3*w^2"
