"""Output of the calculus commands: Rich tables for a terminal, plain lines for scripts.

As in ``render_table``, user text enters Rich as ``Text``, never as markup.
Plain output is one line per row, numbers separated by spaces, at full
round-trip precision (``inf``/``nan`` for non-finite values).
"""

from __future__ import annotations

from ..calculus.results import CheckResult, HessianResult, JacobianResult
from ..base.numbers import plain_number


def plain_matrix(rows: list[list[float]]) -> str:
    return "".join(" ".join(plain_number(v) for v in row) + "\n" for row in rows)


def worst_of(row) -> str | None:
    """For a tensor variable's row, how many elements its worst one was picked
    from: ``worst of 4``, or ``worst of 200, a sample of 600`` (nothing for one element)."""
    if row.size is None or row.size == 1:
        return None
    if row.checked == row.size:
        return f"worst of {row.checked:,}"
    return f"worst of {row.checked:,}, a sample of {row.size:,}"


def plain_check(result: CheckResult) -> str:
    """``variable reverse forward numeric relative_error ok|FAIL`` per line, and
    for a tensor variable ``worst of N`` after it."""
    lines = []
    for row in result.rows:
        line = (f"{row.variable} {plain_number(row.reverse)} {plain_number(row.forward)} "
                f"{plain_number(row.numeric)} {plain_number(row.error)} "
                f"{'ok' if row.agree else 'FAIL'}")
        note = worst_of(row)
        lines.append(f"{line} {note}\n" if note else line + "\n")
    return "".join(lines)


def plain_directional(along: dict) -> str:
    return f"directional_derivative {plain_number(along['directional_derivative'])}\n"


def _component(value) -> str:
    shape = getattr(value, "shape", ())
    return plain_number(float(value)) if not shape else f"(an array of shape {tuple(shape)})"


def print_directional(along: dict, console=None) -> None:
    from rich.text import Text
    from .table import make_console
    console = console or make_console()
    vector = ", ".join(f"{name} = {_component(v)}" for name, v in along["direction"].items())
    console.print(Text(f"directional derivative along ({vector}): "
                       f"{plain_number(along['directional_derivative'])}"))


def _matrix_table(title: str, row_names: list[str], column_names: list[str],
                  rows: list[list[float]], corner: str):
    from rich.table import Table
    from rich.text import Text
    table = Table(title=Text(title) if title else None, header_style="bold")
    table.add_column(Text(corner), overflow="fold")
    for name in column_names:
        table.add_column(Text(name), justify="right", overflow="fold")
    for name, row in zip(row_names, rows):
        table.add_row(Text(name), *(Text(plain_number(v)) for v in row))
    return table


def _header(console, output: str, expression: str, point: dict[str, float]) -> None:
    from rich.text import Text
    from .table import header_text
    console.print(Text(header_text(output, expression)))
    if point:
        if any(getattr(value, "ndim", 0) for value in point.values()):
            from .tensor import point_text
            parts = [point_text(name, value) for name, value in point.items()]
        else:
            parts = [f"{name} = {plain_number(value)}" for name, value in point.items()]
        console.print(Text("at ") + Text(", ".join(parts)))


def print_hessian(result: HessianResult, console=None) -> None:
    from rich.text import Text
    from .table import make_console
    console = console or make_console()
    _header(console, result.output, result.expression, result.point)
    console.print(Text(f"{result.output} = {plain_number(result.value)}"))
    method = "forward-over-reverse" if result.method == "ad" else "symbolic"
    console.print(Text(f"Hessian by {method}:"))
    console.print(_matrix_table("", result.variables, result.variables, result.hessian,
                                f"∂²{result.output}"))


# Row labels of a Jacobian, f1, f2, …, unless a variable (a column) is
# called so: then the next letter that no variable's name takes.
_OUTPUT_PREFIXES = ("f", "g", "h", "F", "G", "H", "out")


def output_labels(count: int, variables) -> list[str]:
    """``count`` row labels that are not the name of any variable."""
    taken = set(variables)
    for prefix in _OUTPUT_PREFIXES:
        labels = [f"{prefix}{k + 1}" for k in range(count)]
        if taken.isdisjoint(labels):
            return labels
    prefix = "out_"
    while not taken.isdisjoint(f"{prefix}{k + 1}" for k in range(count)):
        prefix += "_"
    return [f"{prefix}{k + 1}" for k in range(count)]


def print_jacobian(result: JacobianResult, console=None) -> None:
    from rich.text import Text
    from .table import expression_line, make_console
    console = console or make_console()
    if result.point:
        console.print(Text("at ") + Text(", ".join(
            f"{name} = {plain_number(value)}" for name, value in result.point.items())))
    names = output_labels(len(result.outputs), result.variables)
    for name, text, value in zip(names, result.outputs, result.values):
        console.print(Text(f"{name} = ") + expression_line(text)
                      + Text(f"  = {plain_number(value)}"))
    console.print(_matrix_table("Jacobian", names, result.variables, result.jacobian,
                                "output"))


def print_check(result: CheckResult, console=None) -> None:
    """Analytic (reverse mode; forward mode is compared too), numeric, error, verdict."""
    from rich.table import Table
    from rich.text import Text
    from .table import make_console
    console = console or make_console()
    _header(console, result.output, result.expression, result.point)
    table = Table(title=Text(f"gradient check, tolerance {result.tolerance:g}"),
                  header_style="bold")
    for heading in ("variable", "analytic", "numeric", "rel. error", ""):
        table.add_column(Text(heading), justify="left" if heading == "variable" else "right",
                         overflow="fold")
    for row in result.rows:
        table.add_row(Text(row.variable), Text(plain_number(row.reverse)),
                      Text(plain_number(row.numeric)), Text(f"{row.error:.1e}"),
                      Text("ok" if row.agree else "FAIL"))
    console.print(table)
    notes = [f"{row.variable}: {worst_of(row)}" for row in result.rows if worst_of(row)]
    if notes:
        # A tensor variable's row is its worst element: say what it was picked from.
        console.print(Text("each tensor row is its worst element; " + "; ".join(notes)))
