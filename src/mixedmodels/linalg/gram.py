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
* :class:`ChebyshevGram`, for the symmetric product when ``w`` is a function of the first
  term's counts and they lie in a narrow range (many rows a level, as in designed
  experiments): fixed moments from one scatter pass, then ``m ≈ 17–25`` dense additions an
  evaluation instead of a scatter (checked at every evaluation, the scatter otherwise);
* ``None``: SciPy's sparse-sparse product (without Numba, or for products of a few pairs).

Costs per evaluation are estimated with the constants below, measured on a 2-core AMD EPYC
(benchmarks/README.md, "Crossed scalar terms"); the scatter also carries Numba's one-off start
(import and loading the compiled kernel from the disk cache) spread over a few fits' evaluations,
so that blocks just too large to be held dense (``cholesky.SMALL_DENSE``) do not import Numba to
save microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib.util import find_spec
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.threads import THREADS_FROM, threads_for

__all__ = [
    "ChebyshevGram",
    "DensePanels",
    "ScatterGram",
    "TiledColumns",
    "chebyshev_degree",
    "gram_product",
    "moment_degree",
    "product_costs",
]

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
# ChebyshevGram: an entry of a moment added to per group, once (FOLD), and read per evaluation
# (memory-bound); the one-off pass (one scatter and the groups' additions) is spread over a
# fit's evaluations
FOLD_ENTRY_SECONDS = 0.55e-9
MOMENT_ENTRY_SECONDS = 0.8e-9
FIT_EVALUATIONS = 30
CHEBYSHEV_TARGET = 1e-17  # the expansion's last term relative to its first, at worst
MAX_DEGREE = 40
MAX_MOMENT_BYTES = 1 << 30  # the moments' memory, at most
FIT_TOLERANCE = 1e-14  # the fit of w: its largest error relative to the smallest weight
PARALLEL_TILES = 64  # lower tiles from which the moments' kernels run on the BLAS threads


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
        """Tile a CSR matrix (whose rows come in order: they stay sorted within columns).

        Each tile of rows is a contiguous slice of the CSR arrays, turned into CSC by SciPy
        (a counting sort, stable in the rows), with the entries' positions carried along.
        """
        nrows, ncols = matrix.shape
        ntiles = max(-(-nrows // tile), 1)
        table = np.empty((ntiles, ncols + 1), dtype=np.int64)
        rows = np.empty(matrix.nnz, dtype=np.uint16)
        values = np.empty(matrix.nnz, dtype=np.float64)
        order = np.empty(matrix.nnz, dtype=np.int32 if matrix.nnz < 2**31 else np.int64)
        data = np.asarray(matrix.data, dtype=np.float64)
        for t in range(ntiles):
            r0, r1 = t * tile, min((t + 1) * tile, nrows)
            lo, hi = int(matrix.indptr[r0]), int(matrix.indptr[r1])
            indptr = matrix.indptr[r0 : r1 + 1] - lo
            where = np.arange(hi - lo, dtype=np.float64)  # exact: positions below 2⁵³
            part = sp.csr_array((where, matrix.indices[lo:hi], indptr), shape=(r1 - r0, ncols))
            csc = part.tocsc()  # SciPy's csr→csc keeps the rows ascending in each column
            table[t] = csc.indptr + lo
            rows[lo:hi] = csc.indices
            positions = csc.data.astype(np.int64) + lo
            order[lo:hi] = positions
            values[lo:hi] = data[positions]
        return cls(table, rows, values, order, tile)

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
        _run_parts(run, self.partition(threads_for(THREADS_FROM) if parallel else 1))

    def partition(self, parts: int) -> NDArray[np.intp]:
        """Boundaries of ``parts`` contiguous runs of row tiles with about equal work."""
        return _partition(self.work, parts)

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


@dataclass(frozen=True)
class ChebyshevGram:
    """``C diag(w) Cᵀ`` from fixed moments, when ``w`` is a smooth function of per-column counts.

    With a scalar first term, ``w_k = 1/(θ₀² n_k + 1)`` depends on the column ``k`` of
    ``C = A_i0`` only through ``n_k = A_00[k]``, the first term's (weighted) count at level
    ``k``; ``scale · w_k = θ_i² / (n_k + λ)`` with ``λ = 1/θ₀² ≥ 0`` is analytic on
    ``[n_min, n_max]`` with its pole at ``−λ ≤ 0``. Its Chebyshev expansion in
    ``x = (2n − n_max − n_min)/(n_max − n_min)`` converges like ``ρ⁻ʲ``,
    ``ρ = R + √(R² − 1)``, ``R = (n_max + n_min)/(n_max − n_min)``, whatever ``θ``: a narrow
    range of counts (ρ = 11 for counts 330–470) needs a degree of 16. The moments
    ``H_j = Σ_g T_j(x_g) C_g C_gᵀ`` over the groups ``g`` of columns with equal counts are
    computed once (one scatter pass, :func:`.chebyshev_kernels.accumulate_moments`), and an
    evaluation is ``Σ_j c_j H_j`` with ``c`` the least-squares fit of ``w`` at the groups'
    counts: ``m`` dense additions instead of ``Σ_k nnz_k²/2`` scattered ones. With no more
    groups than terms the moments are the groups' own Gram matrices (exact).

    The fit is checked at every evaluation: its largest error at the groups' counts must be
    within :data:`FIT_TOLERANCE` of the smallest weight (a relative error of the product below
    the rounding of the scatter's sums), and ``w`` must be equal within groups; otherwise the
    exact scatter runs.

    Attributes
    ----------
    matrix
        ``C`` (CSR), for the exact scatter.
    group
        The group of each column.
    representative
        A column of each group.
    basis
        ``(groups, m)``: ``T_j`` at each group's mapped count, or the identity (exact).
    moments
        ``(lower tiles, m, TILE, TILE)``: ``H_j`` on the lower tiles of the target.
    """

    matrix: sp.csr_array
    group: NDArray[np.intp]
    representative: NDArray[np.intp]
    basis: FloatArray
    moments: FloatArray

    @classmethod
    def of(cls, matrix: sp.csr_array, counts: FloatArray, degree: int) -> ChebyshevGram:
        """The moments of ``C`` for columns with ``counts``, up to ``degree`` (see the class)."""
        from mixedmodels.linalg.chebyshev_kernels import accumulate_moments

        values, first, group = np.unique(counts, return_index=True, return_inverse=True)
        basis = _chebyshev_basis(values, degree)
        order = np.argsort(group, kind="stable").astype(np.int64)
        starts = np.searchsorted(group[order], np.arange(len(values) + 1)).astype(np.int64)
        tiled = TiledColumns.of(matrix, TILE).arrays()  # only for the pass
        n = matrix.shape[0]
        ntiles = max(-(-n // TILE), 1)
        moments = np.zeros((ntiles * (ntiles + 1) // 2, basis.shape[1], TILE, TILE))

        def run(lo: int, hi: int) -> None:
            accumulate_moments(tiled, order, starts, basis, TILE, n, moments, lo, hi)

        _on_row_tiles(run, ntiles)
        return cls(matrix, group.astype(np.intp), first.astype(np.intp), basis, moments)

    def coefficients(self, w: FloatArray) -> FloatArray | None:
        """The moments' coefficients for weights ``w``, or ``None`` when the fit fails."""
        at = w[self.representative]
        if not np.array_equal(w, at[self.group]) or not np.all(np.abs(at) > 0):
            return None
        if self.basis.shape[0] == self.basis.shape[1]:  # the identity: one moment per group
            return at
        coef = np.linalg.lstsq(self.basis, at, rcond=None)[0]
        error = np.max(np.abs(self.basis @ coef - at))
        return coef if error <= FIT_TOLERANCE * np.min(np.abs(at)) else None

    def subtract_from(self, target: FloatArray, w: FloatArray, scale: float) -> None:
        """``target -= scale · C diag(w) Cᵀ`` on the lower triangle (in place)."""
        from mixedmodels.linalg.chebyshev_kernels import subtract_moments

        coef = self.coefficients(np.ascontiguousarray(w, dtype=np.float64))
        if coef is None:
            self.scatter.subtract_from(target, w, scale)
            return
        scaled = np.ascontiguousarray(scale * coef)

        def run(lo: int, hi: int) -> None:
            subtract_moments(target, self.moments, scaled, TILE, lo, hi)

        _on_row_tiles(run, max(-(-target.shape[0] // TILE), 1))

    @cached_property
    def scatter(self) -> ScatterGram:
        """The exact scatter of ``C``, built the first time a fit of ``w`` fails."""
        return ScatterGram.of(self.matrix, None)

    def with_values(self, left: FloatArray, right: FloatArray) -> ScatterGram:
        """The scatter of the same pattern with new values (new weights change the counts)."""
        m = self.matrix
        data = np.asarray(left, dtype=np.float64).reshape(-1)
        return ScatterGram.of(sp.csr_array((data, m.indices, m.indptr), shape=m.shape), None)


def _chebyshev_basis(values: FloatArray, degree: int) -> FloatArray:
    """``T_j(x)`` at the counts mapped to ``[−1, 1]``, or the identity for few counts.

    The basis is square only when it is the identity (``ChebyshevGram.coefficients`` reads it).
    """
    if len(values) <= degree + 1:
        return np.eye(len(values))
    lo, hi = float(values[0]), float(values[-1])
    x = (2.0 * values - hi - lo) / (hi - lo)
    return np.asarray(np.polynomial.chebyshev.chebvander(x, degree), dtype=np.float64)


def chebyshev_degree(counts: FloatArray) -> int | None:
    """The degree for weights ``1/(n + λ)``, any ``λ ≥ 0``, at ``counts`` (``None``: too high).

    ``ρ⁻ᵈ`` below :data:`CHEBYSHEV_TARGET` with the pole at 0 (the worst ``λ``), and at most
    :data:`MAX_DEGREE`.
    """
    lo, hi = float(np.min(counts)), float(np.max(counts))
    if not lo > 0.0:
        return None
    if hi == lo:
        return 0
    ratio = (hi + lo) / (hi - lo)
    rho = ratio + math.sqrt(ratio * ratio - 1.0)
    degree = math.ceil(math.log(1.0 / CHEBYSHEV_TARGET) / math.log(rho))
    return degree if degree <= MAX_DEGREE else None


def _on_row_tiles(run: Callable[[int, int], None], ntiles: int) -> None:
    """``run`` over row tiles of a lower triangle, shared out by work on the BLAS threads."""
    parts = threads_for(THREADS_FROM) if ntiles * (ntiles + 1) // 2 >= PARALLEL_TILES else 1
    work = np.cumsum(np.arange(1, ntiles + 1, dtype=np.float64))  # tile row t has t + 1 tiles
    _run_parts(run, _partition(work, parts))


def _partition(cumulative: NDArray[np.float64], parts: int) -> NDArray[np.intp]:
    """Boundaries of ``parts`` contiguous runs of row tiles with about equal ``cumulative`` work."""
    targets = cumulative[-1] * np.arange(1, parts) / parts
    inner = np.searchsorted(cumulative, targets, side="left") + 1
    bounds = np.unique(np.concatenate([[0], inner, [cumulative.size]]))
    return bounds.astype(np.intp)


def _run_parts(run: Callable[[int, int], None], bounds: NDArray[np.intp]) -> None:
    """``run(a, b)`` for each run of row tiles between ``bounds``, on threads when several."""
    edges = [int(b) for b in bounds]
    if len(edges) == 2:
        run(*edges)
        return
    with ThreadPoolExecutor(len(edges) - 1) as pool:
        for done in [pool.submit(run, a, b) for a, b in pairwise(edges)]:
            done.result()


GramProduct = ScatterGram | DensePanels | ChebyshevGram


def product_costs(
    left: sp.csr_array, right: sp.csr_array | None = None, counts: FloatArray | None = None
) -> dict[str, float]:
    """Estimated seconds per evaluation of each method for ``C_i diag(w) C_jᵀ``.

    ``right`` is ``None`` for the symmetric product ``C_i diag(w) C_iᵀ`` (lower triangle); dense
    panels are only offered for it, and moments (:class:`ChebyshevGram`) when ``counts``, the
    first term's count of each column, are given.
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
        if right is None and counts is not None:
            moments = _moment_cost(left.shape[0], counts, scatter)
            if moments is not None:
                costs["chebyshev"] = moments + JIT_START_SECONDS / EVALUATIONS
    if right is None:
        rows, cols = left.shape
        flops = rows * rows * cols / 2.0
        costs["dense"] = flops * DENSE_FLOP_SECONDS + rows * cols * DENSIFY_SECONDS
    return costs


def moment_degree(counts: FloatArray) -> int | None:
    """The degree of :class:`ChebyshevGram`'s expansion for ``counts``, or ``None``.

    :func:`chebyshev_degree`; or, with at most ``MAX_DEGREE + 1`` distinct counts, one less
    than their number when that is lower (one moment per group, exact).
    """
    degree = chebyshev_degree(counts)
    groups = len(np.unique(counts))
    if groups <= (MAX_DEGREE + 1 if degree is None else degree + 1):
        return groups - 1
    return degree


def _moment_cost(rows: int, counts: FloatArray, scatter: float) -> float | None:
    """Seconds per evaluation of :class:`ChebyshevGram` (its pass spread over a fit), or ``None``.

    ``None`` when the counts need too high a degree or the moments too much memory.
    """
    degree = moment_degree(counts)
    if degree is None or not np.min(counts) > 0.0:
        return None
    groups = len(np.unique(counts))
    exact = groups <= degree + 1
    m = degree + 1
    ntiles = max(-(-rows // TILE), 1)
    entries = float(ntiles * (ntiles + 1) // 2 * TILE * TILE)
    if m * entries * 8.0 > MAX_MOMENT_BYTES:
        return None
    folds = groups * (1 if exact else m) * entries * FOLD_ENTRY_SECONDS
    return (scatter + folds) / FIT_EVALUATIONS + m * entries * MOMENT_ENTRY_SECONDS


def gram_product(
    left: sp.csr_array, right: sp.csr_array | None = None, counts: FloatArray | None = None
) -> GramProduct | None:
    """The cheapest method for ``C_i diag(w) C_jᵀ`` (``None``: SciPy's sparse product).

    Parameters
    ----------
    left, right
        ``C_i`` and ``C_j`` in CSR form, with the same columns; ``right`` ``None`` for the
        symmetric product.
    counts
        The first term's count at each column (``A_00``), when ``w`` is a function of it (for
        the symmetric product only).
    """
    costs = product_costs(left, right, counts)
    best = min(costs, key=lambda name: costs[name])
    if best == "chebyshev":
        assert counts is not None
        degree = moment_degree(counts)
        assert degree is not None
        return ChebyshevGram.of(left, counts, degree)
    if best == "dense":
        return DensePanels.of(left)
    if best == "scatter":
        return ScatterGram.of(left, right)
    return None


@lru_cache(maxsize=1)
def numba_installed() -> bool:
    """True when Numba can be imported (found without importing it)."""
    return find_spec("numba") is not None
