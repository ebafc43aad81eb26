"""Exact quantiles of a Dask array larger than memory, in a few passes of bounded memory.

The result equals ``numpy.quantile(values, probs)`` (method ``"linear"``, R's type 7): the
interpolation between the order statistics of ranks ``floor(h)`` and ``floor(h) + 1``,
``h = (n - 1) p``, is NumPy's own formula. Only those order statistics are searched for:

1. one pass counts the values (and NaNs, which are refused) and finds their minimum and maximum;
2. one pass histograms the values into ``2**16`` equal-width bins, with each bin's count, minimum
   and maximum; the cumulative counts give the bin of each needed rank and its rank inside it;
3. one pass collects the values of those bins (each bin is a closed interval ``[min, max]`` of
   values), which are sorted to read the order statistics.

A needed bin holding more than ``max_collect`` values is histogrammed again, restricted to its
interval (in the same pass as the collection of the other bins), until it is small enough or all
its values are equal. Refinement bins by value for two rounds, then by the order of the float64
bit patterns, which splits any interval into single values within five more rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
from numpy.typing import NDArray

from mixedmodels.chunked.sources import tree_reduce

__all__ = ["exact_quantiles"]

N_BINS = 2**16
"""Bins of each histogram pass."""

VALUE_ROUNDS = 2
"""Histogram rounds binned by value; later rounds bin by the order of the bit patterns."""

MAX_ROUNDS = VALUE_ROUNDS + 8
"""More histogram rounds than can be needed (bit-pattern bins converge within five)."""

FAN_IN = 8
"""Partial histograms combined per task of the reduction tree."""

FloatArray = NDArray[np.float64]
Partial = tuple[NDArray[np.int64], FloatArray, FloatArray]


@dataclass(frozen=True)
class _Target:
    """A closed interval of values holding some needed ranks.

    Every value ``x`` with ``lo <= x <= hi`` is in the interval, ``count`` values in all, and
    ``below`` values are smaller than ``lo``; ``ranks`` are global (0-based) order statistics.
    """

    lo: float
    hi: float
    count: int
    below: int
    ranks: tuple[int, ...]


@dataclass(frozen=True)
class _Stats:
    """Pass-1 summary: counts of values, NaNs and infinities, and finite minimum and maximum."""

    n: int
    nans: int
    neg_inf: int
    pos_inf: int
    lo: float
    hi: float


def exact_quantiles(
    values: Any, probs: Sequence[float], *, max_collect: int = 2_000_000
) -> FloatArray:
    """Quantiles of a 1-D Dask array, equal to ``numpy.quantile(values, probs)``.

    The values are never all in memory: each pass is one ``dask.compute`` over the array
    (recomputed from its source, on the active ``dask.distributed`` client if there is one),
    and at most ``max_collect`` values per needed bin are brought to the caller.

    Parameters
    ----------
    values : dask.array.Array
        One-dimensional array of values (cast to float64), chunk sizes possibly unknown.
    probs : sequence of float
        Probabilities in ``[0, 1]``.
    max_collect : int, default 2_000_000
        Most values collected for one bin; fuller bins are refined by another histogram pass.

    Returns
    -------
    numpy.ndarray
        The quantiles (float64), one per probability, as ``numpy.quantile`` (method
        ``"linear"``) computes them.

    Raises
    ------
    TypeError
        When ``values`` is not a Dask array.
    ValueError
        When ``values`` is not 1-D, is empty or contains NaN, a probability is outside
        ``[0, 1]``, or ``max_collect`` is less than 1.

    Notes
    -----
    Three passes in the common case, two when the values number at most ``max_collect`` or
    are all equal, and one more per refinement round.
    """
    q = _check_arguments(values, probs, max_collect)
    blocks = list(values.to_delayed().ravel())
    stats = _count_pass(blocks)
    prev, nxt, gamma = _ranks_and_weights(stats.n, q)
    found = _order_statistics(blocks, stats, sorted(set(prev) | set(nxt)), max_collect)
    a = np.array([found[r] for r in prev], dtype=np.float64)
    b = np.array([found[r] for r in nxt], dtype=np.float64)
    return _lerp(a, b, gamma)


def _check_arguments(values: Any, probs: Sequence[float], max_collect: int) -> FloatArray:
    """The probabilities as a float64 array, after checking every argument."""
    if not (hasattr(values, "to_delayed") and hasattr(values, "chunks")):
        raise TypeError(f"values must be a dask array, not {type(values).__name__}")
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, not {values.ndim}-D")
    q = np.asarray(probs, dtype=np.float64)
    if q.ndim != 1:
        raise ValueError("probs must be a sequence of probabilities")
    if not np.all((q >= 0.0) & (q <= 1.0)):
        raise ValueError(f"probabilities must be in [0, 1], got {q[~((q >= 0) & (q <= 1))]}")
    if max_collect < 1:
        raise ValueError(f"max_collect must be at least 1, got {max_collect}")
    return q


def _ranks_and_weights(n: int, q: FloatArray) -> tuple[list[int], list[int], FloatArray]:
    """The ranks below and above each virtual index ``(n - 1) q``, and the weights of the upper.

    This follows ``numpy.quantile`` step by step (``_get_indexes`` and ``_get_gamma``),
    including its index ``-1`` (the largest value) at the top, so that the weights are NumPy's.
    """
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    following[above] = -1
    prev_idx = previous.astype(np.intp)
    next_idx = following.astype(np.intp)
    gamma = np.asarray(virtual - prev_idx, dtype=virtual.dtype)
    prev = [int(i) % n for i in prev_idx]
    nxt = [int(i) % n for i in next_idx]
    return prev, nxt, gamma


def _lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """NumPy's linear interpolation (``numpy.lib._function_base_impl._lerp``)."""
    diff_b_a = b - a
    result: FloatArray = np.add(a, diff_b_a * t)
    np.subtract(b, diff_b_a * (1 - t), out=result, where=t >= 0.5)
    return result


