"""glmer's two stages on a GLMM's objective (:class:`~mixedmodels.objective.glmm.GlmmObjective`).

Stage 1 (glmer's ``nAGQ = 0``) optimizes θ while PIRLS estimates β with the modes; stage 2
optimizes (θ, β) on the Laplace objective (or adaptive quadrature). Both use quasi-Newton steps
on the exact gradient (:mod:`mixedmodels.objective.laplace_gradient`) where it is affordable, and
BOBYQA on the objective values otherwise. At the optimum, lme4's convergence checks are made
from the gradient and the quasi-Newton Hessian.

:func:`fit_two_stages` returns the fit as a value (:class:`GlmmFit`); the model keeps it.
Evaluating the objective moves its engine's modes, nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.fit.agq import agq_stage_two
from mixedmodels.fit.glmm_starts import inside_start, ladder_start
from mixedmodels.objective.glmm import GlmmObjective
from mixedmodels.objective.laplace_gradient import laplace_gradient
from mixedmodels.objective.laplace_scalar import ScalarEngine
from mixedmodels.optimize import OptSummary, bobyqa
from mixedmodels.optimize.checks import ConvergenceCheck
from mixedmodels.optimize.differences import jacobian, relative_steps
from mixedmodels.optimize.glmm_result import GlmmFit
from mixedmodels.optimize.newton import Newton, derivative_free, quasi_newton
from mixedmodels.optimize.whitening import Whitening

__all__ = ["GlmmFit", "convergence_check", "fit_two_stages"]

Array = FloatArray
Objective = Callable[[Array], float]
GRAD_TOL = 2e-3  # lme4's check.conv.grad
EIGEN_RATIO_TOL = 1e6  # lme4's check.conv.hess: nearly unidentifiable beyond this
STAGE1_TOL = 1e-4  # stage 1 only starts stage 2: a rough optimum will do
FORWARD_STEP = 1e-6  # forward differences of the gradient: steps of 1e-6 · max(1, |x|)


@dataclass(frozen=True)
class _StageTwo:
    """Stage 2's summary, and what the quasi-Newton method or the quadrature search made."""

    optsum: OptSummary
    hessian_approx: Array | None = None
    final_gradient: Array | None = None
    whitening: Whitening | None = None


def fit_two_stages(
    objective: GlmmObjective, theta0: Array, verbose: bool, start: Array | None
) -> GlmmFit:
    """Glmer's fit: stage 1 from ``theta0`` unless ``start`` gives (θ, β), then stage 2.

    Parameters
    ----------
    objective
        The model's objective; its ``nagq`` says which stages run (0: stage 1 only).
    theta0
        Where stage 1 starts (lme4's: 1 on the diagonals of the templates, 0 off them).
    verbose
        Print the objective at each evaluation.
    start
        ``(θ, β)`` to start stage 2 from (stage 1 is then skipped); with ``nagq = 0`` its θ
        starts stage 1.

    Returns
    -------
    GlmmFit
        The estimates and what the optimizers report.
    """
    k = objective.n_theta
    engine = objective.engine
    if objective.nagq == 0:
        theta1 = theta0 if start is None else np.asarray(start, dtype=float)[:k]
        x0, first = _stage_one(objective, theta1, verbose)
        engine.fit_modes(x0[:k], with_beta=True)
        theta, beta = x0[:k].copy(), engine.beta.copy()
        return GlmmFit(theta, beta, replace(first, fmin=engine.laplace()), first)
    stage1: OptSummary | None = None
    if start is None:
        x0, stage1 = _stage_one(objective, theta0, verbose)
    else:
        x0 = np.asarray(start, dtype=float)
    two = _stage_two(objective, x0, verbose)
    final = two.optsum.final
    optsum = replace(two.optsum, fmin=objective(final))
    return GlmmFit(
        final[:k].copy(),
        final[k:].copy(),
        optsum,
        stage1,
        two.hessian_approx,
        two.final_gradient,
        two.whitening,
    )


