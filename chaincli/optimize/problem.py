"""The library side of ``minimize``: an expression and a point become a problem
on one flat vector, solved by ``chaincli.optimize``.

The variables being optimized (``--wrt``) are packed end to end into one
float64 vector in the order given, each tensor flattened in row-major (C)
order; every other variable keeps its ``--at`` value. One call of the
compiled expression's ``gradient`` per point gives the loss and the whole
gradient, which is packed the same way. Newton's Hessian is chaincli's own
(forward-over-reverse, ``chaincli.engine.hessian``; for tensors on the tape expanded
element by element, ``chaincli.engine.tensor.scalarize``) over the packed elements only, in
the same order: the held variables are not its columns.

Variables named in ``--init`` start at random values (``random_start``):
that is the only randomness, drawn from ``--seed``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from ..engine.tensor.sweeps import all_finite
from ..engine.values import MAX_DIMS, freeze
from ..base.errors import ChaincliError, DomainError, Phrase, PointError, UsageError
from ..base.text import is_name
from .results import MinimizeResult
from .methods import MAX_NEWTON_SIZE, METHODS, NotFinite, Objective, Report, minimize, norm
from ..engine.results import Notice, unused_values


@dataclass(frozen=True)
class Layout:
    """Where each variable sits in the flat vector: names, shapes, offsets."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, names: Iterable[str], point: Mapping[str, Any]) -> "Layout":
        names = tuple(names)
        return cls(names, tuple(np.shape(point[name]) for name in names))

    @property
    def scalar(self) -> bool:
        return all(shape == () for shape in self.shapes)

    @property
    def size(self) -> int:
        return sum(math.prod(shape) for shape in self.shapes)

    def pack(self, values: Mapping[str, Any]) -> np.ndarray:
        if self.scalar:
            return np.array([values[name] for name in self.names], dtype=np.float64)
        return np.concatenate([np.ravel(np.asarray(values[name], dtype=np.float64))
                               for name in self.names])

    def unpack(self, x: np.ndarray, copy: bool = True) -> dict[str, Any]:
        """Floats for scalar variables, arrays of their shapes for the rest: copies,
        or with ``copy=False`` views of ``x`` (for a caller that keeps none of them
        past a change to ``x``)."""
        if self.scalar:
            return dict(zip(self.names, x.tolist()))
        values, start = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = math.prod(shape)
            piece = x[start:start + size]
            if shape == ():
                values[name] = float(piece[0])
            else:
                values[name] = piece.reshape(shape).copy() if copy else piece.reshape(shape)
            start += size
        return values

    def labels(self) -> list[str]:
        """One label per element of the flat vector: ``x``, ``W[0,1]``."""
        labels = []
        for name, shape in zip(self.names, self.shapes):
            if shape == ():
                labels.append(name)
            else:
                labels.extend(f"{name}[{','.join(map(str, index))}]"
                              for index in np.ndindex(*shape))
        return labels


_SHAPE = re.compile(r"\s*(scalar|\d+(\s*x\s*\d+)*)\s*\Z")


