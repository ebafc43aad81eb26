"""Datasets bundled with mixedmodels (from lme4 and nlme): ``load(name)`` and ``names()``.

>>> from mixedmodels import datasets
>>> "sleepstudy" in datasets.names()
True
"""

from mixedmodels.datasets.loader import DatasetInfo, info, load, names

__all__ = ["DatasetInfo", "info", "load", "names"]