def _count_pass(blocks: list[Any]) -> _Stats:
    """Pass 1: counts, minimum and maximum; refuses NaN and empty arrays."""
    if not blocks:
        raise ValueError("cannot compute quantiles of an empty array")
    partials = [dask.delayed(_block_stats, pure=True)(block) for block in blocks]
    (stats,) = dask.compute(tree_reduce(partials, _merge_stats, FAN_IN))
    if stats.nans:
        raise ValueError(f"values contain {stats.nans} NaN value(s); drop or fill them first")
    if stats.n == 0:
        raise ValueError("cannot compute quantiles of an empty array")
    return stats


def _block_stats(block: Any) -> _Stats:
    """Pass-1 summary of one block."""
    x = np.asarray(block, dtype=np.float64).ravel()
    finite = np.isfinite(x)
    nans = int(np.isnan(x).sum())
    return _Stats(
        n=x.size - nans,
        nans=nans,
        neg_inf=int(np.sum(x == -np.inf)),
        pos_inf=int(np.sum(x == np.inf)),
        lo=float(np.min(x, initial=np.inf, where=finite)),
        hi=float(np.max(x, initial=-np.inf, where=finite)),
    )


def _merge_stats(*parts: _Stats) -> _Stats:
    """Pass-1 summary of several blocks."""
    return _Stats(
        n=sum(p.n for p in parts),
        nans=sum(p.nans for p in parts),
        neg_inf=sum(p.neg_inf for p in parts),
        pos_inf=sum(p.pos_inf for p in parts),
        lo=min(p.lo for p in parts),
        hi=max(p.hi for p in parts),
    )


def _order_statistics(
    blocks: list[Any], stats: _Stats, ranks: list[int], max_collect: int
) -> dict[int, float]:
    """The values of the given ranks, by rounds of collection and histogram passes."""
    finite = stats.n - stats.neg_inf - stats.pos_inf
    pieces = [(-np.inf, -np.inf, stats.neg_inf), (stats.lo, stats.hi, finite)]
    pieces.append((np.inf, np.inf, stats.pos_inf))
    targets = _locate(pieces, 0, ranks)
    found: dict[int, float] = {}
    for round_ in range(MAX_ROUNDS + 1):
        for target in (t for t in targets if t.lo == t.hi):
            found.update(dict.fromkeys(target.ranks, target.lo))
        small = [t for t in targets if t.lo < t.hi and t.count <= max_collect]
        big = [t for t in targets if t.lo < t.hi and t.count > max_collect]
        if not small and not big:
            return found
        if big and round_ == MAX_ROUNDS:
            break
        collected, histograms = _collect_pass(blocks, small, big, round_ >= VALUE_ROUNDS)
        found.update(_read_collected(collected, small))
        targets = [t for b, h in zip(big, histograms, strict=True) for t in _refine(b, h)]
    raise RuntimeError("quantile refinement did not converge")  # pragma: no cover


def _locate(
    pieces: Sequence[tuple[float, float, int]], below: int, ranks: Sequence[int]
) -> list[_Target]:
    """The pieces (disjoint, increasing intervals with counts) that hold the given ranks."""
    kept = [p for p in pieces if p[2] > 0]
    ends = np.cumsum([p[2] for p in kept]) + below
    where = np.searchsorted(ends, np.asarray(ranks), side="right")
    targets = []
    for j in np.unique(where):
        lo, hi, count = kept[j]
        held = tuple(r for r, w in zip(ranks, where, strict=True) if w == j)
        targets.append(_Target(lo, hi, count, int(ends[j]) - count, held))
    return targets


