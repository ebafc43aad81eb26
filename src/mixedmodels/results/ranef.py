"""Conditional modes of the random effects and their conditional variances.

The conditional covariance of ``b`` given ``y`` (at the estimates, as lme4's ``condVar``) is
``σ² Λ (L_Z L_Zᵀ)⁻¹ Λᵀ``; only its diagonal blocks (one ``k×k`` block per level) are computed,
column block by column block of ``L_Z⁻¹``, never the whole inverse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["conditional_variances", "ranef_frames"]

Array = FloatArray


def ranef_frames(
    terms: Sequence[RandomEffectsTerm], modes: Sequence[Array]
) -> dict[str, pd.DataFrame]:
    """Conditional modes per grouping factor: one row per level, one column per effect.

    Terms on the same grouping factor (as from ``(x || g)``) are joined into one frame.
    """
    out: dict[str, pd.DataFrame] = {}
    for term, b in zip(terms, modes, strict=True):
        frame = pd.DataFrame(
            b, index=pd.Index(term.levels, name=term.group), columns=term.column_names
        )
        if term.group in out:
            previous = out[term.group]
            renamed = {c: f"{c} ({term.name})" for c in frame.columns if c in previous.columns}
            frame = previous.join(frame.rename(columns=renamed))
        out[term.group] = frame
    return out


def conditional_variances(
    L: BlockedCholesky, templates: Sequence[Array], sigma: float
) -> dict[str, Array]:
    """Conditional covariance blocks ``(levels, k, k)`` of each term's random effects.

    Parameters
    ----------
    L
        The blocked Cholesky factor at the estimates.
    templates
        The templates ``T_j`` at the estimates.
    sigma
        The residual SD (1 for GLMMs).

    Returns
    -------
    dict
        Keyed by term name (``"Subject"``, ``"Subject.1"``, ...).
    """
    out: dict[str, Array] = {}
    for j, term in enumerate(L.terms):
        V = _inverse_diagonal_blocks(L, j)
        T = templates[j]
        out[term.name] = sigma**2 * (T @ V @ T.T)
    return out


def _inverse_diagonal_blocks(L: BlockedCholesky, j: int) -> Array:
    """Diagonal ``k×k`` blocks of ``(L_Z L_Zᵀ)⁻¹`` for term ``j``: ``Σ_{i≥j} X_ijᵀ X_ij``."""
    term = L.terms[j]
    nlev, k = term.nlevels, term.k
    identity = np.broadcast_to(np.eye(k), (nlev, k, k))
    if L.blockdiag[j]:
        X_jj: Array = np.linalg.solve(L.diag[j], identity)  # (l, k, k) block inverses
        V = np.einsum("gca,gcb->gab", X_jj, X_jj)
    else:
        X_jj = scipy.linalg.solve_triangular(L.diag[j], np.eye(term.q), lower=True)
        V = _column_block_gram(X_jj, nlev, k)
    columns: dict[int, Array] = {j: X_jj}
    for i in range(j + 1, len(L.terms)):
        B = sum(_times_column(L, i, kk, j, columns[kk]) for kk in range(j, i))
        columns[i] = -_solve_diag(L, i, np.asarray(B))
        V = V + _column_block_gram(columns[i], nlev, k)
    return V


def _times_column(L: BlockedCholesky, i: int, k: int, j: int, X_kj: Array) -> Array:
    """``L_ik X_kj`` as a dense ``q_i × q_j`` matrix."""
    if k == 0:
        block = L.sparse[i]
        assert block is not None
        left = np.asarray(block.to_scipy().toarray())
    else:
        dense = L.dense[i][k]
        assert dense is not None
        left = dense
    if k == j and L.blockdiag[j]:
        term = L.terms[j]
        B = left.reshape(left.shape[0], term.nlevels, term.k)
        return np.einsum("rgc,gcd->rgd", B, X_kj).reshape(left.shape[0], -1)
    return left @ X_kj


def _solve_diag(L: BlockedCholesky, i: int, B: Array) -> Array:
    """``L_ii⁻¹ B``."""
    if not L.blockdiag[i]:
        return scipy.linalg.solve_triangular(L.diag[i], B, lower=True)
    term = L.terms[i]
    Y = B.reshape(term.nlevels, term.k, -1)
    return np.linalg.solve(L.diag[i], Y).reshape(B.shape)


def _column_block_gram(X: Array, nlev: int, k: int) -> Array:
    """``X_gᵀ X_g`` for each block of ``k`` columns of ``X``."""
    X3 = X.reshape(X.shape[0], nlev, k)
    return np.einsum("rga,rgb->gab", X3, X3)
