"""The weighted blocks of ``[Z X z]'W[Z X z]`` for PIRLS, rebuilt at every iteration.

Every stored block of :func:`mixedmodels.linalg.cross_products` is a sum over observations of
``w_i`` times products of row entries, on a sparsity pattern that the weights do not change. The
pattern and the position of each observation's contribution are found once; each PIRLS
iteration then costs one ``bincount`` per block entry (and a sparse-times-dense product for the
``[X z]`` rows) instead of sparse-sparse products with their symbolic phase. The result is the
same :class:`~mixedmodels.linalg.crossprod.CrossProducts` that ``cross_products(terms, xz,
sqrt(w))`` returns, ready for ``BlockedCholesky.set_blocks``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import BlockSparse, CrossProducts
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["WeightedBlocks"]

Array = FloatArray


class WeightedBlocks:
    """Builds ``A(w) = [Z X z]'diag(w)[Z X z]`` on a fixed pattern.

    Parameters
    ----------
    terms
        Random-effects terms in storage order.
    X
        The fixed-effects model matrix (``n × p``).
    """

    def __init__(self, terms: Sequence[RandomEffectsTerm], X: Array) -> None:
        self.terms = list(terms)
        self.X = X
        first = self.terms[0]
        patterns = [_sparse_pattern(t, first) for t in self.terms[1:]]
        self._sparse: list[BlockSparse | None] = [None] + [b for b, _ in patterns]
        # the stored block of each observation in the pattern of Z_i'Z_0 (i ≥ 1)
        self.block_of_row = [np.empty(0, dtype=np.intp)] + [i for _, i in patterns]
        self.zt = [_transposed_matrix(t) for t in self.terms]

    def build(self, w: Array, z: Array) -> CrossProducts:
        """The blocks for weights ``w`` and working response ``z`` (both length ``n``)."""
        terms = self.terms
        m = len(terms)
        diag = [_diagonal(t, w) for t in terms]
        sparse: list[BlockSparse | None] = [None] * m
        dense: list[list[Array | None]] = [[None] * m for _ in range(m)]
        for i in range(1, m):
            block = self._sparse[i]
            assert block is not None
            data = _pair_sums(terms[i], terms[0], w, self.block_of_row[i], block.data.shape[0])
            sparse[i] = block.with_data(data)
            for j in range(1, i):
                dense[i][j] = _dense_pair(terms[i], terms[j], w)
        wxz = np.column_stack([self.X, z]) * w[:, None]
        xz = [
            np.ascontiguousarray(np.asarray(zt @ wxz).T).reshape(wxz.shape[1], t.nlevels, t.k)
            for zt, t in zip(self.zt, terms, strict=True)
        ]
        xx = wxz.T @ np.column_stack([self.X, z])
        return CrossProducts(diag, sparse, dense, xz, xx)


def _transposed_matrix(term: RandomEffectsTerm) -> sp.csr_array:
    """``Z_jᵀ`` (unweighted) as a CSR matrix, ``q_j × n``."""
    n, k = term.z.shape
    cols = (term.refs[:, None] * k + np.arange(k)).reshape(-1)
    indptr = np.arange(0, n * k + 1, k)
    return sp.csr_array(sp.csr_array((term.z.reshape(-1), cols, indptr), shape=(n, term.q)).T)


def _diagonal(term: RandomEffectsTerm, w: Array) -> Array:
    """``Z_j'WZ_j`` as ``(l, k, k)``."""
    k, z = term.k, term.z
    if k == 1:
        values = np.bincount(term.refs, weights=w * z[:, 0] ** 2, minlength=term.nlevels)
        return np.asarray(values, dtype=np.float64).reshape(-1, 1, 1)
    out = np.empty((term.nlevels, k, k))
    for a in range(k):
        wa = w * z[:, a]
        for b in range(a + 1):
            out[:, a, b] = np.bincount(term.refs, weights=wa * z[:, b], minlength=term.nlevels)
            out[:, b, a] = out[:, a, b]
    return out


def _sparse_pattern(
    term: RandomEffectsTerm, first: RandomEffectsTerm
) -> tuple[BlockSparse, NDArray[np.intp]]:
    """The blocks of ``Z_i'Z_0`` that observations fill, and the block of each observation.

    The pattern comes from the level pairs alone, so it never depends on values (a zero
    covariate or weight leaves the block in place).
    """
    l0 = first.nlevels
    keys = term.refs.astype(np.int64) * l0 + first.refs
    uniq, inverse = np.unique(keys, return_inverse=True)
    rows, cols = np.divmod(uniq, l0)
    indptr = np.searchsorted(rows, np.arange(term.nlevels + 1))
    data = np.zeros((uniq.size, term.k, first.k))
    block = BlockSparse(data, cols.astype(np.int32), indptr.astype(np.int32), (term.q, first.q))
    return block, inverse.astype(np.intp).reshape(-1)


def _pair_sums(
    ti: RandomEffectsTerm, t0: RandomEffectsTerm, w: Array, index: NDArray[np.intp], nnzb: int
) -> Array:
    """Values of the stored blocks of ``Z_i'WZ_0``, ``(nnzb, k_i, k_0)``."""
    out = np.empty((nnzb, ti.k, t0.k))
    for a in range(ti.k):
        wa = w * ti.z[:, a]
        for c in range(t0.k):
            out[:, a, c] = np.bincount(index, weights=wa * t0.z[:, c], minlength=nnzb)
    return out


def _dense_pair(ti: RandomEffectsTerm, tj: RandomEffectsTerm, w: Array) -> Array:
    """``Z_i'WZ_j`` as a dense ``q_i × q_j`` matrix."""
    out = np.zeros(ti.q * tj.q)
    for a in range(ti.k):
        rows = ti.refs * ti.k + a
        wa = w * ti.z[:, a]
        for c in range(tj.k):
            flat = rows * tj.q + tj.refs * tj.k + c
            out += np.bincount(flat, weights=wa * tj.z[:, c], minlength=ti.q * tj.q)
    return out.reshape(ti.q, tj.q)
