"""diff --steps: every line checked against the gradient, every rule by example.

A line of a derivation is chaincli syntax in which ``d/dx(E)`` stands for a
derivative still to be taken and a name for a piece defined in ``bindings``.
``line_value`` replaces each ``d/dx(E)`` by the gradient of ``E`` (computed by
the reverse sweep, independently of the derivation), prefixes the bindings the
line uses, and evaluates it; every line of a part must equal the derivative of
what the part derives.
"""

from __future__ import annotations

import json
import math
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings

import chaincli
from chaincli.calculus.derivatives import differentiate, differentiate_steps
from chaincli.explain.derivation import MAX_LINES, derive
from chaincli.primitives import PRIMITIVES
from chaincli.printer import to_text
from chaincli.language.parser import parse
from chaincli.tape import lower
from expressions import CORPUS, CORPUS_POINT, expressions, points


def steps_of(text, wrt="x", order=1, point=None):
    return differentiate_steps(chaincli.compile(text), wrt, order, point)


def close(a, b, tol=1e-9):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# ----- Evaluating a line -----

def _pending_spans(text, wrt):
    """(start, end, inner) of each ``d/dx(inner)`` in ``text``."""
    marker = f"d/d{wrt}("
    spans, at = [], text.find(marker)
    while at >= 0:
        depth, k = 1, at + len(marker)
        while depth:
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            k += 1
        spans.append((at, k, text[at + len(marker):k - 1]))
        at = text.find(marker, k)
    return spans


def _with_bindings(body, bindings):
    """``body`` with the definitions of the bound names it uses (and theirs) in front."""
    defined = {b.name: b.expression for b in bindings}
    order = [b.name for b in bindings]
    wanted, queue = set(), [body]
    while queue:
        free = set(chaincli.compile(queue.pop()).variables)
        for name in free & set(defined) - wanted:
            wanted.add(name)
            queue.append(defined[name])
    prefix = "".join(f"{name} = {defined[name]}; " for name in order if name in wanted)
    return prefix + body


def derivative_at(text, bindings, wrt, point):
    program = chaincli.compile(_with_bindings(text, bindings))
    if wrt not in program.variables:
        return 0.0
    used = {name: point[name] for name in program.variables}
    return program.gradient(used).gradient[wrt]


def line_value(text, bindings, wrt, point):
    """The value of one line, each ``d/dx(E)`` replaced by the gradient of ``E``."""
    pieces, last = [], 0
    for start, end, inner in _pending_spans(text, wrt):
        pieces.append(text[last:start])
        pieces.append(f"({derivative_at(inner, bindings, wrt, point)!r})")
        last = end
    pieces.append(text[last:])
    program = chaincli.compile(_with_bindings("".join(pieces), bindings))
    return program.value({name: point[name] for name in program.variables})


def check_derivation(derivation, subject_text, point, tol=1e-9):
    """Each line equals the derivative of its part's subject at ``point``."""
    wrt = derivation.wrt
    for step in derivation.steps:
        if step.of is None:
            expected = derivative_at(subject_text, [], wrt, point)
        else:
            expected = derivative_at(step.of, derivation.bindings, wrt, point)
        got = line_value(step.expression, derivation.bindings, wrt, point)
        assert close(got, expected, tol), (step, got, expected)


def check_all(text, wrt="x", order=1, point=None, tol=1e-9):
    program = chaincli.compile(text)
    point = point or {name: 0.7 + 0.1 * k for k, name in enumerate(program.variables)}
    result = differentiate_steps(program, wrt, order)
    subject = program.tape
    for derivation in result.derivations:
        check_derivation(derivation, to_text(subject), point, tol)
        subject = derivation.tape
    assert result.derivative == differentiate(program, wrt, order).text
    return result


def rules(result):
    return [step.rule for d in result.derivations for step in d.steps]


# ----- The example, in every format -----

def test_the_example_derivation_as_text(cli):
    code, out, err = cli("diff", "sin(x^2)", "--wrt", "x", "--steps", "--format", "text")
    assert (code, err) == (0, "")
    assert out == (
        "  d/dx(sin(x^2))\n"
        "= cos(x^2)*d/dx(x^2)  chain rule: sin'(w) = cos(w) with w = x^2\n"
        "= cos(x^2)*(2*x)      power rule: (x^n)' = n*x^(n - 1); d/dx(x) = 1\n"
        "= 2*(cos(x^2)*x)      simplify: fold numbers, drop 0 and 1, collect terms\n")
    code, diffed, _ = cli("diff", "sin(x^2)", "--wrt", "x")
    assert out.splitlines()[-1].startswith("= " + diffed.strip() + " ")


