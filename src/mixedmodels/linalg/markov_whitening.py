"""Whitening by an AR(1)-type residual covariance without factorizing: a bidiagonal inverse.

For a Markov correlation — ``R_ij = φ^|t_i − t_j|`` within a group (AR(1) over integer times,
gaps allowed, and the continuous AR(1)) — the lower Cholesky factor of ``R_g`` in time order
has a bidiagonal inverse: with ``a_i = φ^{d_i}`` (``d_i`` the time since the row before)

    ``(L⁻¹ r)_i = (r_i − a_i r_{i−1}) / √(1 − a_i²)``,    the group's first row unchanged,

and ``log|R_g| = Σ log(1 − a_i²)``. With standard-deviation multipliers ``S`` the factor of
``S R S`` is ``C = S L``: divide by ``s`` first. This is the factor
:func:`~mixedmodels.linalg.whitening.residual_factor` computes (the same ``C``, the same
normalized residuals — nlme's for AR(1)), in ``O(n)`` work per column, vectorized over all
rows (:attr:`~mixedmodels.spec.residual_groups.GroupLayout.chain`). Without a correlation
(a variance function alone) the chain is empty and the whitening is the division by ``s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.spec.residual_groups import Chain

__all__ = ["MarkovFactor", "markov_factor"]

Array = FloatArray


@dataclass(frozen=True)
class MarkovFactor:
    """The factor ``C = S L`` of ``S R S`` for a Markov correlation, held as its pieces.

    Attributes
    ----------
    chain
        The rows in group-then-time order with their gaps.
    coef
        ``a_i = φ^{d_i}`` per position of the chain's order (0 for a group's first row).
    scale
        ``1 / √(1 − a_i²)`` per position (1 for a group's first row).
    sd
        The standard-deviation multipliers per row, or ``None`` for ones.
    log_one_minus
        ``Σ log(1 − a_i²) = log|R|``.
    """

    chain: Chain
    coef: Array
    scale: Array
    sd: Array | None
    log_one_minus: float

    def whiten(self, M: Array) -> Array:
        """``C_g⁻¹ M_g`` for every group: rows of an ``n`` vector or ``n × c`` matrix."""
        M = np.asarray(M, dtype=np.float64)
        vector = M.ndim == 1
        cols = M[:, None] if vector else M
        if self.sd is not None:
            cols = cols / self.sd[:, None]
        order = self.chain.order
        P = cols if order is None else cols[order]  # group-then-time order
        W = np.empty_like(P)
        W[:1] = P[:1]
        np.multiply(self.coef[1:, None], P[:-1], out=W[1:])
        np.subtract(P[1:], W[1:], out=W[1:])  # a group's first row: a = 0
        W *= self.scale[:, None]
        if order is not None:
            out = np.empty_like(W)
            out[order] = W
            W = out
        return W[:, 0] if vector else W

    def logdet(self) -> float:
        """``log|S R S| = 2 Σ log s_i + Σ log(1 − a_i²)``."""
        logsd = 0.0 if self.sd is None else 2.0 * float(np.sum(np.log(self.sd)))
        return logsd + self.log_one_minus


def markov_factor(chain: Chain, phi: float, sd: Array | None) -> MarkovFactor:
    """The factor of ``S R S`` with ``R_ij = φ^|t_i − t_j|`` within the groups of ``chain``.

    Parameters
    ----------
    chain
        The rows in group-then-time order and their time differences (all positive).
    phi
        The correlation at time difference 1 (``|φ| < 1``).
    sd
        The standard-deviation multipliers ``s_i``, one per row, or ``None`` for ones.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a covariance is not positive definite (``|φ^d| ≥ 1``).
    """
    with np.errstate(under="ignore"):
        a = np.power(phi, chain.gaps)
    # 1 − φ^{2d} without cancellation near |φ| = 1
    if phi == 0.0:
        one_minus = np.ones_like(a)
    else:
        with np.errstate(under="ignore"):
            one_minus = -np.expm1(2.0 * chain.gaps * math.log(abs(phi)))
    if not np.all(one_minus > 0.0):
        raise np.linalg.LinAlgError("the residual correlation is not positive definite")
    log_one_minus = float(chain.counts @ np.log(one_minus))
    k = a.shape[0]
    coef, scale = np.empty(k + 1), np.empty(k + 1)  # the last: a group's first row
    coef[:k], coef[k] = a, 0.0
    scale[:k], scale[k] = 1.0 / np.sqrt(one_minus), 1.0
    index = chain.gap_index
    return MarkovFactor(chain, coef.take(index), scale.take(index), sd, log_one_minus)
