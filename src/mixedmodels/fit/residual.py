"""The optimization of an LMM with a residual structure, jointly over θ and its parameters.

1. Start at the ordinary fit's θ (the model without the structure) and the structure's
   neutral values (no correlation — 0.2 for a continuous AR(1), as nlme — ratios 1, power 0).
2. BOBYQA over ``x = (θ̃, u)`` (θ bounded below by the terms, ``u`` free) on the criterion of
   :class:`~mixedmodels.objective.residual.ResidualObjective`, then fresh trust regions from
   the optimum while they gain (BOBYQA can stop short on the flat ridges a correlation makes).
   Before a fresh trust region, a local check (:func:`settled`): with few parameters, away
   from the bounds, central differences at the optimum (``n(n+1)`` values) give a gradient
   ``g`` and a positive-definite Hessian ``H`` whose Newton step is within the differences'
   reach and gains ``½ gᵀH⁻¹g`` less than a restart must gain to count, and no value below
   the optimum: the optimum is a minimum to that precision and the restart is skipped.
3. A variance function of the fitted values (nlme's default ``varPower()``) holds its
   covariate fixed during an optimization and is updated from the fit between them, as nlme
   does, until the fitted values change by less than :data:`PASS_TOL` (relative to the
   largest; nlme stops when its parameters change by less than 1e-6, relative, which the
   flat directions of θ — relative SDs in the hundreds — make a matter of the optimizer's
   last digits, while the fitted values settle).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.objective.residual import ResidualObjective
from mixedmodels.optimize import OptSummary, bobyqa
from mixedmodels.optimize.differences import DERIV12_STEP, gradient_and_hessian

__all__ = ["ResidualFit", "fit_residual", "settled"]

Array = FloatArray
MAX_RESTARTS = 4  # fresh trust regions after the first optimization
IMPROVEMENT = 1e-10  # a restart gaining less than this (relative) ends them
MAX_PASSES = 50  # updates of a covariate of the fitted values
PASS_TOL = 1e-8  # change of the fitted values (relative to the largest) that ends the passes
LATER_STEP = 0.1  # trust regions of the passes after the first, relative to the first's
THETA_STEP, RESIDUAL_STEP = 0.1, 0.3  # initial trust-region radii
CHECK_MAX_PARAMS = 4  # the local check before a restart: up to this many parameters (20 values)
CHECK_STEP = DERIV12_STEP  # its difference step
CHECK_REACH = 10.0  # a Newton step beyond this many difference steps: not settled


@dataclass(frozen=True)
class ResidualFit:
    """The optimum of a residual-structure fit.

    Attributes
    ----------
    theta
        θ of the model (multipliers not normalized).
    params
        The residual parameters, unconstrained.
    fitted
        The covariate of a variance function of the fitted values at the last pass, or None.
    summary
        The last optimization (in the optimizer's ``x``), evaluations of every pass counted.
    passes
        Number of optimizations (1 unless the covariate is the fitted values).
    """

    theta: Array
    params: Array
    fitted: Array | None
    summary: OptSummary
    passes: int


def fit_residual(
    objective: ResidualObjective,
    theta0: Array,
    fitted0: Array | None,
    verbose: bool = False,
    params0: Array | None = None,
) -> ResidualFit:
    """Minimize the criterion over ``(θ, u)`` (see the module docstring).

    Parameters
    ----------
    objective
        The criterion (normalized multipliers); its ``fitted`` is set by the passes.
    theta0
        θ to start from (the ordinary fit's).
    fitted0
        The fitted values of the ordinary fit: the first covariate of a variance function of
        the fitted values.
    verbose
        Print the criterion at every evaluation.
    params0
        Unconstrained residual parameters to start from (the structure's neutral values).
    """
    structure = objective.structure
    u = structure.start if params0 is None else np.asarray(params0, dtype=np.float64)
    theta = np.maximum(np.asarray(theta0, dtype=np.float64), objective.lower)
    fitted = fitted0 if structure.uses_fitted else None
    feval, passes = 0, 0
    while True:
        objective.fitted = fitted
        x0 = np.concatenate([objective.optimizer_theta(theta, u), u])
        found = _optimize(objective, x0, verbose, first=passes == 0)
        feval += found.feval
        passes += 1
        theta, u = objective.model_theta(found.final), objective.split(found.final)[1]
        if fitted is None or passes >= MAX_PASSES:
            break
        new = objective.fitted_values(found.final)
        change = float(np.max(np.abs(new - fitted)) / max(float(np.max(np.abs(new))), 1e-300))
        if change <= PASS_TOL:
            break
        fitted = new
    found.feval = feval
    return ResidualFit(theta, u, fitted, found, passes)


def _optimize(
    objective: ResidualObjective, x0: Array, verbose: bool, first: bool = True
) -> OptSummary:
    """BOBYQA from ``x0``, then fresh trust regions from the optimum while they gain.

    Passes after the first start next to their optimum: smaller trust regions.
    """
    lower = objective.bounds

    def f(x: Array) -> float:
        value = objective(x)
        if verbose:
            print(f"objective {value:.8f} at x = {np.array2string(x, precision=6)}")
        return value

    n_theta = objective.n_theta
    step = np.r_[np.full(n_theta, THETA_STEP), np.full(x0.size - n_theta, RESIDUAL_STEP)]
    if not first:
        step = step * LATER_STEP
    x0 = np.maximum(x0, lower)
    found = bobyqa(f, x0, lower, initial_step=step)
    for _ in range(MAX_RESTARTS):
        ok, evaluations = settled(f, found.final, found.fmin, lower)
        found.feval += evaluations
        if ok:
            break
        again = bobyqa(f, found.final, lower, initial_step=step)
        again.feval += found.feval
        again.initial = found.initial
        gained = found.fmin - again.fmin
        if again.fmin < found.fmin:
            found = again
        else:
            found.feval = again.feval
        if not gained > IMPROVEMENT * max(1.0, abs(found.fmin)):
            break
    if not math.isfinite(found.fmin):
        found.return_value = "FAILURE"
    return found


def settled(f: Callable[[Array], float], x: Array, fmin: float, lower: Array) -> tuple[bool, int]:
    """Whether ``x`` is a minimum to the precision a restart counts (see the module docstring).

    Returns the verdict and the number of evaluations made (none when the check does not
    apply: too many parameters, or a bound within the difference step).
    """
    x = np.asarray(x, dtype=np.float64)
    n, h = x.size, CHECK_STEP
    if n > CHECK_MAX_PARAMS or not math.isfinite(fmin) or np.any(x - h <= lower):
        return False, 0
    values: list[float] = []

    def probe(y: Array) -> float:
        values.append(f(y))
        return values[-1]

    g, H = gradient_and_hessian(probe, x, range(n), h, value=fmin)
    tol = IMPROVEMENT * max(1.0, abs(fmin))
    if not all(math.isfinite(v) for v in values) or min(values) < fmin - tol:
        return False, len(values)
    try:
        np.linalg.cholesky(H)
        newton = np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        return False, len(values)
    gain = 0.5 * float(g @ newton)
    return bool(gain <= tol and np.max(np.abs(newton)) <= CHECK_REACH * h), len(values)
