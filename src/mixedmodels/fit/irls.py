"""Least squares and iteratively reweighted least squares for models without random effects.

:func:`least_squares` solves a weighted least-squares problem by a QR factorization of
``√w X`` (never the normal equations, never an inverse); :func:`irls` fits a generalized
linear model as R's ``glm.fit`` does: start from the family's ``mustart``, solve the weighted
least-squares problem of the working response, halve the step while the deviance is not finite
or the means leave their range, and stop when the relative change of the deviance is below
``1e-8`` (R's ``glm.control(epsilon = 1e-8, maxit = 25)``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ConvergenceWarning, ModelSpecificationError
from mixedmodels.spec.families import Family

__all__ = ["IrlsFit", "LeastSquares", "irls", "least_squares", "unscaled_covariance"]

Array = FloatArray
EPSILON = 1e-8  # R's glm.control(epsilon)
MAX_ITERATIONS = 25  # R's glm.control(maxit)
MAX_HALVINGS = 30


@dataclass(frozen=True)
class LeastSquares:
    """The solution of ``min ‖√w (z − Xβ)‖²``.

    Attributes
    ----------
    beta
        The coefficients.
    R
        Upper-triangular factor of ``√w X`` (``RᵀR = XᵀWX``).
    rss
        The weighted residual sum of squares.
    """

    beta: Array
    R: Array
    rss: float


def least_squares(X: Array, z: Array, w: Array) -> LeastSquares:
    """Weighted least squares by the QR factorization of ``√w X``.

    Parameters
    ----------
    X
        Model matrix, ``n × p`` with full column rank.
    z
        Response, ``n``.
    w
        Non-negative weights, ``n``.
    """
    sw = np.sqrt(w)
    Q, R = scipy.linalg.qr(X * sw[:, None], mode="economic", check_finite=False)
    qty = Q.T @ (z * sw)
    beta = scipy.linalg.solve_triangular(R, qty, check_finite=False)
    resid = z * sw - Q @ qty
    return LeastSquares(beta, R, float(resid @ resid))


def unscaled_covariance(R: Array) -> Array:
    """``(RᵀR)⁻¹`` by two triangular solves (R's ``chol2inv``)."""
    p = R.shape[0]
    return np.asarray(scipy.linalg.cho_solve((R, False), np.eye(p), check_finite=False))


@dataclass(frozen=True)
class IrlsFit:
    """A converged (or stopped) IRLS fit.

    Attributes
    ----------
    beta
        The coefficients.
    R
        Factor of ``√W X`` with the working weights of the last solve (``summary.glm``'s
        ``cov.unscaled`` is ``(RᵀR)⁻¹``).
    eta, mu
        Linear predictor (offset included) and means at ``beta``.
    deviance
        The sum of the deviance residuals at ``mu``.
    working_weights
        The weights of the last solve (R's ``glm`` ``weights``, ``summary.glm``'s dispersion).
    iterations
        Number of weighted least-squares solves.
    converged
        Whether the relative change of the deviance fell below :data:`EPSILON`.
    """

    beta: Array
    R: Array
    eta: Array
    mu: Array
    deviance: float
    working_weights: Array
    iterations: int
    converged: bool


def irls(
    X: Array, y: Array, weights: Array, offset: Array, family: Family, trials: Array
) -> IrlsFit:
    """Fit a generalized linear model by R's ``glm.fit`` iterations.

    Parameters
    ----------
    X
        Model matrix of full column rank.
    y
        Response (proportions for the binomial).
    weights
        Prior weights (the numbers of trials included for binomial counts); rows with weight
        0 do not enter the fit.
    offset
        Offset of the linear predictor.
    family
        The response distribution and link.
    trials
        Binomial trials per row (ones otherwise), for the starting values.

    Raises
    ------
    ModelSpecificationError
        When no step gives a finite deviance with means in the family's range (R's "no valid
        set of coefficients has been found"), as a link that cannot fit the data does.
    """
    link = family.link
    start = weights if family.name == "binomial" else trials
    eta = link.link(family.initial_mu(y, start))
    mu = link.inverse(eta)
    dev_old = _deviance(family, y, mu, weights)
    beta_old: Array | None = None
    good = weights > 0
    for iteration in range(1, MAX_ITERATIONS + 1):
        d = link.mu_eta(eta)
        z = (eta - offset) + (y - mu) / d
        w = np.where(good, weights * d**2 / family.variance(mu), 0.0)
        solve = least_squares(X, z, w)
        beta, eta, mu, dev = _step(X, offset, family, y, weights, solve.beta, beta_old)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < EPSILON:
            return IrlsFit(beta, solve.R, eta, mu, dev, w, iteration, True)
        dev_old, beta_old = dev, beta
    _warn_not_converged(family, mu)
    return IrlsFit(beta, solve.R, eta, mu, dev, w, MAX_ITERATIONS, False)


def _warn_not_converged(family: Family, mu: Array) -> None:
    """Warn, as R's ``glm.fit``, that the iterations stopped at their limit."""
    message = f"the IRLS iterations of the glm did not converge in {MAX_ITERATIONS} steps"
    edge = 10.0 * np.finfo(float).eps  # R's threshold for "numerically 0 or 1"
    if family.name == "binomial" and np.any((mu < edge) | (mu > 1.0 - edge)):
        message += (
            "; fitted probabilities numerically 0 or 1 occurred (separation: some estimates "
            "diverge)"
        )
    warnings.warn(message, ConvergenceWarning, stacklevel=5)


def _step(
    X: Array,
    offset: Array,
    family: Family,
    y: Array,
    weights: Array,
    beta: Array,
    beta_old: Array | None,
) -> tuple[Array, Array, Array, float]:
    """The new coefficients, halved towards the old ones while the deviance is not finite."""
    for _ in range(MAX_HALVINGS):
        eta = X @ beta + offset
        with np.errstate(all="ignore"):
            mu = family.link.inverse(eta)
            dev = _deviance(family, y, mu, weights) if _valid_mu(family, mu) else np.inf
        if np.isfinite(dev):
            return beta, eta, mu, dev
        if beta_old is None:
            break
        beta = (beta + beta_old) / 2.0
    raise ModelSpecificationError(
        f"no valid set of coefficients has been found for the {family.name} family with the "
        f"{family.link.name} link: the means leave the family's range"
    )


def _deviance(family: Family, y: Array, mu: Array, weights: Array) -> float:
    """The total deviance."""
    return float(np.sum(family.dev_resid(y, mu, weights)))


def _valid_mu(family: Family, mu: Array) -> bool:
    """R's ``validmu``: finite means inside the family's range."""
    if not np.all(np.isfinite(mu)):
        return False
    if family.name == "binomial":
        return bool(np.all((mu > 0) & (mu < 1)))
    if family.name in ("poisson", "negative_binomial", "Gamma", "inverse.gaussian"):
        return bool(np.all(mu > 0))
    return True
