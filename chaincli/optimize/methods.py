"""The optimizers behind ``minimize``: steps down the gradient on a flat vector.

Every method works on one float64 vector ``x`` (the parameters packed end
to end, see ``chaincli.optimize.problem``) and asks an objective for the loss and
its gradient at ``x`` in one call. Nothing here knows about expressions,
files or the terminal: each step is handed to a ``report`` callback, and the
run ends with an ``Outcome`` that says why it stopped.

    gd        x ← x − lr·g
    momentum  b ← μ·b + g (b = g at the first step);  x ← x − lr·b
    adam      m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
              x ← x − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)
    newton    solve (H + τI)·p = −g (τ = 0 when H is positive definite),
              then halve the step from 1 until the loss falls enough (Armijo)
    lbfgs     SciPy's L-BFGS-B, fed the same loss and gradient

gd, momentum and adam are the update rules as PyTorch documents its ``SGD``
(dampening 0, no Nesterov) and ``Adam`` (no weight decay, no AMSGrad), with
μ = 0.9, β1 = 0.9, β2 = 0.999, ε = 1e-8. For every method the run has
converged when the 2-norm of the gradient is at most ``tol``: SciPy's own
tests (relative decrease of the loss, projected gradient) are switched off,
so L-BFGS-B cannot stop early on a slow stretch and call it convergence.

A run ends in one of these, each with a sentence saying why:
``converged``, ``step-limit``, ``no-progress`` (a step no longer changes the
parameters, or no step along the search direction lowers the loss),
``diverged`` (the loss or gradient at the next step is not finite; the
outcome holds the last finite step), ``no-minimum`` (see ``no_minimum``) and
``interrupted`` (Ctrl-C between steps; the outcome holds the lowest loss
reached).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..base.errors import Phrase
from ..base.numbers import rounded_number as _g

METHODS = ("gd", "momentum", "adam", "lbfgs", "newton")
# Methods that take a learning rate, with PyTorch's default where it has one.
DEFAULT_LR = {"gd": 0.01, "momentum": 0.01, "adam": 0.001}
MOMENTUM = 0.9
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8
DEFAULT_TOL = 1e-8
DEFAULT_STEPS = 1000

# Newton's sufficient decrease (Armijo) constant, as in Nocedal & Wright.
ARMIJO = 1e-4
# Newton: the largest problem whose Hessian is formed (entries = size²).
MAX_NEWTON_SIZE = 1000

# The no-minimum check follows the direction of the run from 2^FIRST_PROBE
# to 2^LAST_PROBE times the distance covered, and wants the loss to fall at
# least MIN_FALLS times in a row on the way. It starts short of the distance
# covered because a loss that falls only towards infinity (log(1 + exp(-x)))
# soon falls below what a double resolves, and is flat from there.
FIRST_PROBE, LAST_PROBE = -6, 19
MIN_FALLS = 5

STOP_REASONS = ("converged", "step-limit", "no-progress", "diverged", "no-minimum",
                "interrupted")


class NotFinite(Exception):
    """The loss or the gradient at a point is not finite (or not defined there)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Objective:
    """What a method may ask about the loss at a flat vector ``x``.

    ``value_and_gradient(x)`` returns ``(loss, gradient)``; ``hessian(x)``
    (for ``newton``) the matrix of second partials; ``value(x)`` the loss
    alone, for the checks that need no gradient (without it, they take the
    loss from ``value_and_gradient``). Each raises ``NotFinite`` where what it
    returns is not finite."""

    value_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]]
    hessian: Optional[Callable[[np.ndarray], np.ndarray]] = None
    value: Optional[Callable[[np.ndarray], float]] = None

    def loss(self, x: np.ndarray) -> float:
        if self.value is not None:
            return self.value(x)
        return self.value_and_gradient(x)[0]


Report = Callable[[int, float, float, Optional[float]], None]

# The loss history keeps at most this many (step, loss) points: enough for a
# plot, and bounded however many steps are taken.
HISTORY_POINTS = 20_000


class History:
    """The loss by step, thinned as it grows: when full, every other point is
    dropped and from then on only every other step is kept (the stride doubles)."""

    def __init__(self, limit: int = HISTORY_POINTS):
        self.limit = limit
        self.stride = 1
        self.points: list[tuple[int, float]] = []

    def add(self, step: int, loss: float) -> None:
        if step % self.stride:
            return
        self.points.append((step, loss))
        if len(self.points) >= self.limit:
            self.stride *= 2
            self.points = [p for p in self.points if p[0] % self.stride == 0]


@dataclass
class Outcome:
    x: np.ndarray
    loss: float
    gradient: np.ndarray
    steps: int
    stopped: str
    message: str
    evaluations: int = 0
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, loss), thinned

    @property
    def gradient_norm(self) -> float:
        return norm(self.gradient)


