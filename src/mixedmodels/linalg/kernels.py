"""Batched kernels on block-diagonal factors: one small ``k×k`` block per level.

A block-diagonal matrix is held as an ``(l, k, k)`` array. Scalar terms (``k = 1``) take the
elementwise fast path everywhere.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray

__all__ = [
    "chol_blockdiag",
    "logdet_blockdiag",
    "rdiv_blockdiag",
    "rdiv_blocks",
    "scale_blockdiag",
    "segment_outer",
    "chol_lower",
    "chol_psd",
    "rdiv_lower_t",
    "solve_lower_t",
]


def scale_blockdiag(A: FloatArray, T: FloatArray) -> FloatArray:
    """``Tᵀ A_g T + I`` for every block ``A_g``."""
    k = T.shape[0]
    if k == 1:
        return A * (T[0, 0] ** 2) + 1.0
    out = T.T @ A @ T
    out.reshape(len(out), k * k)[:, :: k + 1] += 1.0  # the diagonals, through a strided view
    return out


SMALL_K = 3  # blocks up to this size are factored by explicit loops over entries


def chol_blockdiag(D: FloatArray) -> tuple[FloatArray, float]:
    """Lower Cholesky factor of every block of a positive-definite block-diagonal matrix.

    Small blocks are factored entry by entry, vectorized over the levels: for ``k ≤ 3`` that is
    several times faster than LAPACK called once per block.

    Returns
    -------
    L, logdet
        The factor ``(l, k, k)`` and ``log|D|``.
    """
    k = D.shape[1]
    if k == 1:
        if np.any(D <= 0):
            raise np.linalg.LinAlgError("a diagonal block is not positive definite")
        return np.sqrt(D), float(np.sum(np.log(D)))
    if k == 2:
        return _chol2(D)
    if k > SMALL_K:
        L = np.linalg.cholesky(D)
        return L, logdet_blockdiag(L)
    L = np.zeros_like(D)
    logdet = 0.0
    for j in range(k):
        pivot = D[:, j, j].copy()
        for p in range(j):
            pivot -= L[:, j, p] ** 2
        if np.any(pivot <= 0):
            raise np.linalg.LinAlgError("a diagonal block is not positive definite")
        logdet += float(np.sum(np.log(pivot)))
        L[:, j, j] = np.sqrt(pivot)
        for i in range(j + 1, k):
            acc = D[:, i, j].copy()
            for p in range(j):
                acc -= L[:, i, p] * L[:, j, p]
            L[:, i, j] = acc / L[:, j, j]
    return L, logdet


def _chol2(D: FloatArray) -> tuple[FloatArray, float]:
    """Closed-form Cholesky factors of ``2×2`` blocks (the common ``(1 + x | g)`` term).

    Written into the flat view of the result, with as few NumPy calls as possible: for the
    tens of levels of a typical grouping factor the calls' overhead is the whole cost.
    """
    n = D.shape[0]
    flat = D.reshape(n, 4)
    d00, d10, d11 = flat[:, 0], flat[:, 2], flat[:, 3]
    if not d00.min() > 0:
        raise np.linalg.LinAlgError("a diagonal block is not positive definite")
    L = np.empty((n, 2, 2))
    out = L.reshape(n, 4)
    s0 = np.sqrt(d00, out=out[:, 0])
    l10 = np.divide(d10, s0, out=out[:, 2])
    p11 = d11 - l10 * l10
    if not p11.min() > 0:
        raise np.linalg.LinAlgError("a diagonal block is not positive definite")
    np.sqrt(p11, out=out[:, 3])
    out[:, 1] = 0.0
    return L, float(np.log(d00 * p11).sum())


def logdet_blockdiag(L: FloatArray) -> float:
    """``log|L L'|`` of a block-diagonal Cholesky factor."""
    if L.shape[1] == 1:
        return 2.0 * float(np.sum(np.log(L)))
    return 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))


