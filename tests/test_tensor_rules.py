"""Every primitive, old and new, on arrays: rules against finite differences.

For each entry of the primitive table the test draws argument shapes at
random (ranks 0 to 2, sizes 1 to 3, so broadcasting and size-1 axes occur),
or from the primitive's own ``sample_shapes`` where those would not fit (a
convolution's four axes), and keeps those the primitive's own shape rule
accepts, with the values its ``argument_kinds`` ask for (a well-conditioned or
a positive definite square matrix); a new primitive is covered without a new
test. On each it checks, through the engine's sweeps:

* reverse mode (the VJP, and the shared unbroadcast) against central
  differences of ``sum(G * f(a, b))`` for a random weighting ``G``;
* forward mode (the JVP) against reverse mode: ⟨G, J t⟩ = ⟨Jᵀ G, t⟩.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from chaincli.engine.tensor import sweeps
from chaincli.primitives import PRIMITIVES
from chaincli.primitives.base import ShapeProblem
from chaincli.tape import TapeBuilder

ALL = sorted(PRIMITIVES.values(), key=lambda p: p.name)
CASES_PER_PRIMITIVE = 12


def random_shape(rng: random.Random) -> tuple[int, ...]:
    return tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 2)))


def draw_case(prim, rng: random.Random):
    """Shapes, options and values the primitive accepts, or None after many tries."""
    for _ in range(500):
        arity = rng.randint(1, 3) if prim.arity == -1 else prim.arity
        shapes = [random_shape(rng) for _ in range(arity)]
        if prim.name == "stack":
            shapes = [shapes[0]] * arity
        if rng.random() < 0.3 and arity == 2 and prim.elementwise:
            shapes[1] = shapes[0][rng.randint(0, len(shapes[0])):]  # a trailing slice
        options = ()
        if prim.sample_shapes is not None:  # shapes the small draws above would miss
            shapes, options = prim.sample_shapes(rng)
            shapes = [tuple(shape) for shape in shapes]
        elif prim.name == "index" and shapes[0]:
            count = rng.randint(1, len(shapes[0]))
            options = tuple(rng.randint(-n, n - 1) for n in shapes[0][:count])
        elif prim.options and not shapes:  # a size, as eye(n) takes
            options = (rng.randint(1, 3),)
        elif prim.options and shapes[0] and rng.random() < 0.5:
            options = (rng.randint(-len(shapes[0]), len(shapes[0]) - 1),)
        try:
            if prim.elementwise:
                sweeps.broadcast_shapes(shapes)
            else:
                prim.shape(tuple(shapes), options)
        except ShapeProblem:
            continue
        regions = list(prim.smooth_region) * max(arity, 1)
        values = [_fill(shape, regions[k], rng) for k, shape in enumerate(shapes)]
        for k, kind in enumerate(prim.argument_kinds):
            values[k] = _matrix_of_kind(kind, values[k])
        return shapes, options, values
    return None


def _matrix_of_kind(kind: str, value):
    """A drawn square matrix made what a primitive's ``argument_kinds`` asks for:
    well-conditioned ("square": diagonally dominant) or symmetric positive
    definite ("spd"), so central differences stay accurate."""
    if kind == "any":
        return value
    n = value.shape[0]
    scaled = value / 3.0
    if kind == "spd":
        return scaled @ scaled.T + n * np.eye(n)
    return scaled + (n + 1) * np.eye(n) * np.sign(scaled.diagonal() + 0.5)


def _fill(shape, region, rng):
    if not shape:
        return rng.uniform(*region)
    return np.array([rng.uniform(*region) for _ in range(int(np.prod(shape)))]).reshape(shape)


def weighted_tape(prim, arity: int, options):
    """``sum(G * f(a0, a1, …))`` as a tape, with G a variable too."""
    builder = TapeBuilder("")
    args = tuple(builder.variable(f"a{k}", None) for k in range(arity))
    out = builder.operation(prim.name, args, None, options)
    weight = builder.variable("G", None)
    weighted = builder.operation("mul", (weight, out), None)
    builder.tape.output = builder.operation("sum", (weighted,), None)
    return builder.tape, out


def evaluate(tape, point):
    shapes = sweeps.shapes(tape, {name: sweeps.shape_of(v) for name, v in point.items()})
    return sweeps.primal(tape, point, shapes), shapes


def central_difference(tape, point, name, element):
    base = point[name]
    h = 6.055e-06 * max(1.0, abs(float(np.asarray(base)[element] if element else base)))

    def at(offset):
        moved = dict(point)
        if element:
            array = np.array(base, dtype=float)
            array[element] += offset
            moved[name] = array
        else:
            moved[name] = base + offset
        return evaluate(tape, moved)[0][tape.output]

    return (at(h) - at(-h)) / (2 * h)


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_rules_match_central_differences_on_random_shapes(prim):
    rng = random.Random(f"tensor-{prim.name}")
    checked = 0
    for _ in range(CASES_PER_PRIMITIVE):
        case = draw_case(prim, rng)
        assert case is not None, f"no argument shapes found that {prim.name} accepts"
        shapes, options, values = case
        tape, out = weighted_tape(prim, len(shapes), options)
        point = {f"a{k}": v for k, v in enumerate(values)}
        out_shape = sweeps.shapes(tape, {**{n: sweeps.shape_of(v) for n, v in point.items()},
                                         "G": ()})[out]
        point["G"] = _fill(out_shape, (-1.0, 1.0), rng)
        values_at, entry_shapes = evaluate(tape, point)
        wanted = [True] * len(tape)
        adjoints = sweeps.adjoint_sweep(tape, values_at, entry_shapes, wanted)
        for k in range(len(shapes)):
            name = f"a{k}"
            index = tape.variable_index[name]
            adjoint = np.zeros(shapes[k]) if adjoints[index] is None else adjoints[index]
            assert np.shape(adjoint) == shapes[k], (prim.name, shapes, options)
            for element in (np.ndindex(*shapes[k]) if shapes[k] else [()]):
                numeric = central_difference(tape, point, name, element)
                analytic = float(np.asarray(adjoint)[element]) if element else float(adjoint)
                assert np.isclose(analytic, numeric, rtol=1e-5, atol=1e-6), \
                    (prim.name, shapes, options, name, element, analytic, numeric)
            # Forward mode: one tangent sweep along a random direction t gives
            # <G, J t>, which must equal <J^T G, t> from the adjoint.
            t = _fill(shapes[k], (-1.0, 1.0), rng)
            tangents = sweeps.tangent_sweep(tape, values_at, entry_shapes, {index: t})
            forward = 0.0 if tangents[tape.output] is None else float(tangents[tape.output])
            assert np.isclose(forward, float(np.vdot(adjoint, t)), rtol=1e-10, atol=1e-12), \
                (prim.name, shapes, options, name)
        checked += 1
    assert checked == CASES_PER_PRIMITIVE


@pytest.mark.parametrize("prim", [p for p in ALL if not p.elementwise], ids=lambda p: p.name)
def test_tensor_primitives_state_their_backward_rule(prim):
    """The backward-pass table prints each rule; every tensor primitive has one
    formula per argument."""
    ranks = (1,) if prim.arity != 2 else (2, 1)
    formulas = prim.vjp_formulas(ranks if prim.arity != -1 else (0, 0, 0))
    assert len(formulas) == (3 if prim.arity == -1 else prim.arity)
    assert all("δ" in formula for formula in formulas)


@pytest.mark.parametrize("prim", [p for p in ALL if p.vjp_of_multiple], ids=lambda p: p.name)
def test_a_vjp_told_its_adjoint_is_a_multiple_agrees_with_the_plain_vjp(prim):
    """``vjp_of_multiple(c, k, …)`` answers for the adjoint c times argument k:
    wherever it answers, the plain VJP given that adjoint agrees; a square
    argument is tried symmetric too, where such rules apply."""
    rng = random.Random(f"multiple-{prim.name}")
    answered = 0
    for _ in range(CASES_PER_PRIMITIVE):
        shapes, options, values = draw_case(prim, rng)
        for symmetric in (False, True):
            args = [np.asarray(v, dtype=float) for v in values]
            if symmetric:
                args = [(a + a.T) / 2 if kind == "square" else a
                        for a, kind in zip(args, prim.argument_kinds or ("any",) * len(args))]
            out = np.asarray(sweeps.apply(prim, args, options), dtype=float)
            for k, a in enumerate(args):
                if a.shape != out.shape:
                    continue
                c = rng.uniform(-1.0, 1.0)
                told = prim.vjp_of_multiple(c, k, args, out, options, (True,) * len(args))
                if told is None:
                    continue
                plain = prim.vjp(c * a, args, out, options, (True,) * len(args))
                for mine, theirs in zip(told, plain):
                    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
                answered += 1
    assert answered, f"{prim.name}'s vjp_of_multiple never answered"


@pytest.mark.parametrize("name", sorted(sweeps.MOVES_ELEMENTS))
def test_a_rule_that_only_moves_elements_needs_no_zero_rule(name):
    """The sweep passes a non-finite adjoint through these VJPs as it is: the
    answer is the one the 0·∞ rule's element-by-element split gives."""
    prim = PRIMITIVES[name]
    rng = random.Random(f"moves-{name}")
    for _ in range(CASES_PER_PRIMITIVE):
        shapes, options, values = draw_case(prim, rng)
        args = [np.asarray(v, dtype=float) for v in values]
        out = np.asarray(sweeps.apply(prim, args, options), dtype=float)
        g = np.array([rng.uniform(-1, 1) for _ in range(out.size)]).reshape(out.shape)
        g.flat[rng.randrange(g.size)] = rng.choice([np.inf, -np.inf, np.nan])
        flags = (True,) * len(args)
        plain = prim.vjp(g, args, out, options, flags)
        split = sweeps._split(lambda incoming: prim.vjp(incoming, args, out, options, flags),
                              g, None, several=True)
        for mine, theirs in zip(plain, split):
            np.testing.assert_array_equal(mine, theirs)


