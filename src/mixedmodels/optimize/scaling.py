"""A diagonal rescaling of θ so that the optimizer sees parameters of one size.

θ is the relative covariance factor in the units of the random-effects columns: a slope on a
predictor ranging to 10,000 has a θ of about 1e-4 beside an intercept's θ of about 1, and a
trust region that is round in θ is then useless in one direction and too large in the other
(BOBYQA stops well above the optimum, or in another basin). With ``d_a`` the root mean square
of column ``a`` of a term, the template ``D T`` (row ``a`` of ``T`` times ``d_a``) is the
relative covariance factor of the columns rescaled to unit size, and the optimizer works on
``φ = d_row · θ``. The map is exact: every ``d_a`` is a power of two, so ``θ = φ / d`` has no
rounding, and the objective is evaluated at θ as always.

Two uses, with two thresholds. The search from the start works in θ unless a column is of an
extreme size (beyond 2²⁰ or below 2⁻²⁰): on a random slope of an uncentred predictor from 1 to
10,000, a search in φ more often ends on another boundary face of the template than the one
lme4 finds (the intercept variance at zero rather than a correlation of −1). The convergence
check, its restarts and the Newton step are local and work in φ as soon as a column is beyond
[1/8, 8]: their finite-difference steps of 1e-4 are then of the size of every parameter.
Models whose columns are all of moderate size are left in θ (``d = 1``) throughout.

The local steps also divide by the size of the parameter itself where it is beyond 8
(:func:`magnitude_scaling`): a relative SD of 800 (random effects of SD 100 beside a residual SD
of 0.1) has a curvature of about 1e-5 in φ, far below the rounding noise of a second difference
with a step of 1e-4 (about 2e-8 / 1e-8 = 2), and the check then sees a steep, well-curved
minimum where BOBYQA left 1e-4 of the objective on a flat slope. With the step a ten-thousandth
of the parameter, the derivatives are the surface's and not the rounding's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import CrossProducts
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = [
    "CHECK_LIMIT",
    "SEARCH_LIMIT",
    "ThetaScaling",
    "column_scales",
    "magnitude_scaling",
    "theta_scaling",
]

Array = FloatArray
SEARCH_LIMIT = 2.0**20  # the search rescales only columns of RMS beyond [2⁻²⁰, 2²⁰]
CHECK_LIMIT = 8.0  # the check and the restarts rescale those beyond [1/8, 8]


class ThetaScaling:
    """``φ = d · θ`` elementwise, with ``d`` powers of two (exact both ways).

    Parameters
    ----------
    factors
        One positive power of two per θ.
    """

    def __init__(self, factors: Array) -> None:
        self.factors = np.asarray(factors, dtype=float)

    @property
    def identity(self) -> bool:
        """True when every factor is 1 (no rescaling)."""
        return bool(np.all(self.factors == 1.0))

    def to_phi(self, theta: Array) -> Array:
        """The optimizer's parameters for θ."""
        return np.asarray(theta, dtype=float) * self.factors

    def to_theta(self, phi: Array) -> Array:
        """θ for the optimizer's parameters."""
        return np.asarray(phi, dtype=float) / self.factors

    def part(self, start: int, stop: int | None = None) -> ThetaScaling:
        """The scaling of ``θ[start:stop]``."""
        return ThetaScaling(self.factors[start:stop])

    def wrap(self, f: Callable[[Array], float]) -> Callable[[Array], float]:
        """``φ ↦ f(θ(φ))`` (``f`` itself when there is no rescaling)."""
        if self.identity:
            return f
        factors = self.factors

        def scaled(phi: Array) -> float:
            return f(np.asarray(phi, dtype=float) / factors)

        return scaled

    def wrap_gradient(self, g: Callable[[Array], Array]) -> Callable[[Array], Array]:
        """``φ ↦ ∂f/∂φ = ∂f/∂θ / d`` at ``θ(φ)`` (``g`` itself when there is no rescaling)."""
        if self.identity:
            return g
        factors = self.factors

        def scaled(phi: Array) -> Array:
            return g(np.asarray(phi, dtype=float) / factors) / factors

        return scaled


