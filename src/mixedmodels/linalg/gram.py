"""Weighted Gram products ``A_i D A_jᵀ`` with a fixed sparsity pattern, precomputed once.

When the first random-effects term is scalar, its Cholesky block is diagonal and every product
``L_i0 L_j0ᵀ`` in the update is ``θ_i θ_j θ_0² · A_i0 diag(w) A_j0ᵀ`` with ``w = 1/L_00²``. The
entries of that product are a fixed linear map of ``w``: one sparse matrix-vector product per
evaluation instead of a sparse-sparse product with its symbolic phase (DESIGN.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray

__all__ = ["GramMap", "gram_map"]

MAX_TRIPLES = 30_000_000  # above this the map costs more memory than it saves time


@dataclass(frozen=True)
class GramMap:
    """``vec(A_i diag(w) A_jᵀ)`` on a fixed pattern as ``M @ w``.

    Attributes
    ----------
    matrix
        ``(npattern, ncols)`` sparse map from ``w`` to the pattern's values.
    rows, cols
        Row and column (in the product) of each pattern entry.
    shape
        Shape of the product.
    """

    matrix: sp.csr_array
    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    shape: tuple[int, int]

    def subtract_from(self, target: FloatArray, w: FloatArray, scale: float) -> None:
        """``target -= scale · A_i diag(w) A_jᵀ`` on the pattern (in place)."""
        target[self.rows, self.cols] -= scale * (self.matrix @ w)


def gram_map(Ai: sp.csc_array, Aj: sp.csc_array, lower_only: bool) -> GramMap | None:
    """Precompute the map for ``A_i diag(w) A_jᵀ``; ``None`` when it would be too large.

    Parameters
    ----------
    Ai, Aj
        Sparse matrices with the same number of columns (CSC).
    lower_only
        Keep only entries on or below the diagonal (for a symmetric product, ``Ai is Aj``).
    """
    counts_i = np.diff(Ai.indptr)
    counts_j = np.diff(Aj.indptr)
    total = int(np.sum(counts_i.astype(np.int64) * counts_j))
    if total > MAX_TRIPLES:
        return None
    # every stored entry e of Ai pairs with every entry f of Aj in the same column
    col_of_e = np.repeat(np.arange(Ai.shape[1]), counts_i)
    reps = counts_j[col_of_e]
    e = np.repeat(np.arange(Ai.nnz), reps)
    offsets = np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps)
    f = Aj.indptr[col_of_e[e]] + offsets
    a, b = Ai.indices[e], Aj.indices[f]
    keep = a >= b if lower_only else slice(None)
    a, b, e, f = a[keep], b[keep], e[keep], f[keep]
    target = a.astype(np.int64) * Aj.shape[0] + b
    uniq, row = _pattern(target, Ai.shape[0] * Aj.shape[0])
    values = Ai.data[e] * Aj.data[f]
    # each (entry of Ai, entry of Aj) pair is met once, so no (row, column) repeats
    matrix = sp.csr_array((values, (row, col_of_e[e])), shape=(uniq.size, Ai.shape[1]))
    rows, cols = np.divmod(uniq, Aj.shape[0])
    return GramMap(matrix, rows.astype(np.intp), cols.astype(np.intp), (Ai.shape[0], Aj.shape[0]))


def _pattern(target: NDArray[np.int64], size: int) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """Sorted distinct flat positions and the rank of each ``target`` among them.

    A lookup table over all ``size`` positions is linear in time; ``np.unique`` (a sort) is
    the fallback when the product is too large for the table.
    """
    if size > 50_000_000:
        uniq, row = np.unique(target, return_inverse=True)
        return uniq, row
    present = np.zeros(size, dtype=bool)
    present[target] = True
    uniq = np.flatnonzero(present)
    rank = np.zeros(size, dtype=np.intp)
    rank[uniq] = np.arange(uniq.size)
    return uniq.astype(np.int64), rank[target]
