"""Complete and quasi-complete separation in a fitted GLMM, and the warning that names it.

When a combination of fixed-effect columns separates the rows with ``y = 1`` from those with
``y = 0`` (or, for counts, picks out rows that are all zero), the likelihood increases
towards a limit as some coefficients go to ±∞: there is no finite maximum. PIRLS then stops
where the penalized deviance no longer changes (:mod:`mixedmodels.objective.laplace`) and the
optimizer where the objective is flat, with huge estimates — as glm and glmer do.

Such a fit is recognised by its fitted means: numerically 0 or 1 for binomial responses
(``μ(1 − μ) ≤ 1e-12``, R's glm warns at ``10 ε``), numerically 0 for counts. A fixed-effect
column *diverges* when its own contribution ``|β_j x_ij|`` to the linear predictor of such a
row exceeds 10 (a factor of e¹⁰ on the mean or the odds): those are the columns named.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import SeparationWarning
from mixedmodels.optimize.differences import scaled_hessian
from mixedmodels.results.glmm_vcov import hessian_covariance

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel
    from mixedmodels.objective.glmm import GlmmObjective

__all__ = ["boundary_rows", "diverging_columns", "separated_covariance", "warn_separation"]

Array = FloatArray

BOUNDARY = 1e-12  # μ(1 − μ) or μ below this: numerically on the boundary
CONTRIBUTION = 10.0  # |β_j x_ij| on a boundary row beyond which β_j diverges


def boundary_rows(family_name: str, y: FloatArray, mu: FloatArray) -> FloatArray:
    """Which rows have fitted means numerically on the boundary of the family's range."""
    if family_name == "binomial":
        return np.asarray(mu * (1.0 - mu) <= BOUNDARY)
    if family_name in ("poisson", "negative_binomial"):
        return np.asarray((mu <= BOUNDARY) & (y == 0))
    return np.zeros(len(mu), dtype=bool)


def diverging_columns(X: FloatArray, beta: FloatArray, rows: FloatArray) -> list[int]:
    """Columns whose contribution to the linear predictor of ``rows`` exceeds 10."""
    if not np.any(rows):
        return []
    contribution = np.max(np.abs(X[rows] * beta), axis=0)
    return [int(j) for j in np.flatnonzero(contribution > CONTRIBUTION)]


def warn_separation(model: FittedGeneralizedModel) -> list[int]:
    """Warn with :class:`SeparationWarning` naming the diverging columns; return them."""
    wk = model.engine.wk
    if wk is None:
        return []
    rows = boundary_rows(model.family.name, model.data.y, wk.mu)
    columns = diverging_columns(model.fixed.X, model.beta, rows)
    if not columns:
        return []
    names = [model.fixed.names[j] for j in columns]
    what = "probabilities numerically 0 or 1"
    if model.family.name != "binomial":
        what = "means numerically 0"
    warnings.warn(
        f"complete or quasi-complete separation: fitted {what} for {int(np.sum(rows))} of "
        f"{len(rows)} observations; the estimates of {', '.join(repr(n) for n in names)} "
        "diverge (their maximum-likelihood values are infinite) and their standard errors "
        "are meaningless. Remove or merge the separating columns or levels, or use a "
        "penalized (bias-reduced or Bayesian) fit",
        SeparationWarning,
        stacklevel=4,
    )
    return columns


def separated_covariance(model: FittedGeneralizedModel, diverging: list[int]) -> Array:
    """Covariance of β̂ when the estimates of ``diverging`` columns are infinite.

    The other estimates converge to those of the model with the diverging ones at ±∞: their
    covariance is that of the Hessian over the other parameters (θ on a bound left out too).
    A diverging column gets the conditional variance ``σ²/(R_X R_Xᵀ)_jj`` at the estimates
    (huge, as lme4's) and no covariance with the others.
    """
    k, p = model.n_theta, model.n_fixed
    x = model.params
    keep = np.concatenate([model.theta > model.lower + 1e-6, np.ones(p, dtype=bool)])
    keep[[k + j for j in diverging]] = False
    idx = np.flatnonzero(keep)
    kept_beta = [j for j in range(p) if j not in diverging]
    try:  # on a copy of the engine at the estimates: the model's modes stay where they are
        H: Array | None = _kept_hessian(model.objective_function, x, idx, model.hessian_approx)
    except ArithmeticError:  # PIRLS fails near the estimates: no Hessian-based block
        H = None
    cov = np.zeros((p, p))
    if kept_beta:
        block = None if H is None else hessian_covariance(H, len(kept_beta))
        if block is None:
            block = np.full((len(kept_beta), len(kept_beta)), np.nan)
        cov[np.ix_(kept_beta, kept_beta)] = block
    model._require_fit()
    precision = np.diag(model.engine.fixed_precision())[diverging]
    cov[diverging, diverging] = model.sigma**2 / np.maximum(precision, 1e-300)
    return cov


def _kept_hessian(objective: GlmmObjective, x: Array, idx: Any, approx: Array | None) -> Array:
    """The Hessian over the coordinates ``idx`` (the others held at the estimates)."""

    def full(z: Array) -> Array:
        point = x.copy()
        point[idx] = z
        return point

    def gradient(z: Array) -> Array:
        return objective.gradient(full(z))[idx]

    sub = None if approx is None else approx[np.ix_(idx, idx)]
    kept = gradient if objective.has_gradient else None
    return scaled_hessian(lambda z: objective(full(z)), x[idx], sub, kept)
