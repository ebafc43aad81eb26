"""mixedmodels: linear mixed-effects models from lme4-style formulas.

>>> import mixedmodels as mm
>>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
>>> print(m.summary())  # doctest: +SKIP
"""

from mixedmodels import datasets
from mixedmodels.api import lmer
from mixedmodels.errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    MixedModelsError,
    MixedModelsWarning,
    ModelSpecificationError,
    RankDeficiencyWarning,
    SingularFitWarning,
    UnknownColumnError,
)
from mixedmodels.models import LinearMixedModel

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "LinearMixedModel",
    "MixedModelsError",
    "MixedModelsWarning",
    "ModelSpecificationError",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "UnknownColumnError",
    "datasets",
    "lmer",
]
