"""The stored blocks of ``A = [Z X y]'W[Z X y]`` straight from the grouping codes.

:func:`~mixedmodels.linalg.crossprod.cross_products` forms each term's sparse ``Z_j`` and
multiplies them with SciPy; for a small model SciPy's overheads (building, transposing and
multiplying sparse matrices, converting to BSR) are most of the cost. Every stored block is a
sum over rows of products of per-row values, grouped by the levels of one or two factors, so it
is one ``np.bincount`` per pair of columns: :func:`code_products` gives the same
:class:`~mixedmodels.linalg.crossprod.CrossProducts`, to the bit (the products are the same and
are summed in row order, as SciPy's kernels sum them; a block whose entries all sum to zero is
not stored, as SciPy drops zero entries of a sparse product).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import BlockSparse, CrossProducts
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["code_products"]


def code_products(
    terms: Sequence[RandomEffectsTerm], xy: FloatArray, sqrtw: FloatArray | None = None
) -> CrossProducts:
    """The stored blocks of ``A`` for terms (most levels first) and ``[X y]``.

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
    zs = [t.z if sqrtw is None else t.z * sqrtw[:, None] for t in terms]
    m = len(terms)
    diag = [
        _pair_sums(t.refs, z, z, t.nlevels, diagonal=True) for t, z in zip(terms, zs, strict=True)
    ]
    sparse: list[BlockSparse | None] = [None] * m
    dense: list[list[FloatArray | None]] = [[None] * m for _ in range(m)]
    for i in range(1, m):
        sparse[i] = _sparse_block(terms[i], terms[0], zs[i], zs[0])
        for j in range(1, i):
            dense[i][j] = _dense_block(terms[i], terms[j], zs[i], zs[j])
    xz = [_response_block(t, z, wxy) for t, z in zip(terms, zs, strict=True)]
    return CrossProducts(diag, sparse, dense, xz, wxy.T @ wxy)


def _pair_sums(
    key: NDArray[np.intp] | NDArray[np.int64],
    za: FloatArray,
    zb: FloatArray,
    size: int,
    *,
    diagonal: bool = False,
) -> FloatArray:
    """``out[g, a, b] = Σ_{rows with key g} za[:, a]·zb[:, b]`` as ``(size, ka, kb)``.

    With ``diagonal`` (``za`` is ``zb``) the lower triangle is summed and mirrored, as
    ``Z_j'Z_j`` is symmetric.
    """
    ka, kb = za.shape[1], zb.shape[1]
    out = np.empty((size, ka, kb))
    for a in range(ka):
        for b in range(a + 1 if diagonal else kb):
            out[:, a, b] = np.bincount(key, weights=za[:, a] * zb[:, b], minlength=size)
            if diagonal:
                out[:, b, a] = out[:, a, b]
    return out


def _sparse_block(
    row: RandomEffectsTerm, col: RandomEffectsTerm, zr: FloatArray, zc: FloatArray
) -> BlockSparse:
    """``Z_row'Z_col`` in BSR layout: the level pairs that occur, with a non-zero block."""
    n = row.refs.shape[0]
    pairs = row.nlevels * col.nlevels
    key = row.refs.astype(np.int64) * col.nlevels + col.refs
    if pairs <= 4 * n + 4096:  # every pair has a slot
        present = np.arange(pairs)
        slot = key
    else:  # only the pairs that occur, sorted (block row, then block column)
        present, slot = np.unique(key, return_inverse=True)
    values = _pair_sums(slot, zr, zc, int(present.size))
    nonzero = np.any(values != 0.0, axis=(1, 2))
    present, values = present[nonzero], values[nonzero]
    block_row, block_col = np.divmod(present, col.nlevels)
    indptr = np.zeros(row.nlevels + 1, dtype=np.int32)
    np.cumsum(np.bincount(block_row, minlength=row.nlevels), out=indptr[1:])
    return BlockSparse(
        np.ascontiguousarray(values),
        block_col.astype(np.int32),
        indptr,
        (row.q, col.q),
    )


def _dense_block(
    row: RandomEffectsTerm, col: RandomEffectsTerm, zr: FloatArray, zc: FloatArray
) -> FloatArray:
    """``Z_row'Z_col`` as a dense ``q_row × q_col`` array (both factors have few levels)."""
    key = row.refs.astype(np.int64) * col.nlevels + col.refs
    values = _pair_sums(key, zr, zc, row.nlevels * col.nlevels)
    blocks = values.reshape(row.nlevels, col.nlevels, row.k, col.k)
    return np.ascontiguousarray(blocks.transpose(0, 2, 1, 3).reshape(row.q, col.q))


def _response_block(term: RandomEffectsTerm, z: FloatArray, wxy: FloatArray) -> FloatArray:
    """``[X y]'Z_j`` as ``(p+1, l, k)``."""
    out = np.empty((wxy.shape[1], term.nlevels, term.k))
    for c in range(wxy.shape[1]):
        for b in range(term.k):
            out[c, :, b] = np.bincount(
                term.refs, weights=z[:, b] * wxy[:, c], minlength=term.nlevels
            )
    return out