def test_a_negated_adjoint_summed_first_has_the_same_bits():
    """An adjoint through a partial of -1 onto a broadcast argument is summed,
    then negated (the sweep's shortcut): the bits of negating, then summing."""
    rng = np.random.default_rng(7)
    for shape, target in (((1000, 7), (7,)), ((5, 300), (5, 1)), ((64, 3, 9), (9,)),
                          ((40,), ())):
        g = rng.normal(size=shape) * 10.0 ** rng.integers(-30, 30, size=shape)
        first = sweeps.unbroadcast(sweeps._times(g, -1.0), target)
        assert np.array_equal(np.asarray(-sweeps.unbroadcast(g, target)), np.asarray(first))


@pytest.mark.parametrize("name", sorted(sweeps.CHECKED_BY_THEMSELVES))
def test_a_value_that_checks_itself_is_finite_or_refused(name):
    """The primal sweep does not look at these values: the primitive raises a
    ``DomainProblem`` itself wherever its value would not be finite."""
    from chaincli.primitives.base import DomainProblem
    prim = PRIMITIVES[name]
    rng = random.Random(f"checked-{name}")
    refused = 0
    for _ in range(CASES_PER_PRIMITIVE):
        shapes, options, values = draw_case(prim, rng)
        for scale in (1.0, 1e-300, 1e300, 1.7e308):
            # The matrix shrunk and the rest grown, each still finite.
            scaled = [np.asarray(v, dtype=float) / max(1.0, float(np.max(np.abs(v))))
                      * (scale if k else 1.0 / scale) for k, v in enumerate(values)]
            try:
                value = sweeps.apply(prim, scaled, options)
            except DomainProblem:
                refused += 1
                continue
            assert np.isfinite(value).all(), (name, shapes, options, scale)
    assert refused, f"no case drove {name} past the doubles"


