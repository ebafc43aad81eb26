"""A fast path for the fixed-effects model matrix of simple formulas.

formulaic's ``model_matrix`` costs several milliseconds even for ``~ period``, which is most of
the time of a small GLMM fit. For the common case — an intercept plus plain columns, numeric or
text — the matrix is built here exactly as formulaic builds it (columns in formula order,
treatment contrasts against the first of the sorted levels, named ``x[T.level]``), and the
formulaic spec that prediction on new data needs is made only when it is asked for. Anything
else (interactions, transformations, categoricals, no intercept) returns ``None`` and goes
through :func:`mixedmodels.spec.fixed_effects`.
"""

from __future__ import annotations

import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.spec.fixed import FixedEffects, finish_fixed_effects, simple_matrix
from mixedmodels.spec.frame import ModelFrame

__all__ = ["simple_fixed_effects"]


def simple_fixed_effects(
    fixed: str, frame: pd.DataFrame, y: FloatArray, model_frame: ModelFrame | None = None
) -> FixedEffects | None:
    """``X`` for an intercept plus plain columns, as formulaic would make it; else None.

    The spec that encodes new data is made later (``GeneralizedLinearMixedModel.ensure_spec``).
    Factors with R's contrasts (``model_frame.contrasts``) always go through formulaic.
    """
    if model_frame is not None and model_frame.contrasts:
        return None
    simple = simple_matrix(fixed, frame)
    if simple is None:
        return None
    return finish_fixed_effects(y, simple[0], simple[1], None, None)