def column_scales(terms: Sequence[RandomEffectsTerm], A: CrossProducts, nobs: int) -> Array:
    """Root mean square of every column of every term (weighted as ``A``), term by term."""
    parts = []
    for j, term in enumerate(terms):
        sums = np.einsum("laa->a", A.diag[j]) if term.nlevels else np.zeros(term.k)
        parts.append(np.sqrt(np.maximum(sums, 0.0) / max(nobs, 1)))
    return np.concatenate(parts) if parts else np.zeros(0)


def theta_scaling(
    terms: Sequence[RandomEffectsTerm], A: CrossProducts, nobs: int, limit: float
) -> ThetaScaling:
    """A rescaling of θ for the optimizer (see the module docstring).

    The identity unless some random-effects column has a root mean square outside
    ``[1/limit, limit]``; then each θ of template row ``a`` is multiplied by ``d_a``, the
    power of two nearest to that column's RMS (1 for a column of zeros or of non-finite size).
    """
    rms = column_scales(terms, A, nobs)
    usable = np.isfinite(rms) & (rms > 0.0)
    if not np.any(usable & ((rms > limit) | (rms < 1.0 / limit))):
        return ThetaScaling(np.ones(sum(t.ntheta for t in terms)))
    exponent = np.zeros(len(rms))
    exponent[usable] = np.round(np.log2(rms[usable]))
    power = np.ldexp(1.0, np.clip(exponent, -1000, 1000).astype(int))
    factors, at = [], 0
    for term in terms:
        if term.structure.linear:
            rows, _ = term.theta_index()
            factors.append(power[at + rows])
        else:  # parameters shared by the columns (and correlations) are not rescaled
            factors.append(np.ones(term.ntheta))
        at += term.k
    return ThetaScaling(np.concatenate(factors))


def fixed_sigma_scaling(
    scaling: ThetaScaling,
    terms: Sequence[RandomEffectsTerm],
    A: CrossProducts,
    nobs: int,
    sigma: float,
) -> ThetaScaling:
    """``scaling`` for a fixed residual SD ``sigma``: θ's SDs in units of the OLS residual SD.

    θ is relative to σ; with σ fixed far below the data's scale (a tiny σ is glmmTMB's
    ``dispformula = ~0``) the SDs are of size ``s/σ`` for ``s`` the OLS residual SD. Each
    SD-like θ (a template entry, a structure's SD) is divided by the power of two nearest to
    ``s/σ``, so that the optimizer starts (from lme4's start, in these units) and steps at
    size 1; the correlations' parameters are left as they are.
    """
    p = A.xx.shape[0] - 1
    coef = np.linalg.lstsq(A.xx[:p, :p], A.xx[:p, p], rcond=None)[0] if p else np.zeros(0)
    rss = float(A.xx[p, p] - A.xx[p, :p] @ coef)
    s = math.sqrt(max(rss, 0.0) / max(nobs - p, 1))
    if not (math.isfinite(s) and s > 0.0):
        return scaling
    power = math.ldexp(1.0, -int(round(math.log2(s / sigma))))
    factors, at = [], 0
    for term in terms:
        part = np.full(term.ntheta, power)
        if not term.structure.linear:
            part[term.structure.n_sd :] = 1.0
        factors.append(part)
        at += term.ntheta
    return ThetaScaling(scaling.factors * np.concatenate(factors))


def magnitude_scaling(scaling: ThetaScaling, theta: Array, limit: float) -> ThetaScaling:
    """``scaling`` with each parameter beyond ``limit`` in size divided by its size at θ.

    The size is the power of two nearest to ``|φ_i|`` (``φ = scaling.to_phi(θ)``), so the map
    stays exact, and the rescaled parameter is of size 1 at θ; parameters within ``limit``
    (and so every parameter of an ordinary model) keep their factor.
    """
    phi = np.abs(scaling.to_phi(theta))
    large = np.isfinite(phi) & (phi > limit)
    exponent = np.zeros(len(phi), dtype=int)
    exponent[large] = np.round(np.log2(phi[large])).astype(int)
    return ThetaScaling(np.ldexp(scaling.factors, -exponent))
