"""Compiled kernels of :class:`mixedmodels.linalg.gram.ChebyshevGram`.

Both work on the lower triangle of a dense ``n × n`` target cut into square tiles of ``tile``
rows; lower tile ``(ti, tj)``, ``tj ≤ ti``, is plane ``ti (ti + 1) / 2 + tj`` of the moments.
Loops run in a fixed order without reassociation (the moments' pass adds its group buffers by
matrix products of fixed shapes, whose BLAS order does not depend on the other tiles), and
calls on disjoint ranges of row tiles write disjoint planes and rows (so that threads may
share them out): the bits depend only on the data.

Importing this module imports (and compiles, or loads from the disk cache) Numba.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixedmodels._jit import compiled

__all__ = ["accumulate_moments", "subtract_moments"]

FOLD = 32  # group buffers added to the moments by one matrix product


@compiled
def _scatter_group(
    columns: tuple[Any, Any, Any],
    by_group: Any,
    group_start: Any,
    g: int,
    ti: int,
    tj: int,
    buffer: Any,
) -> bool:  # pragma: no cover - compiled
    """``buffer += C_g C_gᵀ`` on tile ``(ti, tj)`` (its lower part if diagonal); any entries."""
    ptr, rows, vals = columns
    touched = False
    for at in range(group_start[g], group_start[g + 1]):
        k = by_group[at]
        p0, p1 = ptr[ti, k], ptr[ti, k + 1]
        q0, q1 = ptr[tj, k], ptr[tj, k + 1]
        if p0 == p1 or q0 == q1:
            continue
        touched = True
        end = q0 if tj == ti else q1
        for p in range(p0, p1):
            a = rows[p]
            if tj == ti:  # the diagonal tile: entries with b ≤ a
                while end < q1 and rows[end] <= a:
                    end += 1
            v = vals[p]
            for q in range(q0, end):
                buffer[a, rows[q]] += v * vals[q]
    return touched


@compiled
def accumulate_moments(
    columns: tuple[Any, Any, Any],
    by_group: Any,
    group_start: Any,
    basis: Any,
    tile: int,
    n: int,
    out: Any,
    first: int,
    stop: int,
) -> None:  # pragma: no cover - compiled
    """``out[t, j] += Σ_g basis[g, j] · (C_g C_gᵀ)`` on the lower tiles of row tiles ``first:stop``.

    Each group's Gram tile is scattered into a buffer of its own; every :data:`FOLD` buffers
    are added to the moments' tiles at once, by a matrix product (BLAS) of their weights.

    Parameters
    ----------
    columns
        ``(ptr, rows, values)`` of ``C`` in tiles of ``tile`` rows
        (:class:`mixedmodels.linalg.gram.TiledColumns`).
    by_group, group_start
        The columns ordered by group; group ``g`` is
        ``by_group[group_start[g]:group_start[g + 1]]``.
    basis
        ``(groups, m)``: the weight of each group's Gram matrix in each moment.
    tile, n
        Rows of a tile and of the target.
    out
        ``(lower tiles, m, tile, tile)`` moments, added to.
    first, stop
        The row tiles to compute.
    """
    m = basis.shape[1]
    size = tile * tile
    stack = np.zeros((FOLD, size))
    which = np.empty(FOLD, dtype=np.int64)
    for ti in range(first, stop):
        for tj in range(ti + 1):
            plane = out[ti * (ti + 1) // 2 + tj].reshape((m, size))
            count = 0
            for g in range(group_start.size - 1):
                buffer = stack[count].reshape((tile, tile))
                if _scatter_group(columns, by_group, group_start, g, ti, tj, buffer):
                    which[count] = g
                    count += 1
                    if count == FOLD:
                        _fold(stack, which, count, basis, plane)
                        count = 0
            if count:
                _fold(stack, which, count, basis, plane)


@compiled
def _fold(stack: Any, which: Any, count: int, basis: Any, plane: Any) -> None:  # pragma: no cover
    """``plane += basis[which]ᵀ · stack[:count]``, then zero the buffers used."""
    weights = np.empty((plane.shape[0], count))
    for c in range(count):
        for j in range(plane.shape[0]):
            weights[j, c] = basis[which[c], j]
    plane += np.dot(weights, stack[:count])
    stack[:count] = 0.0


@compiled
def subtract_moments(
    target: Any, moments: Any, coef: Any, tile: int, first: int, stop: int
) -> None:  # pragma: no cover - compiled
    """``target -= Σ_j coef[j] · moments[·, j]`` on the lower tiles of row tiles ``first:stop``.

    Each entry's sum runs over ``j`` in order before it is subtracted.
    """
    n = target.shape[0]
    m = coef.size
    acc = np.empty((tile, tile))
    for ti in range(first, stop):
        r0 = ti * tile
        nr = min(tile, n - r0)
        for tj in range(ti + 1):
            c0 = tj * tile
            nc = min(tile, n - c0)
            plane = ti * (ti + 1) // 2 + tj
            acc[:nr, :nc] = 0.0
            for j in range(m):
                cj = coef[j]
                source = moments[plane, j]
                for a in range(nr):
                    for b in range(nc):
                        acc[a, b] += cj * source[a, b]
            for a in range(nr):
                for b in range(nc):
                    target[r0 + a, c0 + b] -= acc[a, b]
