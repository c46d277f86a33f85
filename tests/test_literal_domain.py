"""Domain errors inside array literals: each element is checked as the same
expression outside a literal is, with the same message and exit status 1."""

from __future__ import annotations

import pytest

from clicheck import check_run


def _error_line(cli, *args: str) -> str:
    code, out, err = cli(*args)
    check_run(code, out, err, json_output="--json" in args)
    assert code == 1, err
    assert out == ""
    return err.splitlines()[0]


@pytest.mark.parametrize("args, expected", [
    (("eval", "[1/z, 1]", "--at", "z=0"), "Error: 1/z: division by zero at z = 0"),
    (("eval", "[1/0, 1]"), "Error: 1/0: division by zero"),
    (("eval", "[z^-1, 1]", "--at", "z=0"),
     "Error: z^-1: 0 to a negative power is a pole (division by zero) at z = 0"),
    (("eval", "[z^0.5, 1]", "--at", "z=-8"),
     "Error: z^0.5: a negative number to a non-integer power is not real"),
    (("eval", "[10^400, 1]"), "Error: 10^400: pow overflows a double"),
    (("eval", "[log(z), 1]", "--at", "z=0"), "Error: log(z): log(0) is -infinity"),
    (("eval", "[sqrt(z), 1]", "--at", "z=-1"),
     "Error: sqrt(z): sqrt needs a non-negative argument at z = -1"),
])
def test_eval_of_a_bad_element_is_a_domain_error(cli, args, expected):
    assert _error_line(cli, *args).startswith(expected)


@pytest.mark.parametrize("command", [
    ("grad", "--json"), ("grad", "--mode", "forward", "--json"), ("grad", "--explain", "paths"),
    ("hessian",), ("hessian", "--method", "symbolic"),
])
@pytest.mark.parametrize("expr, at, expected", [
    ("sum([s/z, 1])", "s=1,z=0", "Error: s/z: division by zero at s = 1, z = 0"),
    ("sum([s*z^400, 1])", "s=1,z=10", "Error: z^400: pow overflows a double"),
    ("sum([s*log(z), 1])", "s=1,z=0", "Error: log(z): log(0) is -infinity (a pole) at z = 0"),
])
def test_derivatives_of_a_bad_element_are_a_domain_error(cli, command, expr, at, expected):
    name, *options = command
    assert _error_line(cli, name, expr, "--at", at, *options).startswith(expected)


def test_jacobian_of_a_bad_element_is_a_domain_error(cli):
    line = _error_line(cli, "jacobian", "[s/z, 1]", "--at", "s=1,z=0")
    assert line.startswith("Error: s/z: division by zero at s = 1, z = 0")


def test_the_same_message_as_outside_a_literal(cli):
    outside = _error_line(cli, "eval", "1/z", "--at", "z=0")
    inside = _error_line(cli, "eval", "[1/z, 1]", "--at", "z=0")
    assert inside == outside


def test_values_in_messages_are_plain_numbers(cli):
    line = _error_line(cli, "eval", "[exp(z)*exp(z), 1]", "--at", "z=400")
    assert "np." not in line and "5.221469689764144e+173" in line


def test_an_infinite_partial_of_an_element_is_warned_not_crashed(cli):
    code, out, err = cli("grad", "sum([sqrt(z), 1])", "--at", "z=0", "--json")
    check_run(code, out, err, json_output=True)
    assert code == 1 and "Warning:" in err
