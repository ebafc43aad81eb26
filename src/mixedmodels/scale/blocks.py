"""The second pass: the blocks of ``A = [Z X y]'[Z X y]`` per chunk, summed over chunks.

``A`` is a sum over rows, so each chunk contributes its own blocks (map) and the sums of
pairs of partial results are again partial results (reduce). Two quantities need care:

* the response is centred before its products are formed (see
  :func:`~mixedmodels.linalg.cholesky.response_shift`); each chunk centres at its own weighted
  mean and :meth:`PartialBlocks.recentred` moves a partial result to another centre exactly
  (Chan, Golub and LeVeque's pairwise update), so no pass is needed to learn the mean;
* the rank of ``X`` (and of each term's columns) is decided, as in memory, from the ``R``
  factor of a QR decomposition: ``R`` of the stacked ``R``'s of two chunks is ``R`` of both
  (TSQR), which is as accurate as the QR of all rows and needs only ``p × p`` numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import CrossProducts, block_sparse, cross_products
from mixedmodels.scale.encoding import ChunkEncoder

__all__ = ["BlockSums", "PartialBlocks", "chunk_blocks", "finish_blocks", "merge_blocks"]


@dataclass(frozen=True)
class BlockSums:
    """The blocks of ``A`` over some rows, in a form that adds: sparse blocks as CSR.

    The fields are those of :class:`~mixedmodels.linalg.crossprod.CrossProducts`.
    """

    diag: list[FloatArray]
    sparse: list[sp.csr_array | None]
    dense: list[list[FloatArray | None]]
    xz: list[FloatArray]
    xx: FloatArray

    def __add__(self, other: BlockSums) -> BlockSums:
        pairs = zip(self.dense, other.dense, strict=True)
        return BlockSums(
            [a + b for a, b in zip(self.diag, other.diag, strict=True)],
            [_add(a, b) for a, b in zip(self.sparse, other.sparse, strict=True)],
            [[_add(a, b) for a, b in zip(r, s, strict=True)] for r, s in pairs],
            [a + b for a, b in zip(self.xz, other.xz, strict=True)],
            self.xx + other.xx,
        )

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
        return BlockSums(self.diag, self.sparse, self.dense, xz, xx)


def _add(a: Any, b: Any) -> Any:
    """Sum of two optional blocks."""
    return None if a is None else a + b


@dataclass(frozen=True)
class PartialBlocks:
    """Cross-products and summaries of some of the rows.

    Attributes
    ----------
    sums
        The blocks of ``A`` over these rows.
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
    level_counts, category_counts
        Rows per level of each grouping factor (by term) and of each categorical column.
    y_sum, y_sq, y_min, y_max
        Sum, sum of squares, minimum and maximum of the response (offset subtracted).
    """

    sums: BlockSums
    nobs: int
    n_dropped: int
    shift: float
    log_weights: float
    weighted: bool
    Rx: FloatArray
    Rz: list[FloatArray]
    level_counts: list[FloatArray]
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


def chunk_blocks(chunk: Any, encoder: ChunkEncoder) -> PartialBlocks:
    """The partial blocks of one chunk (a pandas DataFrame)."""
    prepared = encoder.prepare(chunk)
    frame = prepared.frame
    if len(frame) == 0:
        return _no_rows(encoder, prepared.n_dropped)
    y, X = encoder.design(frame)
    y = y - prepared.offset
    terms = encoder.term_rows(frame)
    w = prepared.weights
    weighted = bool(np.any(w != 1.0))
    shift = float(np.average(y, weights=w)) if encoder.intercept is not None else 0.0
    A = cross_products(terms, np.column_stack([X, y - shift]), np.sqrt(w) if weighted else None)
    sparse = [None if s is None else sp.csr_array(s.to_scipy()) for s in A.sparse]
    categories = {
        c: np.bincount(frame[c].cat.codes, minlength=len(levels)).astype(np.float64)
        for c, levels in encoder.categories.items()
    }
    return PartialBlocks(
        sums=BlockSums(A.diag, sparse, A.dense, A.xz, A.xx),
        nobs=len(y),
        n_dropped=prepared.n_dropped,
        shift=shift,
        log_weights=float(np.sum(np.log(w))) if weighted else 0.0,
        weighted=weighted,
        Rx=_r_factor(X),
        Rz=[_r_factor(t.z) for t in terms],
        level_counts=[np.bincount(t.refs, minlength=t.nlevels).astype(float) for t in terms],
        category_counts=categories,
        y_sum=float(np.sum(y)),
        y_sq=float(y @ y),
        y_min=float(np.min(y)),
        y_max=float(np.max(y)),
    )


def merge_blocks(a: PartialBlocks, b: PartialBlocks, intercept: int | None) -> PartialBlocks:
    """The partial blocks of the rows of ``a`` and ``b`` together."""
    wa, wb = _weight_total(a, intercept), _weight_total(b, intercept)
    centre = 0.0 if intercept is None or wa + wb == 0 else (wa * a.shift + wb * b.shift) / (wa + wb)
    a, b = a.recentred(centre, intercept), b.recentred(centre, intercept)
    return PartialBlocks(
        sums=a.sums + b.sums,
        nobs=a.nobs + b.nobs,
        n_dropped=a.n_dropped + b.n_dropped,
        shift=centre,
        log_weights=a.log_weights + b.log_weights,
        weighted=a.weighted or b.weighted,
        Rx=_stack_r(a.Rx, b.Rx),
        Rz=[_stack_r(x, y) for x, y in zip(a.Rz, b.Rz, strict=True)],
        level_counts=[x + y for x, y in zip(a.level_counts, b.level_counts, strict=True)],
        category_counts={c: x + b.category_counts[c] for c, x in a.category_counts.items()},
        y_sum=a.y_sum + b.y_sum,
        y_sq=a.y_sq + b.y_sq,
        y_min=min(a.y_min, b.y_min),
        y_max=max(a.y_max, b.y_max),
    )


def finish_blocks(partial: PartialBlocks, terms: list[Any], keep: list[int]) -> CrossProducts:
    """The model's blocks: sparse blocks in BSR layout, only the kept columns of ``X``."""
    sums = partial.sums
    sparse = [
        None if s is None else block_sparse(s, terms[i].k, terms[0].k)
        for i, s in enumerate(sums.sparse)
    ]
    rows = [*keep, sums.xx.shape[0] - 1]
    xz = [np.ascontiguousarray(block[rows]) for block in sums.xz]
    xx = np.ascontiguousarray(sums.xx[np.ix_(rows, rows)])
    return CrossProducts(sums.diag, sparse, sums.dense, xz, xx)


