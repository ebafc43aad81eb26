"""Model terms: the model frame, fixed effects ``[X y]`` and random-effects terms."""

from mixedmodels.terms.fixed import FixedEffects, fixed_effects
from mixedmodels.terms.frame import ModelFrame, model_frame
from mixedmodels.terms.random import RandomEffectsTerm, random_effects_terms

__all__ = [
    "FixedEffects",
    "ModelFrame",
    "RandomEffectsTerm",
    "fixed_effects",
    "model_frame",
    "random_effects_terms",
]
