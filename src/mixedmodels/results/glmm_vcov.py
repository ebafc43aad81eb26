"""The Hessian of the deviance at a GLMM's optimum, and the covariance of β̂ from it.

Two conventions, both from the exact gradient of the Laplace objective:

``"exact"``
    Central differences of the gradient in (θ, β), each step 1e-3 of the parameter's
    approximate standard error: accurate to about 1e-7 however the covariates are scaled.
``"sdreport"``
    What glmmTMB reports (TMB's ``sdreport``, which calls R's ``optimHess``): central
    differences of the gradient with steps of 1e-3 in glmmTMB's parameters — β, the log of each
    standard deviation and TMB's unstructured-correlation parameters. The two agree to ~1e-5 on
    well-scaled models; with a covariate in the hundreds (grouseticks' HEIGHT) the fixed step
    is coarse and glmmTMB's standard errors move by ~1e-3, which this convention reproduces.
    It needs every standard deviation away from zero and a family without a scale; otherwise
    the exact Hessian is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.fit.agq import AgqHessian, agq_hessian
from mixedmodels.optimize.differences import hessian_from_gradient, jacobian, scaled_hessian
from mixedmodels.spec.random import RandomEffectsTerm

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel
    from mixedmodels.objective.glmm import GlmmObjective

__all__ = [
    "exact_hessian",
    "free_parameters",
    "hessian_covariance",
    "laplace_hessian",
    "quadrature_hessian",
    "sdreport_applicable",
    "sdreport_at_estimates",
    "sdreport_hessian",
    "theta_from_tmb",
    "tmb_from_theta",
    "unscaled_covariance",
]

Array = FloatArray
TMB_STEP = 1e-3  # optimHess's default ndeps
MAP_STEP = 1e-7  # central differences of the map from glmmTMB's parameters to lme4's θ


def free_parameters(theta: Array, lower: Array, p: int) -> npt.NDArray[np.bool_]:
    """Which of (θ, β) are free: every β, and each θ more than 1e-6 above its bound."""
    return ~np.concatenate([theta <= lower + 1e-6, np.zeros(p, dtype=bool)])


def exact_hessian(objective: GlmmObjective, x: Array, approx: Array | None) -> Array:
    """The Hessian of ``objective`` at ``x`` by central differences.

    Of the exact gradient where the objective has one (steps 1e-3 of each parameter's
    standard error from ``approx``, the quasi-Newton Hessian, when given), else of the values
    (steps 1e-2 of them). ``objective`` moves its engine: give a detached one.
    """
    gradient = objective.gradient if objective.has_gradient else None
    return scaled_hessian(objective, x, approx, gradient)


def laplace_hessian(model: FittedGeneralizedModel) -> tuple[Array, npt.NDArray[np.bool_]]:
    """The exact Hessian of a fitted model's objective over its free parameters, and the mask.

    Taken on a copy of the engine at the estimates, so the model's modes stay as its fit left
    them and the result does not depend on what ran before.
    """
    model._require_fit()
    x = model.params
    free = free_parameters(model.theta, model.lower, model.n_fixed)
    H = exact_hessian(model.objective_function, x, model.hessian_approx)
    return H[np.ix_(free, free)], free


def quadrature_hessian(model: FittedGeneralizedModel, *, lme4: bool) -> AgqHessian:
    """The Hessian of the quadrature deviance of a model fitted with ``nagq > 1``.

    In the whitening the fit searched in (:mod:`mixedmodels.fit.agq`), or with ``lme4`` as
    lme4's ``deriv12`` takes it; on a copy of the engine at the estimates.
    """
    model._require_fit()
    return agq_hessian(model.objective_function, model.params, model.agq_whitening, lme4=lme4)


def sdreport_at_estimates(model: FittedGeneralizedModel) -> Array | None:
    """The Hessian as glmmTMB takes it (:func:`sdreport_hessian`), or None if not applicable.

    It needs the exact gradient, a family without a scale and every standard deviation
    positive.
    """
    usable = model.has_gradient and not model.family.has_dispersion
    if not usable or not sdreport_applicable(model.terms, model.theta):
        return None
    model._require_fit()
    return sdreport_hessian(model.terms, model.objective_function.gradient, model.params)


def unscaled_covariance(precision: Array, sigma: float) -> Array:
    """lme4's ``σ² (R_X R_Xᵀ)⁻¹`` from ``R_X R_Xᵀ``, by a Cholesky solve."""
    p = len(precision)
    if p == 0:
        return np.zeros((0, 0))
    factor = scipy.linalg.cho_factor(precision, lower=True)
    cov = scipy.linalg.cho_solve(factor, np.eye(p)) * sigma**2
    return np.asarray(0.5 * (cov + cov.T))


