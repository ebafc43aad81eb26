"""Solves with the random-effects part ``L_Z`` of a blocked Cholesky factor; a selected inverse.

The selected inverse holds the parts of ``(L_Z L_Zᵀ)⁻¹`` that observations touch.

Block rows follow the terms: the first term's diagonal block is block-diagonal and its column
holds block-sparse ``L_i0``; the remaining terms ``T`` (few levels) form a dense trailing
factor ``L_TT``. With ``Y = L_TT⁻¹ L_T0 L_00⁻¹``, the inverse ``S = (L Lᵀ)⁻¹`` has

    S_TT = L_TT⁻ᵀ L_TT⁻¹,    S_T0 = −L_TT⁻ᵀ Y,    S_00 = L_00⁻ᵀ L_00⁻¹ + YᵀY,

of which only the diagonal blocks of ``S_00`` are needed: everything observation ``i`` needs is
the ``k_r × k_s`` block of ``S`` at its levels of terms ``r`` and ``s``. The cost is
``O(q_T² q_0 + q_T³)``; :func:`selected_inverse_cost` tells when that is affordable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.linalg import BlockedCholesky

__all__ = [
    "SelectedInverse",
    "lower_solve",
    "selected_inverse",
    "selected_inverse_cost",
    "upper_solve",
]

Array = FloatArray


def _offsets(L: BlockedCholesky) -> list[int]:
    """Start of each term's block in the random-effects vector."""
    sizes = [t.q for t in L.terms]
    return [int(v) for v in np.concatenate([[0], np.cumsum(sizes)])]


def _diag_solve(L: BlockedCholesky, j: int, B: Array, *, transpose: bool) -> Array:
    """``L_jj⁻¹ B`` (or ``L_jj⁻ᵀ B``) for a dense ``B`` with ``q_j`` rows."""
    Ljj = L.diag[j]
    if not L.blockdiag[j]:
        return scipy.linalg.solve_triangular(
            Ljj, B, lower=True, trans="T" if transpose else "N", check_finite=False
        )
    term = L.terms[j]
    k = term.k
    if k == 1:
        return B / Ljj[:, 0, 0][:, None]
    blocks = Ljj.transpose(0, 2, 1) if transpose else Ljj
    rhs = B.reshape(term.nlevels, k, -1)
    return np.linalg.solve(blocks, rhs).reshape(B.shape)


def _times(L: BlockedCholesky, i: int, j: int, B: Array, *, transpose: bool) -> Array:
    """``L_ij B`` (or ``L_ijᵀ B``) for ``i > j``."""
    if j == 0:
        block = L.sparse[i]
        assert block is not None
        small = L.first_dense[i]
        if small is not None:
            return small.T @ B if transpose else small @ B
        mat = block.to_scipy()
        return np.asarray((mat.T @ B) if transpose else (mat @ B))
    dense = L.dense[i][j]
    assert dense is not None
    return dense.T @ B if transpose else dense @ B


def lower_solve(L: BlockedCholesky, V: Array) -> Array:
    """``L_Z⁻¹ V`` for ``V`` of shape ``(q, r)``."""
    off = _offsets(L)
    out = np.empty_like(V)
    for j in range(len(L.terms)):
        t = V[off[j] : off[j + 1]].copy()
        for k in range(j):
            t -= _times(L, j, k, out[off[k] : off[k + 1]], transpose=False)
        out[off[j] : off[j + 1]] = _diag_solve(L, j, t, transpose=False)
    return out


def upper_solve(L: BlockedCholesky, V: Array) -> Array:
    """``L_Z⁻ᵀ V`` for ``V`` of shape ``(q, r)``."""
    off = _offsets(L)
    out = np.empty_like(V)
    m = len(L.terms)
    for j in reversed(range(m)):
        t = V[off[j] : off[j + 1]].copy()
        for i in range(j + 1, m):
            t -= _times(L, i, j, out[off[i] : off[i + 1]], transpose=True)
        out[off[j] : off[j + 1]] = _diag_solve(L, j, t, transpose=True)
    return out


