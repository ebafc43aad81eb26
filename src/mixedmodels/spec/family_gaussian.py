"""The Gaussian family with a non-identity link, as glmer fits ``gaussian(link = "log")``.

With the identity link a Gaussian model is a linear mixed model (``lmer``); with the log or
inverse link glmer fits it as any GLMM with a scale: PIRLS on the deviance ``Σ w (y − μ)²``
with the random effects' penalty ``‖u‖²`` at unit scale, then the Laplace objective
``log|L|² + ‖u‖² + aic``, where lme4's ``aic`` is ``-2 log p(y | μ)`` with the variance
profiled out, ``σ̂² = dev / n``: ``n (log(2π dev / n) + 1) + 2 − Σ log w``
(``GaussianDist::aic`` of lme4's ``src/glmFamily.cpp``). The reported σ is, as for Gamma,
``√((Σ w (y − μ)² + ‖u‖²) / n)``, which also scales the random-effect SDs in ``VarCorr``
(θ σ); the covariance of β̂ is ``2 H⁻¹`` of that objective, not scaled by σ², and ``logLik``
counts σ as a parameter.
"""

from __future__ import annotations

import math

import numpy as np

from mixedmodels.errors import DataError, ModelSpecificationError
from mixedmodels.spec.families import Array, Family, Link, get_link

__all__ = ["Gaussian"]

IDENTITY_MESSAGE = (
    "a gaussian response with the identity link is a linear mixed model: use lmer() "
    "(glmer fits the gaussian family only with the log or inverse link)"
)


class Gaussian(Family):
    """Normal responses with constant variance ``σ²`` and a log or inverse link."""

    name = "gaussian"
    default_link = "identity"
    links = ("identity", "log", "inverse")  # R's gaussian(); identity belongs to lmer
    mean_range = (-math.inf, math.inf)
    has_dispersion = True

    def __init__(self, link: str | Link | None = None) -> None:
        if link is None or get_link(link).name == "identity":
            raise ModelSpecificationError(IDENTITY_MESSAGE)
        super().__init__(link)

    def variance(self, mu: Array) -> Array:
        """Variance function ``V(μ) = 1``."""
        return np.ones_like(np.asarray(mu, dtype=float))

    def dvariance(self, mu: Array) -> Array:
        """``V'(μ) = 0``."""
        return np.zeros_like(np.asarray(mu, dtype=float))

    def dev_resid(self, y: Array, mu: Array, wt: Array) -> Array:
        """Deviance residuals (squared), prior weights included: ``w (y − μ)²``."""
        return wt * np.square(y - mu)

    def aic(self, y: Array, n: Array, mu: Array, wt: Array, dev: float) -> float:
        """lme4's ``-2 log p(y | μ)`` summed, with ``σ² = dev / n`` (``n`` observations)."""
        nobs = float(np.size(mu))
        with np.errstate(divide="ignore"):
            log_weights = float(np.sum(np.log(wt)))
        if dev <= 0.0:
            return -math.inf
        return nobs * (math.log(2.0 * math.pi * dev / nobs) + 1.0) + 2.0 - log_weights

    def aic_factor(self, y: Array, mu: Array, wt: Array, dev: float) -> float:
        """``c`` with ``∂aic/∂μ_i = c ∂dev_i/∂μ_i``: ``n / dev``."""
        return float(np.size(mu)) / dev

    def check_response(self, y: Array, what: str) -> None:
        """Refuse what R's ``gaussian()$initialize`` cannot start from (``y ≤ 0``, ``y = 0``)."""
        name = self.link.name
        bad = y <= 0 if name == "log" else y == 0
        if np.any(bad):
            kind = "non-positive" if name == "log" else "zero"
            raise DataError(
                f"gaussian response {what} with the {name} link: {int(np.sum(bad))} {kind} "
                f"values, from which no valid starting means can be found (R: 'cannot find "
                f"valid starting values')"
            )

    def simulate(self, rng: np.random.Generator, mu: Array, wt: Array, scale: float) -> Array:
        """Draw ``y ~ N(μ, σ² / w)`` (lme4's ``simulate`` ignores prior weights, with a warning)."""
        return rng.normal(mu, scale / np.sqrt(wt))

    def initial_mu(self, y: Array, n: Array) -> Array:
        """Starting means: the response itself (R's ``mustart <- y``)."""
        return np.asarray(y, dtype=float)
