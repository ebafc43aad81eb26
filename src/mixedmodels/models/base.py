"""The members every fitted mixed model shares, written once for LMMs and GLMMs.

Each reads the model only through :class:`~mixedmodels.fitted.FittedModelBase` (the methods'
``self`` is typed by that protocol), so a model class that has the protocol's members gets
these for free: grouping sizes, conditional modes, tidy tables and JSON, and the plots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.models.rows import needs_rows
from mixedmodels.results.criteria import InformationCriteria
from mixedmodels.results.ranef import ranef_frames
from mixedmodels.results.varcorr import varcorr_table
from mixedmodels.spec.random import term_templates

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mixedmodels.fitted import FittedModelBase

__all__ = ["MixedModelBase", "frozen_copy"]

T = TypeVar("T")


class MixedModelBase(InformationCriteria):
    """What LMMs and GLMMs share beyond the criteria of :class:`InformationCriteria`."""

    has_rows = True  # the rows are in memory (an LMM takes it from its blocks: False on chunks)
    _theta: FloatArray  # the estimates, read-only (set by the fit only)

    # ---- what every fitted model reads the same way ----------------------------------------
    def _require_fit(self: FittedModelBase) -> None:
        """Refuse results before a fit (the factor or engine is at the estimates once fitted)."""
        if self.optsum is None:
            raise ModelSpecificationError("the model has not been fitted yet: call .fit()")

    @property
    def theta(self) -> FloatArray:
        """Covariance parameters θ (read-only; they change only by a fit)."""
        return self._theta

    @property
    def n_theta(self: FittedModelBase) -> int:
        """Number of covariance parameters."""
        return int(self.lower.shape[0])

    def ml_fit(self) -> Self:
        """The model fitted by maximum likelihood (lme4's ``refitML``): itself unless REML."""
        return self

    @property
    def n_fixed(self: FittedModelBase) -> int:
        """Number of (estimable) fixed-effect coefficients ``p``."""
        return int(self.fixed.X.shape[1])

    @property
    def df_resid(self: FittedModelBase) -> int:
        """Residual degrees of freedom ``n − npar``, as lme4's ``df.residual``."""
        return self.nobs - self.npar

    @property
    def fixef(self: FittedModelBase) -> pd.Series:
        """Fixed-effect estimates, named by model-matrix column."""
        self._require_fit()
        return pd.Series(self.beta, index=list(self.fixed.names), name="estimate")

    def templates(self: FittedModelBase) -> list[FloatArray]:
        """Relative covariance templates ``T_j`` at the estimates."""
        return term_templates(self.terms, self.theta)

    @property
    def varcorr(self: FittedModelBase) -> pd.DataFrame:
        """Variance components as R's ``as.data.frame(VarCorr(m))`` (Residual with a scale)."""
        self._require_fit()
        sigma = self.sigma if self.has_scale else None
        return varcorr_table(self.terms, self.templates(), sigma, self.theta)

    # ---- results computed once per fit ---------------------------------------------------
    def cached(self, kind: str, build: Callable[[Self], T]) -> T:
        """``build(self)``, computed once per fit (Satterthwaite's and Kenward–Roger's parts).

        The store belongs to the fit: a new fit (:meth:`_forget`) starts an empty one, and
        refits and copies have their own.
        """
        store: dict[str, Any] = self.__dict__.setdefault("_per_fit", {})
        if kind not in store:
            store[kind] = build(self)
        return store[kind]

    def _forget(self) -> None:
        """Drop what :meth:`cached` kept for an earlier fit (a new fit was just stored)."""
        self.__dict__["_per_fit"] = {}

    @property
    def has_scale(self) -> bool:
        """Whether a residual scale σ is estimated (lme4's ``useSc``); a GLMM overrides it."""
        return True

    # ---- what a kind of model may not have: one refusal, overridden where it exists --------
    def prediction_intervals(self, new_data: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Prediction intervals: refused unless a kind of model overrides it (LMMs, GLMMs do)."""
        raise _not_for(
            self, "prediction_intervals", "normal errors; use predict(type='link') and simulate()"
        )

    def _repr_html_(self: FittedModelBase) -> str:
        """The summary as preformatted HTML, for notebooks."""
        import html

        text = self.summary() if self.optsum is not None else repr(self)
        return f"<pre>{html.escape(text)}</pre>"

    @property
    def ngroups(self: FittedModelBase) -> dict[str, int]:
        """Number of levels of each grouping factor."""
        return {t.group: t.nlevels for t in self.terms}

    def random_effects(self: FittedModelBase) -> list[FloatArray]:
        """Conditional modes ``b = Λu`` per term, as ``(levels, k)`` arrays."""
        return [u @ T.T for u, T in zip(self.spherical_modes(), self.templates(), strict=True)]

    @property
    def ranef(self: FittedModelBase) -> dict[str, pd.DataFrame]:
        """Conditional modes per grouping factor (levels × effects)."""
        return ranef_frames(self.terms, self.random_effects())

    def tidy(
        self: FittedModelBase, conf_int: bool = False, level: float = 0.95, **kwargs: Any
    ) -> pd.DataFrame:
        """broom.mixed-style table of fixed effects and variance parameters."""
        from mixedmodels.results.tidy import tidy

        return tidy(self, conf_int, level, **kwargs)

    def to_frame(self: FittedModelBase, **kwargs: Any) -> pd.DataFrame:
        """The same as :meth:`tidy`."""
        from mixedmodels.results.tidy import tidy

        return tidy(self, **kwargs)

    def to_json(self: FittedModelBase, indent: int | None = 2, ddf: str | None = None) -> str:
        """Everything the fit reports as a JSON document (NaN becomes null)."""
        from mixedmodels.results.tidy import to_json

        return to_json(self, indent, ddf)

    @needs_rows()
    def plot_diagnostics(self: FittedModelBase, **kwargs: Any) -> Figure:
        """Residuals vs fitted, Q-Q of residuals and of modes, caterpillar (needs matplotlib)."""
        from mixedmodels.plots import diagnostics_panel

        return diagnostics_panel(self, **kwargs)

    def plot_caterpillar(self: FittedModelBase, group: str | None = None, **kwargs: Any) -> Any:
        """Conditional modes with 95% conditional intervals, sorted (needs matplotlib)."""
        from mixedmodels.plots import caterpillar_plot

        return caterpillar_plot(self, group, **kwargs)

    @needs_rows()
    def plot_residuals(self: FittedModelBase, **kwargs: Any) -> Figure:
        """Scaled Pearson residuals against fitted values (needs matplotlib)."""
        from mixedmodels.plots import residual_plot

        return residual_plot(self, **kwargs)

    @needs_rows()
    def plot_qq(self: FittedModelBase, **kwargs: Any) -> Figure:
        """Normal Q-Q plot of the scaled residuals (needs matplotlib)."""
        from mixedmodels.plots import qq_plot

        return qq_plot(self, **kwargs)

    def plot_ranef_qq(self: FittedModelBase, group: str | None = None, **kwargs: Any) -> Any:
        """Normal Q-Q plots of the conditional modes (needs matplotlib)."""
        from mixedmodels.plots import ranef_qq_plot

        return ranef_qq_plot(self, group, **kwargs)


def _not_for(model: object, method: str, needs: str) -> NotSupportedError:
    """The refusal of ``method`` on a kind of model it has no meaning (or no code) for."""
    return NotSupportedError(
        f"{method} is not available for a {type(model).__name__}: it needs {needs} "
        "(available for LinearMixedModel)"
    )


def frozen_copy(values: FloatArray) -> FloatArray:
    """A read-only float copy: a model's estimates change only by a fit."""
    out = np.array(values, dtype=np.float64)
    out.setflags(write=False)
    return out
