"""Whitening by a block-diagonal residual covariance: ``Cov(ε_g) = σ² S_g R_g S_g`` per group.

The rows of the data fall into residual groups (the subjects of an AR(1) process, say); within
group ``g`` the residuals have correlation ``R_g`` and standard-deviation multipliers
``S_g = diag(s_i)``. With ``C_g`` the lower Cholesky factor of ``S_g R_g S_g``, the rows
``C_g⁻¹ (·)`` of ``y``, ``X`` and each random-effects ``z`` have independent residuals of
variance σ². Groups of equal size are stacked into arrays (buckets), so that one batch
of small factorizations and triangular solves serves each size: ``O(n · m)`` work for groups
of size ``m`` (plus ``O(n m²)`` for the factors), nothing of size ``n × n``.

:class:`~mixedmodels.spec.residual_groups.GroupLayout` is where the rows of each group are
(stacked by size in buckets); :func:`residual_factor` factors the
covariances given the correlation matrices per bucket and the multipliers per row;
:class:`ResidualFactor` whitens columns and gives ``log|S R S|``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.spec.residual_groups import GroupLayout

__all__ = ["ResidualFactor", "helmert_whiten", "residual_factor"]

Array = FloatArray


@dataclass(frozen=True)
class ResidualFactor:
    """Lower Cholesky factors ``C_g`` of ``S_g R_g S_g``, stacked as the layout's buckets.

    Attributes
    ----------
    layout
        The groups.
    factors
        One ``(G, m, m)`` array of lower-triangular factors per bucket.
    """

    layout: GroupLayout
    factors: tuple[Array, ...]

    def whiten(self, M: Array) -> Array:
        """``C_g⁻¹ M_g`` for every group: rows of an ``n`` vector or ``n × c`` matrix."""
        M = np.asarray(M, dtype=np.float64)
        vector = M.ndim == 1
        cols = M[:, None] if vector else M
        out = np.empty_like(cols)
        for bucket, C in zip(self.layout.buckets, self.factors, strict=True):
            block = cols[bucket.rows]  # (G, m, c)
            if bucket.size == 1:
                out[bucket.rows] = block / C
            else:
                out[bucket.rows] = _lower_solve(C, block)
        return out[:, 0] if vector else out

    def logdet(self) -> float:
        """``log|S R S| = 2 Σ_g Σ log diag C_g``."""
        return float(
            sum(2.0 * np.sum(np.log(np.diagonal(C, axis1=1, axis2=2))) for C in self.factors)
        )


def residual_factor(
    layout: GroupLayout, correlations: Sequence[Array | None], sd: Array | None
) -> ResidualFactor:
    """Factor ``S_g R_g S_g`` for every group.

    Parameters
    ----------
    layout
        The groups.
    correlations
        One ``(G, m, m)`` correlation array per bucket, or ``None`` for the identity.
    sd
        The standard-deviation multipliers ``s_i``, one per row, or ``None`` for ones.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a covariance is not positive definite.
    """
    factors = []
    for bucket, R in zip(layout.buckets, correlations, strict=True):
        G, m = bucket.rows.shape
        s = np.ones((G, m)) if sd is None else sd[bucket.rows]
        if R is None:
            C = np.zeros((G, m, m))
            idx = np.arange(m)
            C[:, idx, idx] = s
            factors.append(C)
        else:
            factors.append(np.asarray(np.linalg.cholesky(s[:, :, None] * R * s[:, None, :])))
    return ResidualFactor(layout, tuple(factors))


def _lower_solve(C: Array, B: Array) -> Array:
    """``C⁻¹ B`` for stacked lower-triangular ``C`` ``(G, m, m)`` and ``B`` ``(G, m, c)``.

    Forward substitution over the ``m`` rows, vectorized over groups and columns (``m`` is
    small: the size of a residual group).
    """
    m = C.shape[1]
    X = np.empty_like(B)
    for i in range(m):
        acc = B[:, i, :]
        if i:
            acc = acc - np.einsum("gj,gjc->gc", C[:, i, :i], X[:, :i, :])
        X[:, i, :] = acc / C[:, i, i][:, None]
    return X


def helmert_whiten(layout: GroupLayout, rho: float, r: Array) -> Array:
    """``F_g r_g`` with nlme's factor of a compound-symmetry correlation (``F R Fᵀ = I``).

    ``F = D H`` with ``H`` the Helmert matrix (first row ``1/√m``, row ``i`` contrasting
    element ``i`` with the ones before it) and ``D`` the inverse square roots of ``R``'s
    eigenvalues ``1 + (m−1)ρ`` and ``1 − ρ``: nlme's normalized residuals of ``corCompSymm``
    (any ``F`` with ``FᵀF = R⁻¹`` whitens; nlme's is this one, not the Cholesky factor's).
    """
    out = np.empty_like(np.asarray(r, dtype=np.float64))
    for bucket in layout.buckets:
        m = bucket.size
        block = r[bucket.rows]  # (G, m)
        before = np.cumsum(block, axis=1) - block  # sums of the elements before each
        i = np.arange(m, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rows = (i * block - before) / np.sqrt(i * (i + 1.0)) / math.sqrt(1.0 - rho)
        rows[:, 0] = block.sum(axis=1) / math.sqrt(m * (1.0 + (m - 1) * rho))
        out[bucket.rows] = rows
    return out
