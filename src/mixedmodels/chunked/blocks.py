"""One pass over the chunks: the blocks of ``A = [Z X y]'[Z X y]`` per chunk, summed.

``A`` is a sum over rows, so each chunk contributes its own blocks (map) and the sum of two
partial results is again a partial result (reduce). Three things need care:

* **levels** are not known in advance: each chunk numbers the levels it sees (its *local*
  levels, from its complete rows only) and merging two partial results takes the union of
  their levels and moves the second one's rows and columns to their places in the union. At the
  end the levels are put in R's order and the terms sorted by their numbers of levels, as in
  memory; until then every pair of terms is kept as a sparse ``Z_iᵀZ_j``;
* the **response** is centred before its products are formed (see
  :func:`~mixedmodels.linalg.shift.response_shift`); each chunk centres at its own weighted
  mean and :meth:`BlockSums.recentred` moves a partial result to another centre exactly (Chan,
  Golub and LeVeque's pairwise update), so no pass is needed to learn the mean;
* the **rank** of ``X`` (and of each term's columns) is decided, as in memory, from the ``R``
  factor of a QR decomposition: ``R`` of the stacked ``R``'s of two chunks is ``R`` of both
  (TSQR), as accurate as the QR of all rows and only ``p × p`` numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.chunked.cells import cell_counts, cell_key_type
from mixedmodels.chunked.encoding import ChunkEncoder, union_levels
from mixedmodels.chunked.fused import fused_chunk_blocks
from mixedmodels.chunked.sums import BlockSums, PartialBlocks, r_from_gram
from mixedmodels.errors import DataError
from mixedmodels.linalg.crossprod import CrossProducts, block_sparse

__all__ = [
    "BlockSums",
    "PartialBlocks",
    "chunk_blocks",
    "finish_blocks",
    "cell_counts",
    "cell_key_type",
    "merge_blocks",
    "r_from_gram",
]

Index = NDArray[np.intp]


def chunk_blocks(chunk: Any, encoder: ChunkEncoder) -> PartialBlocks:
    """The partial blocks of one chunk (a pandas DataFrame), in its local levels.

    The common model of large data (numeric predictors, random intercepts, complete rows)
    takes one compiled sweep (:mod:`mixedmodels.chunked.fused`); everything else the NumPy path
    below, with the same result.
    """
    fused = fused_chunk_blocks(chunk, encoder)
    if fused is not None:
        return fused
    prepared = encoder.prepare(chunk)
    frame = prepared.frame
    if len(frame) == 0:
        return _no_rows(encoder, prepared.n_dropped)
    y, xy = encoder.design(frame, response_last=True, check=False)  # checked below
    X = xy[:, :-1]
    y -= prepared.offset
    terms, levels = encoder.local_terms(frame)
    w = prepared.weights
    weighted = bool(np.any(w != 1.0))
    shift = float(np.average(y, weights=w)) if encoder.intercept is not None else 0.0
    xy[:, -1] -= shift  # y is a view of the last column: restored below for the summaries
    ones = None if weighted else encoder.intercept
    sums = _sums(terms, xy, np.sqrt(w) if weighted else None, ones)
    xy[:, -1] += shift
    if not np.all(np.isfinite(np.diagonal(sums.xx))):  # a non-finite value, or an overflow
        encoder.check_finite(xy)
        raise DataError("the cross-products overflow: rescale the response or the predictors")
    categories = {
        c: np.bincount(frame[c].cat.codes, minlength=len(values)).astype(np.float64)
        for c, values in encoder.categories.items()
    }
    return PartialBlocks(
        sums=sums,
        levels=levels,
        nobs=len(y),
        n_dropped=prepared.n_dropped,
        shift=shift,
        log_weights=float(np.sum(np.log(w))) if weighted else 0.0,
        weighted=weighted,
        Rx=_r_factor(X),
        Rz=[_ones_r(w) if t.intercept_only else _r_factor(t.z) for t in terms],
        category_counts=categories,
        y_sum=float(np.sum(y)),
        y_sq=float(y @ y),
        y_min=float(np.min(y)),
        y_max=float(np.max(y)),
    )


def merge_blocks(a: PartialBlocks, b: PartialBlocks, encoder: ChunkEncoder) -> PartialBlocks:
    """The partial blocks of the rows of ``a`` and ``b`` together."""
    intercept = encoder.intercept
    wa, wb = _weight_total(a, intercept), _weight_total(b, intercept)
    centre = 0.0 if intercept is None or wa + wb == 0 else (wa * a.shift + wb * b.shift) / (wa + wb)
    a, b = a.recentred(centre, intercept), b.recentred(centre, intercept)
    levels, where_a, where_b = {}, {}, {}
    for factors, mine in a.levels.items():
        levels[factors], where_a[factors], where_b[factors] = union_levels(mine, b.levels[factors])
    factor_of = [t.spec.factors for t in encoder.templates]
    sizes = [len(levels[f]) for f in factor_of]
    ks = [t.k for t in encoder.templates]
    sums_a, sums_b = a.sums, b.sums
    if a.nobs + b.nobs > np.iinfo(np.int32).max:  # 32-bit counts could overflow
        sums_a, sums_b = sums_a.widened(), sums_b.widened()
    sums = sums_a.moved([where_a[f] for f in factor_of], sizes, ks) + sums_b.moved(
        [where_b[f] for f in factor_of], sizes, ks
    )
    return PartialBlocks(
        sums=sums,
        levels=levels,
        nobs=a.nobs + b.nobs,
        n_dropped=a.n_dropped + b.n_dropped,
        shift=centre,
        log_weights=a.log_weights + b.log_weights,
        weighted=a.weighted or b.weighted,
        Rx=_stack_r(a.Rx, b.Rx),
        Rz=[_stack_r(x, y) for x, y in zip(a.Rz, b.Rz, strict=True)],
        category_counts={c: x + b.category_counts[c] for c, x in a.category_counts.items()},
        y_sum=a.y_sum + b.y_sum,
        y_sq=a.y_sq + b.y_sq,
        y_min=min(a.y_min, b.y_min),
        y_max=max(a.y_max, b.y_max),
    )


def finish_blocks(
    partial: PartialBlocks, encoder: ChunkEncoder, keep: list[int]
) -> tuple[ChunkEncoder, CrossProducts, list[FloatArray]]:
    """Levels in R's order, terms sorted as in memory, and the model's stored blocks.

    Returns the encoder with the learned levels, the blocks of ``A`` (only the kept columns of
    ``X``) and the ``R`` factors of the terms, all in the model's term order.
    """
    final = encoder.with_levels(partial.levels)
    order = final.order  # final term t is the template order[t]
    ranks = {f: final.factors[f].codes(partial.levels[f]) for f in partial.levels}
    factor_of = [t.spec.factors for t in encoder.templates]
    sums = partial.sums.moved(
        [ranks[f] for f in factor_of],
        [len(partial.levels[f]) for f in factor_of],
        [t.k for t in encoder.templates],
    )
    terms = final.terms
    m = len(terms)
    sparse: list[Any] = [None] * m
    dense: list[list[FloatArray | None]] = [[None] * m for _ in range(m)]
    for i in range(1, m):
        sparse[i] = block_sparse(_pair(sums, order[i], order[0]), terms[i].k, terms[0].k)
        for j in range(1, i):
            dense[i][j] = _pair(sums, order[i], order[j]).toarray()
    rows = [*keep, sums.xx.shape[0] - 1]
    xz = [np.ascontiguousarray(sums.xz[t][rows]) for t in order]
    xx = np.ascontiguousarray(sums.xx[np.ix_(rows, rows)])
    A = CrossProducts([sums.diag[t] for t in order], sparse, dense, xz, xx)
    return final, A, [partial.Rz[t] for t in order]


def _pair(sums: BlockSums, i: int, j: int) -> sp.csr_array:
    """``Z_iᵀZ_j`` for two terms in formula order (stored for ``i > j``)."""
    block = sums.pairs[(i, j)] if i > j else sp.csr_array(sums.pairs[(j, i)].T)
    return block if block.dtype == np.float64 else block.astype(np.float64)


def _sums(
    terms: list[Any], xy: FloatArray, sqrtw: FloatArray | None, ones: int | None = None
) -> BlockSums:
    """The blocks of one chunk's rows (terms in formula order, local levels).

    ``ones`` is the column of ``xy`` that is all ones (the intercept), if any: without weights
    its level sums are the counts.
    """
    wxy = xy if sqrtw is None else xy * sqrtw[:, None]
    zs = [_weighted_z(t, sqrtw) for t in terms]
    diag: list[FloatArray] = []
    xz: list[FloatArray] = []
    for term, z in zip(terms, zs, strict=True):
        k, nlev = term.k, term.nlevels
        if z is None:  # an intercept, unweighted: counts and plain sums
            counts = np.bincount(term.refs, minlength=nlev).astype(np.float64)
            diag.append(counts[:, None, None])
            xz.append(_intercept_sums(term.refs, wxy, nlev, counts, ones)[:, :, None])
            continue
        products = (z[:, :, None] * z[:, None, :]).reshape(len(z), k * k)
        diag.append(_level_sums(term.refs, products, nlev).reshape(nlev, k, k))
        cross = wxy * z if k == 1 else (wxy[:, :, None] * z[:, None, :]).reshape(len(z), -1)
        xz.append(_level_sums(term.refs, cross, nlev).reshape(nlev, xy.shape[1], k).swapaxes(0, 1))
    pairs = {}
    for i in range(len(terms)):
        for j in range(i):
            pairs[(i, j)] = _pair_products(terms[i], zs[i], terms[j], zs[j])
    return BlockSums(diag, pairs, [np.ascontiguousarray(v) for v in xz], wxy.T @ wxy)


def _intercept_sums(
    refs: Index, xy: FloatArray, nlevels: int, counts: FloatArray, ones: int | None
) -> FloatArray:
    """``Z_jᵀ[X y]`` for an unweighted intercept term, ``(columns, nlevels)``."""
    if ones is None:
        return _level_sums(refs, xy, nlevels).T
    others = [c for c in range(xy.shape[1]) if c != ones]
    out = np.empty((xy.shape[1], nlevels))
    out[others] = _level_sums(refs, xy, nlevels, others).T
    out[ones] = counts
    return out


def _weighted_z(term: Any, sqrtw: FloatArray | None) -> FloatArray | None:
    """``√w z`` of a term, or ``None`` for an unweighted intercept (a column of ones)."""
    if sqrtw is None:
        return None if term.intercept_only else term.z
    return term.z * sqrtw[:, None]


def _level_sums(
    refs: Index, values: FloatArray, nlevels: int, columns: list[int] | None = None
) -> FloatArray:
    """Sums of ``values[:, columns]`` (all columns by default) within each level.

    One weighted ``bincount`` per column: a single sweep over the rows with the sums held in
    cache (it beats a sparse indicator matrix, whose three arrays of the rows' length cost
    more to build than the product). Returns ``(nlevels, len(columns))``.
    """
    columns = list(range(values.shape[1])) if columns is None else columns
    out = np.empty((nlevels, len(columns)))
    for at, c in enumerate(columns):
        out[:, at] = np.bincount(refs, weights=values[:, c], minlength=nlevels)
    return out


def _pair_products(ti: Any, zi: FloatArray | None, tj: Any, zj: FloatArray | None) -> sp.csr_array:
    """``Z_iᵀZ_j`` by summing the rows' entries at their (row, column) positions.

    ``None`` stands for a column of ones (an unweighted intercept).
    """
    ki, kj = ti.k, tj.k
    if zi is None and zj is None:
        return _pair_counts(ti.refs, tj.refs, (ti.nlevels, tj.nlevels))
    n = len(ti.refs)
    rows = (ti.refs[:, None] * ki + np.arange(ki, dtype=np.int32))[:, :, None]
    cols = (tj.refs[:, None] * kj + np.arange(kj, dtype=np.int32))[:, None, :]
    left = np.ones((n, 1)) if zi is None else zi
    right = np.ones((n, 1)) if zj is None else zj
    values = np.ones(n) if zi is None and zj is None else left[:, :, None] * right[:, None, :]
    shape = (ti.nlevels * ki, tj.nlevels * kj)
    rr, cc = np.broadcast_arrays(rows.astype(np.int32), cols.astype(np.int32))
    coo = sp.coo_array((values.reshape(-1), (rr.reshape(-1), cc.reshape(-1))), shape=shape)
    out = coo.tocsr()
    out.sum_duplicates()
    return out


def _pair_counts(rows: Index, cols: Index, shape: tuple[int, int]) -> sp.csr_array:
    """How many rows fall in each (row level, column level) cell, as CSR.

    Two unweighted intercepts have counts for products: the cells' flat positions, sorted,
    are all it takes (:func:`cell_counts`).
    """
    cells: NDArray[np.signedinteger[Any]] = rows.astype(cell_key_type(shape))
    np.multiply(cells, shape[1], out=cells)
    np.add(cells, cols, out=cells, casting="unsafe")
    return cell_counts(cells, shape)


def _no_rows(encoder: ChunkEncoder, n_dropped: int) -> PartialBlocks:
    """The partial blocks of a chunk without complete rows: no levels, no sums."""
    terms, p = encoder.templates, len(encoder.names)
    sums = BlockSums(
        [np.zeros((0, t.k, t.k)) for t in terms],
        {(i, j): sp.csr_array((0, 0)) for i in range(len(terms)) for j in range(i)},
        [np.zeros((p + 1, 0, t.k)) for t in terms],
        np.zeros((p + 1, p + 1)),
    )
    return PartialBlocks(
        sums=sums,
        levels=encoder.no_levels(),
        nobs=0,
        n_dropped=n_dropped,
        shift=0.0,
        log_weights=0.0,
        weighted=False,
        Rx=np.zeros((p, p)),
        Rz=[np.zeros((t.k, t.k)) for t in terms],
        category_counts={c: np.zeros(len(v)) for c, v in encoder.categories.items()},
        y_sum=0.0,
        y_sq=0.0,
        y_min=np.inf,
        y_max=-np.inf,
    )


def _weight_total(part: PartialBlocks, intercept: int | None) -> float:
    """``Σ w`` over the rows: the intercept's diagonal entry of ``XᵀWX``."""
    return 0.0 if intercept is None else float(part.sums.xx[intercept, intercept])


