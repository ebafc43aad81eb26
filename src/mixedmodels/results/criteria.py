"""Information criteria from the maximized criterion, shared by every kind of model."""

from __future__ import annotations

import math

__all__ = ["InformationCriteria"]


class InformationCriteria:
    """``loglik``, ``aic`` and ``bic`` from ``objective`` (−2 log L), ``npar`` and ``nobs``.

    A model class provides the three; for a REML fit ``objective`` is the REML criterion and
    these are lme4's values for it (the restricted log-likelihood).
    """

    @property
    def objective(self) -> float:
        """−2 log-likelihood (or the REML criterion) at the optimum."""
        raise NotImplementedError

    @property
    def npar(self) -> int:
        """Number of estimated parameters."""
        raise NotImplementedError

    @property
    def nobs(self) -> int:
        """Number of observations."""
        raise NotImplementedError

    @property
    def loglik(self) -> float:
        """Log-likelihood, as lme4's ``logLik`` (restricted for REML fits)."""
        return -0.5 * self.objective

    @property
    def aic(self) -> float:
        """Akaike's information criterion ``−2 log L + 2 npar``."""
        return self.objective + 2.0 * self.npar

    @property
    def bic(self) -> float:
        """Schwarz's criterion ``−2 log L + npar log n``."""
        return self.objective + self.npar * math.log(self.nobs)
