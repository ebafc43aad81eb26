"""Where the rows of each residual group are: groups of equal size stacked in buckets.

A residual structure (:mod:`mixedmodels.spec.residual`) correlates the rows of a group (a
subject, say), ordered by time. :class:`GroupLayout` holds, per group size ``m``, a
:class:`Bucket`: the ``(G, m)`` row positions of its ``G`` groups and their times, so that the
whitening (:mod:`mixedmodels.linalg.whitening`) works on stacked small matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray

__all__ = ["Bucket", "GroupLayout"]

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

    def lags(self) -> Array:
        """``(G, m, m)`` absolute time differences within each group."""
        return np.abs(self.times[:, :, None] - self.times[:, None, :])


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

    @property
    def max_size(self) -> int:
        """The largest group size."""
        return max((b.size for b in self.buckets), default=0)
