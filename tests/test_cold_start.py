"""What a one-shot answer imports, and the hand-written pieces that keep it small.

A plain ``grad`` or ``eval`` must start fast (bench/run.py times it against
qalc), so the modules below stay off its path: ``dataclasses`` (which brings
``inspect``, ``ast``, ``dis``, ``tokenize``), ``typing``, ``numbers``,
``difflib``, NumPy, Lark, Typer and Rich; ``json`` only for ``--json``. The
records of ``base.record`` stand in for dataclasses, and a few patterns are
checked by hand where ``re`` would be compiled on every run: those are
compared here with the patterns they replace.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from chaincli.base.record import Frozen, Record
from chaincli.base.text import NAME, is_name
from chaincli.engine.results import GradientResult, Notice
from chaincli.explain.chain import instantiate
from chaincli.io.point import _split_pairs
from chaincli.language.nodes import Binary, Name, Number
from chaincli.primitives import PRIMITIVES

HEAVY = ("dataclasses", "inspect", "ast", "dis", "tokenize", "typing", "numbers", "difflib",
         "copy", "numpy", "lark", "typer", "click", "rich")


def _imported(argv: list[str], tmp_path) -> tuple[str, list[str]]:
    """stdout of the console entry point run on ``argv``, and the modules it imported."""
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write(repr(sorted(sys.modules))))\n"
            f"sys.argv = ['chaincli', *{argv!r}]\n"
            "from chaincli.cli.fast import main\n"
            "main()\n")
    env = {k: v for k, v in os.environ.items() if k != "_CHAINCLI_COMPLETE"}
    env["COLUMNS"] = "80"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)  # not the checkout's chaincli/
    assert done.returncode == 0, done.stderr
    return done.stdout, ast.literal_eval(done.stderr)


@pytest.mark.parametrize("argv, shows, heavy", [
    (["grad", "sin(x*y)", "--at", "x=1,y=2", "--json"], '"y": -0.4161468365471424', HEAVY),
    (["grad", "sin(x*y)", "--at", "x=1,y=2"], "∂f/∂x: 1 path", HEAVY + ("json",)),
    (["grad", "sin(x*y)", "--at", "x=1,y=2", "--format", "plain"], "x -0.83229",
     HEAVY + ("json",)),
    (["eval", "sin(x*y)", "--at", "x=1,y=2", "--json"], '{"value": 0.9092974268256817}',
     HEAVY),
    (["grad", "x*y + sin(z)", "--at", "x=3,y=2", "--at", "z=0", "--json"], '"x": 2.0', HEAVY),
], ids=["grad --json", "grad table", "grad plain", "eval --json", "two --at"])
def test_a_one_shot_answer_imports_nothing_heavy(tmp_path, argv, shows, heavy):
    out, modules = _imported(argv, tmp_path)
    assert shows in out
    loaded = sorted({name.split(".")[0] for name in modules} & set(heavy))
    assert loaded == [], f"{' '.join(argv)} imported {loaded}"


def test_the_heavy_modules_are_seen_when_they_are_imported(tmp_path):
    """The check above can fail: an unknown function's suggestion loads difflib."""
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write(repr(sorted(sys.modules))))\n"
            "sys.argv = ['chaincli', 'grad', 'sinn(x)', '--at', 'x=1', '--json']\n"
            "from chaincli.cli.fast import main\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "did you mean sin?" in done.stderr
    modules = ast.literal_eval(done.stderr[done.stderr.index("['"):])
    assert "difflib" in modules


# ----- Records: what the dataclasses they replace gave -----

def test_records_compare_print_and_hash_as_dataclasses_did():
    a = Notice("kink", "abs(x) at 0", node="v1", variables=("x",))
    b = Notice("kink", "abs(x) at 0", node="v1", variables=("x",))
    assert a == b and hash(a) == hash(b) and a != Notice("kink", "other")
    assert repr(a) == ("Notice(kind='kink', message='abs(x) at 0', node='v1', "
                       "expression=None, variables=('x',))")
    assert a.__eq__(("kink",)) is NotImplemented
    left = Binary("*", Name("x", (0, 1)), Number(2.0, "2", (2, 3)), (0, 3), (1, 2))
    again = Binary("*", Name("x", (0, 1)), Number(2.0, "2", (2, 3)), (0, 3), (1, 2))
    assert left == again and {left: 1}[again] == 1
    assert repr(left).startswith("Binary(op='*', left=Name(name='x', span=(0, 1)), ")
    with pytest.raises(AttributeError):
        left.colour = "red"  # slots: no field that the record does not name


def test_a_mutable_record_is_unhashable_and_leaves_its_cache_out_of_eq():
    first = GradientResult("x", {"x": 1.0}, 1.0, {"x": 1.0}, "reverse")
    second = GradientResult("x", {"x": 1.0}, 1.0, {"x": 1.0}, "reverse", evaluation=object())
    assert first == second and first.warnings == [] and first.warnings is not second.warnings
    assert "evaluation" not in repr(second)
    with pytest.raises(TypeError):
        hash(first)
    assert issubclass(GradientResult, Record) and not issubclass(GradientResult, Frozen)


def test_a_primitive_is_replaced_field_by_field():
    sin = PRIMITIVES["sin"]
    changed = sin.replace(description="changed")
    assert changed.description == "changed" and changed.value is sin.value
    assert changed != sin and sin.replace() == sin
    assert [name for name in sin._fields[:6]] == ["name", "arity", "value", "partials",
                                                  "partial_formulas", "latex"]
    with pytest.raises(TypeError, match="colour"):
        sin.replace(colour="red")


# ----- Patterns checked by hand, against the patterns they replace -----

_TEXT = st.text(alphabet=st.sampled_from(list("about_xyzé1.9(),=[ \t\u2003δ")), max_size=14)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_TEXT, st.text(max_size=6)))
def test_is_name_is_the_grammars_name(text):
    assert is_name(text) == (re.fullmatch(NAME, text) is not None)


@settings(max_examples=400, deadline=None)
@given(_TEXT.filter(lambda text: "[" not in text))
def test_pairs_split_where_the_pattern_split_them(spec):
    assert _split_pairs(spec) == re.split(r",(?=\s*" + NAME + r"\s*=)", spec)


_FORMULA_NAME = re.compile(r"(?<![A-Za-z0-9_.])(a|b|out)(?![A-Za-z0-9_(])|δ")


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.dictionaries(st.sampled_from(["a", "b", "out", "δ"]),
                              st.sampled_from(["x", "v2", "out", "a", "δv1"])))
def test_formula_names_are_replaced_where_the_pattern_replaced_them(formula, names):
    expected = _FORMULA_NAME.sub(lambda m: names.get(m.group(0), m.group(0)), formula)
    assert instantiate(formula, names) == expected


def test_every_formula_of_the_table_is_written_as_the_pattern_wrote_it():
    names = {"a": "b", "b": "a", "out": "f", "δ": "δv3"}
    for primitive in PRIMITIVES.values():
        for formula in primitive.partial_formulas:
            expected = _FORMULA_NAME.sub(lambda m: names.get(m.group(0), m.group(0)), formula)
            assert instantiate(formula, names) == expected, (primitive.name, formula)