def _no_rows(encoder: ChunkEncoder, n_dropped: int) -> PartialBlocks:
    """The partial blocks of a chunk without complete rows: zeros of the right shapes."""
    terms, p = encoder.terms, len(encoder.names)
    m = len(terms)
    dense: list[list[FloatArray | None]] = [[None] * m for _ in range(m)]
    for i in range(1, m):
        for j in range(1, i):
            dense[i][j] = np.zeros((terms[i].q, terms[j].q))
    sums = BlockSums(
        [np.zeros((t.nlevels, t.k, t.k)) for t in terms],
        [None] + [sp.csr_array((t.q, terms[0].q)) for t in terms[1:]],
        dense,
        [np.zeros((p + 1, t.nlevels, t.k)) for t in terms],
        np.zeros((p + 1, p + 1)),
    )
    return PartialBlocks(
        sums=sums,
        nobs=0,
        n_dropped=n_dropped,
        shift=0.0,
        log_weights=0.0,
        weighted=False,
        Rx=np.zeros((p, p)),
        Rz=[np.zeros((t.k, t.k)) for t in terms],
        level_counts=[np.zeros(t.nlevels) for t in terms],
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
    """The ``R`` of a QR decomposition, square (zero rows added for short chunks)."""
    k = M.shape[1]
    R = scipy.linalg.qr(M, mode="r", check_finite=False)[0] if M.shape[0] else np.zeros((0, k))
    out = np.zeros((k, k))
    out[: min(k, R.shape[0])] = R[:k]
    return out


def _stack_r(a: FloatArray, b: FloatArray) -> FloatArray:
    """``R`` of the rows behind two ``R`` factors."""
    return _r_factor(np.vstack([a, b]))
