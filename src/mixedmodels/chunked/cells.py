"""Counts of the cells of two grouping factors: the pattern and values of ``Z_iᵀZ_j``."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels.chunked.jit import AVAILABLE, compiled

__all__ = ["cell_counts", "cell_key_type", "index_type"]


@compiled
def _runs(sorted_keys: Any, nrows: int, ncols: int) -> Any:  # pragma: no cover - compiled
    """CSR of the counts of sorted cell keys ``row · ncols + column`` (no divisions)."""
    n = len(sorted_keys)
    indptr = np.zeros(nrows + 1, np.int64)
    indices = np.empty(n, np.int32)
    data = np.empty(n, np.int32)
    k = -1
    row = 0
    row_start = 0  # key of the first cell of ``row``
    previous = -1
    for i in range(n):
        key = sorted_keys[i]
        if key != previous:
            while key >= row_start + ncols:
                row += 1
                row_start += ncols
                indptr[row] = k + 1
            k += 1
            indices[k] = key - row_start
            data[k] = 0
            previous = key
        data[k] += 1
    for r in range(row + 1, nrows + 1):
        indptr[r] = k + 1
    return indptr, indices[: k + 1].copy(), data[: k + 1].copy()


def cell_key_type(shape: tuple[int, int]) -> type:
    """32-bit cell keys when the cells can be numbered so (sorts and searches twice as fast)."""
    return np.int32 if shape[0] * shape[1] < np.iinfo(np.int32).max else np.int64


def cell_counts(cells: NDArray[Any], shape: tuple[int, int]) -> sp.csr_array:
    """CSR of how often each flat cell key ``row · ncols + column`` occurs (sorts ``cells``).

    A vectorized sort needs no values beside the keys; the runs of equal keys are then counted
    by a compiled loop (Numba) or, without Numba, by NumPy. The
    counts are 32-bit integers: exact, and a third less to move in every merge.
    """
    cells.sort()
    indptr, columns, counts = (_runs if AVAILABLE else _numpy_runs)(cells, *shape)
    index = index_type(shape)
    return sp.csr_array(
        (counts, columns.astype(index, copy=False), indptr.astype(index, copy=False)), shape
    )


def _numpy_runs(cells: NDArray[Any], nrows: int, ncols: int) -> tuple[NDArray[Any], ...]:
    """``indptr``, columns and counts (32-bit) of sorted cell keys, in NumPy."""
    first = np.empty(len(cells), dtype=bool)
    first[:1] = True
    np.not_equal(cells[1:], cells[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.empty(len(starts), dtype=np.int32)  # see BlockSums.widened
    np.subtract(starts[1:], starts[:-1], out=counts[:-1], casting="unsafe")
    counts[-1:] = len(cells) - starts[-1:]
    distinct = cells[starts]
    # the cells are sorted: row r's entries start where the first cell of row r would be
    row_starts: NDArray[Any] = np.arange(nrows + 1, dtype=cells.dtype)
    row_starts *= ncols
    indptr = np.searchsorted(distinct, row_starts)
    return indptr, np.remainder(distinct, cells.dtype.type(ncols)), counts


def index_type(shape: tuple[int, int]) -> type:
    """int32 indices when they fit (half the memory of int64)."""
    return np.int32 if max(shape) < np.iinfo(np.int32).max else np.int64