def _stage_one(objective: GlmmObjective, theta0: Array, verbose: bool) -> tuple[Array, OptSummary]:
    """Glmer's first stage from ``theta0``: the start of the second, (θ, β̂(θ)), and a summary."""
    engine = objective.engine
    d = engine.data
    p = objective.n_fixed
    engine.start(np.zeros(p), d.family.initial_mu(d.y, d.trials))

    def stage1(theta: Array) -> float:
        value = engine.evaluate_stage1(theta)
        if verbose:
            print(f"stage 1: {value:.8f} at θ = {np.array2string(theta, precision=6)}")
        return value

    theta0 = np.array(theta0, dtype=float)
    if d.family.has_dispersion:  # lme4's objective mixes two scales: see fit.glmm_starts
        theta0 = ladder_start(stage1, theta0)
        engine.start(np.zeros(p), d.family.initial_mu(d.y, d.trials))
    newton = _stage_one_newton(objective, stage1, theta0) if objective.gradient_affordable else None
    if newton is not None:
        summary = newton.summary(theta0, objective.lower)
    else:
        engine.start(np.zeros(p), d.family.initial_mu(d.y, d.trials))
        tol = 1e-12 if objective.nagq == 0 else 1e-7
        summary = bobyqa(stage1, theta0, objective.lower, ftol_rel=tol)
    theta = summary.final
    engine.fit_modes(theta, with_beta=True)
    return np.concatenate([theta, engine.beta]), summary


def _stage_one_newton(objective: GlmmObjective, stage1: Objective, theta0: Array) -> Newton | None:
    """Stage 1 by quasi-Newton steps on the exact gradient (β inside PIRLS)."""
    engine = objective.engine

    def gradient(theta: Array) -> Array:
        engine.fit_modes(theta, with_beta=True)
        return laplace_gradient(engine, with_beta=True)

    tol = 1e-11 if objective.nagq == 0 else STAGE1_TOL
    try:
        f0 = stage1(theta0)
        if not math.isfinite(f0):
            return None
        g0 = gradient(theta0)
        H0 = jacobian(gradient, theta0, relative_steps(theta0, FORWARD_STEP), central=False, f0=g0)
        result = quasi_newton(stage1, gradient, theta0, objective.lower, H0, (f0, g0), tol)
    except (np.linalg.LinAlgError, ArithmeticError):
        return None
    return result if result.converged and np.all(np.isfinite(result.x)) else None


def _stage_two(objective: GlmmObjective, x0: Array, verbose: bool) -> _StageTwo:
    """(θ, β) on the Laplace (quasi-Newton) or quadrature (BOBYQA) objective."""
    lower = objective.all_lower

    def evaluate(x: Array) -> float:
        value = objective(x)
        if verbose:
            print(f"stage 2: {value:.10f} at {np.array2string(x, precision=6)}")
        return value

    if objective.has_gradient:
        # a variance at zero is a stationary point of the (even) objective: start just inside
        bounded = np.concatenate([objective.lower == 0.0, np.zeros(objective.n_fixed, bool)])
        inside = inside_start(evaluate, x0, bounded)
        result = _newton(objective, evaluate, inside)
        if result is not None and result.converged and np.all(np.isfinite(result.x)):
            return _StageTwo(result.summary(x0, lower), result.H, result.g)
    if objective.nagq > 1 and isinstance(objective.engine, ScalarEngine):
        summary, white = agq_stage_two(objective, evaluate, _laplace_start(objective, x0))
        return _StageTwo(summary, whitening=white)
    step = 0.05 * np.maximum(np.abs(x0), 0.1)
    return _StageTwo(derivative_free(evaluate, x0, lower, initial_step=step))


