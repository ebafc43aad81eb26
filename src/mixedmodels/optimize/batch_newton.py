"""Newton's method for many small problems at once (the bootstrap's replicates).

Each problem is a replicate's criterion over its own few parameters, started near its optimum
(the original fit's θ̂): Newton steps on the exact gradient and a Hessian from forward
differences of it, with an Armijo backtracking line search, converge in four or five steps.
Where the Hessian is indefinite (far from the optimum) the step is along its eigenvectors with
the absolute eigenvalues (a modified Newton step, still a descent direction). A step goes
at most half the way to a bound (far from the optimum a Newton step can jump onto a boundary
face and stay at a poor local optimum there), except for a parameter already near its bound:
there the step is projected on the bound (a projected Newton method), and a parameter on its
bound with the gradient pushing outwards is held there while the others take the Newton step
of the rest. A problem leaves the batch when it
has converged (a positive definite Hessian and the Newton decrement ``gᵀH⁻¹g`` of the free
parameters below :data:`DECREMENT_TOL` times ``max(1, |f|)``) or failed: a line search that
finds no decrease (also from a saddle, along its negative curvature) or :data:`MAXIT` steps.
Failed problems are the caller's to solve another way; every problem's path depends on its
own values only, never on the others'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray

__all__ = ["BatchOptimum", "batch_newton"]

Array = FloatArray
Mask = NDArray[np.bool_]
Evaluate = Callable[[Array, NDArray[np.intp]], tuple[Array, Array]]
MAXIT = 30
ARMIJO = 1e-4
HALVINGS = 20
DECREMENT_TOL = 1e-12  # converged when gᵀH⁻¹g is below this times max(1, |f|)
ROUNDING_TOL = 1e-9  # ... or below this and no step decreases f any more
DIFFERENCE_STEP = 1e-6  # the Hessian's forward differences, times max(1, |x|)
TO_BOUND = 0.5  # a step goes at most this fraction of the way to a bound ...
NEAR_BOUND = 1e-3  # ... unless the parameter is this close to it: then it may reach it
EIGEN_FLOOR = 1e-8  # the smallest |eigenvalue| of a modified Newton step, of the largest
_ACTIVE, _CONVERGED, _FAILED = 0, 1, 2


@dataclass(frozen=True)
class BatchOptimum:
    """Where each problem stopped.

    Attributes
    ----------
    x, f
        ``(m, e)`` and ``(m,)``: the last accepted point and its value.
    converged
        ``(m,)``: whether the problem converged (else it failed, at ``x``).
    evaluations
        Batched evaluations made (each of some of the problems).
    """

    x: Array
    f: Array
    converged: Mask
    evaluations: int


def batch_newton(evaluate: Evaluate, x0: Array, lower: Array) -> BatchOptimum:
    """Minimize ``m`` problems from ``x0`` ``(m, e)`` subject to ``x ≥ lower`` ``(e,)``.

    ``evaluate(x, rows)`` returns the values ``(len(rows),)`` and gradients
    ``(len(rows), e)`` of problems ``rows`` at ``x`` (``inf`` and NaN where undefined).
    """
    x = np.array(x0, dtype=float)
    rows = np.arange(len(x))
    f, g = evaluate(x, rows)
    calls = 1
    status = np.where(np.isfinite(f), _ACTIVE, _FAILED)
    for _ in range(MAXIT):
        active = np.flatnonzero(status == _ACTIVE)
        if active.size == 0:
            break
        held = (x[active] <= lower) & (g[active] > 0.0)  # on a bound and pushed outwards
        H = _hessian(evaluate, x[active], g[active], active)
        free_g = np.where(held, 0.0, g[active])
        H = np.where(held[:, :, None] | held[:, None, :], np.eye(x.shape[1]), H)
        step, good, definite = _newton_steps(H, free_g)
        decrement = -np.einsum("ij,ij->i", free_g, step)
        flat = decrement <= DECREMENT_TOL * np.maximum(1.0, np.abs(f[active]))
        done = good & definite & flat
        saddle = good & ~definite & flat
        status[active[~good]] = _FAILED
        status[active[done]] = _CONVERGED
        step[saddle] = _escapes(H[saddle], x[active[saddle]], lower)
        decrement[saddle] = np.inf  # an escape that finds no decrease fails
        moving = good & ~done
        calls += x.shape[1] + _line_search(
            evaluate, (x, f, g, status), active[moving], step[moving], decrement[moving], lower
        )
    converged = status == _CONVERGED
    return BatchOptimum(x, f, converged, calls)


def _hessian(evaluate: Evaluate, x: Array, g: Array, rows: NDArray[np.intp]) -> Array:
    """Forward differences of the gradients, symmetrized, ``(len(rows), e, e)``."""
    m, e = x.shape
    H = np.empty((m, e, e))
    for j in range(e):
        shifted = x.copy()
        h = DIFFERENCE_STEP * np.maximum(1.0, np.abs(x[:, j]))
        shifted[:, j] += h
        H[:, :, j] = (evaluate(shifted, rows)[1] - g) / h[:, None]
    return 0.5 * (H + H.swapaxes(1, 2))


def _newton_steps(H: Array, g: Array) -> tuple[Array, Mask, Mask]:
    """Modified Newton steps ``−|H|⁻¹g`` and where ``H`` is finite and positive definite.

    ``|H|`` has the absolute eigenvalues of ``H``, floored at :data:`EIGEN_FLOOR` of the
    largest: a descent direction also where ``H`` is indefinite (far from the optimum).
    Returns the steps (zero where ``H`` or ``g`` is not finite), ``finite`` and ``definite``.
    """
    step = np.zeros_like(g)
    finite = np.all(np.isfinite(H), axis=(1, 2)) & np.all(np.isfinite(g), axis=1)
    definite = np.zeros(len(g), dtype=bool)
    if not np.any(finite):
        return step, finite, definite
    vals, vecs = np.linalg.eigh(H[finite])
    definite[finite] = np.all(vals > 0.0, axis=1)
    size = np.abs(vals)
    size = np.maximum(size, EIGEN_FLOOR * np.max(size, axis=1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):  # H = 0: no step, a failure
        along = np.einsum("mji,mj->mi", vecs, g[finite]) / size
        step[finite] = -np.einsum("mij,mj->mi", vecs, along)
    finite &= np.all(np.isfinite(step), axis=1)
    step[~finite] = 0.0
    return step, finite, definite


def _escapes(H: Array, x: Array, lower: Array) -> Array:
    """Steps along the most negative curvature of ``H``, from stationary points ``x``.

    Of length ``0.1 (1 + max |x|)``, signed to increase the bounded parameters (into the
    feasible region: a variance at or near zero), for the line search to shorten.
    """
    vecs = np.linalg.eigh(H)[1][:, :, 0]
    bounded = np.isfinite(lower)
    vecs[np.sum(vecs[:, bounded], axis=1) < 0.0] *= -1.0
    return vecs * (0.1 * (1.0 + np.max(np.abs(x), axis=1)))[:, None]


def _first_steps(x: Array, step: Array, lower: Array) -> Array:
    """The line search's first step lengths: at most :data:`TO_BOUND` of the way to a bound.

    Bounded parameters that are already within :data:`NEAR_BOUND` of their bound (relative
    to ``max(1, |x|)``) do not limit the step: it is projected on the bound, as from a bound.
    """
    scale = np.maximum(1.0, np.max(np.abs(x), axis=1, keepdims=True))
    limiting = (step < 0.0) & (x - lower > NEAR_BOUND * scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(limiting, (x - lower) / -step, np.inf)
    return np.minimum(1.0, TO_BOUND * np.min(room, axis=1))


def _line_search(
    evaluate: Evaluate,
    state: tuple[Array, Array, Array, NDArray[np.int_]],
    rows: NDArray[np.intp],
    step: Array,
    decrement: Array,
    lower: Array,
) -> int:
    """Backtrack each problem's step, projected on the bounds, to an Armijo decrease.

    ``state`` (``x``, ``f``, ``g``, the problems' status) is updated in place.
    Returns the number of batched evaluations. A problem whose step never decreases ``f``
    converged if its decrement was already at the rounding level, else it failed.
    """
    x, f, g, status = state
    alpha = _first_steps(x[rows], step, lower)
    calls = 0
    for _ in range(HALVINGS):
        if rows.size == 0:
            return calls
        trial = np.maximum(x[rows] + alpha[:, None] * step, lower)
        value, grad = evaluate(trial, rows)
        calls += 1
        slope = np.minimum(np.einsum("ij,ij->i", g[rows], trial - x[rows]), 0.0)
        accept = (value <= f[rows] + ARMIJO * slope) & (value < f[rows])
        taken = rows[accept]
        x[taken], f[taken], g[taken] = trial[accept], value[accept], grad[accept]
        keep = ~accept
        rows, step, decrement, alpha = rows[keep], step[keep], decrement[keep], alpha[keep] / 2
    flat = decrement <= ROUNDING_TOL * np.maximum(1.0, np.abs(f[rows]))
    status[rows[flat]] = _CONVERGED
    status[rows[~flat]] = _FAILED
    return calls
