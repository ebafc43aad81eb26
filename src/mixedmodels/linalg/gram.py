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

__all__ = ["DensePanels", "GramMap", "dense_panels", "gram_map"]

MAX_TRIPLES = 30_000_000  # above this the map costs more memory than it saves time
PANEL = 2048  # columns densified at a time by DensePanels (rows × PANEL doubles)
# rough costs, only to choose between a sparse product and dense panels: seconds per scalar
# product in scipy's sparse-sparse product, and per flop of a dense BLAS rank-k update
SPARSE_PRODUCT_SECONDS = 2e-8
DENSE_FLOP_SECONDS = 3e-11


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


@dataclass(frozen=True)
class DensePanels:
    """``A diag(w) Aᵀ`` by dense panels of columns, for blocks too dense for sparse products.

    When a large block is dense enough (millions of rows crossing two factors fill a good part
    of ``Z_1ᵀZ_0``), the sparse-sparse product costs ``Σ_s c_s²`` for ``c_s`` entries in
    column ``s``, and a Gram map would hold as many numbers; a BLAS rank-``k`` update (``syrk``)
    on :data:`PANEL` densified columns at a time costs ``rows² · cols / 2`` flops at full speed
    and ``rows × PANEL`` memory.

    Attributes
    ----------
    matrix
        The block, CSC.
    """

    matrix: sp.csc_array

    def subtract_from(self, target: FloatArray, w: FloatArray, scale: float) -> None:
        """``target -= scale · A diag(w) Aᵀ`` on the lower triangle of ``target`` (in place)."""
        from scipy.linalg.blas import dsyrk

        root = np.sqrt(w)
        out = target.T  # Fortran-ordered view: its upper triangle is target's lower one
        for start in range(0, self.matrix.shape[1], PANEL):
            stop = min(start + PANEL, self.matrix.shape[1])
            panel = self.matrix[:, start:stop].toarray(order="F")
            panel *= root[start:stop]
            result = dsyrk(-scale, panel, beta=1.0, c=out, lower=0, overwrite_c=1)
            if result is not out:  # pragma: no cover - scipy copied instead of updating
                out[...] = np.triu(result) + np.tril(out, -1)


def dense_panels(A: sp.csc_array) -> DensePanels | None:
    """Dense panels for ``A diag(w) Aᵀ`` when they should beat the sparse product, else None."""
    counts = np.diff(A.indptr).astype(np.float64)
    sparse_cost = float(counts @ counts) * SPARSE_PRODUCT_SECONDS
    dense_cost = A.shape[0] ** 2 * A.shape[1] / 2 * DENSE_FLOP_SECONDS
    return DensePanels(sp.csc_array(A)) if dense_cost < sparse_cost else None
