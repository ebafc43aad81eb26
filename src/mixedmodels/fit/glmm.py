"""glmer's two stages for a :class:`~mixedmodels.models.generalized.GeneralizedLinearMixedModel`.

Stage 1 (glmer's ``nAGQ = 0``) optimizes θ while PIRLS estimates β with the modes; stage 2
optimizes (θ, β) on the Laplace objective (or adaptive quadrature). Both use quasi-Newton steps
on the exact gradient (:mod:`mixedmodels.objective.laplace_gradient`) where it is affordable, and
BOBYQA on the objective values otherwise. At the optimum, lme4's convergence checks are made
from the gradient and the quasi-Newton Hessian.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.fit.agq import agq_stage_two
from mixedmodels.fit.glmm_starts import inside_start, ladder_start
from mixedmodels.objective.laplace_gradient import laplace_gradient
from mixedmodels.objective.laplace_scalar import ScalarEngine
from mixedmodels.optimize import OptSummary, bobyqa
from mixedmodels.optimize.checks import ConvergenceCheck
from mixedmodels.optimize.newton import Newton, derivative_free, quasi_newton

if TYPE_CHECKING:
    from mixedmodels.models.generalized import GeneralizedLinearMixedModel

__all__ = ["convergence_check", "fit_two_stages"]

Array = FloatArray
Objective = Callable[[Array], float]
GRAD_TOL = 2e-3  # lme4's check.conv.grad
EIGEN_RATIO_TOL = 1e6  # lme4's check.conv.hess: nearly unidentifiable beyond this
STAGE1_TOL = 1e-4  # stage 1 only starts stage 2: a rough optimum will do


def fit_two_stages(model: GeneralizedLinearMixedModel, verbose: bool, start: Array | None) -> None:
    """Fit ``model`` in place: stage 1 unless ``start`` gives (θ, β), then stage 2."""
    x0 = _stage_one(model, verbose) if start is None else np.asarray(start, dtype=float)
    k = model.n_theta
    if model.nagq == 0:
        model.engine.fit_modes(x0[:k], with_beta=True)
        model.theta, model.beta = x0[:k].copy(), model.engine.beta.copy()
        assert model.stage1 is not None
        model.optsum = replace(model.stage1, fmin=model.engine.laplace())
        return
    model.optsum = _stage_two(model, x0, verbose)
    model.theta = model.optsum.final[:k].copy()
    model.beta = model.optsum.final[k:].copy()
    model.optsum.fmin = model.objective_at(model.optsum.final)


def _stage_one(model: GeneralizedLinearMixedModel, verbose: bool) -> Array:
    """Glmer's first stage; returns the start of the second, (θ, β̂(θ))."""
    engine = model.engine
    d = model.data
    engine.start(np.zeros(model.n_fixed), d.family.initial_mu(d.y, d.trials))

    def objective(theta: Array) -> float:
        value = engine.evaluate_stage1(theta)
        if verbose:
            print(f"stage 1: {value:.8f} at θ = {np.array2string(theta, precision=6)}")
        return value

    theta0 = model.theta.copy()
    if d.family.has_dispersion:  # lme4's objective mixes two scales: see models.glmm_starts
        theta0 = ladder_start(objective, theta0)
        engine.start(np.zeros(model.n_fixed), d.family.initial_mu(d.y, d.trials))
    result = _stage_one_newton(model, objective, theta0) if model.gradient_affordable else None
    if result is not None:
        model.stage1 = result.summary(theta0, model.lower)
    else:
        engine.start(np.zeros(model.n_fixed), d.family.initial_mu(d.y, d.trials))
        tol = 1e-12 if model.nagq == 0 else 1e-7
        model.stage1 = bobyqa(objective, theta0, model.lower, ftol_rel=tol)
    theta = model.stage1.final
    engine.fit_modes(theta, with_beta=True)
    return np.concatenate([theta, engine.beta])


def _stage_one_newton(
    model: GeneralizedLinearMixedModel, objective: Objective, theta0: Array
) -> Newton | None:
    """Stage 1 by quasi-Newton steps on the exact gradient (β inside PIRLS)."""
    engine = model.engine

    def gradient(theta: Array) -> Array:
        engine.fit_modes(theta, with_beta=True)
        return laplace_gradient(engine, with_beta=True)

    tol = 1e-11 if model.nagq == 0 else STAGE1_TOL
    try:
        f0 = objective(theta0)
        if not math.isfinite(f0):
            return None
        g0 = gradient(theta0)
        H0 = np.empty((model.n_theta, model.n_theta))
        for j in range(model.n_theta):
            H0[:, j] = _forward_column(gradient, theta0, j, g0)
        result = quasi_newton(objective, gradient, theta0, model.lower, H0, (f0, g0), tol)
    except (np.linalg.LinAlgError, ArithmeticError):
        return None
    return result if result.converged and np.all(np.isfinite(result.x)) else None


