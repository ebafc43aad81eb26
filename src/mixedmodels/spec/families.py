"""Response distributions of generalized linear mixed models (their links: :mod:`.links`).

Each :class:`Family` gives what PIRLS and the Laplace approximation need, computed as lme4 does
(``src/glmFamily.cpp``): the variance function, the deviance residuals, and ``aic``, lme4's
``-2 log p(y | μ)`` that enters the objective (for Gamma and inverse Gaussian it holds the
dispersion ``deviance / Σ weights``). Inverse links are clamped as in lme4 so that ``μ`` stays
inside the support (``μ ≤ 1 − ε`` for the logit link, ``μ ≥ ε`` for the log link).

The first and second derivatives with respect to ``η`` (``mu_eta``, ``mu_eta_deriv``) and the
derivative of the variance function give the exact gradient of the Laplace objective.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from scipy import special

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, ModelSpecificationError
from mixedmodels.spec.links import EPS, Link, get_link

__all__ = [
    "Binomial",
    "Family",
    "Gamma",
    "InverseGaussian",
    "Link",
    "NegativeBinomial",
    "Poisson",
    "get_link",
]

Array = FloatArray


# ---- links ------------------------------------------------------------------------------------


# ---- families ---------------------------------------------------------------------------------
class Family(ABC):
    """A response distribution with a link function.

    Parameters
    ----------
    link
        The link's R name or a :class:`Link`; the family's canonical link by default.
    """

    name: ClassVar[str]
    default_link: ClassVar[str]
    links: ClassVar[tuple[str, ...]]
    has_dispersion: ClassVar[bool] = False  # glmer estimates a scale (Gamma, inverse Gaussian)
    integer_response: ClassVar[bool] = False
    mean_range: ClassVar[tuple[float, float]] = (0.0, math.inf)  # the means the family can have
    zero_mean: ClassVar[bool] = False  # whether a mean at the lower end is allowed (counts)

    def valid_means(self, mu: Array) -> bool:
        """Whether every mean is within the family's range (an inverse link may leave it)."""
        lo, hi = self.mean_range
        above = np.all(mu >= lo) if self.zero_mean else np.all(mu > lo)
        return bool(above and np.all(mu <= hi))

    def __init__(self, link: str | Link | None = None) -> None:
        self.link = get_link(self.default_link if link is None else link)
        if self.link.name not in self.links:
            raise ModelSpecificationError(
                f"link {self.link.name!r} is not available for the {self.name} family; "
                f"use one of {', '.join(self.links)}"
            )

    @property
    def label(self) -> str:
        """The family's name as R prints it (``Negative Binomial(2.052)``)."""
        return self.name

    @property
    def canonical(self) -> bool:
        """True for the canonical link, where expected and observed information agree."""
        return self.link.name == self.default_link

    @abstractmethod
    def variance(self, mu: Array) -> Array:
        """Variance function ``V(μ)``."""

    @abstractmethod
    def dvariance(self, mu: Array) -> Array:
        """``V'(μ)``."""

    @abstractmethod
    def dev_resid(self, y: Array, mu: Array, wt: Array) -> Array:
        """Deviance residuals (squared), prior weights included."""

    @abstractmethod
    def aic(self, y: Array, n: Array, mu: Array, wt: Array, dev: float) -> float:
        """lme4's ``aic``: ``-2 log p(y | μ)`` summed (with the dispersion ``dev/Σwt``)."""

    def aic_factor(self, y: Array, mu: Array, wt: Array, dev: float) -> float:
        """``c`` with ``∂aic/∂μ_i = c ∂dev_i/∂μ_i`` (1 when aic − deviance is constant)."""
        return 1.0

    @abstractmethod
    def check_response(self, y: Array, what: str) -> None:
        """Raise a DataError naming ``what`` for values outside the support."""

    @abstractmethod
    def simulate(self, rng: np.random.Generator, mu: Array, wt: Array, scale: float) -> Array:
        """Draw responses with means ``mu`` (``scale`` is σ for families with a dispersion)."""

    def initial_mu(self, y: Array, n: Array) -> Array:
        """Starting means, as R's ``family$initialize`` sets ``mustart``."""
        return np.asarray(y + 0.1, dtype=float)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link.name!r})"


def _xlogy(x: Array, y: Array) -> Array:
    """``x log(y)`` with ``0 log 0 = 0``."""
    return np.asarray(special.xlogy(x, y))


