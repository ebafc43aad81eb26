"""Model terms: the model frame, fixed effects ``[X y]`` and random-effects terms."""

from mixedmodels.spec.fixed import FixedEffects, fixed_effects
from mixedmodels.spec.frame import ModelFrame, model_frame
from mixedmodels.spec.random import RandomEffectsTerm, random_effects_terms

__all__ = [
    "FixedEffects",
    "ModelFrame",
    "RandomEffectsTerm",
    "fixed_effects",
    "model_frame",
    "random_effects_terms",
]
