"""Property-based fuzzing of the command line: any input, a clean answer or refusal.

Inputs: random text and bytes, programs generated from the grammar itself
(``hypothesis.extra.lark.from_lark`` on the installed ``chaincli.lark``) and
mutations of valid expressions. Each run goes through the Typer app in
process and must keep the contract in ``clicheck``.

Examples are bounded and derandomized by default, so CI is fast and
repeatable. ``CHAINCLI_FUZZ=long python3 -m pytest tests/test_fuzz.py`` runs
a long randomized search (see the README's Development section); add any
input it finds to ``tests/corpus/regressions.json``.
"""

from __future__ import annotations

import os
from importlib.resources import files

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from chaincli.primitives import callable_names
from clicheck import check_run
from expressions import CORPUS

# The cli fixture is stateless (a fresh CliRunner call per input), so sharing it is safe.
_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
          HealthCheck.function_scoped_fixture]
settings.register_profile("chaincli-fuzz-ci", max_examples=200, derandomize=True,
                          deadline=None, suppress_health_check=_QUIET)
settings.register_profile("chaincli-fuzz-long", max_examples=5000, derandomize=False,
                          deadline=None, suppress_health_check=_QUIET)
FUZZ = settings(settings.get_profile(f"chaincli-fuzz-{os.environ.get('CHAINCLI_FUZZ', 'ci')}"))

POINT = "x=0.5,y=-1.5,u=2,z=0"


def grammar_strategy():
    """Programs drawn from the shipped grammar.

    The generator needs only the grammar, not the parser's post-lexer, so a
    plain LALR ``Lark`` object is built from the same file. Names and numbers
    are drawn from lists that mean something (and end in a space, since the
    generator concatenates tokens without the ignored whitespace between).
    """
    text = files("chaincli").joinpath("grammar", "chaincli.lark").read_text(encoding="utf-8")
    grammar = Lark(text, parser="lalr", lexer="contextual")
    names = st.sampled_from(["x", "y", "u", "z", "pi", "e", "w"] + callable_names())
    numbers = st.sampled_from(["0", "1", "2", "0.5", ".5", "1e-3", "1e308", "9", "1e400",
                               "00", "3.", "1E+2", "0e0"])
    # Short stand-ins for the ignored terminals keep generation fast; comments
    # still carry hostile characters.
    ignored = {name: st.sampled_from([" ", "\t", "\r", "\f"])
               for name in grammar.ignore_tokens if name != "COMMENT"}
    comments = st.sampled_from(["#", "# note", "# \x1b[2J", "# π ∂ \u202e", "#\r"])
    return from_lark(grammar, explicit={"NAME": names.map(lambda s: s + " "),
                                        "NUMBER": numbers.map(lambda s: s + " "),
                                        "COMMENT": comments, **ignored})


# Characters worth inserting: the grammar's own, and ones that look like them.
_MUTATION_CHARS = list("()+-*/^,;=#. \n\t0123456789xye") + [
    "**", "sin(", ")", "√", "π", "²", "ｘ", "\u00a0", "\x00", "\x1b", "\ufeff", "−", "9^9^9"]


@st.composite
def mutated_expressions(draw):
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "swap"]))
        if action == "insert":
            text = text[:position] + draw(st.sampled_from(_MUTATION_CHARS)) + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 3)):]
        elif action == "duplicate":
            end = min(len(text), position + draw(st.integers(1, 8)))
            text = text[:end] + text[position:end] + text[end:]
        elif position + 1 < len(text):
            text = (text[:position] + text[position + 1] + text[position]
                    + text[position + 2:])
    return text


def _run_all_formats(cli, text: str) -> None:
    if "\x00" in text:  # argv cannot hold NUL: send it on stdin
        code, out, err = cli("grad", "-", "--at", POINT, "--json", input=text.encode())
        check_run(code, out, err, json_output=True)
        return
    # "--" ends the options, so text starting with "-" is still the expression.
    code, out, err = cli("grad", "--at", POINT, "--json", "--", text)
    check_run(code, out, err, json_output=True)
    code, out, err = cli("eval", "--at", POINT, "--format", "plain", "--", text)
    check_run(code, out, err, json_output=False)


# Generating from the grammar is slow in hypothesis; a quarter of the examples.
GRAMMAR_FUZZ = settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 4))


@GRAMMAR_FUZZ
@given(text=grammar_strategy(), fmt=st.sampled_from(["json", "plain", "table"]))
def test_grammar_shaped_programs(cli, text, fmt):
    code, out, err = cli("grad", "--at", POINT, "--format", fmt, "--", text)
    check_run(code, out, err, json_output=fmt == "json")
    code, out, err = cli("eval", "--at", POINT, "--json", "--", text)
    check_run(code, out, err, json_output=True)


@FUZZ
@given(text=mutated_expressions())
def test_mutated_expressions(cli, text):
    _run_all_formats(cli, text)


@FUZZ
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_random_text(cli, text):
    _run_all_formats(cli, text)


@FUZZ
@given(data=st.binary(max_size=80))
def test_random_bytes_on_stdin(cli, data):
    code, out, err = cli("grad", "-", "--at", POINT, "--json", input=data)
    check_run(code, out, err, json_output=True)


@FUZZ
@given(spec=st.text(alphabet="xyz=,.-+e0123456789@ pi()/", max_size=30))
def test_random_point_specs(cli, spec):
    code, out, err = cli("grad", "x*y + z", "--at", spec, "--json")
    check_run(code, out, err, json_output=True)