def test_the_example_as_json(cli):
    code, out, err = cli("diff", "sin(x^2)", "--wrt", "x", "--steps", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["expression"] == "sin(x^2)" and data["wrt"] == "x"
    assert [s["expression"] for s in data["steps"]] == [
        "d/dx(sin(x^2))", "cos(x^2)*d/dx(x^2)", "cos(x^2)*(2*x)", "2*(cos(x^2)*x)"]
    assert [s["rule"] for s in data["steps"]] == ["", "chain rule", "power rule", "simplify"]
    assert data["steps"][1]["detail"] == "sin'(w) = cos(w) with w = x^2"
    assert data["derivative"] == "2*(cos(x^2)*x)" == data["steps"][-1]["expression"]
    assert data["omitted_steps"] == 0 and data["bindings"] == []
    assert "point" not in data


def test_table_has_an_expression_and_a_rule_column_in_80_columns():
    import io
    from chaincli.render.derivation import RULE_WIDTH, print_table
    from chaincli.render.table import make_console
    buffer = io.StringIO()
    console = make_console(buffer, width=80)
    print_table(steps_of("exp(x*y)/x + atan2(x^2, y)", point={"x": 1.0, "y": 2.0}), console)
    lines = buffer.getvalue().splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
    # The piece the derivative binds is listed first, as the input's pieces are.
    assert lines[0] == "where u1 = exp(x*y)"
    lines = lines[1:]
    assert lines[0].lstrip().startswith("d/dx(")
    assert any(line.startswith("=") and "quotient rule" not in line for line in lines)
    # The rule column starts at one place and is at most RULE_WIDTH wide.
    start = lines[1].index("sum rule")
    assert all(len(line) - start <= RULE_WIDTH for line in lines[1:] if len(line) > start)
    assert "chain rule" in buffer.getvalue() and "value at x = 1, y = 2" in buffer.getvalue()


def test_table_is_the_default_with_steps_and_text_without(cli):
    code, table, _ = cli("diff", "x^3", "--wrt", "x", "--steps")
    code, text, _ = cli("diff", "x^3", "--wrt", "x", "--steps", "-f", "text")
    assert table != text and "power rule" in table and "power rule" in text
    assert cli("diff", "x^3", "--wrt", "x")[1] == "3*x^2\n"


# ----- The rules, one example each -----

@pytest.mark.parametrize("text, rule, detail", [
    ("x", "variable rule", "d/dx(x) = 1"),
    ("x + 3", "sum rule, constant rule", "d/dx(3) = 0"),
    ("x^2 + sin(x)", "sum rule", "(f + g)' = f' + g'"),
    ("x^2 - sin(x)", "difference rule", "(f - g)' = f' - g'"),
    ("pi - x", "difference rule, constant rule", "d/dx(pi) = 0"),
    ("3*sin(x)", "constant multiple rule", "(c*f)' = c*f'"),
    ("sin(x)/4", "constant multiple rule", "(f/c)' = f'/c"),
    ("-sin(x)", "constant multiple rule", "(-f)' = -f'"),
    ("x*sin(x)", "product rule", "(f*g)' = f'*g + f*g'"),
    ("sin(x)/x", "quotient rule", "(f/g)' = f'/g - f*g'/g^2"),
    ("1/x", "quotient rule", "(c/g)' = -c*g'/g^2"),
    ("x^3", "power rule", "(x^n)' = n*x^(n - 1)"),
    ("(x + 1)^3", "chain rule, power rule", "(w^n)' = n*w^(n - 1) with w = x + 1"),
    ("2^x", "exponential rule", "(c^x)' = c^x*log(c)"),
    ("2^(x*x)", "chain rule, exponential rule", "(c^w)' = c^w*log(c) with w = x*x"),
    ("x^x", "general power rule", "logarithmic differentiation"),
    ("sin(x)", "derivative of sin", "sin'(x) = cos(x)"),
    ("sin(x^2)", "chain rule", "sin'(w) = cos(w) with w = x^2"),
    ("atan2(x, 2)", "derivative of atan2", "∂/∂x atan2(x, 2) = 2/(x^2 + 2^2)"),
    ("hypot(x^2, y)", "chain rule", "∂/∂w hypot(w, y) = w/hypot(w, y)"),
    ("max(x, y)", "derivative of max", "∂/∂x max(x, y) = (1 + sign(x - y))/2; at the "
     "kink: max has a tie; each argument gets derivative 1/2"),
    ("min(x^2, y)", "chain rule", "min has a tie; each argument gets derivative 1/2"),
    ("abs(x)", "derivative of abs",
     "abs'(x) = sign(x); at the kink: abs is not differentiable at 0; its derivative "
     "there is taken as 0"),
    ("relu(x - 1)", "chain rule", "relu is not differentiable at 0; its derivative there is "
     "taken as 0"),
    ("hypot(x, y)", "derivative of hypot", "hypot is not differentiable at (0, 0)"),
])
def test_each_rule_has_its_example(text, rule, detail):
    result = check_all(text)
    step = next(s for s in result.derivations[0].steps if s.rule == rule)
    assert detail in step.detail, step


def test_constant_rule_for_what_does_not_depend_on_x():
    result = check_all("3*x", order=2)
    second = result.derivations[1]
    assert [s.expression for s in second.steps] == ["d/dx(3)", "0"]
    assert second.steps[1].rule == "constant rule"
    assert result.derivative == "0"


def test_let_binding_is_derived_once_and_referred_to():
    result = check_all("u = x*y; sin(u) + u^2")
    derivation = result.derivations[0]
    assert [(b.name, b.expression, b.kind) for b in derivation.bindings] == [("u", "x*y", "let")]
    own = [s for s in derivation.steps if s.of == "u"]
    assert own[0].expression == "d/dx(u)" and own[0].rule == "let-binding"
    assert own[-1].expression == "y"
    main = [s for s in derivation.steps if s.of is None]
    assert main[0].expression == "d/dx(sin(u) + u^2)"
    assert sum("d/dx(u)" in s.expression for s in main) >= 2  # referred to, not derived again
    assert not any(s.expression.startswith("d/dx(x*y)") for s in derivation.steps)
    assert main[-1].rule == "simplify" and "d/dx(u)" in main[-1].detail


def test_a_repeated_subexpression_is_derived_once():
    result = check_all("sin(x*y) + cos(x*y)")
    derivation = result.derivations[0]
    assert [(b.name, b.kind) for b in derivation.bindings] == [("u1", "repeated")]
    assert sum(s.first for s in derivation.steps) == 2
    assert sum(1 for s in derivation.steps if s.of == "u1") == 2


def test_simplification_is_a_step_of_its_own():
    result = check_all("x*x + 0*x")
    last = result.derivations[0].steps[-1]
    assert last.rule == "simplify" and last.expression == "2*x"
    assert result.derivations[0].steps[-2].expression != "2*x"


@pytest.mark.parametrize("prim", sorted((p for p in PRIMITIVES.values()
                                          if p.arity == 1 and p.elementwise
                                          and p.name != "neg"), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_every_function_own_derivative_comes_from_the_table(prim):
    # The detail shows the table's own partial formula, with its argument renamed.
    low, high = prim.smooth_region[0]
    point = {"x": low + 0.75 * (high - low)}
    plain = check_all(f"{prim.name}(x)", point=point)
    step = plain.derivations[0].steps[1]
    assert step.rule == f"derivative of {prim.name}"
    assert step.detail.startswith(f"{prim.name}'(x) = ")
    shown = step.detail.split("; ")[0].removeprefix(f"{prim.name}'(x) = ")
    table = lower(parse(prim.partial_formulas[0]))
    renamed = lower(parse(re.sub(r"\bx\b", "a", shown)))
    assert (renamed.ops, renamed.args, renamed.consts) == (table.ops, table.args, table.consts)
    nested = check_all(f"{prim.name}(x*x/{point['x']})", point=point)
    assert nested.derivations[0].steps[1].rule == "chain rule"
    assert "with w = x*x/" in nested.derivations[0].steps[1].detail


# ----- Every line against the gradient -----

@pytest.mark.parametrize("text", CORPUS)
def test_corpus_lines_equal_the_gradient(text):
    point = {k: v for k, v in CORPUS_POINT.items() if k in chaincli.compile(text).variables}
    for wrt in point:
        for order in (1, 2):
            check_all(text, wrt, order, point, tol=1e-8)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expressions(max_leaves=10), points())
def test_random_expressions_every_line_equals_the_gradient(text, point):
    program = chaincli.compile(text)
    for wrt in program.variables:
        result = differentiate_steps(program, wrt)
        derivation = result.derivations[0]
        check_derivation(derivation, text, point, tol=1e-7)
        assert result.derivative == differentiate(program, wrt).text
        assert derivation.omitted_steps == 0 or len(derivation.steps) <= MAX_LINES + 2


def test_random_lines_are_complete_only_without_pending_derivatives():
    result = check_all("u = exp(x); v = u*sin(x); v/(1 + u) + v^2")
    for step in result.derivations[0].steps:
        assert step.complete == ("d/dx(" not in step.expression)


# ----- The value at a point -----

def test_value_at_a_point_equals_grad_to_the_last_bit(run):
    expr = "u = x*y; exp(sin(u))/(1 + u^2) + atan2(x, y)"
    code, out, err = run("diff", expr, "--wrt", "x", "--steps", "--at", "x=0.3,y=1.7",
                         "--json")
    assert code == 0, err
    data = json.loads(out)
    code, out, err = run("grad", expr, "--at", "x=0.3,y=1.7", "--json")
    gradient = json.loads(out)["gradient"]["x"]
    assert data["value"] == gradient
    assert data["steps"][-1]["expression"] == repr(gradient)
    assert data["steps"][-1]["rule"] == "value at x = 0.3, y = 1.7"
    # The last line is the derivative in the names of the bindings listed;
    # "derivative" is the whole, which parses back.
    bindings = "".join(f"{b['name']} = {b['expression']}; " for b in data["bindings"]
                       if b["name"] in ("u", "u1", "u2"))
    assert data["derivative"] == bindings + data["steps"][-2]["expression"]
    assert data["point"] == {"x": 0.3, "y": 1.7}


def test_second_order_value_equals_the_hessian(cli):
    expr = "x^3*y + sin(x*y)"
    code, out, _ = cli("diff", expr, "--wrt", "y", "--order", "2", "--steps", "--at",
                       "x=1.5,y=0.5", "--json")
    data = json.loads(out)
    code, out, _ = cli("hessian", expr, "--at", "x=1.5,y=0.5", "--json")
    assert data["value"] == json.loads(out)["hessian"][1][1]


def test_order_two_derives_the_first_then_the_second():
    result = check_all("x^3*sin(x)", order=2)
    first, second = result.derivations
    assert (first.order, second.order) == (1, 2)
    assert second.steps[0].expression == f"d/dx({first.derivative})"
    assert result.derivative == differentiate(chaincli.compile("x^3*sin(x)"), "x", 2).text
    data = result.to_dict()
    assert [s["order"] for s in data["steps"]] == [1] * len(first.steps) + [2] * len(second.steps)


def test_order_zero_restates_the_expression():
    result = steps_of("x*1 + 0", order=0)
    assert [s.expression for s in result.derivations[0].steps] == ["x*1 + 0", "x"]
    assert result.derivative == "x"


def test_kink_at_the_point_is_warned_and_still_answered(cli):
    code, out, err = cli("diff", "abs(x)", "--wrt", "x", "--steps", "--at", "x=0", "-f", "text")
    assert code == 0 and "Warning: abs(x): abs is not differentiable at 0" in err
    assert out.splitlines()[-1].startswith("= 0.0 ")


def test_non_finite_derivative_exits_1_with_the_steps(cli):
    code, out, err = cli("diff", "sqrt(x)", "--wrt", "x", "--steps", "--at", "x=0", "--json")
    assert code == 1 and "Warning:" in err
    assert json.loads(out, parse_constant=pytest.fail)["value"] == "Infinity"


@pytest.mark.parametrize("args, status, message", [
    (["diff", "sin(x)", "--wrt", "x", "--at", "x=1"], 2, "--at gives the value"),
    (["diff", "sin(x)", "--wrt", "x", "--format", "table"], 2, "--format table is for"),
    (["diff", "sin(x)", "--wrt", "y", "--steps"], 2, "--wrt names y"),
    (["diff", "sin(x", "--wrt", "x", "--steps"], 2, "ends too early"),
    (["diff", "x*y", "--wrt", "x", "--steps", "--at", "x=1"], 2, "no value for the variable y"),
    (["diff", "sin(x)", "--wrt", "x", "--steps", "--order", "21"], 2, "--order"),
    (["diff", "log(x)", "--wrt", "x", "--steps", "--at", "x=-1"], 1, "log"),
])
def test_errors_are_one_line_and_no_partial_output(cli, args, status, message):
    code, out, err = cli(*args)
    assert (code, out) == (status, "")
    assert err.startswith("Error: ") and message in err and "Traceback" not in err


# ----- Big inputs -----

def test_a_100000_deep_input_is_bounded(run, tmp_path):
    depth = 100_000
    path = tmp_path / "deep.txt"
    path.write_text("-(" * depth + "x*y" + ")" * depth)
    code, out, err = run("diff", f"@{path}", "--wrt", "x", "--steps", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert len(out) - len(json.dumps(data["expression"])) < 20_000  # it echoes the input
    assert data["derivative"] == "y" == data["steps"][-1]["expression"]
    assert len(data["steps"]) <= MAX_LINES and data["omitted_steps"] > 90_000
    code, out, err = run("diff", f"@{path}", "--wrt", "x", "--steps", "-f", "text")
    assert code == 0 and f"{data['omitted_steps']} steps left out" in out
    assert out.splitlines()[-1].split()[:2] == ["=", "y"]


def test_long_sums_fold_into_named_pieces():
    text = " + ".join(f"sin({k}*x)" for k in range(1, 120))
    result = check_all(text, point={"x": 0.3})
    derivation = result.derivations[0]
    assert derivation.omitted_steps > 0 and len(derivation.steps) <= MAX_LINES
    assert {b.kind for b in derivation.bindings} == {"folded"}
    assert all(len(s.expression) < 400 for s in derivation.steps[:-1])


def test_a_wide_dag_shows_each_shared_piece_once():
    # 2^30 paths, 30 shared pieces: each derived once, in its own part.
    text = "; ".join(f"u{k} = u{k - 1}*u{k - 1}" if k > 1 else "u1 = x*x"
                     for k in range(1, 31)) + "; u30"
    result = differentiate_steps(chaincli.compile(text), "x")
    derivation = result.derivations[0]
    firsts = [s.of for s in derivation.steps if s.first]
    assert len(firsts) == len(set(firsts))
    assert len(derivation.steps) <= MAX_LINES
    assert result.derivative == differentiate(chaincli.compile(text), "x").text


# ----- LaTeX -----

def _latex_of(cli, *args):
    code, out, err = cli("diff", *args, "--steps", "--format", "latex")
    assert code == 0, err
    return out


@pytest.mark.parametrize("args", [
    ("sin(x^2)", "--wrt", "x"),
    ("exp(x*y)/x", "--wrt", "x", "--at", "x=1,y=2"),
    ("u = x*y; sin(u) + u^2", "--wrt", "x", "--order", "2"),
    ("theta_1^2*abs(speed)", "--wrt", "theta_1"),
])
def test_latex_is_an_align_block_with_a_rule_per_step(cli, args):
    out = _latex_of(cli, *args)
    blocks = re.findall(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}\n", out, flags=re.S)
    assert blocks and out.rstrip().endswith(r"\end{align*}")
    for block in blocks:
        rows = block.split(" \\\\\n")
        for row in rows:
            assert row.count("&=") == 1 or row.startswith(r"&\phantom{=} \text{where }"), row
            assert "d/d" not in row and ";" not in row
            _assert_balanced(row)
        ruled = [row for row in rows if "&&" in row]
        assert all(re.search(r"&& (\\text\{[a-z ,-]+\}|\\text\{at \} .+)$", row)
                   for row in ruled), ruled
    assert r"\frac{d}{d " in out


def _assert_balanced(row):
    depth = 0
    for k, ch in enumerate(row):
        if ch in "{}" and k and row[k - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, row
    assert depth == 0, row
    assert row.count(r"\left") == row.count(r"\right"), row


def test_latex_escapes_the_text_it_writes():
    from chaincli.render.derivation import _latex_text
    assert _latex_text("a_b^c & 50% {x} #1 ~ \\") == \
        r"a\_b\^{}c \& 50\% \{x\} \#1 \~{} \textbackslash{}"


def test_every_format_for_the_same_derivation_has_the_same_lines(cli):
    args = ("u = x*y; sin(u) + u^2", "--wrt", "x", "--steps")
    code, out, _ = cli("diff", *args, "--json")
    data = json.loads(out)
    code, text, _ = cli("diff", *args, "--format", "text")
    for step in data["steps"]:
        assert step["expression"] in text
    assert text.startswith("where u = x*y\n")


def test_derive_on_a_tape_is_the_library_entry():
    derivation = derive(lower(parse("x^2")), "x")
    assert [s.expression for s in derivation.steps] == ["d/dx(x^2)", "2*x"]
    assert derivation.derivative == "2*x"


def test_random_point_checks_use_fixed_seeds():
    rng = random.Random("steps")
    for _ in range(5):
        point = {"x": rng.uniform(0.2, 2.0), "y": rng.uniform(0.2, 2.0)}
        check_all("x^y*log(x + y) - hypot(x, y)/atan(x*y)", point=point)
        check_all("x^y*log(x + y) - hypot(x, y)/atan(x*y)", wrt="y", point=point)


def test_the_readme_example_is_what_chaincli_prints(run):
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```console\n\$ (chaincli diff [^\n]*--steps[^\n]*)\n(.*?)```", readme,
                      flags=re.S)
    import shlex
    words = shlex.split(block.group(1))
    code, out, err = run(*words[1:])
    assert code == 0, err
    from golden import assert_matches
    assert_matches(block.group(2), out, what="the README's diff --steps example")


def test_a_negative_term_is_subtracted_not_added():
    result = check_all("x - x")
    assert [s.expression for s in result.derivations[0].steps] == ["d/dx(x - x)", "1 - 1", "0"]
    result = check_all("sin(x) + cos(x)")
    assert result.derivations[0].steps[-1].expression == "cos(x) - sin(x)"
    assert result.derivations[0].steps[-1].rule == "derivative of cos"
    result = check_all("x - cos(x)")
    assert result.derivations[0].steps[-1].expression == "1 + sin(x)"


# ----- Any input: a derivation or a clean refusal -----

_FUZZ = settings(max_examples=60, derandomize=True, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                        HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])


@_FUZZ
@given(text=__import__("test_fuzz").grammar_strategy(),
       fmt=__import__("hypothesis").strategies.sampled_from(["json", "text", "latex",
                                                             "table"]))
def test_grammar_shaped_programs_keep_the_contract(cli, text, fmt):
    from clicheck import check_run
    code, out, err = cli("diff", "--wrt", "x", "--steps", "--at", "x=0.5,y=-1.5,u=2,z=0,w=1",
                         "--format", fmt, "--", text)
    check_run(code, out, err, json_output=fmt == "json")


@_FUZZ
@given(text=__import__("test_fuzz").mutated_expressions())
def test_mutated_expressions_keep_the_contract(cli, text):
    from clicheck import check_run
    if "\x00" in text:
        return
    code, out, err = cli("diff", "--wrt", "x", "--steps", "--order", "2", "--json", "--",
                         text)
    check_run(code, out, err, json_output=True)
    if code == 0:
        data = json.loads(out)
        assert_last_line_is_the_derivative(data)


def assert_last_line_is_the_derivative(data, point=None):
    """The last line, read with the bindings listed, is ``derivative`` (the whole)."""
    from types import SimpleNamespace
    from chaincli.base.errors import ChaincliError
    last = data["steps"][-1]["expression"]
    if "; " not in data["derivative"]:
        assert data["derivative"] == last
        return
    bindings = [SimpleNamespace(**b) for b in data["bindings"] if b["order"] == data["order"]]
    whole = chaincli.compile(data["derivative"])
    line = chaincli.compile(_with_bindings(last, bindings))
    assert set(line.variables) == set(whole.variables)
    point = point or {name: 0.3 + 0.2 * k for k, name in enumerate(whole.variables)}
    try:
        expected = whole.value(point)
    except ChaincliError:
        return
    got = line.value(point)
    assert got == expected or (got != got and expected != expected), (last, data)


@pytest.mark.parametrize("fmt", ["text", "table"])
def test_an_ascii_terminal_gets_stand_ins(run, fmt):
    code, out, err = run("diff", "max(x, y^2)", "--wrt", "x", "--steps", "--format", fmt,
                         env={"PYTHONIOENCODING": "ascii"})
    assert code == 0, err
    assert "d/dx max(x, w)" in out and "∂" not in out


# ----- The last line is a formula, not a program -----

def test_the_last_line_uses_the_names_the_table_lists(run):
    expr = "q = x*y; sin(q) + q^2"
    code, out, err = run("diff", "--steps", expr, "--wrt", "x", "--format", "text")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "where q = x*y"
    assert re.match(r"= cos\(q\)\*y \+ 2\*\(q\*y\) +simplify", lines[-1])
    assert "q = x*y; cos" not in out
    code, out, err = run("diff", "--steps", expr, "--wrt", "x", "--json")
    data = json.loads(out)
    assert data["derivative"] == "q = x*y; cos(q)*y + 2*(q*y)"
    assert data["steps"][-1]["expression"] == "cos(q)*y + 2*(q*y)"
    assert_last_line_is_the_derivative(data)
    code, out, err = run("diff", "--steps", expr, "--wrt", "x", "--format", "latex")
    assert r"&= \cos\left(q\right) y + 2 \left(q y\right) && \text{simplify}" in out
    assert "where" not in out


@pytest.mark.parametrize("expr", ["exp(x)*exp(x)*x", "sin(x*y) + cos(x*y)",
                                  "u1 = x*x; exp(u1)*sin(u1) + sqrt(x+1)*cos(x+1)",
                                  "sin(x^2)^2"])
def test_a_piece_only_the_derivative_binds_is_listed_under_a_name_of_its_own(run, expr):
    code, out, err = run("diff", "--steps", expr, "--wrt", "x", "--json")
    assert code == 0, err
    data = json.loads(out)
    last = data["steps"][-1]["expression"]
    assert ";" not in last and " = " not in last
    names = [b["name"] for b in data["bindings"]]
    assert len(names) == len(set(names))  # no name stands for two things
    assert_last_line_is_the_derivative(data)


def test_exp_squared_keeps_u1_for_the_input_piece(run):
    code, out, err = run("diff", "--steps", "exp(x)*exp(x)*x", "--wrt", "x", "--format",
                         "text")
    assert code == 0, err
    assert "where u1 = exp(x)\nwhere u2 = exp(x)^2\n" in out
    assert out.splitlines()[-1].startswith("= 2*(x*u2) + u2 ")


def test_order_zero_ends_in_names_too(run):
    code, out, err = run("diff", "--steps", "exp(x)*exp(x) + exp(x)*x", "--wrt", "x",
                         "--order", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["steps"][-1]["expression"] == "u1^2 + u1*x"
    assert data["bindings"] == [{"name": "u1", "expression": "exp(x)", "kind": "repeated",
                                 "order": 0}]
    assert_last_line_is_the_derivative(data)


# ----- A value that is not finite, in words -----

@pytest.mark.parametrize("expr, words", [("sqrt(x)", "infinity"),
                                         ("-sqrt(x)", "minus infinity")])
def test_a_value_that_is_not_finite_is_said_in_words(run, expr, words):
    for fmt in ("text", "table"):
        code, out, err = run("diff", "--steps", expr, "--wrt", "x", "--at", "x=0",
                             "--format", fmt)
        assert code == 1 and "is infinite at x = 0" in err
        assert any(re.match(rf"=  ?{words} +value at x = 0", line)
                   for line in out.splitlines()), out
        assert not re.search(r"\b(inf|nan)\b", out)
    code, out, err = run("diff", "--steps", expr, "--wrt", "x", "--at", "x=0", "--json")
    data = json.loads(out)
    assert data["steps"][-1]["expression"] == words
    assert data["value"] in ("Infinity", "-Infinity")


def test_nan_is_undefined_in_words():
    from chaincli.explain.derivation import StepsResult
    result = StepsResult("x", "x", 1, [], point={"x": 0.0}, value=math.nan)
    assert result.value_step().expression == "undefined (NaN)"
    result.value = 2.5
    assert result.value_step().expression == "2.5"
