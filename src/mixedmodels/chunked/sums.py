"""The partial blocks of some rows: what a chunk contributes and what two chunks sum to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.chunked.cells import index_type
from mixedmodels.chunked.encoding import Levels

__all__ = ["BlockSums", "PartialBlocks", "r_from_gram"]

Index = NDArray[np.intp]


@dataclass(frozen=True)
class BlockSums:
    """The blocks of ``A`` over some rows, terms in formula order, in local levels.

    Attributes
    ----------
    diag
        ``Z_jᵀZ_j`` per term as ``(levels, k, k)``.
    pairs
        ``Z_iᵀZ_j`` for ``i > j`` (CSR, scalar rows and columns ``level · k + column``).
    xz
        ``[X y]ᵀZ_j`` per term as ``(p + 1, levels, k)``.
    xx
        ``[X y]ᵀ[X y]``.
    """

    diag: list[FloatArray]
    pairs: dict[tuple[int, int], sp.csr_array]
    xz: list[FloatArray]
    xx: FloatArray

    def __add__(self, other: BlockSums) -> BlockSums:
        return BlockSums(
            [a + b for a, b in zip(self.diag, other.diag, strict=True)],
            {key: block + other.pairs[key] for key, block in self.pairs.items()},
            [a + b for a, b in zip(self.xz, other.xz, strict=True)],
            self.xx + other.xx,
        )

    def widened(self) -> BlockSums:
        """The sums with 64-bit counts (before a merge could pass 2³¹ rows in one cell)."""
        pairs = {
            key: block.astype(np.int64) if block.dtype == np.int32 else block
            for key, block in self.pairs.items()
        }
        return replace(self, pairs=pairs)

    def recentred(self, delta: float, intercept: int) -> BlockSums:
        """The sums with ``delta`` added to every response (Chan et al.'s update).

        Column ``intercept`` of ``X`` is all ones, so its row of ``xx`` and of each ``xz`` holds
        ``Σw``, ``Σw x`` and ``Σw z``: everything the shift needs.
        """
        xx = self.xx.copy()
        ones = xx[intercept].copy()  # (Σw x, …, Σw y)
        xx[-1, -1] += 2.0 * delta * ones[-1] + delta * delta * ones[intercept]
        xx[:-1, -1] += delta * ones[:-1]
        xx[-1, :-1] = xx[:-1, -1]
        xz = []
        for block in self.xz:
            new = block.copy()
            new[-1] += delta * block[intercept]
            xz.append(new)
        return BlockSums(self.diag, self.pairs, xz, xx)

    def moved(self, maps: list[Index], sizes: list[int], ks: list[int]) -> BlockSums:
        """The sums with term ``j``'s level ``l`` moved to ``maps[j][l]`` of ``sizes[j]``."""
        diag, xz = [], []
        for D, V, where, size in zip(self.diag, self.xz, maps, sizes, strict=True):
            diag.append(_scatter(D, where, size, axis=0))
            xz.append(_scatter(V, where, size, axis=1))
        pairs = {
            (i, j): _move_sparse(block, (maps[i], ks[i], sizes[i]), (maps[j], ks[j], sizes[j]))
            for (i, j), block in self.pairs.items()
        }
        return BlockSums(diag, pairs, xz, self.xx)


@dataclass(frozen=True)
class PartialBlocks:
    """Cross-products and summaries of some of the rows.

    Attributes
    ----------
    sums
        The blocks of ``A`` over these rows (terms in formula order, local levels).
    levels
        The levels seen, per grouping factor (distinct rows of its columns, in local order).
    nobs, n_dropped
        Rows used and rows dropped for missing values.
    shift
        The centre subtracted from the response (0 without an intercept).
    log_weights
        Sum of the logs of the prior weights.
    weighted
        Whether any prior weight differs from 1.
    Rx, Rz
        ``R`` factors of ``X`` (all columns) and of each term's ``z``.
    category_counts
        Rows per level of each categorical column.
    y_sum, y_sq, y_min, y_max
        Sum, sum of squares, minimum and maximum of the response (offset subtracted).
    """

    sums: BlockSums
    levels: dict[tuple[str, ...], Levels]
    nobs: int
    n_dropped: int
    shift: float
    log_weights: float
    weighted: bool
    Rx: FloatArray
    Rz: list[FloatArray]
    category_counts: Mapping[str, FloatArray]
    y_sum: float
    y_sq: float
    y_min: float
    y_max: float

    def recentred(self, centre: float, intercept: int | None) -> PartialBlocks:
        """The same rows with the response centred at ``centre`` instead of :attr:`shift`."""
        delta = self.shift - centre
        if intercept is None or delta == 0.0 or self.nobs == 0:
            return self
        return replace(self, sums=self.sums.recentred(delta, intercept), shift=centre)


def _scatter(values: FloatArray, where: Index, size: int, axis: int) -> FloatArray:
    """``values`` placed at positions ``where`` (distinct) along ``axis`` of a zero array."""
    shape = list(values.shape)
    shape[axis] = size
    out = np.zeros(shape)
    if axis == 0:
        out[where] = values
    else:
        out[:, where] = values
    return out


def _move_sparse(
    block: sp.csr_array, rows: tuple[Index, int, int], cols: tuple[Index, int, int]
) -> sp.csr_array:
    """A pair block with its row and column levels moved (``(map, k, new levels)`` each)."""
    (rmap, ki, li), (cmap, kj, lj) = rows, cols
    shape = (li * ki, lj * kj)
    if _is_identity(rmap) and _is_identity(cmap):  # only new levels at the end: grow
        indptr = np.concatenate([block.indptr, np.full(shape[0] - block.shape[0], block.nnz)])
        return sp.csr_array((block.data, block.indices, indptr.astype(block.indptr.dtype)), shape)
    if ki == kj == 1:  # rows reordered by indexing, columns renumbered: no coordinate lists
        counts = np.zeros(li, dtype=np.int64)
        counts[rmap] = np.diff(block.indptr)
        order = np.argsort(rmap)
        reordered = sp.csr_array(block[order]) if len(order) else block
        indices = cmap[reordered.indices].astype(index_type(shape))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index_type(shape))
        out = sp.csr_array((reordered.data, indices, indptr), shape=shape)
        out.has_sorted_indices = False
        out.sort_indices()
        return out
    coo = block.tocoo()
    r = (rmap[coo.row // ki] * ki + coo.row % ki).astype(index_type(shape))
    c = (cmap[coo.col // kj] * kj + coo.col % kj).astype(index_type(shape))
    del coo
    return sp.csr_array((block.data, (r, c)), shape=shape)


def r_from_gram(gram: FloatArray) -> FloatArray | None:
    """``R`` from the Cholesky factor of ``MᵀM`` when ``M``'s columns are clearly independent.

    ``None`` otherwise (the caller then needs a QR decomposition of ``M`` itself).
    """
    if gram.shape[0] == 0:
        return np.zeros((0, 0))
    try:
        upper = np.linalg.cholesky(gram).T
    except np.linalg.LinAlgError:
        return None
    if np.all(np.abs(np.diagonal(upper)) > 1e-4 * np.sqrt(np.diagonal(gram))):
        return np.asarray(upper)
    return None


def _is_identity(where: Index) -> bool:
    """True when a level map leaves every level where it is."""
    return bool(np.array_equal(where, np.arange(len(where))))