@dataclass(frozen=True)
class SelectedInverse:
    """The blocks of ``S = (L_Z L_Zᵀ)⁻¹`` that observations touch.

    Attributes
    ----------
    diag0
        Diagonal blocks of ``S_00`` (first term), ``(l_0, k_0, k_0)``.
    trailing
        ``S_TT`` (all other terms, dense), ``(q_T, q_T)``.
    cross
        ``S_T0``, ``(q_T, q_0)``.
    offsets
        Start of each term ``r ≥ 1`` in the rows of ``trailing`` and ``cross``.
    """

    diag0: Array
    trailing: Array
    cross: Array
    offsets: list[int]


def selected_inverse_cost(L: BlockedCholesky) -> float:
    """Floating-point operations :func:`selected_inverse` needs (about)."""
    q0 = L.terms[0].q
    qT = sum(t.q for t in L.terms[1:])
    return float(qT) ** 2 * q0 + float(qT) ** 3


def selected_inverse(L: BlockedCholesky) -> SelectedInverse:
    """The blocks of ``(L_Z L_Zᵀ)⁻¹`` at observed level pairs (see the module docstring)."""
    first = L.terms[0]
    k0 = first.k
    inv0 = _blockdiag_inverse(L.diag[0], k0)  # L_00⁻¹ blocks, (l0, k0, k0)
    diag0 = inv0**2 if k0 == 1 else np.einsum("gca,gcb->gab", inv0, inv0)
    off = _offsets(L)
    qT = off[-1] - off[1]
    if qT == 0:
        return SelectedInverse(diag0, np.zeros((0, 0)), np.zeros((0, first.q)), [0])
    LTT = _trailing_factor(L, off)
    invTT = scipy.linalg.solve_triangular(LTT, np.eye(qT), lower=True, check_finite=False)
    LT0 = np.vstack([_first_column_block(L, i) for i in range(1, len(L.terms))])
    if k0 == 1:
        Y = invTT @ (LT0 * inv0[:, 0, 0])
        diag0 = diag0 + np.einsum("rg,rg->g", Y, Y).reshape(-1, 1, 1)
    else:
        W0 = np.einsum("rgc,gcd->rgd", LT0.reshape(qT, first.nlevels, k0), inv0)
        Y = invTT @ W0.reshape(qT, first.q)
        Y3 = Y.reshape(qT, first.nlevels, k0)
        diag0 = diag0 + np.einsum("rga,rgb->gab", Y3, Y3)
    trailing = invTT.T @ invTT
    cross = -(invTT.T @ Y)
    return SelectedInverse(diag0, trailing, cross, [o - off[1] for o in off[1:]])


def _blockdiag_inverse(Ldiag: Array, k: int) -> Array:
    """Inverses of the lower-triangular diagonal blocks ``(l, k, k)``."""
    if k == 1:
        return 1.0 / Ldiag
    eye = np.broadcast_to(np.eye(k), Ldiag.shape)
    return np.linalg.solve(Ldiag, eye)


def _first_column_block(L: BlockedCholesky, i: int) -> Array:
    """``L_i0`` as a dense ``q_i × q_0`` array."""
    small = L.first_dense[i]
    if small is not None:
        return small
    block = L.sparse[i]
    assert block is not None
    return np.asarray(block.to_scipy().toarray())


def _trailing_factor(L: BlockedCholesky, off: list[int]) -> Array:
    """The dense lower-triangular factor of the terms after the first."""
    base = off[1]
    qT = off[-1] - base
    out = np.zeros((qT, qT))
    m = len(L.terms)
    for j in range(1, m):
        rows = slice(off[j] - base, off[j + 1] - base)
        out[rows, rows] = _dense_diagonal(L, j)
        for i in range(j + 1, m):
            dense = L.dense[i][j]
            assert dense is not None
            out[off[i] - base : off[i + 1] - base, rows] = dense
    return out


def _dense_diagonal(L: BlockedCholesky, j: int) -> Array:
    """``L_jj`` as a dense lower-triangular array."""
    if not L.blockdiag[j]:
        return np.tril(L.diag[j])
    term = L.terms[j]
    return scipy.linalg.block_diag(*L.diag[j]) if term.k > 1 else np.diag(L.diag[j][:, 0, 0])