def _forward_column(gradient: Callable[[Array], Array], x0: Array, j: int, g0: Array) -> Array:
    """Column ``j`` of the Hessian by a forward difference of the gradient."""
    h = 1e-6 * max(1.0, abs(float(x0[j])))
    x = x0.copy()
    x[j] += h
    return (gradient(x) - g0) / h


def _stage_two(model: GeneralizedLinearMixedModel, x0: Array, verbose: bool) -> OptSummary:
    """(θ, β) on the Laplace (quasi-Newton) or quadrature (BOBYQA) objective."""
    lower = model.all_lower

    def objective(x: Array) -> float:
        value = model.objective_at(x)
        if verbose:
            print(f"stage 2: {value:.10f} at {np.array2string(x, precision=6)}")
        return value

    if model.has_gradient:
        # a variance at zero is a stationary point of the (even) objective: start just inside
        bounded = np.concatenate([model.lower == 0.0, np.zeros(model.n_fixed, dtype=bool)])
        inside = inside_start(objective, x0, bounded)
        result = _newton(model, objective, inside)
        if result is not None and result.converged and np.all(np.isfinite(result.x)):
            model.hessian_approx = result.H
            model.final_gradient = result.g
            return result.summary(x0, lower)
    if model.nagq > 1 and isinstance(model.engine, ScalarEngine):
        return agq_stage_two(model, objective, _laplace_start(model, x0))
    step = 0.05 * np.maximum(np.abs(x0), 0.1)
    return derivative_free(objective, x0, lower, initial_step=step)


def _newton(model: GeneralizedLinearMixedModel, objective: Objective, x0: Array) -> Newton | None:
    """Quasi-Newton from ``x0``; None when the gradient or a factor fails there."""

    def refresh(x: Array, g: Array) -> Array:
        model.engine.fit_modes(x[: model.n_theta], x[model.n_theta :], with_beta=False)
        return _hessian_at(model, x, g)

    try:
        start, H0 = _initial_hessian(model, objective, x0)
        lower = model.all_lower
        return quasi_newton(objective, model.gradient_at, x0, lower, H0, start, refresh=refresh)
    except (np.linalg.LinAlgError, ArithmeticError):
        return None


def _initial_hessian(
    model: GeneralizedLinearMixedModel, objective: Objective, x0: Array
) -> tuple[tuple[float, Array], Array]:
    """The objective and gradient at ``x0`` and a first Hessian for the quasi-Newton steps.

    The θ columns are forward differences of the exact gradient; the β block is the Fisher
    information ``2 R_X R_Xᵀ`` of the factor at ``x0`` (exact up to the log-determinant's
    curvature), which saves one gradient per fixed effect.
    """
    f0 = objective(x0)
    if not math.isfinite(f0):
        raise ArithmeticError("the objective is not finite at the start of stage 2")
    g0 = laplace_gradient(model.engine)
    return (f0, g0), _hessian_at(model, x0, g0)


def _hessian_at(model: GeneralizedLinearMixedModel, x0: Array, g0: Array) -> Array:
    """θ columns by differences of the gradient, the β block from the factor (at ``x0``)."""
    k = model.n_theta
    H = np.empty((len(x0), len(x0)))
    H[k:, k:] = 2.0 * model.engine.fixed_precision()
    for j in range(k):
        H[:, j] = _forward_column(model.gradient_at, x0, j, g0)
    H[:k, k:] = H[k:, :k].T
    H[:k, :k] = 0.5 * (H[:k, :k] + H[:k, :k].T)
    return H


def _laplace_start(model: GeneralizedLinearMixedModel, x0: Array) -> Array:
    """The Laplace optimum: a close start for adaptive quadrature."""
    nagq, model.nagq = model.nagq, 1
    try:
        result = _newton(model, model.objective_at, x0)
    finally:
        model.nagq = nagq
    if result is None or not np.all(np.isfinite(result.x)):
        return x0
    return result.x


def convergence_check(model: GeneralizedLinearMixedModel) -> ConvergenceCheck | None:
    """lme4's ``checkConv`` from the final gradient and quasi-Newton Hessian (if any).

    Flags a scaled gradient ``H⁻¹g`` above 2e-3 (or the raw gradient, whichever is smaller), a
    Hessian that is not positive definite, and an eigenvalue ratio above 1e6 (a nearly
    unidentifiable model, often cured by centring and scaling covariates).
    """
    g, H = model.final_gradient, model.hessian_approx
    if g is None or H is None:
        return None
    x = model.params
    free = [i for i in range(len(x)) if not (x[i] <= model.all_lower[i] + 1e-10 and g[i] >= 0)]
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
