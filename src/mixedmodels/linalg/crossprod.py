"""The stored blocks of ``A = [Z X y]'[Z X y]`` (weighted), computed once per model.

Block rows follow the random-effects terms (most levels first), then one for ``[X y]``:

* ``diag[j]``      ``Z_j'Z_j``: one ``k_j × k_j`` block per level, an ``(l, k, k)`` array;
* ``sparse[i]``    ``Z_i'Z_0`` for ``i ≥ 1``: block-sparse (BSR layout) against the first term;
* ``dense[i][j]``  ``Z_i'Z_j`` for ``i > j ≥ 1``: dense (these factors have few levels);
* ``xz[j]``        ``[X y]'Z_j``: dense ``(p+1, l_j, k_j)``;
* ``xx``           ``[X y]'[X y]``.

Z itself is only ever held as a sparse matrix with ``k`` entries per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = [
    "BlockSparse",
    "CrossProducts",
    "block_sparse",
    "cross_products",
    "replace_response",
    "term_matrix",
]


@dataclass(frozen=True)
class BlockSparse:
    """A block-sparse matrix in BSR layout: ``nnzb`` dense blocks of shape ``(r, c)``.

    Attributes
    ----------
    data
        ``(nnzb, r, c)`` block values, ordered by block row then block column.
    indices
        Block column of each block.
    indptr
        Start of each block row in ``data`` (length ``nrows + 1``).
    shape
        Shape of the whole matrix in scalars.
    """

    data: FloatArray
    indices: NDArray[np.int32]
    indptr: NDArray[np.int32]
    shape: tuple[int, int]

    def with_data(self, data: FloatArray) -> BlockSparse:
        """The same pattern with other values."""
        return BlockSparse(data, self.indices, self.indptr, self.shape)

    def row_of_block(self) -> NDArray[np.intp]:
        """Block row of each stored block."""
        return np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))

    def to_scipy(self) -> sp.csr_array:
        """As a scalar CSR matrix (a cheap view for 1×1 blocks)."""
        r, c = self.data.shape[1:]
        if r == c == 1:
            return sp.csr_array((self.data.reshape(-1), self.indices, self.indptr), self.shape)
        bsr = sp.bsr_array((self.data, self.indices, self.indptr), shape=self.shape)
        return bsr.tocsr()


@dataclass(frozen=True)
class CrossProducts:
    """All stored blocks of ``A`` (see the module docstring)."""

    diag: list[FloatArray]
    sparse: list[BlockSparse | None]
    dense: list[list[FloatArray | None]]
    xz: list[FloatArray]
    xx: FloatArray


def term_matrix(term: RandomEffectsTerm, sqrtw: FloatArray | None) -> sp.csr_array:
    """The sparse ``n × q`` model matrix of one term (``k`` entries per row)."""
    n, k = term.z.shape
    z = term.z if sqrtw is None else term.z * sqrtw[:, None]
    cols = (term.refs[:, None] * k + np.arange(k)).reshape(-1)
    indptr = np.arange(0, n * k + 1, k)
    return sp.csr_array((z.reshape(-1), cols, indptr), shape=(n, term.q))


def cross_products(
    terms: Sequence[RandomEffectsTerm],
    xy: FloatArray,
    sqrtw: FloatArray | None = None,
) -> CrossProducts:
    """Compute the stored blocks of ``A`` for terms (most levels first) and ``[X y]``.

    Parameters
    ----------
    terms
        Random-effects terms, in storage order.
    xy
        ``n × (p+1)`` matrix ``[X y]`` (offset already subtracted from ``y``).
    sqrtw
        Square roots of the prior weights, or ``None`` for unit weights.
    """
    wxy = xy if sqrtw is None else xy * sqrtw[:, None]
    zs = [term_matrix(t, sqrtw) for t in terms]
    diag = [_diagonal_blocks(t, sqrtw) for t in terms]
    m = len(terms)
    sparse: list[BlockSparse | None] = [None] * m
    dense: list[list[FloatArray | None]] = [[None] * m for _ in range(m)]
    for i in range(1, m):
        sparse[i] = block_sparse(zs[i].T @ zs[0], terms[i].k, terms[0].k)
        for j in range(1, i):
            dense[i][j] = np.asarray((zs[i].T @ zs[j]).toarray())
    xz = [
        np.ascontiguousarray(np.asarray(z.T @ wxy).T).reshape(xy.shape[1], t.nlevels, t.k)
        for z, t in zip(zs, terms, strict=True)
    ]
    return CrossProducts(diag, sparse, dense, xz, wxy.T @ wxy)


def replace_response(
    A: CrossProducts,
    terms: Sequence[RandomEffectsTerm],
    xy: FloatArray,
    sqrtw: FloatArray | None = None,
) -> CrossProducts:
    """The same blocks with the response column (last of ``xy``) replaced: ``O(n k)`` work."""
    wxy = xy if sqrtw is None else xy * sqrtw[:, None]
    wy = wxy[:, -1]
    xz = []
    for block, term in zip(A.xz, terms, strict=True):
        z = term.z if sqrtw is None else term.z * sqrtw[:, None]
        new = block.copy()
        for b in range(term.k):
            new[-1, :, b] = np.bincount(term.refs, weights=z[:, b] * wy, minlength=term.nlevels)
        xz.append(new)
    xx = A.xx.copy()
    xx[:, -1] = xx[-1, :] = wxy.T @ wy
    return CrossProducts(A.diag, A.sparse, A.dense, xz, xx)


def _diagonal_blocks(term: RandomEffectsTerm, sqrtw: FloatArray | None) -> FloatArray:
    """``Z_j'Z_j`` as ``(l, k, k)``: the sum of ``z zᵀ`` over the rows of each level."""
    z = term.z if sqrtw is None else term.z * sqrtw[:, None]
    k = term.k
    out = np.empty((term.nlevels, k, k))
    for a in range(k):
        for b in range(a + 1):
            out[:, a, b] = np.bincount(term.refs, weights=z[:, a] * z[:, b], minlength=term.nlevels)
            out[:, b, a] = out[:, a, b]
    return out


def block_sparse(product: sp.sparray, r: int, c: int) -> BlockSparse:
    """A scalar sparse product in BSR layout with ``r × c`` blocks, indices sorted."""
    bsr = sp.bsr_array(product, blocksize=(r, c))
    bsr.sort_indices()
    return BlockSparse(
        np.ascontiguousarray(bsr.data, dtype=np.float64),
        bsr.indices.astype(np.int32),
        bsr.indptr.astype(np.int32),
        bsr.shape,
    )
