"""Compiled sweeps over a chunk for the common model of large data.

Models of millions of rows are mostly numeric predictors and random intercepts on grouping
factors (``y ~ x1 + x2 + (1|g1) + (1|g2)``). For those, everything a chunk contributes —
rows per level, level sums of ``[X y]``, ``[X y]ᵀ[X y]``, the response's summaries and the cells
of each pair of factors — comes from a few simple loops compiled by Numba, straight from the
columns and the dictionary codes, instead of a dozen NumPy passes with their temporaries (most
holding the GIL): half the time of a chunk. The result is the same
:class:`~mixedmodels.chunked.blocks.PartialBlocks` as :func:`~.blocks.chunk_blocks` builds, in
the same canonical order of levels, so chunks of either kind merge.

Numba comes with ``pip install 'mixedmodels[dask]'``; without it, or for any other chunk (weights,
offsets, random slopes, interactions, categorical predictors, missing or non-finite values, a
nearly collinear ``X``) :func:`fused_chunk_blocks` returns ``None`` and the NumPy path runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixedmodels._typing import FloatArray
from mixedmodels.chunked.cells import cell_counts, cell_key_type
from mixedmodels.chunked.encoding import ChunkEncoder, Levels, sorted_levels
from mixedmodels.chunked.jit import AVAILABLE, compiled
from mixedmodels.chunked.sums import BlockSums, PartialBlocks, r_from_gram

__all__ = ["AVAILABLE", "fused_chunk_blocks"]


BLOCK = 4096  # rows per block of the products (the block's columns stay in cache)


@compiled
def _counts(codes: Any, ncodes: int) -> Any:  # pragma: no cover - compiled
    """Rows per dictionary code of each factor; False if a code is missing (-1)."""
    m, n = codes.shape
    counts = np.zeros((m, ncodes))
    for t in range(m):
        row = codes[t]
        for i in range(n):
            if row[i] < 0:
                return counts, False
            counts[t, row[i]] += 1.0
    return counts, True


@compiled(reassociate=True)
def _total(column: Any, centre: float) -> float:  # pragma: no cover - compiled
    """``Σ (x − centre)``: not finite when any value is not (NaN and ∞ propagate in any order)."""
    total = 0.0
    for i in range(len(column)):
        total += column[i] - centre
    return total


@compiled
def _level_sums(codes: Any, column: Any, centre: float, sums: Any) -> None:  # pragma: no cover
    """``sums[t, code] += x − centre`` over the rows, for every factor ``t``."""
    m, n = codes.shape
    for t in range(m):
        row, out = codes[t], sums[t]
        for i in range(n):
            out[row[i]] += column[i] - centre


@compiled(reassociate=True)
def _gram(columns: Any, centres: Any) -> Any:  # pragma: no cover - compiled
    """``Σ (x_a − c_a)(x_b − c_b)`` for every pair of finite columns (upper triangle), blocked."""
    c, n = len(columns), len(columns[0])
    out = np.zeros((c, c))
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        for a in range(c):
            ca, sa = columns[a], centres[a]
            for b in range(a, c):
                cb, sb = columns[b], centres[b]
                acc = 0.0
                for i in range(start, stop):
                    acc += (ca[i] - sa) * (cb[i] - sb)
                out[a, b] += acc
    return out


def _sweep(
    codes: Any, ncodes: int, columns: tuple[FloatArray, ...], ones: int, shift: float
) -> Any:
    """Everything but the pairs of factors, by dictionary code, or ``None``.

    ``columns`` are the numeric columns of ``[X y]`` but the intercept (at ``ones``, or -1),
    the response last, centred at ``shift`` in the products. Returns the rows per code of
    each factor, the level sums ``(factor, column of [X y], code)`` and ``[X y]ᵀ[X y]``;
    ``None`` when a code is missing or a value is not finite (the NumPy path then runs).
    """
    counts, complete = _counts(codes, ncodes)
    centres = np.zeros(len(columns))
    centres[-1] = shift
    totals = [_total(x, centre) for x, centre in zip(columns, centres, strict=True)]
    if not complete or not np.all(np.isfinite(totals)):
        return None
    at = [j for j in range(len(columns) + (ones >= 0)) if j != ones]  # places in [X y]
    width = len(at) + (ones >= 0)
    sums = np.zeros((codes.shape[0], width, ncodes))
    for k, x in enumerate(columns):
        _level_sums(codes, x, centres[k], sums[:, at[k]])
    gram = _gram(columns, centres)
    xx = np.zeros((width, width))
    xx[np.ix_(at, at)] = np.triu(gram) + np.triu(gram, 1).T
    if ones >= 0:
        xx[ones, at] = xx[at, ones] = totals
        xx[ones, ones] = codes.shape[1]
        sums[:, ones] = counts
    n, y = codes.shape[1], columns[-1]
    stats = (
        totals[-1] + n * shift,  # Σy and Σy² from the centred sums
        gram[-1, -1] + 2.0 * shift * totals[-1] + n * shift * shift,
        float(np.min(y)),
        float(np.max(y)),
    )
    return counts, sums, xx, stats


@compiled
def _cells(rows: Any, cols: Any, row_rank: Any, col_rank: Any, ncols: int, keys: Any) -> None:
    """Cell keys ``row level · ncols + column level`` of every row (into ``keys``)."""
    for i in range(len(rows)):
        keys[i] = row_rank[rows[i]] * ncols + col_rank[cols[i]]


def fused_chunk_blocks(chunk: pd.DataFrame, encoder: ChunkEncoder) -> Any:
    """The chunk's :class:`~.blocks.PartialBlocks` by the compiled sweep, or ``None``."""
    layout = _layout(chunk, encoder)
    if layout is None:
        return None
    factors, columns, ones = layout
    codes = np.empty((len(factors), len(chunk)), np.int32)
    categories = []
    for t, name in enumerate(factors):
        codes[t], values = _factor_codes(chunk[name])
        categories.append(values)
    ncodes = max(max(len(c) for c in categories), 1)
    shift = float(np.mean(columns[-1])) if ones >= 0 else 0.0
    swept = _sweep(codes, ncodes, columns, ones, shift)
    if swept is None:
        return None  # missing or non-finite values: the NumPy path drops or refuses them
    return _assemble(encoder, factors, categories, codes, swept, shift)


