"""The inference methods of a linear mixed model: intervals, profiles, tests, influence.

A mixin of :class:`~mixedmodels.models.linear.LinearMixedModel` (typed by the protocol
:class:`~mixedmodels.fitted.FittedLinearModel`); the work, imported on demand, is in
:mod:`mixedmodels.inference` and :mod:`mixedmodels.results`. What needs the rows in memory is
declared with :func:`~mixedmodels.models.rows.needs_rows`, so a model fitted from chunks
refuses it in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.models.rows import (
    beyond_type1,
    bootstrap_method,
    fitted_rows,
    kenward_roger,
    needs_rows,
)

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel

__all__ = ["LmmInference"]


class LmmInference:
    """``confint``, ``profile``, ``bootstrap``, the t and F tests and influence of an LMM."""

    @needs_rows("confint(method='bootstrap')", when=bootstrap_method)
    def confint(
        self: FittedLinearModel, method: str = "profile", level: float = 0.95, **kwargs: Any
    ) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint``: ``"profile"``, ``"wald"`` or ``"bootstrap"``.

        See :func:`mixedmodels.inference.confint.confidence_intervals` for the options.
        """
        from mixedmodels.inference.confint import confidence_intervals

        return confidence_intervals(self, method, level, **kwargs)

    def profile(self: FittedLinearModel, which: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Profile-likelihood traces (ζ scale) as lme4's ``profile``, as a tidy table."""
        from mixedmodels.inference.profile import profile

        return profile(self, which, **kwargs)

    @needs_rows("the parametric bootstrap")
    def bootstrap(
        self: FittedLinearModel,
        n: int,
        *,
        seed: Any = None,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """Parametric bootstrap (simulate and refit) as lme4's ``bootMer``; one row a replicate."""
        from mixedmodels.inference.bootstrap import parametric_bootstrap

        return parametric_bootstrap(self, n, seed=seed, n_jobs=n_jobs, progress=progress)

    @needs_rows("Kenward-Roger df", when=kenward_roger)
    def coef_test(self: FittedLinearModel, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Student t tests of the fixed effects with ``ddf`` degrees of freedom.

        ``"satterthwaite"`` (lmerTest's default), ``"kenward-roger"`` (pbkrtest, with the
        adjusted covariance), ``"residual"`` (``n − p``) or ``"wald"`` (z tests).
        """
        from mixedmodels.inference import coefficient_table

        self._require_fit()
        return coefficient_table(self, ddf=ddf)

    @needs_rows("anova of type 2 or 3 (use type=1 or contrast())", when=beyond_type1)
    def anova(
        self: FittedLinearModel, type: int | str = 3, ddf: str = "satterthwaite"
    ) -> pd.DataFrame:
        """F tests of the fixed-effect terms, as lmerTest's ``anova(m, type=, ddf=)``."""
        from mixedmodels.inference import anova_table

        self._require_fit()
        return anova_table(self, type=type, ddf=ddf)

    def contrast(
        self: FittedLinearModel,
        L: Any,
        *,
        rhs: Any = 0.0,
        ddf: str = "satterthwaite",
        joint: bool = True,
    ) -> pd.DataFrame:
        """Joint F test (or row-wise t tests) of ``L β = rhs``, as lmerTest's ``contest``."""
        from mixedmodels.inference import contrast

        self._require_fit()
        return contrast(self, L, rhs=rhs, ddf=ddf, joint=joint)

    @needs_rows()
    def hat_values(self: FittedLinearModel) -> FloatArray:
        """Leverages of the penalized least-squares fit (lme4's ``hatvalues``)."""
        from mixedmodels.results.residuals import hat_values

        return hat_values(self)

    @needs_rows()
    def cooks_distance(self: FittedLinearModel, group: Any = None) -> Any:
        """Cook's distance per observation (lme4's), or per deleted level of ``group`` (refits)."""
        from mixedmodels.results.influence import cooks_distance

        return cooks_distance(self, group)

    @needs_rows()
    def influence(self: FittedLinearModel, group: Any) -> Any:
        """Refits without each level of ``group`` (lme4's ``influence``): Cook's D, dfbetas."""
        from mixedmodels.results.influence import influence

        return influence(self, group)

    @needs_rows("prediction intervals of the fitted rows", when=fitted_rows)
    def prediction_intervals(
        self: FittedLinearModel, new_data: Any = None, **kwargs: Any
    ) -> pd.DataFrame:
        """Predictions with standard errors and prediction or confidence intervals."""
        from mixedmodels.results.intervals import prediction_intervals

        return prediction_intervals(self, new_data, **kwargs)