def _refine(target: _Target, histogram: Partial) -> list[_Target]:
    """The bins of a target's histogram that hold its ranks."""
    counts, mins, maxs = histogram
    if int(counts.sum()) != target.count:
        raise RuntimeError("the values changed between passes (is their source deterministic?)")
    pieces = [(float(mins[k]), float(maxs[k]), int(counts[k])) for k in np.flatnonzero(counts)]
    return _locate(pieces, target.below, target.ranks)


def _read_collected(collected: FloatArray, small: list[_Target]) -> dict[int, float]:
    """The ranks of the small targets, read from the sorted values collected for them."""
    collected = np.sort(collected)
    found: dict[int, float] = {}
    for target in small:
        start = int(np.searchsorted(collected, target.lo, side="left"))
        stop = int(np.searchsorted(collected, target.hi, side="right"))
        if stop - start != target.count:
            raise RuntimeError("the values changed between passes (is their source deterministic?)")
        for rank in target.ranks:
            found[rank] = float(collected[start + rank - target.below])
    return found


def _collect_pass(
    blocks: list[Any], small: list[_Target], big: list[_Target], by_key: bool
) -> tuple[FloatArray, list[Partial]]:
    """One pass: the values of the small targets, and a histogram of each big target."""
    small_bounds = np.array([(t.lo, t.hi) for t in small], dtype=np.float64).reshape(-1, 2)
    big_bounds = np.array([(t.lo, t.hi) for t in big], dtype=np.float64).reshape(-1, 2)
    task = dask.delayed(_block_round, pure=True, nout=2)
    results = [task(block, small_bounds, big_bounds, by_key) for block in blocks]
    parts = [r[0] for r in results] if small else []
    hists = tree_reduce([r[1] for r in results], _merge_histograms, FAN_IN) if big else None
    collected_parts, histograms = dask.compute(parts, hists)
    collected = np.concatenate([np.empty(0), *collected_parts])
    return collected, [] if histograms is None else list(histograms)


def _block_round(
    block: Any, small_bounds: FloatArray, big_bounds: FloatArray, by_key: bool
) -> tuple[FloatArray, list[Partial]]:
    """One block's share of a pass: its values in the small intervals, and its histograms."""
    x = np.asarray(block, dtype=np.float64).ravel()
    keep = np.zeros(x.shape, dtype=bool)
    for lo, hi in small_bounds:
        keep |= (x >= lo) & (x <= hi)
    histograms = []
    for lo, hi in big_bounds:
        inside = x[(x >= lo) & (x <= hi)]
        histograms.append(_histogram(inside, float(lo), float(hi), by_key))
    return x[keep], histograms


def _histogram(x: FloatArray, lo: float, hi: float, by_key: bool) -> Partial:
    """Count, minimum and maximum of the values in each of ``N_BINS`` bins of ``[lo, hi]``."""
    index = _key_bins(x, lo, hi) if by_key else _value_bins(x, lo, hi)
    counts = np.bincount(index, minlength=N_BINS).astype(np.int64)
    mins = np.full(N_BINS, np.inf)
    maxs = np.full(N_BINS, -np.inf)
    np.minimum.at(mins, index, x)
    np.maximum.at(maxs, index, x)
    return counts, mins, maxs


def _value_bins(x: FloatArray, lo: float, hi: float) -> NDArray[np.intp]:
    """Equal-width bins of ``[lo, hi]`` (finite, ``lo < hi``); non-decreasing in ``x``."""
    width = hi - lo
    if np.isfinite(width):
        fraction = (x - lo) / width
    else:  # the range overflows: halve everything (still monotone)
        fraction = (x * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5)
    return np.minimum((fraction * N_BINS).astype(np.intp), N_BINS - 1)


def _key_bins(x: FloatArray, lo: float, hi: float) -> NDArray[np.intp]:
    """Equal bins of the order keys of ``[lo, hi]``: each splits the range ``N_BINS`` ways."""
    key_lo = int(_order_keys(np.array([lo]))[0])
    key_hi = int(_order_keys(np.array([hi]))[0])
    width = np.uint64((key_hi - key_lo) // N_BINS + 1)
    return ((_order_keys(x) - np.uint64(key_lo)) // width).astype(np.intp)


def _order_keys(x: FloatArray) -> NDArray[np.uint64]:
    """Unsigned integers ordered as the (non-NaN) floats, equal for -0.0 and 0.0."""
    bits = (x + 0.0).view(np.uint64)
    sign = np.uint64(1 << 63)
    keys: NDArray[np.uint64] = np.where(bits & sign, ~bits, bits | sign)
    return keys


def _merge_histograms(*parts: list[Partial]) -> list[Partial]:
    """Histograms of several blocks (one per big target) added together."""
    merged = []
    for target_parts in zip(*parts, strict=True):
        counts = np.sum([p[0] for p in target_parts], axis=0)
        mins = np.min([p[1] for p in target_parts], axis=0)
        maxs = np.max([p[2] for p in target_parts], axis=0)
        merged.append((counts, mins, maxs))
    return merged
