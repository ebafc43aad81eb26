"""The objective of a linear mixed model: θ ↦ profiled deviance or REML criterion.

As lme4's ``devfun`` (from ``mkLmerDevfun``) and MixedModels.jl's ``objective!``: the stored
blocks ``A = [Z X y]'W[Z X y]`` and a blocked Cholesky factor of its own make a function of θ
alone, with β and σ profiled out. :func:`profiled_criterion` is the one formula of the
criterion from a factor; every caller (the fit, the trailing-term optimizer, Satterthwaite's
derivatives) reads it from here.

Evaluating an :class:`LmmObjective` moves only its own factor: a model's results, read from
the model's factor at θ̂, are never touched by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import NotSupportedError
from mixedmodels.linalg.cholesky import BlockedCholesky
from mixedmodels.linalg.crossprod import CrossProducts
from mixedmodels.linalg.trailing import TrailingFactor
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = [
    "LOG_2PI",
    "LmmObjective",
    "criterion_dof",
    "criterion_of",
    "gradient_of",
    "profiled_criterion",
    "profiled_gradient",
]

Array = FloatArray
Value = float | FloatArray  # one replicate, or many
LOG_2PI = math.log(2.0 * math.pi)


def profiled_criterion(
    factor: BlockedCholesky | TrailingFactor,
    nobs: int,
    n_fixed: int,
    log_weights: float,
    reml: bool,
    sigma: float | None = None,
) -> float:
    """The ML deviance or REML criterion, profiled over β and σ, from a factor at θ.

    ``log|L_Z|² + d·(1 + log(2π r²/d)) − Σ log wᵢ``, with ``d = n`` (ML) or ``n − p`` (REML,
    which adds ``log|R_X|²``); ``-inf`` when the response is fitted exactly (``r² = 0``).
    With the residual SD fixed at ``sigma`` (nlme's ``lmeControl(sigma = )``, glmmTMB's
    ``dispformula = ~0`` for a tiny one) σ is not profiled: ``d·log(2πσ²) + r²/σ²`` replaces
    ``d·(1 + log(2π r²/d))``.
    """
    r2 = factor.pwrss()
    if sigma is None and r2 <= 0.0:
        return -math.inf
    logdet_x = factor.logdet_x() if reml else 0.0
    dof = criterion_dof(nobs, n_fixed, reml)
    return float(criterion_of(factor.logdet_z, logdet_x, r2, dof, log_weights, sigma))


def criterion_dof(nobs: int, n_fixed: int, reml: bool) -> int:
    """The criterion's degrees of freedom ``d``: ``n − p`` (REML) or ``n`` (ML)."""
    return nobs - n_fixed if reml else nobs


def criterion_of(
    logdet_z: Value, logdet_x: Value, r2: Value, dof: int, log_weights: float, sigma: float | None
) -> Value:
    """:func:`profiled_criterion` from its pieces (numbers, or arrays of many replicates).

    ``logdet_x`` is 0 for the ML deviance and ``dof`` its degrees of freedom (``n`` or
    ``n − p``); an array ``r2`` of zeros gives ``-inf`` (with NumPy's warning).
    """
    if sigma is not None:
        value = logdet_z + dof * (LOG_2PI + 2.0 * math.log(sigma)) + r2 / sigma**2
        return value - log_weights + logdet_x
    log = np.log if isinstance(r2, np.ndarray) else math.log
    return logdet_z + dof * (1.0 + LOG_2PI + log(r2 / dof)) - log_weights + logdet_x