def _stirlerr(y: Array) -> Array:
    """``log y! − (y + ½) log y + y − ½ log 2π`` (Stirling's error, R's ``stirlerr``), ``y > 0``."""
    y = np.asarray(y, dtype=float)
    large = y > 15.0
    big = np.where(large, y, 16.0)
    small = np.where(large, 1.0, y)
    nn = big**2
    series = (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * nn)) / nn) / nn) / nn) / big
    direct = special.gammaln(small + 1.0) - (small + 0.5) * np.log(small) + small
    return np.asarray(np.where(large, series, direct - 0.5 * math.log(2.0 * math.pi)))


def _saturated_poisson(y: Array) -> Array:
    """``-2 log p(y | μ = y)`` of a Poisson count: ``2 stirlerr(y) + log(2πy)``, 0 at 0."""
    pos = y > 0
    safe = np.where(pos, y, 1.0)
    return np.asarray(np.where(pos, 2.0 * _stirlerr(safe) + np.log(2.0 * math.pi * safe), 0.0))


def _ylogy(y: Array, mu: Array) -> Array:
    """``y log(y/μ)`` with ``0 log(0/μ) = 0`` for any μ (also 0, after underflow)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        values = special.xlogy(y, y / mu)
    return np.asarray(np.where(y == 0, 0.0, values))


class Binomial(Family):
    """Binomial responses: proportions ``y`` out of ``n`` trials (0/1 for Bernoulli)."""

    name = "binomial"
    default_link = "logit"
    links = ("logit", "probit", "cauchit", "cloglog", "log")
    mean_range = (0.0, 1.0)
    zero_mean = True

    def variance(self, mu: Array) -> Array:
        """Variance function ``V(μ)``."""
        return np.maximum(mu * (1.0 - mu), EPS)

    def dvariance(self, mu: Array) -> Array:
        """``V'(μ)``."""
        return 1.0 - 2.0 * np.asarray(mu)

    def dev_resid(self, y: Array, mu: Array, wt: Array) -> Array:
        """Deviance residuals (squared), prior weights included."""
        return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))

    def aic(self, y: Array, n: Array, mu: Array, wt: Array, dev: float) -> float:
        """lme4's ``-2 log p(y | μ)`` summed."""
        m = n if np.any(n > 1) else wt
        k = np.rint(m * y)
        trials = np.rint(m)
        with np.errstate(divide="ignore", invalid="ignore"):
            logp = (
                special.gammaln(trials + 1.0)
                - special.gammaln(k + 1.0)
                - special.gammaln(trials - k + 1.0)
                + _xlogy(k, mu)
                + _xlogy(trials - k, 1.0 - mu)
            )
            factor = np.where(trials > 0, wt / np.where(trials > 0, m, 1.0), 0.0)
        return float(-2.0 * np.sum(np.where(factor > 0, factor * logp, 0.0)))

    def check_response(self, y: Array, what: str) -> None:
        """Raise a DataError naming ``what`` for values outside the support."""
        if np.any((y < 0) | (y > 1)):
            raise DataError(f"binomial response {what}: proportions must be in [0, 1]")

    def simulate(self, rng: np.random.Generator, mu: Array, wt: Array, scale: float) -> Array:
        """Draw responses with means ``mu``."""
        trials = np.rint(wt).astype(np.int64)
        draws = rng.binomial(np.maximum(trials, 0), np.clip(mu, 0.0, 1.0))
        return np.where(trials > 0, draws / np.maximum(trials, 1), 0.0)

    def initial_mu(self, y: Array, n: Array) -> Array:
        """Starting means (R's ``mustart``)."""
        return (n * y + 0.5) / (n + 1.0)