def _layout(chunk: pd.DataFrame, encoder: ChunkEncoder) -> Any:
    """Grouping columns, numeric columns of ``[X y]`` and the intercept's place, or ``None``.

    The grouping columns must be text read dictionary-encoded from Parquet, or text or
    integers in a Dask DataFrame (their levels are then found and ordered exactly as the NumPy
    path finds and orders them); the other columns numbers.
    """
    plan = encoder.plan
    simple = (
        AVAILABLE
        and len(chunk) > 0
        and plan.weights is None
        and plan.offset is None
        and not plan.parsed.offsets
        and not encoder.categories
        and all(t.intercept_only and len(t.spec.factors) == 1 for t in encoder.templates)
    )
    if not simple:
        return None
    factors = [t.spec.factors[0] for t in encoder.templates]
    numeric = [n for n in encoder.names if n != "(Intercept)"] + [plan.parsed.response]
    coded = all(_codable(chunk[f], f in plan.dictionary) for f in factors)
    if not coded or len(set(numeric)) < len(numeric):
        return None
    if not all(n in chunk.columns and chunk[n].dtype.kind in "biuf" for n in numeric):
        return None
    columns = tuple(_read_only(chunk[n].to_numpy(dtype=np.float64)) for n in numeric)
    ones = encoder.intercept
    return factors, columns, -1 if ones is None else ones


def _codable(column: pd.Series, dictionary: bool) -> bool:
    """A grouping column whose codes the sweep can take: as the NumPy path numbers it."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return dictionary  # other categoricals: the NumPy path keeps them categorical
    return isinstance(column.dtype, pd.StringDtype) or column.dtype.kind in "iu"


def _factor_codes(column: pd.Series) -> tuple[Any, pd.Index]:
    """Codes and distinct values of a grouping column (-1 for a missing value)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    codes, values = pd.factorize(column)  # what the NumPy path's local levels do
    return codes, pd.Index(values)


def _read_only(values: FloatArray) -> FloatArray:
    """A contiguous read-only view (a copy only if needed).

    The kernels take the columns as one tuple, which Numba types by its elements: columns
    Arrow hands over read-only next to writable ones would make it heterogeneous.
    """
    view = np.ascontiguousarray(values).view()
    view.flags.writeable = False
    return view


def _assemble(
    encoder: ChunkEncoder,
    factors: list[str],
    categories: list[pd.Index],
    codes: Any,
    swept: tuple[Any, ...],
    shift: float,
) -> Any:
    """The partial blocks from the sweep, levels in the canonical order of the NumPy path."""
    counts, sums, xx, stats = swept
    Rx = r_from_gram(xx[:-1, :-1])
    if Rx is None:
        return None  # X nearly collinear here: the NumPy path's QR decides the rank
    n, m = codes.shape[1], len(factors)
    levels: dict[tuple[str, ...], Levels] = {}
    ranks, diag, xz = [], [], []
    for t, (name, values) in enumerate(zip(factors, categories, strict=True)):
        used = np.flatnonzero(counts[t, : len(values)] > 0)
        kept = values if len(used) == len(values) else values[used]  # as the NumPy path
        rank, levels[(name,)] = sorted_levels(pd.DataFrame({name: kept}))
        where = np.full(len(values), -1, np.int64)
        where[used] = rank
        ranks.append(where)
        order = np.empty(len(used), np.intp)
        order[rank] = used  # code of each level, in level order
        diag.append(counts[t, order][:, None, None])
        xz.append(np.ascontiguousarray(sums[t][:, order])[:, :, None])
    pairs = {
        (i, j): _pair_block(codes[i], codes[j], ranks[i], ranks[j])
        for i in range(m)
        for j in range(i)
    }
    return PartialBlocks(
        sums=BlockSums(diag, pairs, xz, xx),
        levels=levels,
        nobs=n,
        n_dropped=0,
        shift=shift,
        log_weights=0.0,
        weighted=False,
        Rx=Rx,
        Rz=[np.array([[np.sqrt(float(n))]]) for _ in factors],
        category_counts={},
        y_sum=float(stats[0]),
        y_sq=float(stats[1]),
        y_min=float(stats[2]),
        y_max=float(stats[3]),
    )


def _pair_block(rows: Any, cols: Any, row_rank: Any, col_rank: Any) -> sp.csr_array:
    """``Z_iᵀZ_j`` of two unweighted intercepts: counts of the cells, by a sort of their keys."""
    shape = (int(row_rank.max()) + 1, int(col_rank.max()) + 1)
    keys: Any = np.empty(len(rows), cell_key_type(shape))
    _cells(rows, cols, row_rank, col_rank, shape[1], keys)
    return cell_counts(keys, shape)
