"""The shipped LALR tables: made from the shipped grammar, used without Lark or caches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import chaincli
from chaincli.language import _parser_tables, literals, parser as syntax
from chaincli.language.lalr import Parser
from chaincli.language.tables import make_tables

TABLE_NAMES = ("GRAMMAR", "TERMINALS", "IGNORE", "RULES", "STATES", "START", "END")


def test_shipped_tables_were_made_from_the_shipped_grammar():
    grammar = Path(syntax.GRAMMAR_PATH).read_text(encoding="utf-8")
    assert _parser_tables.GRAMMAR == grammar
    fresh = make_tables(grammar)
    for name in TABLE_NAMES:
        assert getattr(_parser_tables, name) == fresh[name], name


def test_installed_package_uses_the_shipped_tables():
    assert syntax.load_tables() is _parser_tables


def test_tables_not_matching_the_grammar_are_made_again(monkeypatch):
    monkeypatch.setattr(_parser_tables, "GRAMMAR", "start: NAME\n")
    tables = syntax.load_tables()
    assert tables is not _parser_tables
    assert tables.STATES == _parser_tables.STATES
    parser = Parser(tables, postlex=syntax._paren_newlines)
    program = parser.parse("u = x*y; sin(u) + u^2", syntax._ASTBuilder())
    assert program == syntax._parser().parse("u = x*y; sin(u) + u^2", syntax._ASTBuilder())


def test_parsing_reads_no_cache_and_imports_neither_lark_nor_pickle(tmp_path):
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    code = ("import sys, chaincli; f = chaincli.compile('u = x*y\\nsin(u) + (u\\n^2)');"
            "f.gradient({'x': 1.0, 'y': 2.0});"
            "bad = [m for m in ('lark', 'pickle', 'interegular') if m in sys.modules];"
            "assert not bad, bad")
    env = {"HOME": str(home), "TMPDIR": str(temp), "XDG_CACHE_HOME": str(home / ".cache"),
           "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env,
                   cwd=Path(__file__).parent)
    assert list(home.iterdir()) == [] and list(temp.iterdir()) == []


def test_deeply_nested_input_parses_without_recursion():
    depth = 100_000
    text = "(" * depth + "x" + ")" * depth + " + " + "-" * depth + "x"
    assert chaincli.compile(text).value({"x": 2.0}) == 2.0 + 2.0


def _spliced_while_parsing(text: str) -> int:
    parser = syntax._parser()
    before = parser.spliced
    syntax.parse(text)
    return parser.spliced - before


def test_long_lists_are_parsed_without_copying_them_at_every_element(monkeypatch):
    # Long literals of numbers are read whole; here the grammar's path is timed.
    monkeypatch.setattr(literals, "MINIMUM", 10**9)
    # Children copied between reductions' lists: linear in the input, not
    # quadratic (a list copied into a new one at each element).
    for make in (lambda n: "[" + ",".join(["1"] * n) + "]",
                 lambda n: "max(" + ",".join(["x"] * n) + ")",
                 lambda n: "".join(f"a{i} = {i}\n" for i in range(n)) + "a0"):
        small, large = _spliced_while_parsing(make(1_000)), _spliced_while_parsing(make(10_000))
        assert large <= 11 * small
        assert large <= 4 * 10_000


def test_a_long_literal_keeps_every_element_in_order(monkeypatch):
    text = "[" + ",".join(str(i) for i in range(50_000)) + ",]"
    assert list(syntax.parse(text).output.values) == list(range(50_000))
    monkeypatch.setattr(literals, "MINIMUM", 10**9)
    program = syntax.parse(text)
    assert [node.value for node in program.output.elements] == list(range(50_000))
    start = sum(len(str(i)) + 1 for i in range(12_345)) + 1
    assert program.output.elements[12_345].span == (start, start + 5)
