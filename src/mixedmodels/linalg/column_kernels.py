"""Compiled per-entry scaling of a sparse block by its columns: ``L_i0`` of scalar terms.

``L_i0 = θ_i θ_0 A_i0 / L_00``: each stored entry of ``A_i0`` divided by the first term's
diagonal entry at its column, then scaled. NumPy's ``take`` converts the block's 32-bit
column indices to a new array of 64-bit ones at every update (on 18 million entries that and
the gather cost 0.15 s); this loop reads them as they are. The same operations in the same
order as the NumPy formula: the same bits.

Importing this module imports Numba; it is imported only for blocks of at least
:data:`mixedmodels.linalg.cholesky.COMPILED_COLUMNS` entries (whose products load Numba too).
"""

from __future__ import annotations

from typing import Any

from mixedmodels._jit import compiled

__all__ = ["divide_by_columns"]


@compiled
def divide_by_columns(
    data: Any, columns: Any, diagonal: Any, scale: float, out: Any
) -> None:  # pragma: no cover - compiled
    """``out[e] = (data[e] / diagonal[columns[e]]) · scale`` for every entry ``e``."""
    for e in range(data.size):
        out[e] = (data[e] / diagonal[columns[e]]) * scale
