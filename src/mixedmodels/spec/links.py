"""Link functions of generalized linear models: ``η = g(μ)``, its inverse and derivatives.

Inverse links are clamped as in lme4 (``src/glmFamily.cpp``) so that ``μ`` stays inside the
support (``μ ≤ 1 − ε`` for the logit link, ``μ ≥ ε`` for the log link).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from scipy import special

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError

__all__ = [
    "CauchitLink",
    "CloglogLink",
    "IdentityLink",
    "InverseLink",
    "InverseSquareLink",
    "Link",
    "LogLink",
    "LogitLink",
    "ProbitLink",
    "SqrtLink",
    "get_link",
]

Array = FloatArray
EPS = float(np.finfo(float).eps)


class Link(ABC):
    """A link function ``η = g(μ)`` with its inverse and the derivatives of the inverse."""

    name: ClassVar[str]

    @abstractmethod
    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""

    @abstractmethod
    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""

    @abstractmethod
    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""

    @abstractmethod
    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LogitLink(Link):
    """``log(μ / (1 − μ))``, the canonical link of the binomial."""

    name = "logit"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return np.asarray(special.logit(mu))

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``, kept in ``[ε, 1 − ε]`` as R's ``binomial()$linkinv`` keeps it."""
        return np.clip(special.expit(eta), EPS, 1.0 - EPS)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        e = np.exp(-np.abs(eta))
        return np.maximum(e / (1.0 + e) ** 2, EPS)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        mu = special.expit(eta)
        return np.asarray(mu * (1.0 - mu) * (1.0 - 2.0 * mu))


class ProbitLink(Link):
    """``Φ⁻¹(μ)``."""

    name = "probit"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return np.asarray(special.ndtri(mu))

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``, kept in ``[ε, 1 − ε]`` as R's ``binomial("probit")$linkinv``."""
        return np.clip(special.ndtr(eta), EPS, 1.0 - EPS)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return np.exp(-0.5 * np.square(eta)) / math.sqrt(2.0 * math.pi)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        return -np.asarray(eta) * self.mu_eta(eta)


class CloglogLink(Link):
    """``log(−log(1 − μ))``."""

    name = "cloglog"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return np.log(-np.log1p(-np.asarray(mu)))

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""
        return np.clip(-np.expm1(-np.exp(eta)), EPS, 1.0 - EPS)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return np.maximum(np.exp(eta - np.exp(eta)), EPS)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        return np.exp(eta - np.exp(eta)) * (1.0 - np.exp(eta))


class CauchitLink(Link):
    """``tan(π(μ − ½))``, the quantile function of the standard Cauchy distribution."""

    name = "cauchit"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return np.tan(math.pi * (np.asarray(mu) - 0.5))

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""
        return np.clip(0.5 + np.arctan(eta) / math.pi, EPS, 1.0 - EPS)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return np.maximum(1.0 / (math.pi * (1.0 + np.square(eta))), EPS)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        eta = np.asarray(eta)
        return -2.0 * eta / (math.pi * (1.0 + eta * eta) ** 2)


class LogLink(Link):
    """``log(μ)``, the canonical link of the Poisson."""

    name = "log"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return np.log(mu)

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""
        return np.maximum(np.exp(eta), EPS)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return np.maximum(np.exp(eta), EPS)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        return np.exp(eta)


class IdentityLink(Link):
    """``μ``."""

    name = "identity"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return np.asarray(mu, dtype=float)

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""
        return np.asarray(eta, dtype=float)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return np.ones_like(eta, dtype=float)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        return np.zeros_like(eta, dtype=float)


class InverseLink(Link):
    """``1/μ``, the canonical link of the Gamma."""

    name = "inverse"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return 1.0 / np.asarray(mu)

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""
        return 1.0 / np.asarray(eta)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return -1.0 / np.square(eta)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        return 2.0 / np.asarray(eta) ** 3


class SqrtLink(Link):
    """``√μ``."""

    name = "sqrt"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return np.sqrt(mu)

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""
        return np.square(eta)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return 2.0 * np.asarray(eta)

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        return np.full_like(eta, 2.0, dtype=float)


class InverseSquareLink(Link):
    """``1/μ²``, the canonical link of the inverse Gaussian."""

    name = "1/mu^2"

    def link(self, mu: Array) -> Array:
        """``η = g(μ)``."""
        return 1.0 / np.square(mu)

    def inverse(self, eta: Array) -> Array:
        """``μ = g⁻¹(η)``."""
        return 1.0 / np.sqrt(eta)

    def mu_eta(self, eta: Array) -> Array:
        """``dμ/dη``."""
        return -0.5 * np.asarray(eta) ** -1.5

    def mu_eta_deriv(self, eta: Array) -> Array:
        """``d²μ/dη²``."""
        return 0.75 * np.asarray(eta) ** -2.5


_LINKS: dict[str, type[Link]] = {
    cls.name: cls
    for cls in (
        LogitLink,
        ProbitLink,
        CauchitLink,
        CloglogLink,
        LogLink,
        IdentityLink,
        InverseLink,
        SqrtLink,
        InverseSquareLink,
    )
}


def get_link(link: str | Link) -> Link:
    """A link from its R name (``"logit"``, ``"probit"``, ``"cloglog"``, ``"log"``, ...)."""
    if isinstance(link, Link):
        return link
    try:
        return _LINKS[str(link)]()
    except KeyError:
        known = ", ".join(sorted(_LINKS))
        raise ModelSpecificationError(f"unknown link {link!r}; known links: {known}") from None
