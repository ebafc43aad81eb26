"""Weighted Gram products ``A_i D A_jᵀ`` with a fixed sparsity pattern, precomputed once.

When the first random-effects term is scalar, its Cholesky block is diagonal and every product
``L_i0 L_j0ᵀ`` in the update is ``θ_i θ_j θ_0² · A_i0 diag(w) A_j0ᵀ`` with ``w = 1/L_00²``. The
entries of that product are a fixed linear map of ``w``: one sparse matrix-vector product per
evaluation instead of a sparse-sparse product with its symbolic phase (DESIGN.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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

    matrix: sp.csc_array
    rows: NDArray[np.intp]
    cols: NDArray[np.intp]
    shape: tuple[int, int]

    def subtract_from(self, target: FloatArray, w: FloatArray, scale: float) -> None:
        """``target -= scale · A_i diag(w) A_jᵀ`` on the pattern (in place)."""
        flat = target.reshape(-1)  # a view: target is a contiguous dense block
        flat[self.flat_index] -= scale * (self.matrix @ w)

    @cached_property
    def flat_index(self) -> NDArray[np.intp]:
        """Positions of the pattern in the flattened product."""
        return self.rows * self.shape[1] + self.cols


def gram_map(A: sp.csc_array) -> GramMap | None:
    """Precompute the map for the lower triangle of ``A diag(w) Aᵀ``.

    ``None`` when it would hold more than ``MAX_TRIPLES`` entries.

    Parameters
    ----------
    A
        A sparse matrix (CSC; its row indices are sorted here).
    """
    A = sp.csc_array(A)
    A.sort_indices()
    counts = np.diff(A.indptr).astype(np.int64)
    total = int(np.sum(counts * (counts + 1) // 2))
    if total > MAX_TRIPLES:
        return None
    # in each column, entry number p pairs with entries 0..p (rows sorted, so row_e >= row_f)
    col_of_e = np.repeat(np.arange(A.shape[1]), counts)
    reps = np.arange(A.nnz) - A.indptr[col_of_e] + 1
    e = np.repeat(np.arange(A.nnz), reps)
    first = np.repeat(A.indptr[col_of_e], reps)
    f = first + (np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps))
    target = A.indices[e].astype(np.int64) * A.shape[0] + A.indices[f]
    uniq, row = _pattern(target, A.shape[0] * A.shape[0])
    # pairs come out grouped by column of A: the map is built directly in CSC form
    indptr = np.concatenate([[0], np.cumsum(counts * (counts + 1) // 2)])
    matrix = sp.csc_array((A.data[e] * A.data[f], row, indptr), shape=(uniq.size, A.shape[1]))
    rows, cols = np.divmod(uniq, A.shape[0])
    return GramMap(matrix, rows.astype(np.intp), cols.astype(np.intp), (A.shape[0], A.shape[0]))


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
