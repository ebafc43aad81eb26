"""The profiled criterion of many replicates of one small-term LMM, with its gradient.

The bootstrap's replicates share everything but the response
(:class:`~mixedmodels.linalg.single_batch.OneTermBatch`); this is
:class:`~mixedmodels.objective.lmm.LmmObjective` and its gradient for ``m`` of them at once,
by the same formulas (:func:`~mixedmodels.objective.lmm.criterion_of`,
:func:`~mixedmodels.objective.lmm.gradient_of`), in the optimizer's parameters ``φ = d·θ``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.single_batch import OneTermBatch
from mixedmodels.objective.lmm import LmmObjective, criterion_of, gradient_of

__all__ = ["ReplicateCriteria"]

Array = FloatArray
Rows = NDArray[np.intp]


class ReplicateCriteria:
    """``(φ, rows) ↦`` the criteria ``(len(rows),)`` and gradients ``(len(rows), e)``.

    Parameters
    ----------
    batch
        The replicates' blocks.
    devfun
        The model's objective (its sizes, criterion and fixed σ; its factor is not used).
    factors
        ``d`` of ``φ = d·θ`` (:class:`~mixedmodels.optimize.scaling.ThetaScaling`).

    Where a replicate's factor does not exist the criterion is ``inf`` and the gradient NaN.
    """

    def __init__(self, batch: OneTermBatch, devfun: LmmObjective, factors: Array) -> None:
        self.batch = batch
        self.reml = devfun.reml
        self.dof = devfun.dof
        self.log_weights = devfun.log_weights
        self.sigma = devfun.sigma
        self.factors = factors

    def __call__(self, phi: Array, rows: Rows) -> tuple[Array, Array]:
        """Criteria and gradients (in φ) of replicates ``rows`` at ``phi``."""
        pieces = self.batch.evaluate(phi / self.factors, rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            logdet_x = pieces.logdet_x if self.reml else 0.0
            value = criterion_of(
                pieces.logdet_z, logdet_x, pieces.r2, self.dof, self.log_weights, self.sigma
            )
            grad = gradient_of(
                pieces.d_logdet_z,
                pieces.d_logdet_x if self.reml else None,
                pieces.d_log_r2,
                pieces.r2[:, None],
                self.dof,
                self.sigma,
            )
        value = np.asarray(value, dtype=float)
        ok = pieces.ok & np.isfinite(value)
        return np.where(ok, value, np.inf), np.where(ok[:, None], grad / self.factors, np.nan)
