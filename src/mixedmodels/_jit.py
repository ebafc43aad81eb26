"""Numba compilation when Numba is installed, plain Python otherwise.

Importing this module imports Numba (a few tenths of a second), so modules that only some
problems need import it, and they are imported where they are used, not by ``import
mixedmodels``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AVAILABLE", "compiled"]

try:
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - Numba is a dependency
    AVAILABLE = False


def compiled(function: Any = None, *, reassociate: bool = False) -> Any:
    """The function compiled by Numba (GIL released, cached on disk), or as it is.

    ``reassociate`` lets sums be reordered (vectorized); only for values known to be finite.
    """
    if function is None:
        return lambda f: compiled(f, reassociate=reassociate)
    if not AVAILABLE:
        return function
    flags = {"reassoc", "contract"} if reassociate else False
    return numba.njit(nogil=True, cache=True, fastmath=flags)(function)
