"""mixedmodels: linear mixed-effects models from lme4-style formulas.

Submodules are imported on first use, so ``import mixedmodels`` stays fast (NumPy, SciPy,
pandas and formulaic load when a model is first built).

>>> import mixedmodels as mm
>>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
>>> print(m.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mixedmodels.errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    MixedModelsError,
    MixedModelsWarning,
    ModelSpecificationError,
    RankDeficiencyWarning,
    RefitMLWarning,
    SingularFitWarning,
    UnknownColumnError,
)

if TYPE_CHECKING:
    from mixedmodels import datasets
    from mixedmodels.api import anova, lmer
    from mixedmodels.models import LinearMixedModel

__version__ = "0.1.0"

_LAZY = {
    "lmer": ("mixedmodels.api", "lmer"),
    "anova": ("mixedmodels.api", "anova"),
    "LinearMixedModel": ("mixedmodels.models", "LinearMixedModel"),
    "datasets": ("mixedmodels.datasets", None),
}

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "LinearMixedModel",
    "MixedModelsError",
    "MixedModelsWarning",
    "ModelSpecificationError",
    "RankDeficiencyWarning",
    "RefitMLWarning",
    "SingularFitWarning",
    "UnknownColumnError",
    "anova",
    "datasets",
    "lmer",
]


def __getattr__(name: str) -> Any:
    """Import the public names on first access (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'mixedmodels' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
