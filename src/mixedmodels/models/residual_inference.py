"""Satterthwaite's df for an LMM with a residual structure: over ``(θ, u, σ)``.

The deviance (REML criterion) with σ explicit is ``φ(θ, u) + r²(θ, u)/σ² + n' log(2πσ²)``
with ``φ = log|L_Z|² (+ log|R_X|²) + log|S R S|`` of the whitened model, and
``Var(β̂) = σ² (R_X R_Xᵀ)⁻¹``: the same forms as without the structure
(:mod:`mixedmodels.inference.ddf`), with the residual parameters ``u`` (unconstrained) among
the variance parameters and ``log|S R S|`` in ``φ``. The derivatives in ``(θ, u)`` are
numerical (Richardson), those in σ exact; a variance function of the fitted values is held at
the fit's covariate (as nlme's approximate covariance of the variance parameters).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.inference.ddf import Satterthwaite, satterthwaite_from_derivatives
from mixedmodels.objective.residual import ResidualObjective
from mixedmodels.optimize.differences import richardson_derivatives

__all__ = ["ResidualFit", "residual_satterthwaite"]

Array = FloatArray


class ResidualFit(Protocol):
    """What Satterthwaite's df read of a fitted model with a residual structure."""

    @property
    def residual_objective(self) -> ResidualObjective: ...  # noqa: D102
    @property
    def theta(self) -> Array: ...  # noqa: D102
    @property
    def residual_params(self) -> Array: ...  # noqa: D102
    @property
    def sigma(self) -> float: ...  # noqa: D102
    @property
    def n_fixed(self) -> int: ...  # noqa: D102
    @property
    def nobs(self) -> int: ...  # noqa: D102
    @property
    def reml(self) -> bool: ...  # noqa: D102


def residual_satterthwaite(model: ResidualFit) -> Satterthwaite:
    """The ingredients of lmerTest's for Satterthwaite's df, with ``varpar = (θ, u, σ)``."""
    objective = model.residual_objective
    x = np.concatenate([np.asarray(model.theta, dtype=np.float64), model.residual_params])
    sigma, p = float(model.sigma), model.n_fixed
    n_resid = model.nobs - p if model.reml else model.nobs
    f0, grad, hess = richardson_derivatives(lambda z: _parts(objective, z, p), x)
    return satterthwaite_from_derivatives(x, f0, grad, hess, sigma, n_resid)


def _parts(objective: ResidualObjective, x: Array, p: int) -> Array:
    """``[φ, r², vec (R_X R_Xᵀ)⁻¹]`` at ``x = (θ, u)``."""
    value = objective(x)
    if not math.isfinite(value):
        raise ModelSpecificationError(
            f"the model cannot be evaluated at (θ, u) = {np.array2string(x)} for "
            "Satterthwaite's df; use ddf='residual' or 'wald'"
        )
    white, L = objective.whitened(objective.split(x)[1])
    logdet = L.logdet_z + (L.logdet_x() if objective.reml else 0.0) + white.logdet
    M = scipy.linalg.cho_solve((L.xx[:p, :p], True), np.eye(p), check_finite=False)
    return np.concatenate([[logdet, L.pwrss()], M.reshape(-1)])