class Poisson(Family):
    """Counts with variance equal to the mean."""

    name = "poisson"
    default_link = "log"
    links = ("log", "identity", "sqrt")
    zero_mean = True
    integer_response = True

    def variance(self, mu: Array) -> Array:
        """Variance function ``V(μ)``."""
        return np.asarray(mu, dtype=float)

    def dvariance(self, mu: Array) -> Array:
        """``V'(μ)``."""
        return np.ones_like(mu, dtype=float)

    def dev_resid(self, y: Array, mu: Array, wt: Array) -> Array:
        """Deviance residuals (squared), prior weights included.

        ``2(y log(y/μ) − (y − μ))`` as ``2(y log1p((y − μ)/μ) − (y − μ))``, which keeps its
        digits when ``y`` and ``μ`` are huge and close (counts of 1e13).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            r = y - mu
            values = np.where(y > 0, y * np.log1p(r / mu) - r, mu)
        return 2.0 * wt * values

    def aic(self, y: Array, n: Array, mu: Array, wt: Array, dev: float) -> float:
        """lme4's ``-2 log p(y | μ)`` summed, as R's ``dpois`` (Loader's algorithm).

        ``-2 log p(y | μ) = dev(y, μ) + 2 stirlerr(y) + log(2πy)`` (``y > 0``): the deviance
        plus a constant, without the cancellation of ``y log μ − μ − log y!`` for huge counts.
        """
        deviance = np.sum(self.dev_resid(y, mu, wt))
        return float(deviance + np.sum(wt * _saturated_poisson(y)))

    def check_response(self, y: Array, what: str) -> None:
        """Raise a DataError naming ``what`` for values outside the support."""
        _check_counts(y, what, self.name)

    def simulate(self, rng: np.random.Generator, mu: Array, wt: Array, scale: float) -> Array:
        """Draw responses with means ``mu``."""
        return rng.poisson(mu).astype(float)


class NegativeBinomial(Family):
    """Counts with variance ``μ + μ²/θ`` for a known ``θ`` (``glmer.nb`` estimates it)."""

    name = "negative_binomial"
    default_link = "log"
    links = ("log", "identity", "sqrt")
    zero_mean = True
    integer_response = True

    def __init__(self, theta: float = 1.0, link: str | Link | None = None) -> None:
        super().__init__(link)
        if not theta > 0:
            raise ModelSpecificationError(f"the negative binomial θ must be positive, not {theta}")
        self.theta = float(theta)

    @property
    def label(self) -> str:
        """The family's name as R prints it."""
        return f"Negative Binomial({round(self.theta, 4):.7g})"  # as MASS formats it

    def variance(self, mu: Array) -> Array:
        """Variance function ``V(μ)``."""
        return mu + np.square(mu) / self.theta

    def dvariance(self, mu: Array) -> Array:
        """``V'(μ)``."""
        return 1.0 + 2.0 * np.asarray(mu) / self.theta

    def dev_resid(self, y: Array, mu: Array, wt: Array) -> Array:
        """Deviance residuals (squared), prior weights included."""
        th = self.theta
        return 2.0 * wt * (_ylogy(y, mu) - (y + th) * np.log((y + th) / (mu + th)))

    def aic(self, y: Array, n: Array, mu: Array, wt: Array, dev: float) -> float:
        """lme4's ``-2 log p(y | μ)`` summed."""
        th = self.theta
        logp = (
            special.gammaln(y + th)
            - special.gammaln(th)
            - special.gammaln(y + 1.0)
            + th * np.log(th / (th + mu))
            + _xlogy(y, mu / (th + mu))
        )
        return float(-2.0 * np.sum(logp * wt))

    def check_response(self, y: Array, what: str) -> None:
        """Raise a DataError naming ``what`` for values outside the support."""
        _check_counts(y, what, "negative binomial")

    def simulate(self, rng: np.random.Generator, mu: Array, wt: Array, scale: float) -> Array:
        """Draw responses with means ``mu``."""
        th = self.theta
        return rng.negative_binomial(th, th / (th + mu)).astype(float)

    def __repr__(self) -> str:
        return f"NegativeBinomial(theta={self.theta:.6g}, link={self.link.name!r})"


class Gamma(Family):
    """Positive responses with variance ``φ μ²``; glmer's objective uses ``φ = dev/Σw``."""

    name = "Gamma"
    default_link = "inverse"
    links = ("inverse", "log", "identity")
    has_dispersion = True

    def variance(self, mu: Array) -> Array:
        """Variance function ``V(μ)``."""
        return np.square(mu)

    def dvariance(self, mu: Array) -> Array:
        """``V'(μ)``."""
        return 2.0 * np.asarray(mu)

    def dev_resid(self, y: Array, mu: Array, wt: Array) -> Array:
        """Deviance residuals (squared), prior weights included."""
        return -2.0 * wt * (np.log(y / mu) - (y - mu) / mu)

    def aic(self, y: Array, n: Array, mu: Array, wt: Array, dev: float) -> float:
        """lme4's ``-2 log p(y | μ)`` summed."""
        disp = dev / float(np.sum(wt))
        shape, scale = 1.0 / disp, mu * disp
        logp = (
            (shape - 1.0) * np.log(y) - y / scale - special.gammaln(shape) - shape * np.log(scale)
        )
        return float(-2.0 * np.sum(wt * logp) + 2.0)

    def aic_factor(self, y: Array, mu: Array, wt: Array, dev: float) -> float:
        """``c`` with ``∂aic/∂μ_i = c ∂dev_i/∂μ_i``."""
        total = float(np.sum(wt))
        disp = dev / total
        shape = 1.0 / disp
        dshape = -1.0 / disp**2
        inner = dshape * (-special.digamma(shape) - np.log(mu * disp) + np.log(y))
        inner = inner - shape / disp + y / (mu * disp**2)
        daic_ddisp = float(-2.0 * np.sum(wt * inner))
        return 1.0 / disp + daic_ddisp / total

    def check_response(self, y: Array, what: str) -> None:
        """Raise a DataError naming ``what`` for values outside the support."""
        if np.any(y <= 0):
            raise DataError(
                f"Gamma response {what}: non-positive values are not allowed "
                f"({int(np.sum(y <= 0))} found)"
            )

    def simulate(self, rng: np.random.Generator, mu: Array, wt: Array, scale: float) -> Array:
        """Draw responses with means ``mu``."""
        shape = wt / scale**2
        return rng.gamma(shape, mu / shape)

    def initial_mu(self, y: Array, n: Array) -> Array:
        """Starting means (R's ``mustart``)."""
        return np.asarray(y, dtype=float)


class InverseGaussian(Family):
    """Positive responses with variance ``φ μ³``; glmer's objective uses ``φ = dev/Σw``."""

    name = "inverse.gaussian"
    default_link = "1/mu^2"
    links = ("1/mu^2", "inverse", "log", "identity")
    has_dispersion = True

    def variance(self, mu: Array) -> Array:
        """Variance function ``V(μ)``."""
        return np.asarray(mu) ** 3

    def dvariance(self, mu: Array) -> Array:
        """``V'(μ)``."""
        return 3.0 * np.square(mu)

    def dev_resid(self, y: Array, mu: Array, wt: Array) -> Array:
        """Deviance residuals (squared), prior weights included."""
        return wt * np.square(y - mu) / (y * np.square(mu))

    def aic(self, y: Array, n: Array, mu: Array, wt: Array, dev: float) -> float:
        """lme4's ``-2 log p(y | μ)`` summed."""
        total = float(np.sum(wt))
        value = total * (math.log(dev / total * 2.0 * math.pi) + 1.0)
        return value + 3.0 * float(np.sum(np.log(y) * wt)) + 2.0

    def aic_factor(self, y: Array, mu: Array, wt: Array, dev: float) -> float:
        """``c`` with ``∂aic/∂μ_i = c ∂dev_i/∂μ_i``."""
        return float(np.sum(wt)) / dev

    def check_response(self, y: Array, what: str) -> None:
        """Raise a DataError naming ``what`` for values outside the support."""
        if np.any(y <= 0):
            raise DataError(
                f"inverse Gaussian response {what}: non-positive values are not allowed "
                f"({int(np.sum(y <= 0))} found)"
            )

    def simulate(self, rng: np.random.Generator, mu: Array, wt: Array, scale: float) -> Array:
        """Draw responses with means ``mu``."""
        return rng.wald(mu, wt / scale**2)

    def initial_mu(self, y: Array, n: Array) -> Array:
        """Starting means (R's ``mustart``)."""
        return np.asarray(y, dtype=float)


def _check_counts(y: Array, what: str, family: str) -> None:
    """Counts must be non-negative whole numbers."""
    if np.any(y < 0):
        raise DataError(
            f"{family} response {what}: negative counts are not allowed "
            f"({int(np.sum(y < 0))} found)"
        )
    fractional = np.abs(y - np.rint(y)) > 1e-8
    if np.any(fractional):
        raise DataError(
            f"{family} response {what}: counts must be whole numbers "
            f"({int(np.sum(fractional))} non-integer values, e.g. {y[fractional][0]:g})"
        )