def norm(v: np.ndarray) -> float:
    """The 2-norm, without overflow or underflow on the way (a diverging run
    has entries whose squares are not doubles)."""
    if v.size <= 32:
        return math.hypot(*v.tolist())
    with np.errstate(over="ignore", under="ignore"):
        square = float(v @ v)
    if 1e-280 < square < math.inf:
        return math.sqrt(square)
    largest = float(np.abs(v).max())
    if largest == 0.0 or not math.isfinite(largest):
        return largest
    scaled = v / largest
    return largest * math.sqrt(float(scaled @ scaled))


class _Run:
    """The state every method shares: the current point, the best one, the counts."""

    def __init__(self, objective: Objective, x0: np.ndarray, steps: int, tol: float,
                 report: Optional[Report]):
        self.objective = objective
        self.max_steps = steps
        self.tol = tol
        self.report = report
        self.evaluations = 0
        self.step = 0
        self.history = History()
        self.x0 = self.x = np.array(x0, dtype=np.float64)
        self.loss, self.gradient = self.evaluate(self.x)
        self.first_loss = self.loss
        self.best = (self.loss, self.x, self.gradient)
        self.record(None)

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        return self.objective.value_and_gradient(x)

    def record(self, lr: Optional[float]) -> None:
        self.history.add(self.step, self.loss)
        if self.loss < self.best[0]:
            self.best = (self.loss, self.x, self.gradient)
        if self.report is not None:
            self.report(self.step, self.loss, norm(self.gradient), lr)

    def move(self, x: np.ndarray, loss: float, gradient: np.ndarray,
             lr: Optional[float]) -> None:
        self.x, self.loss, self.gradient = x, loss, gradient
        self.step += 1
        self.record(lr)

    def converged(self) -> Optional[Outcome]:
        size = norm(self.gradient)
        if size <= self.tol:
            return self.outcome("converged", Phrase(
                "converged: the gradient norm {size} is at most {tol} {given}",
                size=_g(size), given=_g(self.tol)))
        return None

    def outcome(self, stopped: str, message: str) -> Outcome:
        return Outcome(self.x, self.loss, self.gradient, self.step, stopped, message,
                       self.evaluations, self.history.points)

    def step_limit(self) -> Outcome:
        return self.outcome("step-limit", Phrase(
            "step limit: {count} steps taken; the gradient norm {size} is still above "
            "{tol} {given}", count=self.max_steps, size=_g(norm(self.gradient)),
            given=_g(self.tol)))

    def diverged(self, reason: str) -> Outcome:
        message = (f"diverged at step {self.step + 1}: {reason}; the parameters are those of "
                   f"step {self.step}, the last finite one")
        if (self.step >= 10 and self.loss <= self.best[0] and self.loss < self.first_loss
                and norm(self.x) > 2 * max(1.0, norm(self.x0))):
            # A loss that ran out of range while still falling, the parameters grown:
            # typically log(0) once a sigmoid rounds to 1, on data a model separates.
            message += (f" (the loss was still falling, to {_g(self.loss)}: the "
                        "parameters may have been heading off to infinity, where the loss "
                        "has no minimum)")
        return self.outcome("diverged", message)

    def interrupted(self) -> Outcome:
        loss, x, gradient = self.best
        return Outcome(x, loss, gradient, self.step, "interrupted",
                       f"interrupted after {self.step} steps; the parameters are the best "
                       "reached (the lowest loss)", self.evaluations, self.history.points)

    def no_progress(self, why: str) -> Outcome:
        return self.outcome("no-progress", f"no further progress after {self.step} steps: "
                            f"{why}")


