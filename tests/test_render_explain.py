"""The explanation tables, rendered on a fixed console and compared exactly.

Expected texts keep the trailing spaces Rich writes after centred titles.
"""

from __future__ import annotations

import io
import json
import math
import re

import pytest
from rich.console import Console

import chaincli
from chaincli.explain.chain import explain
from chaincli.render.table import make_console, print_gradient

SIN_XY = ("sin(x*y)", {"x": 1.0, "y": 2.0})


def render(text: str, point: dict, view: str, width: int, file=None, **options) -> str:
    result = chaincli.compile(text).gradient(point)
    file = file or io.StringIO()
    console = Console(width=width, file=file, color_system=None)
    print_gradient(result, explain(result, view, **options), console)
    if isinstance(file, io.TextIOWrapper):
        file.flush()
        return file.buffer.getvalue().decode(file.encoding)
    return file.getvalue()


SUMMARY = """\
f = sin(x*y)
at x = 1.0, y = 2.0
f = 0.9092974268256817
     gradient (reverse mode)      
┏━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━┓
┃ variable ┃        ∂f/∂variable ┃
┡━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━┩
│ x        │ -0.8322936730942848 │
│ y        │ -0.4161468365471424 │
└──────────┴─────────────────────┘
"""

PATHS_80 = SUMMARY + """\
            where             
┏━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━┓
┃ node ┃ stands for ┃  value ┃
┡━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━┩
│ v2   │ x*y        │      2 │
│ f    │ sin(v2)    │ 0.9093 │
└──────┴────────────┴────────┘
                 ∂f/∂x: 1 path                  
┏━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┓
┃ # ┃ path, local partials          ┃  product ┃
┡━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━┩
│ 1 │ f → v2 → x                    │ -0.83229 │
│   │   ∂f/∂v2 = cos(v2) = -0.41615 │          │
│   │   ∂v2/∂x = y = 2              │          │
├───┼───────────────────────────────┼──────────┤
│   │ sum = ∂f/∂x                   │ -0.83229 │
└───┴───────────────────────────────┴──────────┘
                 ∂f/∂y: 1 path                  
┏━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┓
┃ # ┃ path, local partials          ┃  product ┃
┡━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━┩
│ 1 │ f → v2 → y                    │ -0.41615 │
│   │   ∂f/∂v2 = cos(v2) = -0.41615 │          │
│   │   ∂v2/∂y = x = 1              │          │
├───┼───────────────────────────────┼──────────┤
│   │ sum = ∂f/∂y                   │ -0.41615 │
└───┴───────────────────────────────┴──────────┘
"""


PATHS_40 = SUMMARY + """\
            where             
┏━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━┓
┃ node ┃ stands for ┃  value ┃
┡━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━┩
│ v2   │ x*y        │      2 │
│ f    │ sin(v2)    │ 0.9093 │
└──────┴────────────┴────────┘
             ∂f/∂x: 1 path              
┏━━━┳━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┓
┃ # ┃ path, local partials  ┃  product ┃
┡━━━╇━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━┩
│ 1 │ f → v2 → x            │ -0.83229 │
│   │   ∂f/∂v2 = cos(v2) =  │          │
│   │ -0.41615              │          │
│   │   ∂v2/∂x = y = 2      │          │
├───┼───────────────────────┼──────────┤
│   │ sum = ∂f/∂x           │ -0.83229 │
└───┴───────────────────────┴──────────┘
             ∂f/∂y: 1 path              
┏━━━┳━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┓
┃ # ┃ path, local partials  ┃  product ┃
┡━━━╇━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━┩
│ 1 │ f → v2 → y            │ -0.41615 │
│   │   ∂f/∂v2 = cos(v2) =  │          │
│   │ -0.41615              │          │
│   │   ∂v2/∂y = x = 1      │          │
├───┼───────────────────────┼──────────┤
│   │ sum = ∂f/∂y           │ -0.41615 │
└───┴───────────────────────┴──────────┘
"""