def parse_init(specs: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """``--init W1=4x2,b1=4,c=scalar`` as ``{name: shape}``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        for pair in spec.split(","):
            if not pair.strip():
                continue
            name, sep, text = pair.partition("=")
            name = name.strip()
            if not sep or not is_name(name):
                raise UsageError(Phrase("{init} {given} is not name=shape (for example "
                                        "W=4x3,b=4,c=scalar)", given=repr(pair.strip())))
            if not _SHAPE.match(text):
                raise UsageError(Phrase("{init} {given}: a shape is dimensions joined by x "
                                        "(4x3, 4) or scalar", given=f"{name}={text.strip()}"))
            dims = [] if text.strip() == "scalar" else text.replace(" ", "").split("x")
            # Before the dimensions become numbers and arrays: NumPy refuses
            # past 64 axes with an error of its own.
            if len(dims) > MAX_DIMS:
                raise UsageError(Phrase("{init} {name}: {count} dimensions; at most {most} are "
                                        "allowed", name=name, count=len(dims), most=MAX_DIMS))
            shape = tuple(int(d) for d in dims)
            if any(d == 0 for d in shape):
                raise UsageError(Phrase("{init} {given}: a dimension is 0",
                                        given=f"{name}={text.strip()}"))
            if math.prod(shape) > 10_000_000:
                raise UsageError(Phrase("{init} {given}: more than 10,000,000 elements",
                                        given=f"{name}={text.strip()}"))
            if name in shapes:
                raise UsageError(Phrase("{name} is given twice in {init}", name=name))
            shapes[name] = shape
    return shapes


def random_start(shapes: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, Any]:
    """Normal values with standard deviation 1/√fan-in (fan-in: the last
    dimension, 1 for a scalar), LeCun's initialization: a layer ``W @ x``
    then starts with outputs of about the size of its inputs."""
    if seed < 0:
        raise UsageError(Phrase("{seed} must be 0 or more, not {given}", given=seed))
    rng = np.random.default_rng(seed)
    values = {}
    for name, shape in shapes.items():
        scale = 1.0 / math.sqrt(shape[-1] if shape else 1)
        drawn = rng.normal(0.0, scale, size=shape)
        values[name] = float(drawn) if shape == () else drawn
    return values


class Problem:
    """An expression, the fixed values and the packed variables to optimize."""

    def __init__(self, program, point: Mapping[str, Any], wrt: Optional[list[str]],
                 init: Optional[Mapping[str, tuple[int, ...]]] = None, seed: int = 0):
        init = init or {}
        names = list(dict.fromkeys(wrt)) if wrt is not None else program.variables
        if not names:
            raise UsageError("the expression has no variables: there is nothing to minimize")
        program.require_variables(names, "wrt")
        program.require_variables(list(init), "init")
        for name in init:
            if name not in names:
                raise UsageError(Phrase("{init} {name}: only the variables being optimized "
                                        "({wrt}) start at random values", name=name))
            if name in point:
                raise UsageError(Phrase("{name} has a value in --at and a shape in {init}; "
                                        "give one of them", name=name))
        self.program = program
        self.warnings = unused_values(point, program.tape.variable_index)
        full = {name: point[name] for name in program.variables if name in point}
        full.update(random_start(init, seed))
        missing = [name for name in names if name not in full]
        if missing:
            given = ",".join(f"{name}=…" for name in missing)
            raise PointError(Phrase("no starting value for {names}; give it with --at {given} "
                                    "(or a random one with {init})", names=", ".join(missing),
                                    given=given))
        self.names = names
        self.layout = Layout.of(names, full)
        checked, _ = program.check_point(full)
        # The fixed values, checked once here and frozen: they cannot change
        # between steps, so no step checks them again.
        self.fixed = {name: freeze(value) for name, value in checked.items()
                      if name not in names}
        self.x0 = self.layout.pack(full)

    def point(self, x: np.ndarray, copy: bool = True) -> dict[str, Any]:
        point = dict(self.fixed)
        point.update(self.layout.unpack(x, copy))
        return point

    def gradient(self, x: np.ndarray):
        """The engine's ``GradientResult`` at ``x``; ``NotFinite`` where it has none."""
        if not all_finite(x):
            raise NotFinite("a parameter is no longer a finite number")
        try:
            # Views of x: a fresh copy of every parameter each step costs its pages'
            # first touch, and the engine neither changes nor keeps its arguments.
            # x was checked above, the fixed values once: nothing is checked twice.
            return self.program.checked_gradient(self.point(x, copy=False), self.names)
        except DomainError as error:
            raise NotFinite(error.message) from None

    def value(self, x: np.ndarray) -> float:
        """The loss at ``x``; ``NotFinite`` where it is not a finite number."""
        if not all_finite(x):
            raise NotFinite("a parameter is no longer a finite number")
        try:
            loss = float(self.program.checked_value(self.point(x, copy=False)))
        except DomainError as error:
            raise NotFinite(error.message) from None
        if not math.isfinite(loss):
            raise NotFinite("the loss is not finite")
        return loss

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        result = self.gradient(x)
        loss = float(result.value)
        if not math.isfinite(loss):
            raise NotFinite("the loss is not finite")
        gradient = self.layout.pack(result.gradient)
        # A partial that is not finite always has its notice (GradientResult), so
        # a gradient without one needs no pass over its elements here.
        bad = [w.message for w in result.warnings if w.kind == "nonfinite-derivative"]
        if bad and not all_finite(gradient):
            raise NotFinite(f"the gradient is not finite ({bad[0]})")
        return loss, gradient

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """The Hessian over the packed variables, by forward-over-reverse; with
        tensors, on the tape expanded element by element (``scalarize``), in
        the order of ``Layout.labels``. The held variables are not columns."""
        from ..engine.hessian import forward_over_reverse
        program, point, names = self.program, self.point(x), self.names
        used, _ = program.check_point(point)
        if program.is_tensor_point(used):
            from ..engine.program import CompiledExpression
            from ..engine.tensor.scalarize import scalarize
            from ..engine.tensor.program import shapes_at
            tape, point = scalarize(program.tape, shapes_at(program.tape, used), used)
            program, names = CompiledExpression(program.text, tape), self.layout.labels()
        try:
            result = program.gradient(point, wrt=names)
        except DomainError as error:
            raise NotFinite(error.message) from None
        return np.array(forward_over_reverse(result.evaluation, names), dtype=np.float64)

    def objective(self) -> Objective:
        return Objective(self.value_and_gradient, self.hessian, self.value)

    def final_warnings(self, x: np.ndarray) -> list[Notice]:
        """The notices of the engine at ``x`` (a kink the fit sits on), after the
        values the expression does not use."""
        try:
            notices = self.gradient(x).warnings
        except (NotFinite, ChaincliError):
            notices = []
        seen, kept = set(), []
        for notice in [*self.warnings, *notices]:
            if notice.message not in seen:
                seen.add(notice.message)
                kept.append(notice)
        return kept


def run(problem: Problem, method: str, *, lr: Optional[float] = None, steps: int = 1000,
        tol: float = 1e-8, seed: int = 0, report: Optional[Report] = None) -> MinimizeResult:
    """Minimize the problem's expression; the result holds the parameters reached."""
    check_settings(method, lr, steps, tol)
    if method == "newton" and problem.layout.size > MAX_NEWTON_SIZE:
        raise UsageError(f"newton forms the Hessian, and these are {problem.layout.size:,} "
                         f"parameters (at most {MAX_NEWTON_SIZE:,}); use lbfgs")
    try:
        outcome = minimize(method, problem.objective(), problem.x0, lr=lr, steps=steps,
                           tol=tol, report=report)
    except NotFinite as error:
        raise DomainError(f"the loss cannot be minimized from this starting point: "
                          f"{error.reason}", reason=error.reason) from None
    parameters = problem.layout.unpack(outcome.x)
    return MinimizeResult(
        expression=problem.program.text, method=method, parameters=parameters,
        shapes=dict(zip(problem.layout.names, problem.layout.shapes)), loss=outcome.loss,
        gradient_norm=norm(outcome.gradient), steps=outcome.steps, stopped=outcome.stopped,
        message=outcome.message, evaluations=outcome.evaluations, history=outcome.history,
        lr=lr, tol=tol, seed=seed, warnings=problem.final_warnings(outcome.x),
        output=problem.program.tape.output_name())


def check_settings(method: str, lr: Optional[float], steps: int, tol: float) -> None:
    """The option values a method can use, or a ``UsageError`` saying why not."""
    if method not in METHODS:
        raise UsageError(Phrase("{method} must be one of {methods}, not {given}",
                                methods=", ".join(METHODS), given=repr(method)))
    if lr is not None:
        if method in ("lbfgs", "newton"):
            raise UsageError(Phrase("{lr} has no meaning for {given}: its line search chooses "
                                    "each step's length", given=method))
        if not (lr > 0 and math.isfinite(lr)):
            raise UsageError(Phrase("{lr} must be a positive number"))
    if steps < 0:
        raise UsageError(Phrase("{steps} must be 0 or more, not {given}", given=steps))
    if not (tol >= 0 and math.isfinite(tol)):
        raise UsageError(Phrase("{tol} must be a finite number, 0 or more"))