@pytest.mark.parametrize("name", sorted(sweeps.FINITE_FROM_FINITE))
def test_a_value_the_primal_sweep_leaves_unchecked_is_finite(name):
    """The primal sweep checks no value of these primitives when their arguments
    are finite: at finite arguments as large as a double holds, every element of
    their value must be finite (a primitive that can overflow does not belong)."""
    prim = PRIMITIVES[name]
    rng = random.Random(f"finite-{name}")
    for _ in range(CASES_PER_PRIMITIVE):
        shapes, options, _ = draw_case(prim, rng)
        for scale in (1.0, 1e150, 1e300, 1.7e308):
            values = [_fill(shape, (-1.0, 1.0), rng) for shape in shapes]
            values = [v * scale for v in values]
            value = sweeps.apply(prim, values, options)
            assert np.isfinite(value).all(), (name, shapes, options, scale)


@pytest.mark.parametrize("name", sorted(sweeps.NONFINITE_PROPAGATES))
def test_a_nonfinite_argument_shows_in_the_value(name):
    """The compiled primal sweep checks a value of one of these primitives in place
    of its arguments' values (codegen.certified): an inf or NaN anywhere in an
    argument must leave an inf or NaN somewhere in the value, whatever the
    other arguments hold (as drawn, or all 0, where inf·0 is NaN)."""
    prim = PRIMITIVES[name]
    rng = random.Random(f"propagates-{name}")
    for _ in range(CASES_PER_PRIMITIVE):
        shapes, options, values = draw_case(prim, rng)
        for k, bad, scale in itertools.product(range(len(shapes)), (np.inf, -np.inf, np.nan),
                                               (1.0, 0.0)):
            args = [np.array(v, dtype=float) * scale for v in values]
            args[k] = np.array(values[k], dtype=float)
            args[k].flat[rng.randrange(args[k].size)] = bad
            inputs = [float(a) if a.ndim == 0 else a for a in args]
            value = sweeps.apply(prim, inputs, options)
            assert not np.isfinite(value).all(), (name, shapes, options, k, bad, scale)


@pytest.mark.parametrize("name", sorted(sweeps.VJP_BOUNDED_BY_NORMS))
def test_a_vjp_bounded_by_norms_stays_below_their_product(name):
    """The compiled gradient takes these contributions as finite when the norms of
    the adjoint and of the other argument bound them far below overflow
    (codegen._finite_product): no element may exceed that product, at values
    from 1 to near the largest double."""
    prim = PRIMITIVES[name]
    rng = random.Random(f"bounded-{name}")
    for _ in range(CASES_PER_PRIMITIVE):
        shapes, options, values = draw_case(prim, rng)
        for scale in (1.0, 1e100, 1e150):
            args = [np.asarray(v, dtype=float) * scale for v in values]
            out = np.asarray(sweeps.apply(prim, args, options), dtype=float)
            g = _fill(out.shape, (-1.0, 1.0), rng) * scale
            contributions = prim.vjp(g, args, out, options, (True, True))
            for k, contribution in enumerate(contributions):
                bound = float(np.linalg.norm(g)) * float(np.linalg.norm(args[1 - k]))
                assert np.isfinite(contribution).all(), (name, shapes, scale, k)
                assert np.max(np.abs(contribution)) <= bound * (1 + 1e-12), \
                    (name, shapes, scale, k)
