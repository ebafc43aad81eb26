"""Weighted Gram products ``C_i diag(w) C_jᵀ`` of fixed sparse blocks, by the cheapest method.

When the first random-effects term is scalar, its Cholesky block is diagonal and every product
``L_i0 L_j0ᵀ`` in the update is ``θ_i θ_j θ_0² · A_i0 diag(w) A_j0ᵀ`` with ``w = 1/L_00²``
(DESIGN.md §2): the same sparse blocks every evaluation, only ``w`` and the scale change. Three
deterministic methods compute it, and :func:`gram_product` picks one from the blocks' shape and
numbers of entries per column (never from a clock, so the bits depend only on the problem):

* :class:`ScatterGram`, a compiled sparse outer-product scatter (:mod:`.scatter`): one
  multiply-add per pair of entries of a column of ``C``, ``Σ_k nnz_k²/2`` for the lower
  triangle, no temporaries;
* :class:`DensePanels`, BLAS rank-``k`` updates (``syrk``) of densified panels of columns:
  ``rows² · cols / 2`` flops at full speed, for blocks that are dense enough;
* ``None``: SciPy's sparse-sparse product (without Numba, or for products of a few pairs).

Costs per evaluation are estimated with the constants below, measured on a 2-core AMD EPYC
(benchmarks/README.md, "Crossed scalar terms"); the scatter also carries Numba's one-off start
(import and loading the compiled kernel from the disk cache) spread over a few fits' evaluations,
so that blocks just too large to be held dense (``cholesky.SMALL_DENSE``) do not import Numba to
save microseconds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.threads import THREADS_FROM, threads_for

__all__ = ["DensePanels", "ScatterGram", "TiledColumns", "gram_product", "product_costs"]

PANEL = 2048  # columns densified at a time by DensePanels (rows × PANEL doubles)
TILE = 128  # rows and columns of the scatter's target tiles (a 128 KiB buffer: in L2)
PARALLEL_PAIRS = 1e6  # scatters of fewer pairs run on one thread (starting threads costs more)
# Costs in seconds on one thread, measured on a 2-core AMD EPYC (benchmarks/README.md): a pair
# of entries of the scatter, and each entry of C_i read once per tile of the target's row it
# meets; a flop of the dense syrk panels and a densified entry; a scalar product of SciPy's
# sparse-sparse product. Both the scatter and the panels run on the BLAS threads of a large
# block. Numba's start (import, loading the kernel from the disk cache) is charged once per
# EVALUATIONS evaluations (a few fits: a process that fits one model pays it once)
SCATTER_PAIR_SECONDS = 1.0e-9
SCATTER_ENTRY_SECONDS = 5e-9
DENSE_FLOP_SECONDS = 6.5e-11
DENSIFY_SECONDS = 0.5e-9
SPARSE_PRODUCT_SECONDS = 2.0e-8
JIT_START_SECONDS = 0.5
EVALUATIONS = 100


@dataclass(frozen=True)
class TiledColumns:
    """A sparse matrix stored by tiles of rows, each tile's entries a CSC matrix of its own.

    Attributes
    ----------
    ptr
        ``(ntiles, ncols + 1)``: entries of column ``k`` of tile ``t`` are
        ``ptr[t, k]:ptr[t, k + 1]``.
    rows
        Row of each entry within its tile (ascending in a column; tiles have at most 65,536
        rows).
    values
        The entries.
    order
        Position of each entry in the CSR data the matrix was made from.
    tile
        Rows per tile.
    """

    ptr: NDArray[np.int64]
    rows: NDArray[np.uint16]
    values: FloatArray
    order: NDArray[np.signedinteger]
    tile: int

    @classmethod
    def of(cls, matrix: sp.csr_array, tile: int) -> TiledColumns:
        """Tile a CSR matrix (whose rows come in order: they stay sorted within columns)."""
        nrows, ncols = matrix.shape
        rows = np.repeat(np.arange(nrows, dtype=np.int64), np.diff(matrix.indptr))
        cols = matrix.indices.astype(np.int64)
        tiles = rows // tile
        key = tiles * ncols + cols
        order = np.argsort(key, kind="stable")  # the rows stay ascending within a column
        ntiles = max(-(-nrows // tile), 1)
        counts = np.bincount(key, minlength=ntiles * ncols)
        ptr = np.zeros(ntiles * ncols + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        # each tile's last column ends where the next tile's first begins: view as a table
        table = np.empty((ntiles, ncols + 1), dtype=np.int64)
        table[:, :-1] = ptr[:-1].reshape(ntiles, ncols)
        table[:, -1] = ptr[ncols::ncols]
        local = (rows[order] - tiles[order] * tile).astype(np.uint16)
        values = np.asarray(matrix.data, dtype=np.float64)[order]
        small = order.astype(np.int32) if matrix.nnz < 2**31 else order
        return cls(table, local, values, small, tile)

    def with_values(self, data: FloatArray) -> TiledColumns:
        """The same pattern with other values (CSR data in the original order)."""
        values = np.asarray(data, dtype=np.float64).reshape(-1)[self.order]
        return TiledColumns(self.ptr, self.rows, values, self.order, self.tile)

    def arrays(self) -> tuple[NDArray[np.int64], NDArray[np.uint16], FloatArray]:
        """``(ptr, rows, values)`` as the compiled kernel takes them."""
        return self.ptr, self.rows, self.values


@dataclass(frozen=True)
class ScatterGram:
    """``C_i diag(w) C_jᵀ`` by the compiled scatter of :mod:`mixedmodels.linalg.scatter`.

    Attributes
    ----------
    left, right
        ``C_i`` and ``C_j`` in tiles of rows (the target's tiles: ``left.tile × right.tile``);
        one object for a symmetric product.
    lower
        True for ``C_i = C_j``: only the lower triangle is computed.
    """

    left: TiledColumns
    right: TiledColumns
    lower: bool
    work: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        left: sp.csr_array,
        right: sp.csr_array | None,
        height: int = TILE,
        width: int = TILE,
    ) -> ScatterGram:
        """The scatter for CSR blocks ``C_i`` and ``C_j`` (``None``: symmetric).

        The target is updated by tiles of ``height × width`` (at most 65,536 each).
        """
        tiled = TiledColumns.of(left, height)
        if right is None and width == height:
            other = tiled
        else:
            other = TiledColumns.of(left if right is None else right, width)
        return cls(tiled, other, lower=right is None, work=_row_tile_work(left, right, height))

    def subtract_from(self, target: FloatArray, w: FloatArray, scale: float) -> None:
        """``target -= scale · C_i diag(w) C_jᵀ`` (in place; the lower triangle if symmetric).

        Large products run on the BLAS threads (:func:`mixedmodels.linalg.threads.threads_for`),
        each on rows of its own: the same bits on any number of threads.
        """
        from mixedmodels.linalg.scatter import subtract_tiled

        left, right = self.left.arrays(), self.right.arrays()
        weights = np.ascontiguousarray(w, dtype=np.float64)
        assert weights.shape == (left[0].shape[1] - 1,), "one weight per column"
        height, width = self.left.tile, self.right.tile

        def run(first: int, stop: int) -> None:
            subtract_tiled(
                target, left, right, weights, float(scale), height, width, self.lower, first, stop
            )

        parallel = self.work[-1] >= PARALLEL_PAIRS
        bounds = [int(b) for b in self.partition(threads_for(THREADS_FROM) if parallel else 1)]
        if len(bounds) == 2:
            run(*bounds)
            return
        with ThreadPoolExecutor(len(bounds) - 1) as pool:
            for done in [pool.submit(run, a, b) for a, b in pairwise(bounds)]:
                done.result()

    def partition(self, parts: int) -> NDArray[np.intp]:
        """Boundaries of ``parts`` contiguous runs of row tiles with about equal work."""
        cumulative = self.work
        targets = cumulative[-1] * np.arange(1, parts) / parts
        inner = np.searchsorted(cumulative, targets, side="left") + 1
        bounds = np.unique(np.concatenate([[0], inner, [cumulative.size]]))
        return bounds.astype(np.intp)

    def with_values(self, left: FloatArray, right: FloatArray) -> ScatterGram:
        """The same patterns with the blocks' new CSR data."""
        first = self.left.with_values(left)
        second = first if self.right is self.left else self.right.with_values(right)
        return ScatterGram(first, second, lower=self.lower, work=self.work)


def _row_tile_work(
    left: sp.csr_array, right: sp.csr_array | None, tile: int
) -> NDArray[np.float64]:
    """Cumulative pairs of the scatter by row tile of the target (to share them out)."""
    csc = sp.csc_array(left)
    csc.sort_indices()
    counts = np.diff(csc.indptr)
    column = np.repeat(np.arange(csc.shape[1]), counts)
    if right is None:  # an entry pairs with those above it in its column, and itself
        per_entry = np.arange(csc.nnz) - csc.indptr[column] + 1.0
    else:
        per_entry = np.bincount(right.indices, minlength=right.shape[1])[column].astype(float)
    per_row = np.bincount(csc.indices, weights=per_entry, minlength=csc.shape[0])
    ntiles = max(-(-csc.shape[0] // tile), 1)
    per_tile = np.bincount(np.arange(csc.shape[0]) // tile, per_row, minlength=ntiles)
    return np.cumsum(per_tile)


@dataclass(frozen=True)
class DensePanels:
    """``C diag(w) Cᵀ`` by dense panels of columns, for blocks dense enough for BLAS.

    A BLAS rank-``k`` update (``syrk``) on :data:`PANEL` densified columns at a time costs
    ``rows² · cols / 2`` flops at full speed and ``rows × PANEL`` memory.

    Attributes
    ----------
    matrix
        The block, CSC.
    """

    matrix: sp.csc_array
    order: NDArray[np.intp]

    @classmethod
    def of(cls, matrix: sp.csr_array) -> DensePanels:
        """Panels of a CSR block (its data kept in CSC order)."""
        positions = np.arange(1, matrix.nnz + 1, dtype=np.float64)  # exact up to 2⁵³
        pattern = sp.csr_array((positions, matrix.indices, matrix.indptr), matrix.shape).tocsc()
        pattern.sort_indices()
        order = (pattern.data - 1).astype(np.intp)
        data = np.asarray(matrix.data, dtype=np.float64)[order]
        csc = sp.csc_array((data, pattern.indices, pattern.indptr), shape=matrix.shape)
        return cls(csc, order)

    def subtract_from(self, target: FloatArray, w: FloatArray, scale: float) -> None:
        """``target -= scale · C diag(w) Cᵀ`` on the lower triangle of ``target`` (in place)."""
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

    def with_values(self, data: FloatArray) -> DensePanels:
        """The same pattern with the block's new CSR data."""
        values = np.asarray(data, dtype=np.float64).reshape(-1)[self.order]
        m = self.matrix
        return DensePanels(sp.csc_array((values, m.indices, m.indptr), shape=m.shape), self.order)


GramProduct = ScatterGram | DensePanels


def product_costs(left: sp.csr_array, right: sp.csr_array | None = None) -> dict[str, float]:
    """Estimated seconds per evaluation of each method for ``C_i diag(w) C_jᵀ``.

    ``right`` is ``None`` for the symmetric product ``C_i diag(w) C_iᵀ`` (lower triangle); dense
    panels are only offered for it.
    """
    nl = np.bincount(left.indices, minlength=left.shape[1]).astype(np.float64)
    if right is None:
        pairs = float(nl @ (nl + 1.0)) / 2.0
        products = float(nl @ nl)
    else:
        nr = np.bincount(right.indices, minlength=right.shape[1]).astype(np.float64)
        pairs = products = float(nl @ nr)
    costs = {"sparse": products * SPARSE_PRODUCT_SECONDS}
    if numba_installed():
        tiles = -(-(left.shape[0] if right is None else right.shape[0]) // TILE)
        visits = left.nnz * ((tiles + 1) / 2 if right is None else tiles)
        scatter = pairs * SCATTER_PAIR_SECONDS + visits * SCATTER_ENTRY_SECONDS
        costs["scatter"] = scatter + JIT_START_SECONDS / EVALUATIONS
    if right is None:
        rows, cols = left.shape
        flops = rows * rows * cols / 2.0
        costs["dense"] = flops * DENSE_FLOP_SECONDS + rows * cols * DENSIFY_SECONDS
    return costs


def gram_product(left: sp.csr_array, right: sp.csr_array | None = None) -> GramProduct | None:
    """The cheapest method for ``C_i diag(w) C_jᵀ`` (``None``: SciPy's sparse product).

    Parameters
    ----------
    left, right
        ``C_i`` and ``C_j`` in CSR form, with the same columns; ``right`` ``None`` for the
        symmetric product.
    """
    costs = product_costs(left, right)
    best = min(costs, key=lambda name: costs[name])
    if best == "dense":
        return DensePanels.of(left)
    if best == "scatter":
        return ScatterGram.of(left, right)
    return None


@lru_cache(maxsize=1)
def numba_installed() -> bool:
    """True when Numba can be imported (found without importing it)."""
    return find_spec("numba") is not None