FORWARD_80 = SUMMARY + """\
          forward sweep 1 of 2: seed x = 1           
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━┓
┃ entry, local partials         ┃  value ┃  tangent ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━┩
│ x (input)                     │      1 │        1 │
│ y (input)                     │      2 │        0 │
│ v2 = x*y                      │      2 │        2 │
│   ∂v2/∂x = y = 2              │        │          │
│   ∂v2/∂y = x = 1              │        │          │
│ f = sin(v2)                   │ 0.9093 │ -0.83229 │
│   ∂f/∂v2 = cos(v2) = -0.41615 │        │          │
└───────────────────────────────┴────────┴──────────┘
  tangent = sum over the arguments of local partial  
                 times their tangent                 
          forward sweep 2 of 2: seed y = 1           
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━┓
┃ entry, local partials         ┃  value ┃  tangent ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━┩
│ x (input)                     │      1 │        0 │
│ y (input)                     │      2 │        1 │
│ v2 = x*y                      │      2 │        1 │
│   ∂v2/∂x = y = 2              │        │          │
│   ∂v2/∂y = x = 1              │        │          │
│ f = sin(v2)                   │ 0.9093 │ -0.41615 │
│   ∂f/∂v2 = cos(v2) = -0.41615 │        │          │
└───────────────────────────────┴────────┴──────────┘
  tangent = sum over the arguments of local partial  
                 times their tangent                 
"""


REVERSE_40 = SUMMARY + """\
  reverse sweep, from the output down   
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━┓
┃ entry, local     ┃        ┃          ┃
┃ partials         ┃  value ┃  adjoint ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━┩
│ f = sin(v2)      │ 0.9093 │        1 │
│   ∂f/∂v2 =       │        │          │
│ cos(v2) =        │        │          │
│ -0.41615         │        │          │
│ v2 = x*y         │      2 │ -0.41615 │
│   ∂v2/∂x = y = 2 │        │          │
│   ∂v2/∂y = x = 1 │        │          │
│ y (input)        │      2 │ -0.41615 │
│ x (input)        │      1 │ -0.83229 │
└──────────────────┴────────┴──────────┘
adjoint of v = ∂f/∂v, passed down times 
  each local partial: one sweep gives   
             every partial              
"""


def test_sin_xy_paths_at_80_columns():
    assert render(*SIN_XY, "paths", 80) == PATHS_80


def test_sin_xy_paths_at_40_columns_fold_but_keep_every_number():
    assert render(*SIN_XY, "paths", 40) == PATHS_40


def test_sin_xy_forward_trace():
    assert render(*SIN_XY, "forward", 80) == FORWARD_80


def test_sin_xy_reverse_trace_at_40_columns():
    assert render(*SIN_XY, "reverse", 40) == REVERSE_40


def test_none_view_prints_only_value_and_gradient():
    assert render(*SIN_XY, "none", 80) == SUMMARY


@pytest.mark.parametrize("width", [40, 80])
def test_every_number_survives_any_width(width):
    # 5-significant-digit numbers may fold across lines but never lose a digit.
    text = render("u = x*y; sin(u) + u^2 + exp(-x)", {"x": 0.7, "y": 1.3}, "paths", width)
    flat = re.sub(r"[│┃\s]+", "", text)
    result = chaincli.compile("u = x*y; sin(u) + u^2 + exp(-x)").gradient({"x": 0.7, "y": 1.3})
    for variable in explain(result).chain.variables:
        for path in variable.paths:
            assert format(path.product, ".5g") in flat
        assert format(variable.total, ".5g") in flat


def test_long_chain_gives_a_short_table_with_the_count_and_the_rest():
    text = "; ".join(["u1 = x*x"] + [f"u{i} = u{i - 1}*u{i - 1}" for i in range(2, 31)])
    out = render(text + "; u30", {"x": 1.0}, "paths", 80)
    assert "∂f/∂x: 1,073,741,824 paths" in out
    assert "1,073,741,808 more paths, summed from the adjoints" in out
    assert "16 of 1,073,741,824 paths listed" in out
    assert "… 24 more steps" in out
    assert len(out.splitlines()) < 250


def test_ascii_output_when_the_encoding_cannot_carry_the_symbols():
    file = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    out = render("sin(x*y) # café", SIN_XY[1], "reverse", 80, file=file)
    assert "df/dv2 = cos(v2) = -0.41615" in out
    assert "f = sin(x*y) # cafe" in out
    assert "+---" in out or "|" in out
    file = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    out = render(*SIN_XY, "paths", 80, file=file)
    assert "f -> v2 -> x" in out and "sum = df/dx" in out


def test_no_path_and_long_path_rows():
    out = render("u = z; x", {"x": 1.0, "z": 2.0}, "paths", 80)
    assert "no path: f does not depend on z" in out
    assert "(no steps: x is the output)" in out
    depth = 40
    out = render("sin(" * depth + "x" + ")" * depth, {"x": 0.5}, "paths", 80)
    assert "… 34 more steps" in out
    assert "f → v39 → v38 → v37 → … → v3 → v2 → v1 → x" in out


@pytest.mark.parametrize("view", ["paths", "forward", "reverse"])
def test_a_constant_prints_only_its_value(view):
    assert render("2", {}, view, 80) == render("2", {}, "none", 80)


