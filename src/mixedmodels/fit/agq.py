"""Stage 2 and the Hessian of a GLMM fitted by adaptive Gauss–Hermite quadrature (nAGQ > 1).

The quadrature objective has no exact gradient here, so stage 2 is BOBYQA on its values and the
Hessian (for the standard errors, as lme4's ``vcov`` takes it from ``deriv12`` of the nAGQ
deviance) is made of central second differences. Both are done in *whitened* coordinates
``x = x̂_L + S y``: ``x̂_L`` is the Laplace optimum and ``S`` the inverse Cholesky factor of the
exact Laplace Hessian there, so that the quadrature objective has a Hessian close to the
identity in ``y`` whatever the scale of the covariates (a covariate in the thousands makes its
coefficient's standard error 1e-5 and the raw Hessian's condition number 1e10). The factor is
taken with θ ordered last, so ``S`` is upper triangular with θ rows that depend only on the θ
coordinates: θ's lower bounds stay bounds on ``y``.

The covariance of β̂ is the β block of ``2 H⁻¹``, computed as ``2 S_β H_y⁻¹ S_βᵀ`` by a solve
with the Hessian ``H_y`` in ``y`` (never by inverting the ill-conditioned Hessian in ``x``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.objective.glmm import GlmmObjective
from mixedmodels.optimize import OptSummary, bobyqa
from mixedmodels.optimize.differences import (
    DERIV12_STEP,
    hessian_from_gradient,
    hessian_from_values,
)
from mixedmodels.optimize.whitening import Whitening

__all__ = ["AgqHessian", "Whitening", "agq_hessian", "agq_stage_two", "laplace_whitening"]

Array = FloatArray
Objective = Callable[[Array], float]
HESSIAN_STEP = 2e-3  # in whitened units: about 1/500 of a standard error
SEARCH_STEP = 0.5  # BOBYQA's initial trust-region radius in whitened units
LAPLACE_STEP = 1e-3  # steps of the Laplace Hessian, in units of each standard error


def laplace_whitening(objective: GlmmObjective, x: Array) -> Whitening:
    """The whitening of the exact Laplace Hessian at ``x`` (diagonal scales if it is not PD)."""
    k = objective.n_theta
    order = np.r_[np.arange(k, len(x)), np.arange(k)]  # β first, θ last
    H = _laplace_hessian(objective, x)
    try:
        L = np.linalg.cholesky(H[np.ix_(order, order)])
        Sp = scipy.linalg.solve_triangular(L.T, np.eye(len(x)))  # upper: L⁻ᵀ
        if not np.all(np.isfinite(Sp)):
            raise np.linalg.LinAlgError("non-finite whitening")
    except np.linalg.LinAlgError:
        diag = np.abs(np.diag(H))
        fallback = 0.1 * np.maximum(np.abs(x), 0.1)
        Sp = np.diag(np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), fallback))
        Sp = Sp[np.ix_(order, order)]
    S = np.empty_like(Sp)
    S[np.ix_(order, order)] = Sp
    return Whitening(np.asarray(x, dtype=float).copy(), S)


def _laplace_hessian(objective: GlmmObjective, x: Array) -> Array:
    """Central differences of the exact Laplace gradient, steps scaled to the Fisher information."""
    k = objective.n_theta
    objective.engine.fit_modes(x[:k], x[k:], with_beta=False)
    F = objective.engine.fixed_precision()
    sd_beta = 1.0 / np.sqrt(np.maximum(np.diag(F), 1e-300))
    steps = LAPLACE_STEP * np.r_[0.1 * np.maximum(np.abs(x[:k]), 0.1), sd_beta]
    return hessian_from_gradient(objective.gradient, x, steps, central=True)


def agq_stage_two(
    objective: GlmmObjective, evaluate: Objective, x_laplace: Array
) -> tuple[OptSummary, Whitening]:
    """BOBYQA on the quadrature objective in the whitening of the Laplace optimum.

    Parameters
    ----------
    objective
        The model's objective (its engine and bounds; its gradient makes the whitening).
    evaluate
        The quadrature objective to minimize (``objective``, perhaps printing each value).
    x_laplace
        The Laplace optimum: the centre of the whitening and the start.

    Returns
    -------
    tuple
        The optimizer's summary in (θ, β) and the whitening it searched in.
    """
    white = laplace_whitening(objective, x_laplace)
    lower_x = objective.all_lower
    lower = white.lower(lower_x, objective.n_theta)

    def in_y(y: Array) -> float:
        return evaluate(white.to_x(y))

    y0 = np.zeros(len(x_laplace))
    step = np.full(len(y0), SEARCH_STEP)
    result = bobyqa(in_y, y0, lower, initial_step=step, ftol_rel=1e-15, xtol_abs=1e-9)
    final = np.maximum(white.to_x(result.final), lower_x)
    summary = OptSummary(
        x_laplace.copy(),
        lower_x,
        final,
        result.fmin,
        result.feval,
        result.return_value,
        "LN_BOBYQA (whitened by the Laplace Hessian)",
        dict(result.settings),
    )
    return summary, white


@dataclass(frozen=True)
class AgqHessian:
    """The Hessian ``H_y`` of the quadrature deviance in coordinates ``x = x̂ + S y``.

    Attributes
    ----------
    H_y
        Hessian over the free parameters (θ on a bound left out) in ``y``.
    white
        The map ``x = x̂ + S y`` over the free parameters.
    free
        Which of (θ, β) are free.
    """

    H_y: Array
    white: Whitening
    free: Array

    def in_x(self) -> Array:
        """The Hessian in (θ, β) (free parameters)."""
        return self.white.hessian_in_x(self.H_y)

    def covariance(self, p: int) -> Array:
        """``2 S_β H_y⁻¹ S_βᵀ``: the β block of twice the inverse Hessian, by a Cholesky solve."""
        S_beta = self.white.S[-p:, :]
        factor = scipy.linalg.cho_factor(self.H_y)
        cov = 2.0 * S_beta @ scipy.linalg.cho_solve(factor, S_beta.T)
        return np.asarray(0.5 * (cov + cov.T))


def agq_hessian(
    objective: GlmmObjective,
    params: Array,
    whitening: Whitening | None = None,
    *,
    lme4: bool = False,
) -> AgqHessian:
    """Hessian of the quadrature deviance at the estimates by central second differences.

    Parameters
    ----------
    objective
        The quadrature objective (evaluating it moves its engine: give a detached one).
    params
        The estimates ``(θ, β)``; θ within 1e-6 of its bound is left out.
    whitening
        The whitening the fit searched in; made at ``params`` when None (and not ``lme4``).
    lme4
        Take the Hessian as lme4's ``deriv12``: steps of 1e-4 in the raw (θ, β). Otherwise
        steps of 2e-3 in the whitened coordinates.
    """
    x = np.asarray(params, dtype=float)
    k = objective.n_theta
    free = ~np.concatenate([x[:k] <= objective.lower + 1e-6, np.zeros(len(x) - k, bool)])
    idx = np.flatnonzero(free)
    if lme4:
        white = Whitening(x[idx].copy(), np.eye(len(idx)))
        step = DERIV12_STEP
    else:
        full = whitening or laplace_whitening(objective, x)
        white = Whitening(x[idx].copy(), full.S[np.ix_(idx, idx)])
        step = HESSIAN_STEP

    def f(y: Array) -> float:
        point = x.copy()
        point[idx] = white.to_x(y)
        return objective(point)

    H = hessian_from_values(f, np.zeros(len(idx)), np.full(len(idx), step))
    return AgqHessian(0.5 * (H + H.T), white, free)
