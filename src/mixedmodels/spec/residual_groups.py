"""Where the rows of each residual group are: groups of equal size stacked in buckets.

A residual structure (:mod:`mixedmodels.spec.residual`) correlates the rows of a group (a
subject, say), ordered by time. :class:`GroupLayout` holds, per group size ``m``, a
:class:`Bucket`: the ``(G, m)`` row positions of its ``G`` groups and their times, so that the
whitening (:mod:`mixedmodels.linalg.whitening`) works on stacked small matrices. For the
Markov structures (AR(1), continuous AR(1)) :attr:`GroupLayout.chain` lists instead each row
with its predecessor in its group (:class:`Chain`), all groups at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray

__all__ = ["Bucket", "Chain", "GroupLayout"]

Array = FloatArray


@dataclass(frozen=True)
class Bucket:
    """The residual groups of one size ``m``, stacked.

    Attributes
    ----------
    rows
        ``(G, m)`` row positions, each group's rows in its order (by time when there is one).
    times
        ``(G, m)`` the groups' times in that order (positions ``0..m-1`` without a time).
    """

    rows: NDArray[np.intp]
    times: Array

    @property
    def size(self) -> int:
        """The group size ``m``."""
        return int(self.rows.shape[1])

    @cached_property
    def lag_matrix(self) -> Array:
        """``(G, m, m)`` absolute time differences within each group (computed once)."""
        lags = np.abs(self.times[:, :, None] - self.times[:, None, :])
        lags.flags.writeable = False
        return lags

    def lags(self) -> Array:
        """``(G, m, m)`` absolute time differences within each group (read-only)."""
        return self.lag_matrix


@dataclass(frozen=True)
class Chain:
    """The rows in group-then-time order, each with the time since the row before it.

    Attributes
    ----------
    order
        The rows in that order (``None`` when they are in it already: the identity).
    gaps
        The distinct time differences between a row and the one before it in its group,
        increasing.
    gap_index
        Per position of ``order``: which of ``gaps`` its difference is, or ``len(gaps)`` for the
        first row of a group (no predecessor).
    """

    order: NDArray[np.intp] | None
    gaps: Array
    gap_index: NDArray[np.intp]

    @cached_property
    def counts(self) -> NDArray[np.intp]:
        """How many rows follow their predecessor by each of :attr:`gaps`."""
        k = self.gaps.shape[0]
        return np.bincount(self.gap_index, minlength=k + 1)[:k].astype(np.intp)

    @property
    def links(self) -> int:
        """Number of rows with a predecessor in their group."""
        return int(np.sum(self.counts))


@dataclass(frozen=True)
class GroupLayout:
    """Where the rows of every residual group are.

    Attributes
    ----------
    nobs
        Number of rows.
    codes
        Group code of each row (``0..ngroups-1``).
    buckets
        The groups stacked by size (:class:`Bucket`), sizes increasing.
    """

    nobs: int
    codes: NDArray[np.intp]
    buckets: tuple[Bucket, ...]

    @classmethod
    def of(cls, codes: NDArray[np.intp], times: Array | None = None) -> GroupLayout:
        """The layout of rows with group ``codes``, ordered within groups by ``times``.

        Without times each group keeps the order of the rows (positions are the times).
        """
        codes = np.asarray(codes, dtype=np.intp)
        n = int(codes.shape[0])
        order_key = np.arange(n, dtype=np.float64) if times is None else np.asarray(times, float)
        order = np.lexsort((np.arange(n), order_key, codes))
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        sizes = np.diff(np.r_[starts, n])
        buckets = []
        for m in np.unique(sizes):
            first = starts[sizes == m]
            rows = order[first[:, None] + np.arange(m)[None, :]]
            if times is None:
                t = np.broadcast_to(np.arange(m, dtype=np.float64), rows.shape).copy()
            else:
                t = np.asarray(times, dtype=np.float64)[rows]
            buckets.append(Bucket(rows, t))
        return cls(n, codes, tuple(buckets))

    @classmethod
    def singletons(cls, nobs: int) -> GroupLayout:
        """Every row its own group (a variance function without a correlation)."""
        return cls.of(np.arange(nobs, dtype=np.intp))

    @cached_property
    def chain(self) -> Chain:
        """The rows in group-then-time order with their gaps (:class:`Chain`), computed once."""
        rows = [b.rows for b in self.buckets]
        lags = [np.diff(b.times, axis=1) for b in self.buckets]
        gaps = np.unique(np.concatenate([np.empty(0)] + [g.ravel() for g in lags]))
        start = np.zeros(self.nobs, dtype=np.intp)  # each row's group's first row
        index = np.full(self.nobs, gaps.shape[0], dtype=np.intp)  # per row: its gap
        for r, g in zip(rows, lags, strict=True):
            start[r] = r[:, :1]
            index[r[:, 1:]] = np.searchsorted(gaps, g)
        # groups by their first row, rows within a group in the buckets' (time) order
        position = np.zeros(self.nobs, dtype=np.intp)
        for r in rows:
            position[r] = np.arange(r.shape[1])
        order = np.lexsort((position, start)).astype(np.intp)
        identity = bool(np.all(order == np.arange(self.nobs)))
        return Chain(None if identity else order, gaps, index[order])

    @property
    def max_size(self) -> int:
        """The largest group size."""
        return max((b.size for b in self.buckets), default=0)