def _newton(objective: GlmmObjective, evaluate: Objective, x0: Array) -> Newton | None:
    """Quasi-Newton on ``evaluate`` from ``x0``; None when the gradient or a factor fails there."""

    def refresh(x: Array, g: Array) -> Array:
        theta, beta = objective.split(x)
        objective.engine.fit_modes(theta, beta, with_beta=False)
        return _hessian_at(objective, x, g)

    try:
        start, H0 = _initial_hessian(objective, evaluate, x0)
        lower = objective.all_lower
        gradient = objective.gradient
        return quasi_newton(evaluate, gradient, x0, lower, H0, start, refresh=refresh)
    except (np.linalg.LinAlgError, ArithmeticError):
        return None


def _initial_hessian(
    objective: GlmmObjective, evaluate: Objective, x0: Array
) -> tuple[tuple[float, Array], Array]:
    """The objective and gradient at ``x0`` and a first Hessian for the quasi-Newton steps.

    The θ columns are forward differences of the exact gradient; the β block is the Fisher
    information ``2 R_X R_Xᵀ`` of the factor at ``x0`` (exact up to the log-determinant's
    curvature), which saves one gradient per fixed effect.
    """
    f0 = evaluate(x0)
    if not math.isfinite(f0):
        raise ArithmeticError("the objective is not finite at the start of stage 2")
    g0 = laplace_gradient(objective.engine)
    return (f0, g0), _hessian_at(objective, x0, g0)


def _hessian_at(objective: GlmmObjective, x0: Array, g0: Array) -> Array:
    """θ columns by differences of the gradient, the β block from the factor (at ``x0``)."""
    k = objective.n_theta
    H = np.empty((len(x0), len(x0)))
    H[k:, k:] = 2.0 * objective.engine.fixed_precision()
    steps = relative_steps(x0, FORWARD_STEP)
    H[:, :k] = jacobian(objective.gradient, x0, steps, central=False, f0=g0, columns=range(k))
    H[:k, k:] = H[k:, :k].T
    H[:k, :k] = 0.5 * (H[:k, :k] + H[:k, :k].T)
    return H


def _laplace_start(objective: GlmmObjective, x0: Array) -> Array:
    """The Laplace optimum: a close start for adaptive quadrature."""
    laplace = objective.with_nagq(1)
    result = _newton(laplace, laplace, x0)
    if result is None or not np.all(np.isfinite(result.x)):
        return x0
    return result.x


def convergence_check(fit: GlmmFit, all_lower: Array) -> ConvergenceCheck | None:
    """lme4's ``checkConv`` from the final gradient and quasi-Newton Hessian (if any).

    Flags a scaled gradient ``H⁻¹g`` above 2e-3 (or the raw gradient, whichever is smaller), a
    Hessian that is not positive definite, and an eigenvalue ratio above 1e6 (a nearly
    unidentifiable model, often cured by centring and scaling covariates).

    Parameters
    ----------
    fit
        The result of :func:`fit_two_stages`.
    all_lower
        Lower bounds of (θ, β): a parameter on its bound with an outward gradient is left out.
    """
    g, H = fit.final_gradient, fit.hessian_approx
    if g is None or H is None:
        return None
    x = fit.params
    free = [i for i in range(len(x)) if not (x[i] <= all_lower[i] + 1e-10 and g[i] >= 0)]
    grad, hess = g[free], H[np.ix_(free, free)]
    check = ConvergenceCheck(grad, hess, free)
    eigen = np.linalg.eigvalsh(0.5 * (hess + hess.T)) if free else np.ones(1)
    if eigen.min() <= 0:
        check.messages.append("the Hessian is not positive definite: the optimum is degenerate")
        return check
    if eigen.max() / eigen.min() > EIGEN_RATIO_TOL:
        check.messages.append(
            "the model is nearly unidentifiable: very large eigenvalue ratio of the Hessian "
            f"({eigen.max() / eigen.min():.3g}); rescale variables?"
        )
    scaled = np.linalg.solve(hess, grad) if free else np.zeros(0)
    largest = float(np.max(np.minimum(np.abs(scaled), np.abs(grad)), initial=0.0))
    if largest > GRAD_TOL:
        check.messages.append(
            f"failed to converge with max|grad| = {largest:.3g} (tol = {GRAD_TOL})"
        )
    return check