def minimize(method: str, objective: Objective, x0: np.ndarray, *, lr: Optional[float] = None,
             steps: int = DEFAULT_STEPS, tol: float = DEFAULT_TOL,
             report: Optional[Report] = None) -> Outcome:
    """Run ``method`` from ``x0``; the ``Outcome`` says where and why it stopped.

    ``report(step, loss, gradient_norm, lr)`` is called for the start (step
    0) and after every step. ``NotFinite`` at ``x0`` itself propagates: a run
    that cannot start has nothing to report. Ctrl-C (``KeyboardInterrupt``)
    during a step ends the run with the best point reached."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    # An update may overflow (a diverging run): that is found and reported by
    # the objective's own finiteness checks, not by NumPy's warnings on stderr.
    with np.errstate(all="ignore"):
        run = _Run(objective, x0, steps, tol, report)
        try:
            if method == "lbfgs":
                outcome = _lbfgs(run)
            elif method == "newton":
                outcome = _newton(run)
            else:
                outcome = _first_order(run, method, DEFAULT_LR[method] if lr is None else lr)
        except KeyboardInterrupt:
            return run.interrupted()
        if outcome.stopped in ("converged", "step-limit", "no-progress"):
            try:
                found = no_minimum(objective, run.x0, outcome)
            except KeyboardInterrupt:
                return run.interrupted()
            if found is not None:
                outcome.stopped, outcome.message = "no-minimum", found
    return outcome


# ----- gd, momentum, adam -----

def _first_order(run: _Run, method: str, lr: float) -> Outcome:
    buffer = first_moment = second_moment = None
    for t in range(1, run.max_steps + 1):
        done = run.converged()
        if done:
            return done
        g = run.gradient
        if method == "gd":
            x = run.x - lr * g
        elif method == "momentum":
            buffer = g if buffer is None else MOMENTUM * buffer + g
            x = run.x - lr * buffer
        else:
            if first_moment is None:
                first_moment, second_moment = np.zeros_like(g), np.zeros_like(g)
            # In place where the arrays are this loop's own: the same operations in
            # the same order (so the same bits) as the formulas above, without a
            # fresh array, and its first-touch page faults, for each of them.
            first_moment *= BETA1
            first_moment += (1 - BETA1) * g
            second_moment *= BETA2
            squared = np.multiply(g, g)
            squared *= 1 - BETA2
            second_moment += squared
            m_hat = first_moment / (1 - BETA1 ** t)
            v_hat = np.divide(second_moment, 1 - BETA2 ** t, out=squared)
            np.sqrt(v_hat, out=v_hat)
            v_hat += EPSILON
            m_hat *= lr
            m_hat /= v_hat
            x = run.x - m_hat
        if not _moved_somewhere(x, run.x):
            return run.no_progress("the step is too small to change any parameter in "
                                   "floating point")
        try:
            loss, gradient = run.evaluate(x)
        except NotFinite as error:
            return run.diverged(error.reason)
        run.move(x, loss, gradient, lr)
    return run.converged() or run.step_limit()


def _moved_somewhere(x: np.ndarray, previous: np.ndarray) -> bool:
    """Whether any element of ``x`` differs from ``previous`` (``not array_equal``):
    three elements are looked at first, since a step nearly always moves them,
    and the whole arrays only when none of them moved."""
    last = len(x) - 1
    for k in (0, last // 2, last):
        if x[k] != previous[k]:
            return True
    return not np.array_equal(x, previous)


# ----- newton -----

def _newton(run: _Run) -> Outcome:
    hessian = run.objective.hessian
    for _ in range(run.max_steps):
        done = run.converged()
        if done:
            return done
        try:
            direction = newton_direction(hessian(run.x), run.gradient)
        except NotFinite as error:
            return run.diverged(error.reason)
        slope = float(run.gradient @ direction)
        t = 1.0
        while True:
            x = run.x + t * direction
            if np.array_equal(x, run.x):
                return run.no_progress("no step along the Newton direction lowers the "
                                       "loss")
            try:
                loss, gradient = run.evaluate(x)
                if loss <= run.loss + ARMIJO * t * slope:
                    break
            except NotFinite:
                pass  # past the domain or an overflow: a shorter step may be fine
            t *= 0.5
        run.move(x, loss, gradient, t)
    return run.converged() or run.step_limit()


def newton_direction(hessian: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """−(H + τI)⁻¹g, τ = 0 where that is positive definite; otherwise τ starts
    at β − min(diag H) (at β when the diagonal is positive) and grows tenfold
    until a Cholesky factorization succeeds (Nocedal & Wright, Algorithm 3.3,
    β = 10⁻³·max(1, max|H|)), so the step goes down even where H is
    indefinite."""
    if not np.all(np.isfinite(hessian)):
        raise NotFinite("the Hessian is not finite")
    diagonal = np.diag(hessian)
    beta = 1e-3 * max(1.0, float(np.abs(hessian).max(initial=0.0)))
    tau = 0.0 if diagonal.min() > 0 else beta - float(diagonal.min())
    identity = np.eye(len(gradient))
    for _ in range(100):
        shifted = hessian + tau * identity
        try:
            np.linalg.cholesky(shifted)
        except np.linalg.LinAlgError:
            tau = max(10.0 * tau, beta)
            continue
        return np.linalg.solve(shifted, -gradient)
    raise NotFinite("the Hessian could not be made positive definite")


# ----- lbfgs -----

class _Converged(Exception):
    pass


def _lbfgs(run: _Run) -> Outcome:
    # Imported here: SciPy takes a quarter of a second to load, and only this
    # method needs it.
    from scipy.optimize import minimize as scipy_minimize

    done = run.converged()
    if done:
        return done
    if run.max_steps == 0:
        return run.step_limit()
    seen: dict[bytes, tuple[float, np.ndarray]] = {run.x.tobytes(): (run.loss, run.gradient)}

    def fun(x: np.ndarray):
        key = x.tobytes()
        if key not in seen:
            if len(seen) > 64:
                seen.clear()
            seen[key] = run.evaluate(x.copy())
        return seen[key]

    def callback(intermediate_result) -> None:
        x = np.array(intermediate_result.x, dtype=np.float64)
        loss, gradient = fun(x)
        run.move(x, loss, gradient, None)
        if norm(gradient) <= run.tol:
            raise StopIteration
        if run.step >= run.max_steps:
            raise StopIteration

    try:
        result = scipy_minimize(fun, run.x, jac=True, method="L-BFGS-B", callback=callback,
                                options={"maxiter": run.max_steps + 1,
                                         "maxfun": max(15000, 50 * run.max_steps),
                                         "gtol": 0.0, "ftol": 0.0})
    except NotFinite as error:
        return run.diverged(error.reason)
    done = run.converged()
    if done:
        return done
    if run.step >= run.max_steps:
        return run.step_limit()
    message = str(result.message).rstrip(".")
    return run.no_progress(f"L-BFGS-B stopped its line search ({message})")


# ----- no minimum -----

def no_minimum(objective: Objective, x0: np.ndarray, outcome: Outcome) -> Optional[str]:
    """A sentence when the loss has no minimum where the run went, else None.

    The run went from ``x0`` to ``x``; the loss is probed at ``x + 2^k·(x − x0)``
    for k = FIRST_PROBE … LAST_PROBE. Where there is a minimum the loss rises somewhere
    along that ray (at once when the run found one). When instead it falls
    at every probe, at least MIN_FALLS times, until it is flat in floating
    point, not finite, or the probes end, the parameters were heading off to
    infinity: the loss is unbounded below (its falls grow) or approaches its
    infimum only as the parameters grow without bound (its falls shrink).
    Only the loss is asked for at the probes: a gradient that is not finite
    there says nothing about whether the loss falls.
    """
    x = outcome.x
    direction = x - x0
    if not np.any(direction):
        return None
    previous, falls, drops = outcome.loss, 0, []
    for k in range(FIRST_PROBE, LAST_PROBE + 1):
        try:
            loss = objective.loss(x + 2.0 ** k * direction)
        except NotFinite:
            break
        if loss > previous:
            return None
        if loss == previous:
            if falls == 0 and not np.any(outcome.gradient):
                return vanished_gradient(objective, x0, outcome)
            break
        falls += 1
        drops.append(previous - loss)
        previous = loss
    if falls < MIN_FALLS:
        return None
    distance = 2.0 ** (FIRST_PROBE + falls - 1)
    if drops[-1] >= drops[-2]:
        kind = "the loss is unbounded below"
    else:
        kind = "it approaches its infimum only as the parameters grow without bound"
    return (f"no minimum: along the direction of the steps the loss keeps falling, to "
            f"{_g(previous + 0.0)} at {distance:g} times the distance covered; {kind}, so the "
            "parameters are not a fit")


def vanished_gradient(objective: Objective, x0: np.ndarray, outcome: Outcome) -> Optional[str]:
    """A sentence when the gradient at the end is 0 only by rounding, else None.

    The run ended where the gradient is exactly 0 and the loss is flat beyond,
    so the probes of ``no_minimum`` see nothing. Bisecting the way from ``x0``
    to ``x`` finds where the gradient became 0. A flat region the loss truly
    reaches (``relu(x)``, ``relu(x)^2``) is entered at a loss above its floor
    by an ordinary double. Where instead the loss just outside is already at
    its final value (``1 + exp(x)``: the loss rounded to flat before the
    gradient underflowed) or above it by less than the smallest normal double
    (``exp(x)``), the descent went on below what floating point resolves: the
    loss still falls there, towards an infimum it never reaches.
    """
    direction = outcome.x - x0
    inside, outside = 1.0, 0.0          # fractions of the way: gradient 0, gradient not 0
    loss_outside = None
    for _ in range(64):
        middle = 0.5 * (inside + outside)
        if middle in (inside, outside):
            break
        try:
            loss, gradient = objective.value_and_gradient(x0 + middle * direction)
        except NotFinite:
            return None
        if np.any(gradient):
            outside, loss_outside = middle, loss
        else:
            inside = middle
    if loss_outside is None:
        try:
            loss_outside = objective.loss(x0 + outside * direction)
        except NotFinite:
            return None
    above = loss_outside - outcome.loss
    if above < 0 or above >= sys.float_info.min:
        return None
    return (f"no minimum: the gradient is 0 at the parameters reached only because it "
            f"rounded to 0 there: along the direction of the steps the loss was still "
            f"falling, towards {_g(outcome.loss + 0.0)}, below what a double resolves, so "
            "the parameters are not a fit")