def tmb_from_theta(terms: Sequence[RandomEffectsTerm], theta: Array) -> Array:
    """The covariance parameters of glmmTMB for lme4's θ (σ = 1).

    Per term: the log standard deviations, then (``k > 1``) the strictly lower triangle, row by
    row, of the unit-diagonal ``L`` with ``corr = D^{-1/2} L Lᵀ D^{-1/2}``. A structured term
    (``diag``, ``cs``, ``ar1``, ``toep``) has the log of its SDs and its correlations' own
    unconstrained parameters.
    """
    out: list[float] = []
    start = 0
    for term in terms:
        part = theta[start : start + term.ntheta]
        T = term.template(part)
        start += term.ntheta
        if term.structured:  # glmmTMB's own kind: log SDs, the correlations' parameters
            n_sd = term.structure.n_sd
            out.extend(np.concatenate([np.log(part[:n_sd]), part[n_sd:]]))
            continue
        cov = T @ T.T
        sd = np.sqrt(np.diag(cov))
        out.extend(np.log(sd))
        if term.k > 1:
            corr = cov / np.outer(sd, sd)
            C = np.linalg.cholesky(corr)
            L = C / np.diag(C)[:, None]
            out.extend(L[i, j] for i in range(term.k) for j in range(i))
    return np.asarray(out)


def theta_from_tmb(terms: Sequence[RandomEffectsTerm], psi: Array) -> Array:
    """lme4's θ from glmmTMB's covariance parameters (the inverse of :func:`tmb_from_theta`)."""
    out: list[float] = []
    start = 0
    for term in terms:
        k = term.k
        if term.structured:
            n_sd = term.structure.n_sd
            part = psi[start : start + term.ntheta]
            out.extend(np.concatenate([np.exp(part[:n_sd]), part[n_sd:]]))
            start += term.ntheta
            continue
        sd = np.exp(psi[start : start + k])
        L = np.eye(k)
        pos = start + k
        for i in range(k):
            for j in range(i):
                L[i, j] = psi[pos]
                pos += 1
        start = pos
        llt = L @ L.T
        scale = 1.0 / np.sqrt(np.diag(llt))
        corr = llt * np.outer(scale, scale)
        T = np.linalg.cholesky(corr * np.outer(sd, sd))
        rows, cols = term.theta_index()
        out.extend(T[rows, cols])
    return np.asarray(out)


def sdreport_applicable(terms: Sequence[RandomEffectsTerm], theta: Array) -> bool:
    """Whether glmmTMB's parameters exist: every standard deviation is positive."""
    start = 0
    for term in terms:
        T = term.template(theta[start : start + term.ntheta])
        start += term.ntheta
        if np.any(np.diag(T) <= 1e-6):
            return False
    return True


def sdreport_hessian(
    terms: Sequence[RandomEffectsTerm], gradient: Callable[[Array], Array], params: Array
) -> Array:
    """Hessian of the deviance in glmmTMB's parameters, by ``optimHess``'s differences.

    Parameters
    ----------
    terms
        The random-effects terms.
    gradient
        The exact gradient of the deviance in lme4's (θ, β).
    params
        lme4's (θ, β) at the optimum.

    Returns
    -------
    numpy.ndarray
        The Hessian of the deviance (``2 ×`` glmmTMB's, whose objective is ``-log L``) with
        respect to (ψ, β); its β block of ``2 H⁻¹`` is glmmTMB's ``vcov``.
    """
    ntheta = sum(t.ntheta for t in terms)
    psi0 = tmb_from_theta(terms, params[:ntheta])

    def to_lme4(x: Array) -> Array:
        return np.concatenate([theta_from_tmb(terms, x[:ntheta]), x[ntheta:]])

    def grad_psi(x: Array) -> Array:
        J = jacobian(lambda p: theta_from_tmb(terms, p), x[:ntheta], np.full(ntheta, MAP_STEP))
        g = gradient(to_lme4(x))
        return np.concatenate([J.T @ g[:ntheta], g[ntheta:]])

    x0 = np.concatenate([psi0, params[ntheta:]])
    steps = np.full(len(x0), TMB_STEP)
    return hessian_from_gradient(grad_psi, x0, steps, central=True)


def hessian_covariance(
    H: Array | None, p: int, covariance: Callable[[int], Array] | None = None
) -> Array | None:
    """The β block of ``2 H⁻¹`` (the last ``p`` parameters), or None if it is not usable.

    By a solve with the last ``p`` columns of the identity (or by ``covariance(p)`` when
    given); None when ``H`` is singular or the result is not positive definite (lme4 then falls
    back on ``σ² (R_X R_Xᵀ)⁻¹``). An ill-conditioned ``H`` (a separated fit) is no error here.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            if covariance is not None:
                cov = covariance(p)
            else:
                assert H is not None
                unit = np.eye(len(H))[:, len(H) - p :]
                cov = 2.0 * scipy.linalg.solve(H, unit, assume_a="sym")[-p:, :]
    except (np.linalg.LinAlgError, ValueError):
        return None
    cov = 0.5 * (cov + cov.T)
    if not np.all(np.isfinite(cov)) or not np.all(np.linalg.eigvalsh(cov) > 0):
        return None
    return np.asarray(cov)
