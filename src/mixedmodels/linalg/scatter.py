"""Compiled sparse outer-product scatter: ``target -= scale · C_i diag(w) C_jᵀ``, tile by tile.

The product is a sum of one outer product per column ``k`` of the sparse ``C``; scattering each
pair of a column's entries into a dense target costs ``Σ_k nnz_k (nnz_k + 1) / 2``
multiply-adds for the lower triangle of ``C diag(w) Cᵀ``, with no temporaries and no symbolic
phase. Done column by column over the whole target, every column touches lines all over it (a
2,000 × 2,000 target is 32 MB) and the loop waits on cache misses. Here the target is cut into
tiles, each copied into a small buffer that stays in cache, and ``C`` is stored by tiles of rows
(:class:`mixedmodels.linalg.gram.TiledColumns`), so that a tile reads two contiguous streams.

Every target entry still receives its terms in the order of the columns ``k`` (ascending), each
as ``target[a, b] -= (scale · w_k · c_ak) · c_bk``: the bits are those of the plain column loop,
whatever the tiling. Loops run in a fixed order, without reassociation or contraction; threads
(:class:`mixedmodels.linalg.gram.ScatterGram`) update disjoint rows, so the bits do not depend
on their number either.

Importing this module imports (and compiles, or loads from the disk cache) Numba; it is
imported only where a product uses it (:mod:`mixedmodels.linalg.gram`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixedmodels._jit import compiled

__all__ = ["subtract_tiled"]


@compiled
def subtract_tiled(
    target: Any,
    left: tuple[Any, Any, Any],
    right: tuple[Any, Any, Any],
    w: Any,
    scale: float,
    height: int,
    width: int,
    lower: bool,
    first: int,
    stop: int,
) -> None:  # pragma: no cover - compiled
    """``target -= scale · C_i diag(w) C_jᵀ`` on row tiles ``first:stop`` (in place).

    Parameters
    ----------
    target
        Dense C-ordered ``(rows of C_i, rows of C_j)`` array.
    left, right
        ``(ptr, rows, values)`` of ``C_i`` in tiles of ``height`` rows and of ``C_j`` in tiles
        of ``width`` rows (:class:`mixedmodels.linalg.gram.TiledColumns`).
    w
        One weight per column.
    scale
        A common factor.
    height, width
        The tiles of the target.
    lower
        Only the lower triangle, ``a ≥ b`` (``C_i`` is ``C_j``).
    first, stop
        The row tiles (of ``height`` rows) to update: calls on disjoint ranges write disjoint
        rows, and may run at the same time.
    """
    lptr, lrows, lvals = left
    rptr, rrows, rvals = right
    buffer = np.empty((height, width))
    for ti in range(first, stop):
        r0 = ti * height
        nr = min(height, target.shape[0] - r0)
        for tj in range(rptr.shape[0]):
            c0 = tj * width
            if lower and c0 >= r0 + nr:
                break  # the tile and those after it lie above the diagonal
            nc = min(width, target.shape[1] - c0)
            buffer[:nr, :nc] = target[r0 : r0 + nr, c0 : c0 + nc]
            crossing = lower and c0 + nc > r0  # the diagonal runs through the tile
            for k in range(w.size):
                p0, p1 = lptr[ti, k], lptr[ti, k + 1]
                q0, q1 = rptr[tj, k], rptr[tj, k + 1]
                if p0 == p1 or q0 == q1:
                    continue
                wk = scale * w[k]
                end = q0 if crossing else q1
                for p in range(p0, p1):
                    a = lrows[p]
                    if crossing:  # the entries of the column with b ≤ a
                        while end < q1 and rrows[end] + c0 <= a + r0:
                            end += 1
                    v = wk * lvals[p]
                    for q in range(q0, end):
                        buffer[a, rrows[q]] -= v * rvals[q]
            target[r0 : r0 + nr, c0 : c0 + nc] = buffer[:nr, :nc]