def test_caption_says_why_paths_were_cut(monkeypatch):
    from chaincli.explain import chain as explain_module
    text = "u = x*x; v = u*u; w = v*v; w*w"
    assert "2 of 16 paths listed (--max-paths)" in render(text, {"x": 1.0}, "paths", 80,
                                                          max_paths=2)
    monkeypatch.setattr(explain_module, "STEP_BUDGET", 3)
    out = " ".join(render(text, {"x": 1.0}, "paths", 80, max_paths=8).split())
    assert "paths listed (the paths are long, so the search stopped early)" in out


def test_huge_trace_says_how_many_rows_were_cut():
    depth = 200
    out = render("sin(" * depth + "x" + ")" * depth, {"x": 0.5}, "reverse", 80)
    assert "… 141 more entries" in out


def test_user_text_is_never_markup():
    result = chaincli.compile("x # [bold red]not markup[/]").gradient({"x": 1.0})
    console = Console(width=80, file=io.StringIO(), color_system=None)
    print_gradient(result, explain(result), console)
    assert "f = x # [bold red]not markup[/]" in console.file.getvalue()


# ----- Through the command line -----

def test_cli_tables_for_each_view(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2")
    assert code == 0 and "∂f/∂v2 = cos(v2) = -0.41615" in out and "-0.83229" in out
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--explain", "forward")
    assert code == 0 and "forward sweep 2 of 2: seed y = 1" in out and "where" not in out
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "-e", "reverse")
    assert code == 0 and "reverse sweep, from the output down" in out
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--explain", "none")
    assert code == 0 and "∂f/∂v2" not in out and repr(2 * math.cos(2.0)) in out


def test_cli_max_paths(cli):
    code, out, _ = cli("grad", "u = x*x; u*u", "--at", "x=1.5", "--max-paths", "1")
    assert code == 0 and "3 more paths, summed from the adjoints" in out
    code, _, err = cli("grad", "x", "--at", "x=1", "--max-paths", "-1")
    assert code == 2 and "--max-paths" in err


def test_cli_json_chain_and_trace(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--json", "--explain", "forward")
    data = json.loads(out)
    x = data["chain"]["variables"]["x"]
    assert x["path_count"] == 1 and x["truncated"] is False and x["total"] == data["gradient"]["x"]
    assert x["paths"][0]["factors"][0] == {"of": "f", "wrt": "v2", "argument": 0,
                                           "formula": "cos(v2)", "value": math.cos(2.0)}
    assert data["trace"]["kind"] == "forward" and data["trace"]["seeds"] == [{"x": 1.0},
                                                                              {"y": 1.0}]
    assert [row["tangents"] for row in data["trace"]["rows"]][-1] == [2 * math.cos(2.0),
                                                                       math.cos(2.0)]
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--json", "-e", "reverse")
    assert [row["adjoint"] for row in json.loads(out)["trace"]["rows"]][-1] == 2 * math.cos(2.0)


def test_cli_plain_format_ignores_the_explanation(cli):
    code, out, _ = cli("grad", "sin(x*y)", "--at", "x=1,y=2", "--format", "plain",
                       "--explain", "reverse")
    assert out == f"x {2 * math.cos(2.0)!r}\ny {math.cos(2.0)!r}\n"


def test_cli_infinite_partial_still_explained(cli):
    code, out, err = cli("grad", "sqrt(x) + x", "--at", "x=0")
    assert code == 1 and "Warning:" in err
    assert "∂v1/∂x = 1/(2*sqrt(x)) = inf" in out


def _colour_codes(text: str) -> list[str]:
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        codes = [int(p) for p in params.split(";") if p]
        found += [str(c) for c in codes if 30 <= c <= 49 or 90 <= c <= 107]
    return found


def test_script_output_has_no_escapes_off_a_terminal(run):
    code, out, _ = run("grad", "sin(x*y)", "--at", "x=1,y=2", "--explain", "reverse")
    assert code == 0 and "\x1b" not in out


def test_script_honours_no_color_on_a_forced_terminal(run):
    code, out, _ = run("grad", "sin(x*y)", "--at", "x=1,y=2",
                       env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert code == 0 and "\x1b[" in out  # styled as on a terminal (bold headers) ...
    assert _colour_codes(out) == []  # ... but without colour


def test_script_falls_back_to_ascii(run):
    code, out, err = run("grad", "sin(x*y)", "--at", "x=1,y=2",
                         env={"PYTHONIOENCODING": "ascii"})
    assert code == 0, err
    assert "df/dv2 = cos(v2) = -0.41615" in out and "f -> v2 -> x" in out
    assert out.isascii()


def test_make_console_reads_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert make_console(file=io.StringIO()).no_color