def _r_factor(M: FloatArray) -> FloatArray:
    """An ``R`` with ``RᵀR = MᵀM``, square (zero rows added for short chunks).

    From the Cholesky factor of ``MᵀM`` when its columns are clearly independent (their
    residual norms above 1e-4 of their norms, far from the rank tolerance of 1e-7, so that the
    squared condition number costs nothing), else from a QR decomposition of ``M``.
    """
    k = M.shape[1]
    out = np.zeros((k, k))
    if M.shape[0] == 0 or k == 0:
        return out
    found = r_from_gram(M.T @ M)
    if found is not None:
        return found
    R: FloatArray = np.asarray(np.linalg.qr(M, mode="r"))
    out[: min(k, R.shape[0])] = R[:k]
    return out


def _ones_r(w: FloatArray) -> FloatArray:
    """The ``R`` factor of a column of ones (the intercept; unweighted, as the rank checks)."""
    return np.array([[np.sqrt(float(len(w)))]])


def _stack_r(a: FloatArray, b: FloatArray) -> FloatArray:
    """``R`` of the rows behind two ``R`` factors (TSQR), by QR: the accurate way."""
    k = a.shape[1]
    out = np.zeros((k, k))
    R: FloatArray = np.asarray(np.linalg.qr(np.vstack([a, b]), mode="r"))
    out[: min(k, R.shape[0])] = R[:k]
    return out
