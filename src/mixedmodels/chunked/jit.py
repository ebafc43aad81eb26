"""Numba compilation for the chunked readers (:mod:`mixedmodels._jit`, shared with linalg)."""

from __future__ import annotations

from mixedmodels._jit import AVAILABLE, compiled

__all__ = ["AVAILABLE", "compiled"]