def rdiv_blockdiag(B: FloatArray, L: FloatArray) -> FloatArray:
    """``B L⁻ᵀ`` for dense ``B`` of shape ``(r, l, k)`` and block-diagonal ``L`` ``(l, k, k)``."""
    k = L.shape[1]
    if k == 1:
        return B / L[:, :, 0]
    if k > SMALL_K:
        rhs = np.ascontiguousarray(B.transpose(1, 2, 0))  # (l, k, r)
        return np.linalg.solve(L, rhs).transpose(2, 0, 1)
    X = np.empty_like(B)
    if k == 2:  # the common (1 + x | g): two divisions
        np.divide(B[:, :, 0], L[:, 0, 0], out=X[:, :, 0])
        np.divide(B[:, :, 1] - X[:, :, 0] * L[:, 1, 0], L[:, 1, 1], out=X[:, :, 1])
        return X
    for j in range(k):  # X_j = (B_j - sum_{p<j} X_p L_jp) / L_jj, vectorized over rows, levels
        acc = B[:, :, j].copy()
        for p in range(j):
            acc -= X[:, :, p] * L[:, j, p]
        X[:, :, j] = acc / L[:, j, j]
    return X


def rdiv_blocks(data: FloatArray, cols: NDArray[np.int32], L: FloatArray) -> FloatArray:
    """``B_b L_cb⁻ᵀ`` for each stored block ``B_b`` ``(nnzb, r, k)`` in block column ``cb``."""
    k = L.shape[1]
    if k == 1:
        return data / L[cols]
    if k <= SMALL_K:
        return rdiv_blockdiag(data.transpose(1, 0, 2), L[cols]).transpose(1, 0, 2)
    rhs = np.ascontiguousarray(data.transpose(0, 2, 1))  # (nnzb, k, r)
    return np.linalg.solve(L[cols], rhs).transpose(0, 2, 1)


def segment_outer(data: FloatArray, rows: NDArray[np.intp], nrows: int) -> FloatArray:
    """``Σ_b B_b B_bᵀ`` per block row: the block diagonal of ``B Bᵀ`` for nested patterns."""
    r = data.shape[1]
    if r == 1 and data.shape[2] == 1:
        sums = np.bincount(rows, weights=data[:, 0, 0] ** 2, minlength=nrows)
        return sums.astype(np.float64).reshape(nrows, 1, 1)
    outer = data @ data.transpose(0, 2, 1)
    out = np.zeros((nrows, r, r))
    np.add.at(out, rows, outer)
    return out


def chol_lower(D: FloatArray) -> FloatArray:
    """Cholesky factor ``L`` of a small dense matrix from its lower triangle (LAPACK's potrf).

    NumPy's ``cholesky`` costs about 10 µs of overhead for a ``3 × 3`` matrix, four times the
    factorization; this calls LAPACK directly on the transposed view (no copy).

    Raises
    ------
    numpy.linalg.LinAlgError
        When the matrix is not positive definite.
    """
    from scipy.linalg.lapack import dpotrf

    upper, info = dpotrf(D.T, lower=0, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError("the matrix is not positive definite")
    return np.asarray(upper.T)


def chol_psd(D: FloatArray) -> FloatArray:
    """Cholesky factor of the ``[X y]`` block; a zero residual gives a zero last pivot."""
    try:
        return chol_lower(D)
    except np.linalg.LinAlgError:
        p = D.shape[0] - 1
        L = np.zeros_like(D)
        L[:p, :p] = np.linalg.cholesky(D[:p, :p])
        L[p, :p] = scipy.linalg.solve_triangular(L[:p, :p], D[:p, p], lower=True)
        L[p, p] = np.sqrt(max(D[p, p] - L[p, :p] @ L[p, :p], 0.0))
        return L


def solve_lower_t(L: FloatArray, b: FloatArray) -> FloatArray:
    """Solve ``Lᵀ x = b`` for a dense lower-triangular ``L``."""
    return scipy.linalg.solve_triangular(L, b, lower=True, trans="T", check_finite=False)


def rdiv_lower_t(B: FloatArray, L: FloatArray) -> FloatArray:
    """``B L⁻ᵀ`` for a dense lower-triangular ``L`` (LAPACK's trtrs directly).

    SciPy's ``solve_triangular`` costs about 20 µs of checks per call, more than the solve for
    the small dense blocks of crossed terms. A C-ordered ``L`` (as :func:`chol_lower` returns)
    is passed as its transpose, which LAPACK reads in place: a copy of a 2,000 × 2,000 factor
    cost more than the solve.
    """
    from scipy.linalg.lapack import dtrtrs

    if L.flags.c_contiguous:  # Lᵀ is Fortran-ordered: solve with it rather than copy L
        x, info = dtrtrs(L.T, B.T, lower=0, trans=1)
    else:
        x, info = dtrtrs(L, B.T, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return np.asarray(x).T