def profiled_gradient(
    factor: BlockedCholesky, nobs: int, n_fixed: int, reml: bool, sigma: float | None = None
) -> Array | None:
    """``∂/∂θ`` of :func:`profiled_criterion` at the factor's θ, or ``None`` when unavailable.

    The factor gives the derivatives of ``log|L_Z|²``, ``log|R_X|²`` and ``log r²``
    (:meth:`BlockedCholesky.derivatives`); they combine as the criterion's terms do.
    """
    pieces = factor.derivatives()
    if pieces is None:
        return None
    dof = criterion_dof(nobs, n_fixed, reml)
    logdet_x = pieces.logdet_x if reml else None
    return gradient_of(pieces.logdet_z, logdet_x, pieces.log_r2, factor.pwrss(), dof, sigma)


def gradient_of(
    logdet_z: Array,
    logdet_x: Array | None,
    log_r2: Array,
    r2: Value,
    dof: int,
    sigma: float | None,
) -> Array:
    """:func:`profiled_gradient` from the pieces' derivatives (``logdet_x`` ``None`` for ML).

    For many replicates the derivatives are ``(m, entries)`` and ``r2`` is ``(m, 1)``.
    """
    grad = logdet_z + (dof if sigma is None else r2 / sigma**2) * log_r2
    return grad if logdet_x is None else grad + logdet_x


@dataclass
class LmmObjective:
    """The profiled objective of an LMM as a function of θ, with a factor of its own.

    Build it with :attr:`LinearMixedModel.objective_function
    <mixedmodels.LinearMixedModel.objective_function>`; call it with θ.

    Attributes
    ----------
    terms
        The random-effects terms (θ's layout).
    A
        The stored blocks (shared with the model, never written).
    factor
        The working factor, left at the last θ evaluated.
    nobs, n_fixed
        Observations and estimable fixed-effect columns.
    log_weights
        ``Σ log wᵢ`` of the prior weights (0 without weights).
    reml
        REML criterion (True) or ML deviance.
    lower
        Lower bounds of θ (0 for the diagonals of the templates, −∞ elsewhere).
    sigma
        The residual SD when it is fixed (not profiled), else ``None``.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> f = m.objective_function
    >>> bool(abs(f(m.theta) - m.objective) < 1e-8), bool(f([1.0, 0.0, 1.0]) > m.objective)
    (True, True)
    """

    terms: list[RandomEffectsTerm]
    A: CrossProducts
    factor: BlockedCholesky
    nobs: int
    n_fixed: int
    log_weights: float
    reml: bool
    lower: Array
    sigma: float | None = None

    def __call__(self, theta: Array) -> float:
        """The criterion at ``theta`` (``inf`` where the factor does not exist)."""
        try:
            self.factor.update(np.asarray(theta, dtype=float))
        except np.linalg.LinAlgError:
            return math.inf
        return self.criterion()

    @property
    def dof(self) -> int:
        """The criterion's degrees of freedom (:func:`criterion_dof`)."""
        return criterion_dof(self.nobs, self.n_fixed, self.reml)

    @property
    def has_gradient(self) -> bool:
        """True when :meth:`gradient` is available (one small term, in closed form)."""
        return self.factor.closed_form

    def gradient(self, theta: Array) -> Array:
        """``∂/∂θ`` of the criterion at ``theta`` (NaN where the factor does not exist).

        Raises
        ------
        NotSupportedError
            Unless :attr:`has_gradient`.
        """
        if not self.has_gradient:
            raise NotSupportedError("the criterion's gradient is available for one small term only")
        theta = np.asarray(theta, dtype=float)
        if not np.array_equal(theta, self.factor.theta):
            try:
                self.factor.update(theta)
            except np.linalg.LinAlgError:
                return np.full(len(theta), np.nan)
        grad = profiled_gradient(self.factor, self.nobs, self.n_fixed, self.reml, self.sigma)
        assert grad is not None
        return grad

    def criterion(self, factor: BlockedCholesky | TrailingFactor | None = None) -> float:
        """The criterion from ``factor`` (the working factor by default) at its θ."""
        used = self.factor if factor is None else factor
        return profiled_criterion(
            used, self.nobs, self.n_fixed, self.log_weights, self.reml, self.sigma
        )
