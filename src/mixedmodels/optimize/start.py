"""Starting values for θ: lme4's default, or moment estimates when every term is scalar.

For scalar terms the expected squared level sums of the OLS residuals are linear in the variance
components (Henderson's method 3 in its simplest form)::

    E Σ_g (Σ_{r∈g} z_r e_r)²  ≈  Σ_k σ_k² ‖Z_jᵀZ_k‖²_F + σ² tr(Z_jᵀZ_j)
    E Σ_r e_r²                ≈  Σ_k σ_k² tr(Z_kᵀZ_k) + n σ²

All the coefficients are already in the stored blocks of ``A``. Starting BOBYQA there, with a
trust region scaled to the start, takes a third of the evaluations on large crossed models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import CrossProducts
from mixedmodels.terms.random import RandomEffectsTerm

__all__ = ["initial_step", "moment_start"]

Array = FloatArray
FLOOR = 0.05  # a start of exactly 0 would sit on the bound


def moment_start(
    terms: Sequence[RandomEffectsTerm], A: CrossProducts, X: Array, y: Array
) -> Array | None:
    """Moment estimates of θ for models whose terms are all scalar; ``None`` otherwise."""
    if any(t.k != 1 for t in terms) or not np.all(np.isfinite(y)):
        return None
    beta = np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else np.empty(0)
    e = y - X @ beta
    m = len(terms)
    M = np.zeros((m + 1, m + 1))
    rhs = np.zeros(m + 1)
    for j, term in enumerate(terms):
        sums = np.bincount(term.refs, weights=e * term.z[:, 0], minlength=term.nlevels)
        rhs[j] = float(sums @ sums)
        M[j, :m] = [_frobenius2(A, j, k) for k in range(m)]
        M[j, m] = M[m, j] = float(np.sum(A.diag[j]))
    rhs[m] = float(e @ e)
    M[m, m] = len(y)
    solution = np.linalg.lstsq(M, rhs, rcond=None)[0]
    sigma2 = solution[m]
    if not np.isfinite(sigma2) or sigma2 <= 1e-8 * max(float(np.var(y)), 1e-300):
        return None
    theta = np.sqrt(np.maximum(solution[:m], 0.0) / sigma2)
    return np.clip(theta, FLOOR, 1e3)


def initial_step(start: Array) -> Array:
    """BOBYQA's initial trust-region radius per coordinate, scaled to the start."""
    return np.maximum(0.25 * np.abs(start), FLOOR)


def _frobenius2(A: CrossProducts, j: int, k: int) -> float:
    """``‖Z_jᵀZ_k‖²_F`` from the stored blocks."""
    if j == k:
        return float(np.sum(A.diag[j] ** 2))
    i, lower = max(j, k), min(j, k)
    if lower == 0:
        block = A.sparse[i]
        assert block is not None
        return float(np.sum(block.data**2))
    dense = A.dense[i][lower]
    assert dense is not None
    return float(np.sum(dense**2))
