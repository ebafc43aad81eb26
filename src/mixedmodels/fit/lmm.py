"""The optimization of a linear mixed model over θ, step by step.

1. Start at the moment estimate (:mod:`mixedmodels.optimize.start`), in the optimizer's
   parameters ``φ = d·θ`` (:mod:`mixedmodels.optimize.scaling`; ``d = 1`` unless a
   random-effects column is of an extreme size).
2. BOBYQA over φ, with small last terms profiled out when that saves large factorizations;
   for one small term, whose criterion has an exact gradient in closed form
   (:meth:`~mixedmodels.objective.lmm.LmmObjective.gradient`), L-BFGS instead, in θ rescaled
   to columns of unit size (a third of BOBYQA's evaluations: 12 instead of 43 on
   sleepstudy), and BOBYQA from its point if it fails.
3. A restart from an optimum with a variance near zero, where the objective is flat.
4. lme4's convergence check (gradient and Hessian by central differences, in φ rescaled as
   soon as a random-effects column is beyond [1/8, 8] in size, and each parameter beyond 8
   divided by its size at the point checked, so that the steps are a ten-thousandth of it);
   while it says the optimizer stopped short (a large gradient, a Hessian that is not
   positive definite, or a Newton step that promises more than 1e-10 of the objective) a
   fresh trust region from the point found, kept when it is better. On flat surfaces — few
   groups, a variance ratio in the hundreds — BOBYQA can stop with its trust region shrunk
   far from the optimum, and the check sees it; with steps of 1e-4 on a relative SD of 800
   it would see the rounding of the objective instead (a curvature of 1e-5 under rounding
   of 2e-8 / 1e-8) and pass a point 1e-4 above the optimum.
   When the objective's rounding error is large (:func:`_rounding_error`, 1e-8 where ``r²``
   is a millionth of ``y'y``) the check's step is its cube root instead: a gradient of
   rounding would leave the restarts, and the estimates along flat directions, to chance.
   With the exact gradient the check reads it, and the Hessian from forward differences of it.
5. A Newton step on the derivatives of the check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.trailing import TrailingBlocks
from mixedmodels.objective.lmm import LmmObjective
from mixedmodels.optimize import OptSummary, bobyqa, lbfgs
from mixedmodels.optimize.checks import ConvergenceCheck, check_convergence, newton_polish
from mixedmodels.optimize.differences import derivative_step
from mixedmodels.optimize.nested import nested_bobyqa
from mixedmodels.optimize.scaling import (
    CHECK_LIMIT,
    SEARCH_LIMIT,
    ThetaScaling,
    fixed_sigma_scaling,
    magnitude_scaling,
    theta_scaling,
)
from mixedmodels.optimize.start import initial_step, moment_start

__all__ = [
    "OFF_BOUND",
    "SINGULAR_TOL",
    "fit_theta",
    "gradient_scaling",
    "near_bound",
]

Array = FloatArray
Objective = Callable[[Array], float]
SINGULAR_TOL = 1e-4  # a bounded parameter below this restarts the optimizer once
MAX_RESTARTS = 3  # fresh trust regions while the convergence check disagrees
OFF_BOUND = 0.05  # where the second boundary restart puts a zero variance (as the start)
IMPROVEMENT = 1e-10  # a restart that gains less than this (relative) ends the restarts
DECREMENT = 1e-10  # a Newton decrement above this (relative) also restarts


def fit_theta(
    devfun: LmmObjective, verbose: bool, check: bool, given: Array | None = None
) -> tuple[OptSummary, ConvergenceCheck | None]:
    """Minimize an LMM's objective over θ (see the module docstring).

    Parameters
    ----------
    devfun
        The objective (``LinearMixedModel.objective_function``); its working factor is left
        at some evaluated θ, not necessarily the optimum.
    verbose
        Print the objective at every evaluation.
    check
        Run the convergence check (with its restarts and the Newton step).
    given
        The caller's (checked) θ to start from (lme4's ``start``); else moments or lme4's.

    Returns
    -------
    tuple
        The optimizer's summary (``initial`` and ``final`` in θ) and the check, or ``None``.
    """
    scaling = theta_scaling(devfun.terms, devfun.A, devfun.nobs, SEARCH_LIMIT)
    if devfun.sigma is not None:  # θ is relative to a fixed σ: lme4's start, rescaled
        scaling = fixed_sigma_scaling(scaling, devfun.terms, devfun.A, devfun.nobs, devfun.sigma)
        start = given
    elif given is not None:
        start = given
    else:
        start = moment_start(devfun.terms, devfun.A, devfun.nobs, scaling)
    step = None if start is None else initial_step(scaling.to_phi(start), devfun.terms)
    if start is None:  # lme4's start, in the rescaled parameters
        start = scaling.to_theta(np.concatenate([t.initial_theta() for t in devfun.terms]))

    def objective(theta: Array) -> float:
        value = devfun(theta)
        if verbose:
            print(f"objective {value:.8f} at θ = {np.array2string(theta, precision=6)}")
        return value

    scaled = scaling.wrap(objective)
    if devfun.has_gradient:
        found = _quasi_newton(devfun, objective, start, step, scaling)
    else:
        found = _optimize(devfun, scaled, scaling.to_phi(start), step, verbose, scaling)
    found = _restart_at_boundary(devfun, scaled, found)
    found.initial, found.final = start, scaling.to_theta(found.final)
    if not check:
        return found, None
    columns = theta_scaling(devfun.terms, devfun.A, devfun.nobs, CHECK_LIMIT)
    found, convergence, local, noise = _check_and_restart(devfun, objective, found, columns)
    found.final = local.to_phi(found.final)
    polished = newton_polish(
        local.wrap(devfun), found.final, devfun.lower, convergence, found.fmin, noise
    )
    if polished is not None:
        found.final, found.fmin = polished
    found.final = local.to_theta(found.final)
    return found, convergence


def _quasi_newton(
    devfun: LmmObjective,
    objective: Objective,
    start: Array,
    step: Array | None,
    search: ThetaScaling,
) -> OptSummary:
    """L-BFGS on the exact gradient (one small term), BOBYQA where it fails.

    The search works in θ rescaled to columns of unit size (:data:`CHECK_LIMIT`, where a
    quasi-Newton method's steps are well conditioned); ``start`` is in θ, the summary's
    ``final`` in the parameters of ``search`` (as BOBYQA's search leaves it).
    """
    local = gradient_scaling(devfun)
    gradient = local.wrap_gradient(devfun.gradient)
    found = lbfgs(local.wrap(objective), gradient, local.to_phi(start), devfun.lower)
    found.final = search.to_phi(local.to_theta(found.final))
    if found.converged:
        return found
    again = bobyqa(search.wrap(objective), found.final, devfun.lower, initial_step=step)
    return _better(again, found)


def gradient_scaling(devfun: LmmObjective) -> ThetaScaling:
    """The parameters of the searches on the exact gradient: θ over columns of unit size."""
    local = theta_scaling(devfun.terms, devfun.A, devfun.nobs, CHECK_LIMIT)
    if devfun.sigma is None:
        return local
    return fixed_sigma_scaling(local, devfun.terms, devfun.A, devfun.nobs, devfun.sigma)


def _optimize(
    devfun: LmmObjective,
    objective: Objective,
    start: Array,
    step: Array | None,
    verbose: bool,
    scaling: ThetaScaling,
) -> OptSummary:
    """BOBYQA over φ; small last terms profiled out when that saves large factorizations.

    ``objective`` and ``start`` are in the optimizer's parameters ``φ = d·θ``.
    """
    begin = devfun.factor.trailing_start()
    if begin is None or step is None:
        return bobyqa(objective, start, devfun.lower, initial_step=step)
    split = sum(t.ntheta for t in devfun.terms[:begin])
    lead_scaling, rest_scaling = scaling.part(0, split), scaling.part(split)
    rest_start = rest_scaling.to_theta(start[split:])

    def inner_objective(lead: Array) -> Objective:
        theta = np.concatenate([lead_scaling.to_theta(lead), rest_start])
        blocks = devfun.factor.trailing_blocks(theta, begin)

        return rest_scaling.wrap(lambda rest: _trailing_value(devfun, blocks, rest))

    def report(phi: Array, value: float) -> None:
        if verbose:
            theta = scaling.to_theta(phi)
            print(f"objective {value:.8f} at θ = {np.array2string(theta, precision=6)}")

    return nested_bobyqa(inner_objective, start, devfun.lower, step, split, report)


def _restart_at_boundary(
    devfun: LmmObjective, objective: Objective, found: OptSummary
) -> OptSummary:
    """Restart from an optimum with a variance at (or near) zero; keep the better.

    The objective is nearly flat in such a θ (it depends on θ²), and BOBYQA can stop with a
    small trust region just short of an interior optimum; a fresh trust region from there
    finds it, or confirms the boundary, for a few dozen evaluations in singular fits only.
    A vector term still at the boundary then gets a second restart from the point with its
    zero variances moved off the bound: its template has several boundary faces (a zero
    intercept variance, or a correlation of ±1), and BOBYQA does not leave the one it found.
    The restarts are BOBYQA's also after an L-BFGS search: its trust region explores the
    boundary faces, where the gradient of a function of θ² is zero and tells nothing.
    """
    near = near_bound(devfun.lower, found.final)
    if not np.any(near):
        return found
    found = _restart(devfun, objective, found)
    near = near_bound(devfun.lower, found.final)
    if not np.any(near & _vector_term_entries(devfun)):
        return found
    moved = replace(found, final=np.where(near, OFF_BOUND, found.final))
    return _restart(devfun, objective, moved, keep=found)


def near_bound(lower: Array, x: Array) -> np.ndarray:
    """Mask of the parameters bounded by ``lower`` within :data:`SINGULAR_TOL` of their bound."""
    return (lower == 0.0) & (x < SINGULAR_TOL)


def _vector_term_entries(devfun: LmmObjective) -> np.ndarray:
    """Mask of the parameters that belong to terms with more than one column."""
    return np.concatenate([np.full(t.ntheta, t.k > 1) for t in devfun.terms])


def _restart(
    devfun: LmmObjective,
    objective: Objective,
    found: OptSummary,
    keep: OptSummary | None = None,
) -> OptSummary:
    """BOBYQA again from ``found`` with a fresh trust region; the better of it and ``keep``.

    ``keep`` is ``found`` itself by default (when ``found`` is an optimum, not a new start).
    """
    best = found if keep is None else keep
    step = initial_step(found.final, devfun.terms)
    again = bobyqa(objective, found.final, devfun.lower, initial_step=step)
    return _better(again, best)


def _better(again: OptSummary, best: OptSummary) -> OptSummary:
    """The better of a restart and the optimum before it, with both searches' evaluations."""
    again.feval += best.feval
    again.initial = best.initial
    again.settings = best.settings | again.settings
    return again if again.fmin < best.fmin else replace(best, feval=again.feval)


def _check_and_restart(
    devfun: LmmObjective, objective: Objective, found: OptSummary, columns: ThetaScaling
) -> tuple[OptSummary, ConvergenceCheck, ThetaScaling, float]:
    """lme4's check at the optimum; restart while it disagrees and a restart gains.

    ``found.final`` is in θ, in and out. Each check and restart works in the parameters of
    ``columns`` divided by their size at the point checked (:func:`magnitude_scaling`); the
    last check is returned with that scaling and the objective's rounding error (the Newton
    step uses them).
    """
    local, check, noise = _check_at(devfun, found, columns)
    for _ in range(MAX_RESTARTS):
        if not _stopped_short(check, found.fmin):
            break
        start = replace(found, final=local.to_phi(found.final))
        again = _restart(devfun, local.wrap(objective), start)
        again.final = local.to_theta(again.final)
        gained = found.fmin - again.fmin
        moved = not np.array_equal(again.final, found.final)
        found = again
        if moved:  # the derivatives of the point the Newton step starts from
            local, check, noise = _check_at(devfun, found, columns)
        if not gained > IMPROVEMENT * max(1.0, abs(found.fmin)):
            break
    return found, check, local, noise


def _check_at(
    devfun: LmmObjective, found: OptSummary, columns: ThetaScaling
) -> tuple[ThetaScaling, ConvergenceCheck, float]:
    """The local scaling at ``found.final`` (θ), the check in it, and the rounding error.

    The rounding error is read from the factor as the optimizer left it (at or next to the
    point); the check's step is fit for it (:func:`derivative_step`).
    """
    local = magnitude_scaling(columns, found.final, CHECK_LIMIT)
    noise = _rounding_error(devfun)
    quiet = local.wrap(_check_values(devfun))
    gradient = local.wrap_gradient(devfun.gradient) if devfun.has_gradient else None
    x = local.to_phi(found.final)
    step = derivative_step(noise)
    check = check_convergence(quiet, x, devfun.lower, found.fmin, step, gradient)
    return local, check, noise


def _check_values(devfun: LmmObjective) -> Objective:
    """The objective for the check's differences: with small last terms, on shared factors.

    Of the check's points, those that differ only in the small last terms' θ share the
    factorization of the leading terms (the large dense block): on InstEval, 7 of them
    instead of 13 full updates. Each leading factorization is kept as the small Schur
    complement it leaves (:meth:`~BlockedCholesky.trailing_blocks`, a few hundred kB), as
    the optimizer's nested search evaluates the criterion; other models use ``devfun``.
    """
    begin = devfun.factor.trailing_start()
    if begin is None or devfun.has_gradient:
        return devfun
    split = sum(t.ntheta for t in devfun.terms[:begin])
    leading: dict[bytes, TrailingBlocks | None] = {}

    def value(theta: Array) -> float:
        key = np.ascontiguousarray(theta[:split]).tobytes()
        if key not in leading:
            try:
                leading[key] = devfun.factor.trailing_blocks(theta, begin)
            except np.linalg.LinAlgError:
                leading[key] = None
        blocks = leading[key]
        return math.inf if blocks is None else _trailing_value(devfun, blocks, theta[split:])

    return value


def _trailing_value(devfun: LmmObjective, blocks: TrailingBlocks, rest: Array) -> float:
    """The criterion on the leading terms' Schur complement at the trailing terms' θ.

    ``inf`` where the trailing factor does not exist; the nested search's and the check's values.
    """
    try:
        return devfun.criterion(blocks.factor(rest))
    except np.linalg.LinAlgError:
        return math.inf


def _stopped_short(check: ConvergenceCheck, value: float) -> bool:
    """lme4's verdict, or a Newton step that promises more than :data:`DECREMENT` (relative).

    On a flat surface BOBYQA can stop with a gradient below lme4's tolerance and still 1e-5
    above the optimum; the decrement ``gᵀH⁻¹g / 2`` sees it.
    """
    return check.stopped_short or check.decrement > DECREMENT * max(1.0, abs(value))


def _rounding_error(devfun: LmmObjective) -> float:
    """The size of the rounding error of the objective near the optimum (the factor's θ).

    The objective is ``dof·log r²`` plus (REML) ``log|R_X|²`` and terms that are accurate,
    and ``r²`` (each ``R_jj²``) is what is left of ``A_yy`` (``A_jj``) after the random and
    fixed effects are taken out: its relative error is about ``ε·A_yy / r²``. Random effects
    of SD 100 beside a residual SD of 0.1 leave ``r²`` a millionth of ``A_yy``, and the
    objective is then uncertain to 1e-8 (to 1e-13 for ordinary models).
    """
    R, A = np.diagonal(devfun.factor.xx), np.diagonal(devfun.A.xx)
    if len(R) == 0 or not np.all(np.isfinite(R)) or not np.all(R > 0):
        return 0.0  # no factor to judge by: taken as accurate
    loss = devfun.dof * A[-1] / R[-1] ** 2
    if devfun.reml:
        loss += float(np.sum(A[:-1] / R[:-1] ** 2))
    return float(np.finfo(float).eps * loss)
