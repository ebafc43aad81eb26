"""The inference methods of a GLMM: Wald χ² tests (car's ``Anova``), profiles and intervals.

A mixin of :class:`~mixedmodels.models.generalized.GeneralizedLinearMixedModel`; the work,
imported on demand, is in :mod:`mixedmodels.inference.glmm_wald` and
:mod:`mixedmodels.inference.glmm_profile`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel

__all__ = ["GlmmInference"]


class GlmmInference:
    """``anova``, ``contrast``, ``confint`` and ``profile`` of a fitted GLMM."""

    def anova(self: FittedGeneralizedModel, type: int | str = 2) -> pd.DataFrame:
        """Wald χ² tests of the fixed-effect terms, as car's ``Anova(m, type=)``.

        ``type`` 2 (car's default), 3 (with the intercept) or 1 (sequential, the χ² of lme4's
        ``anova(m)``).
        """
        from mixedmodels.inference.glmm_wald import glmm_anova

        self._require_fit()
        return glmm_anova(self, type)

    def contrast(self: FittedGeneralizedModel, L: Any, *, rhs: Any = 0.0) -> pd.DataFrame:
        """The joint Wald χ² test of ``L β = rhs``, as car's ``linearHypothesis``."""
        from mixedmodels.inference.glmm_wald import glmm_contrast

        self._require_fit()
        return glmm_contrast(self, L, rhs)

    def confint(
        self: FittedGeneralizedModel, method: str = "profile", level: float = 0.95, **kwargs: Any
    ) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint(m, method=)``: ``"profile"`` or ``"wald"``."""
        from mixedmodels.inference.glmm_profile import glmm_confint

        self._require_fit()
        return glmm_confint(self, method, level, **kwargs)

    def profile(self: FittedGeneralizedModel, which: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Profile traces (ζ scale) of the parameters, as lme4's ``profile(glmer_fit)``."""
        from mixedmodels.inference.glmm_profile import glmm_profile

        self._require_fit()
        return glmm_profile(self, which, **kwargs)
