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
    ClusterError,
    ConvergenceWarning,
    DataError,
    FormulaError,
    MixedModelsError,
    MixedModelsWarning,
    ModelSpecificationError,
    ModelSpecificationWarning,
    NotSupportedError,
    RankDeficiencyWarning,
    RefitMLWarning,
    SeparationWarning,
    SingularFitWarning,
    UnknownColumnError,
)

if TYPE_CHECKING:
    from mixedmodels import datasets
    from mixedmodels.api import anova, glm, lm, lmer
    from mixedmodels.chunked import ChunkedLinearMixedModel
    from mixedmodels.glmm_api import glmer, glmer_nb
    from mixedmodels.linalg.threads import set_blas_threads
    from mixedmodels.models import LinearMixedModel
    from mixedmodels.models.fixed_only import GeneralizedLinearModel, LinearModel
    from mixedmodels.models.generalized import GeneralizedLinearMixedModel
    from mixedmodels.models.residual import ResidualMixedModel
    from mixedmodels.spec.families import (
        Binomial,
        Gamma,
        InverseGaussian,
        NegativeBinomial,
        Poisson,
    )
    from mixedmodels.spec.family_gaussian import Gaussian
    from mixedmodels.spec.residual import (
        cor_ar1,
        cor_car1,
        cor_cs,
        var_exp,
        var_ident,
        var_power,
    )

__version__ = "0.1.0"

_LAZY = {
    "lmer": ("mixedmodels.api", "lmer"),
    "anova": ("mixedmodels.api", "anova"),
    "set_blas_threads": ("mixedmodels.linalg.threads", "set_blas_threads"),
    "lm": ("mixedmodels.api", "lm"),
    "glm": ("mixedmodels.api", "glm"),
    "LinearModel": ("mixedmodels.models.fixed_only", "LinearModel"),
    "GeneralizedLinearModel": ("mixedmodels.models.fixed_only", "GeneralizedLinearModel"),
    "glmer": ("mixedmodels.glmm_api", "glmer"),
    "glmer_nb": ("mixedmodels.glmm_api", "glmer_nb"),
    "GeneralizedLinearMixedModel": (
        "mixedmodels.models.generalized",
        "GeneralizedLinearMixedModel",
    ),
    "Binomial": ("mixedmodels.spec.families", "Binomial"),
    "Poisson": ("mixedmodels.spec.families", "Poisson"),
    "Gamma": ("mixedmodels.spec.families", "Gamma"),
    "Gaussian": ("mixedmodels.spec.family_gaussian", "Gaussian"),
    "InverseGaussian": ("mixedmodels.spec.families", "InverseGaussian"),
    "NegativeBinomial": ("mixedmodels.spec.families", "NegativeBinomial"),
    "LinearMixedModel": ("mixedmodels.models", "LinearMixedModel"),
    "ChunkedLinearMixedModel": ("mixedmodels.chunked", "ChunkedLinearMixedModel"),
    "datasets": ("mixedmodels.datasets", None),
    "ResidualMixedModel": ("mixedmodels.models.residual", "ResidualMixedModel"),
    "cor_ar1": ("mixedmodels.spec.residual", "cor_ar1"),
    "cor_car1": ("mixedmodels.spec.residual", "cor_car1"),
    "cor_cs": ("mixedmodels.spec.residual", "cor_cs"),
    "var_ident": ("mixedmodels.spec.residual", "var_ident"),
    "var_power": ("mixedmodels.spec.residual", "var_power"),
    "var_exp": ("mixedmodels.spec.residual", "var_exp"),
}

__all__ = [
    "Binomial",
    "ChunkedLinearMixedModel",
    "ClusterError",
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "Gamma",
    "Gaussian",
    "GeneralizedLinearMixedModel",
    "GeneralizedLinearModel",
    "InverseGaussian",
    "LinearMixedModel",
    "LinearModel",
    "MixedModelsError",
    "MixedModelsWarning",
    "ModelSpecificationError",
    "ModelSpecificationWarning",
    "NegativeBinomial",
    "NotSupportedError",
    "Poisson",
    "RankDeficiencyWarning",
    "RefitMLWarning",
    "ResidualMixedModel",
    "SeparationWarning",
    "SingularFitWarning",
    "UnknownColumnError",
    "anova",
    "cor_ar1",
    "cor_car1",
    "cor_cs",
    "datasets",
    "glm",
    "glmer",
    "glmer_nb",
    "lm",
    "lmer",
    "set_blas_threads",
    "var_exp",
    "var_ident",
    "var_power",
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
