"""What results and inference may read from a fitted model, as typing protocols.

The model classes (:mod:`mixedmodels.models`) sit above results and inference and call them;
results and inference never import the classes. They are written against these protocols,
so each dependency points one way (no import cycles) and a function states what it reads:

- :class:`Refittable`: the few members the parametric bootstrap reads from an LMM or a GLMM
  (the estimates, the random terms, ``simulate`` and ``refit``); the names of the parameters
  (:func:`~mixedmodels.inference.profile.parameter_names`) read it too.
- :class:`FittedModelBase`: what every fitted mixed model (LMM or GLMM) has: the spec
  (formula, frame, fixed part, random terms), the estimates, the criteria, the per-row
  results, ``simulate`` and ``refit``.
- :class:`InfluenceModel`: one that also has hat values and Pearson residuals and can be fitted
  again to some of its rows (what Cook's distances and the group-deletion refits read).
- :class:`FittedMixedModel`: the same with the members linear models add (``coef_test``,
  ``fixed_gram``).
- :class:`FittedLinearModel`: a linear mixed model, with its stored blocks and factor
  (what Satterthwaite, Kenward–Roger, profiling and the residual summaries read).
- :class:`FittedGeneralizedModel`: a GLMM (an :class:`InfluenceModel`), with its family,
  response, PIRLS engine and objective (:class:`~mixedmodels.objective.glmm.GlmmObjective`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray

if TYPE_CHECKING:
    from mixedmodels.formula.parser import ParsedFormula
    from mixedmodels.linalg.cholesky import BlockedCholesky
    from mixedmodels.linalg.crossprod import CrossProducts
    from mixedmodels.objective.glmm import GlmmObjective
    from mixedmodels.objective.laplace import GlmmData, LaplaceEngine
    from mixedmodels.objective.lmm import LmmObjective
    from mixedmodels.optimize import OptSummary
    from mixedmodels.optimize.checks import ConvergenceCheck
    from mixedmodels.optimize.glmm_result import GlmmFit
    from mixedmodels.optimize.whitening import Whitening
    from mixedmodels.spec.families import Family
    from mixedmodels.spec.fixed import FixedEffects
    from mixedmodels.spec.frame import ModelFrame
    from mixedmodels.spec.random import RandomEffectsTerm
    from mixedmodels.spec.response import GlmResponse

__all__ = [
    "FittedGeneralizedModel",
    "FittedLinearModel",
    "FittedMixedModel",
    "FittedModelBase",
    "ComparedModel",
    "InfluenceModel",
    "Refittable",
]

T = TypeVar("T")


class Refittable(Protocol):
    """What the parametric bootstrap reads from a fitted LMM or GLMM."""

    fixed: FixedEffects
    terms: list[RandomEffectsTerm]
    optsum: OptSummary | None
    convergence: ConvergenceCheck | None

    @property
    def theta(self) -> FloatArray:
        """Covariance parameters θ at the estimates."""
        ...

    @property
    def has_scale(self) -> bool:
        """Whether a residual scale σ is estimated (lme4's ``useSc``)."""
        ...

    @property
    def beta(self) -> FloatArray:
        """Fixed-effect estimates."""
        ...

    @property
    def sigma(self) -> float:
        """The residual standard deviation (1 for families without a dispersion)."""
        ...

    @property
    def objective(self) -> float:
        """The criterion at the optimum."""
        ...

    @property
    def is_singular(self) -> bool:
        """Whether the fit is on the boundary."""
        ...

    def simulate(self, nsim: int = ..., *, seed: Any = ...) -> FloatArray:
        """Responses simulated at the estimates with new random effects, ``(nobs, nsim)``."""
        ...

    def refit(self, y: Any = ...) -> Refittable:
        """A new model fitted to a new response; this one is left as it was."""
        ...


class ComparedModel(Protocol):
    """What a likelihood-ratio test reads: an LMM, a GLMM, or an ``lm``/``glm`` fit."""

    formula: str
    fixed: FixedEffects
    frame: ModelFrame

    @property
    def nobs(self) -> int:
        """Observations used."""
        ...

    @property
    def npar(self) -> int:
        """Number of parameters (lme4's ``df`` of ``logLik``)."""
        ...

    @property
    def loglik(self) -> float:
        """The maximized log-likelihood."""
        ...

    @property
    def reml(self) -> bool:
        """Whether the criterion is REML."""
        ...

    @property
    def is_singular(self) -> bool:
        """Whether the fit is on the boundary."""
        ...

    @property
    def n_theta(self) -> int:
        """Number of covariance parameters (0 without random effects)."""
        ...

    def ml_fit(self) -> ComparedModel:
        """The model fitted by maximum likelihood (lme4's ``refitML``; itself when it is)."""
        ...


class FittedModelBase(Protocol):
    """The members every fitted mixed model has, linear or generalized."""

    formula: str
    parsed: ParsedFormula
    frame: ModelFrame
    fixed: FixedEffects
    terms: list[RandomEffectsTerm]
    lower: FloatArray
    optsum: OptSummary | None
    weights_name: str | None
    offset_name: str | None
    data_name: str | None
    convergence: ConvergenceCheck | None

    @property
    def has_scale(self) -> bool:
        """Whether a residual scale σ is estimated (lme4's ``useSc``): LMMs, Gamma GLMMs."""
        ...

    @property
    def theta(self) -> FloatArray:
        """Covariance parameters θ at the estimates."""
        ...

    @property
    def reml(self) -> bool:
        """Whether the criterion is REML (always False for a GLMM)."""
        ...

    @property
    def nobs(self) -> int:
        """Number of observations used."""
        ...

    @property
    def n_fixed(self) -> int:
        """Number of fixed-effect coefficients."""
        ...

    @property
    def npar(self) -> int:
        """Number of estimated parameters (as lme4's ``df`` of ``logLik``)."""
        ...

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom ``n − npar``."""
        ...

    @property
    def beta(self) -> FloatArray:
        """Fixed-effect estimates."""
        ...

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates, named."""
        ...

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed-effect estimates."""
        ...

    @property
    def coef_table(self) -> pd.DataFrame:
        """Estimates, standard errors, statistics and p-values."""
        ...

    @property
    def sigma(self) -> float:
        """The residual standard deviation (1 for families without a dispersion)."""
        ...

    @property
    def objective(self) -> float:
        """The criterion at the optimum (−2 log L or the REML criterion)."""
        ...

    @property
    def deviance(self) -> float:
        """The deviance, as lme4's ``deviance``."""
        ...

    @property
    def loglik(self) -> float:
        """Log-likelihood at the optimum."""
        ...

    @property
    def aic(self) -> float:
        """Akaike's criterion."""
        ...

    @property
    def bic(self) -> float:
        """Schwarz's criterion."""
        ...

    @property
    def is_singular(self) -> bool:
        """Whether the fit is on the boundary."""
        ...

    @property
    def ngroups(self) -> dict[str, int]:
        """Levels per grouping factor."""
        ...

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as R's ``as.data.frame(VarCorr(m))``."""
        ...

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes per grouping factor."""
        ...

    @property
    def ranef_var(self) -> dict[str, FloatArray]:
        """Conditional covariance blocks per term."""
        ...

    def templates(self) -> list[FloatArray]:
        """Relative covariance templates ``T_j`` at the estimates."""
        ...

    def spherical_modes(self) -> list[FloatArray]:
        """Conditional modes of the spherical random effects ``u`` per term, ``(l, k)``."""
        ...

    def random_effects(self) -> list[FloatArray]:
        """Conditional modes ``b`` per term, ``(levels, k)``."""
        ...

    def fitted(self) -> FloatArray:
        """Fitted values (means), one per row of the caller's data."""
        ...

    def predict(
        self,
        new_data: Any = ...,
        *,
        re_form: str | None = ...,
        allow_new_levels: bool = ...,
        offset: Any = ...,
        type: str = ...,
    ) -> FloatArray:
        """Predictions for the fitted data or new data."""
        ...

    def simulate(
        self,
        nsim: int = ...,
        *,
        seed: Any = ...,
        re_form: str | None = ...,
        use_ranef: bool = ...,
    ) -> FloatArray:
        """Responses simulated at the estimates, ``(nobs, nsim)``."""
        ...

    def summary(self) -> str:
        """The summary text."""
        ...

    def refit(self, y: Any = ...) -> FittedModelBase:
        """A new model fitted to a new response; this one is left as it was."""
        ...

    def residuals(self, type: str = ..., *, scaled: bool = ...) -> FloatArray:
        """Residuals of a type, one per row of the caller's data."""
        ...

    def confint(self, method: str = ..., level: float = ..., **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint(m, method=)``."""
        ...

    def _require_fit(self) -> None: ...

    def cached(self, kind: str, build: Callable[[Self], T]) -> T:
        """``build(self)``, computed once per fit."""
        ...


class InfluenceModel(FittedModelBase, Protocol):
    """A fitted model with leverages that can be fitted again to some of its rows.

    What :mod:`mixedmodels.results.influence` reads: LMMs and GLMMs both have it.
    """

    def hat_values(self) -> FloatArray:
        """lme4's ``hatvalues``, one per observation used."""
        ...

    def residuals(self, type: str = ..., *, scaled: bool = ...) -> FloatArray:
        """Residuals of a type, one per row of the caller's data."""
        ...

    def fit_to_rows(self, keep: NDArray[np.bool_]) -> InfluenceModel:
        """A new model of the same formula and arguments fitted to the rows ``keep``."""
        ...


class FittedMixedModel(FittedModelBase, Protocol):
    """A fitted mixed model with what linear models add: coefficient tests and ``XᵀX``."""

    def coef_test(self, ddf: str = ...) -> pd.DataFrame:
        """The coefficient table with tests by ``ddf``."""
        ...

    def fixed_gram(self) -> FloatArray:
        """``XᵀX`` of the kept fixed-effects columns, unweighted."""
        ...

    def residuals(self, type: str = ..., scaled: bool = ...) -> FloatArray:
        """Residuals of a type, one per row of the caller's data."""
        ...

    def confint(self, method: str = ..., level: float = ..., **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals of every parameter (lme4's ``confint``)."""
        ...

    def refit(self, y: Any = ...) -> FittedMixedModel:
        """A new model fitted to a new response; this one is left as it was."""
        ...


class FittedLinearModel(FittedMixedModel, Protocol):
    """A fitted linear mixed model: the stored blocks ``A`` and the factor ``L``."""

    A: CrossProducts
    L: BlockedCholesky
    log_weights: float
    ddf: str
    degenerate_terms: list[str]
    fixed_sigma: float | None  # the residual SD when fixed (``sigma=``), not estimated

    @property
    def y(self) -> FloatArray:
        """The response minus the offset."""
        ...

    @property
    def dof_residual(self) -> int:
        """``n − p`` (REML) or ``n`` (ML): the divisor of σ̂²."""
        ...

    def objective_at(self, theta: FloatArray) -> float:
        """The criterion at ``theta``, profiled over β and σ."""
        ...

    @property
    def objective_function(self) -> LmmObjective:
        """The objective of θ with a factor of its own (lme4's ``devfun``)."""
        ...

    def _criterion(self, reml: bool) -> float: ...

    def refit(
        self, y: Any = ..., *, reml: bool | None = ..., check_convergence: bool | None = ...
    ) -> FittedLinearModel:
        """A new model fitted again (lme4's ``refit``)."""
        ...

    def fit(
        self,
        *,
        reml: bool | None = ...,
        verbose: bool = ...,
        check_convergence: bool | None = ...,
        start: Any = ...,
    ) -> FittedLinearModel:
        """Fit (or fit again) over θ."""
        ...

    def _spawn(self) -> FittedLinearModel: ...

    def hat_values(self) -> FloatArray:
        """lme4's ``hatvalues``, one per observation used."""
        ...

    def fit_to_rows(
        self, keep: NDArray[np.bool_], *, check_convergence: bool | None = ...
    ) -> FittedLinearModel:
        """A new model of the same formula and arguments fitted to some of the rows."""
        ...


class FittedGeneralizedModel(InfluenceModel, Protocol):
    """A fitted GLMM: its family, response and PIRLS engine, and its objective in (θ, β)."""

    nagq: int
    nb_theta_estimated: bool
    family: Family
    response: GlmResponse
    data: GlmmData
    engine: LaplaceEngine
    hessian_approx: FloatArray | None
    agq_whitening: Whitening | None
    final_gradient: FloatArray | None
    stage1: OptSummary | None
    diverging: list[int]

    def with_family(self, family: Family, *, theta_estimated: bool = ...) -> FittedGeneralizedModel:
        """A new, unfitted model with another family of the same kind."""
        ...

    def _keep(self, result: GlmmFit) -> None: ...

    @property
    def n_theta(self) -> int:
        """Number of covariance parameters."""
        ...

    @property
    def params(self) -> FloatArray:
        """``(θ, β)`` at the estimates."""
        ...

    @property
    def all_lower(self) -> FloatArray:
        """Lower bounds of ``(θ, β)``."""
        ...

    @property
    def has_gradient(self) -> bool:
        """Whether the exact gradient is that of the objective and affordable."""
        ...

    @property
    def objective_function(self) -> GlmmObjective:
        """The objective in ``(θ, β)`` on a copy of the engine (at the estimates if fitted)."""
        ...

    def objective_at(self, params: FloatArray) -> float:
        """The Laplace (or quadrature) objective at ``(θ, β)`` (moves the engine's modes)."""
        ...

    def gradient_at(self, params: FloatArray) -> FloatArray:
        """The exact gradient of the Laplace objective at ``(θ, β)`` (moves the modes)."""
        ...

    def refit(self, y: Any = ...) -> FittedGeneralizedModel:
        """A new model fitted again from these estimates, optionally to a new response."""
        ...

    def ensure_spec(self) -> None:
        """Make the fixed part's spec for new data, if missing."""
        ...

    def residuals(self, type: str = ..., *, scaled: bool = ...) -> FloatArray:
        """Residuals of a type, one per row of the caller's data."""
        ...

    def fit(
        self,
        *,
        verbose: bool = ...,
        start: FloatArray | None = ...,
        start_theta: FloatArray | None = ...,
    ) -> FittedGeneralizedModel:
        """Fit in glmer's two stages (``start``: ``(θ, β)`` for stage 2)."""
        ...

    def fit_to_rows(self, keep: NDArray[np.bool_]) -> FittedGeneralizedModel:
        """A new model of the same formula and arguments fitted to the rows ``keep``."""
        ...
