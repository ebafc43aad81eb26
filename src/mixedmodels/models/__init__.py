"""Model classes: linear mixed models (and, later, generalized ones)."""

from mixedmodels.models.linear import LinearMixedModel

__all__ = ["LinearMixedModel"]
