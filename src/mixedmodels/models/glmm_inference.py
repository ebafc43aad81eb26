"""The inference methods of a GLMM: Wald χ² tests, profiles, the bootstrap and intervals.

A mixin of :class:`~mixedmodels.models.generalized.GeneralizedLinearMixedModel`; the work,
imported on demand, is in :mod:`mixedmodels.inference.glmm_wald`,
:mod:`mixedmodels.inference.glmm_profile`, :mod:`mixedmodels.inference.bootstrap` (the
same bootstrap as an LMM's) and :mod:`mixedmodels.results.glmm_intervals`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel

__all__ = ["GlmmInference"]


class GlmmInference:
    """``anova``, ``contrast``, ``confint``, ``profile``, ``bootstrap`` and intervals of a GLMM."""

    @property
    def has_scale(self: FittedGeneralizedModel) -> bool:
        """Whether a residual scale σ is estimated (lme4's ``useSc``): Gamma, inverse Gaussian."""
        return bool(self.family.has_dispersion)

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
        """Confidence intervals as lme4's ``confint(m, method=)``.

        ``"profile"`` (default), ``"wald"`` or ``"bootstrap"`` (``"boot"``: percentile
        intervals from :meth:`bootstrap`, with ``nsim=500``, ``seed=``, ``n_jobs=``,
        ``progress=`` or ``replicates=``); ``which=``, ``names=`` as for an LMM. See
        :func:`mixedmodels.inference.glmm_profile.glmm_confint`.
        """
        from mixedmodels.inference.glmm_profile import glmm_confint

        self._require_fit()
        return glmm_confint(self, method, level, **kwargs)

    def profile(self: FittedGeneralizedModel, which: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Profile traces (ζ scale) of the parameters, as lme4's ``profile(glmer_fit)``."""
        from mixedmodels.inference.glmm_profile import glmm_profile

        self._require_fit()
        return glmm_profile(self, which, **kwargs)

    def bootstrap(
        self: FittedGeneralizedModel,
        n: int,
        *,
        seed: Any = None,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """Parametric bootstrap (simulate and refit) as lme4's ``bootMer``; one row a replicate.

        Each replicate draws new random effects and a new response (lme4's ``use.u = FALSE``)
        and refits from this model's estimates; this model is left as it was. Columns and
        options are those of :func:`mixedmodels.inference.bootstrap.parametric_bootstrap`
        (``sigma`` only for a family with a dispersion).
        """
        from mixedmodels.inference.bootstrap import parametric_bootstrap

        self._require_fit()
        return parametric_bootstrap(self, n, seed=seed, n_jobs=n_jobs, progress=progress)

    def prediction_intervals(
        self: FittedGeneralizedModel, new_data: Any = None, **kwargs: Any
    ) -> pd.DataFrame:
        """Predicted means with confidence intervals from the link scale.

        Keywords ``level=0.95``, ``interval="confidence"``, ``re_form=None``,
        ``allow_new_levels=False`` and ``offset=None``. Columns ``fit`` (as
        ``predict(type="response")``), ``fit_link``, ``se_link``, ``lower`` and ``upper``
        (``fit_link ± z·se_link`` through the inverse link), for any rows and ``re_form``;
        ``interval="prediction"`` is refused (use :meth:`simulate`). See
        :func:`mixedmodels.results.glmm_intervals.glmm_prediction_intervals`.
        """
        from mixedmodels.results.glmm_intervals import glmm_prediction_intervals

        self._require_fit()
        return glmm_prediction_intervals(self, new_data, **kwargs)
