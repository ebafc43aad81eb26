"""Datasets bundled with mixedmodels (from lme4 and nlme): ``load(name)`` and ``names()``.

``simulate_crossed`` makes large crossed data (in memory or as Parquet files) for tests and
benchmarks.

>>> from mixedmodels import datasets
>>> "sleepstudy" in datasets.names()
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mixedmodels.datasets.loader import DatasetInfo, info, load, names

if TYPE_CHECKING:
    from mixedmodels.datasets.simulate import simulate_crossed

__all__ = ["DatasetInfo", "info", "load", "names", "simulate_crossed"]


def __getattr__(name: str) -> Any:
    """Import ``simulate_crossed`` (and NumPy with it) on first use."""
    if name == "simulate_crossed":
        from mixedmodels.datasets.simulate import simulate_crossed

        return simulate_crossed
    raise AttributeError(f"module 'mixedmodels.datasets' has no attribute {name!r}")
