"""Generalized linear mixed models: build once, fit in glmer's two stages, read the results.

The pipeline, each step in its own module::

    formula.parse_formula → spec.model_frame → spec.response (y, weights, trials)
      → spec.fixed_effects / random_effects_terms → objective.laplace (PIRLS on the blocked
      Cholesky; objective.laplace_scalar for one scalar term, with adaptive quadrature)
      → objective.glmm (the objective in (θ, β), lme4's devfun) → fit.glmm (stage 1: θ, β in
      PIRLS; stage 2: (θ, β) by a quasi-Newton method on the exact gradient) → results

The fit is a value (:class:`~mixedmodels.fit.glmm.GlmmFit`) that :meth:`fit` keeps; results
read the model through :class:`~mixedmodels.fitted.FittedGeneralizedModel`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cached_property
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import (
    ModelSpecificationError,
)
from mixedmodels.fit.agq import AgqHessian
from mixedmodels.fit.glmm import GlmmFit, convergence_check, fit_two_stages
from mixedmodels.linalg.threads import blas_threads
from mixedmodels.models.base import MixedModelBase, frozen_copy
from mixedmodels.models.glmm_inference import GlmmInference
from mixedmodels.models.glmm_influence import GlmmInfluence
from mixedmodels.models.glmm_refits import CACHED, GlmmRefits
from mixedmodels.objective.glmm import GlmmObjective
from mixedmodels.objective.laplace import BlockedEngine, GlmmData, LaplaceEngine
from mixedmodels.objective.laplace_scalar import ScalarEngine
from mixedmodels.optimize import OptSummary
from mixedmodels.optimize.checks import ConvergenceCheck
from mixedmodels.optimize.whitening import Whitening
from mixedmodels.results.glmm import fitted_means, glmm_conditional_variances, z_table
from mixedmodels.results.glmm_vcov import (
    free_parameters,
    hessian_covariance,
    laplace_hessian,
    quadrature_hessian,
    sdreport_at_estimates,
    unscaled_covariance,
)
from mixedmodels.results.glmm_warnings import fit_warnings
from mixedmodels.results.separation import separated_covariance
from mixedmodels.spec import FixedEffects, fixed_effects, model_frame, random_effects_terms
from mixedmodels.spec.checks import check_model, collinear_terms, mixed_model_formula
from mixedmodels.spec.families import Family
from mixedmodels.spec.family_names import get_family
from mixedmodels.spec.fast_fixed import simple_fixed_effects
from mixedmodels.spec.frame import NaAction
from mixedmodels.spec.glmm_checks import check_nagq, refuse_chunked
from mixedmodels.spec.random import correlations_at_limit
from mixedmodels.spec.response import GlmResponse, frame_response, glm_response

__all__ = ["GeneralizedLinearMixedModel"]

Array = FloatArray
SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance
_RESPONSE = "_glmm_response_"  # a formula may not name dunder columns


class GeneralizedLinearMixedModel(GlmmInference, GlmmInfluence, GlmmRefits, MixedModelBase):
    """A GLMM ``g(E[y | b]) = Xβ + Zb``, ``b ~ N(0, ΛΛ')``, from an lme4-style formula.

    Construction evaluates the formula and the response; :meth:`fit` maximizes the Laplace
    approximation (or, with ``nagq > 1``, adaptive Gauss–Hermite quadrature) of the
    log-likelihood as glmer does.

    Parameters
    ----------
    formula
        An lme4 formula; binomial responses may be ``cbind(successes, failures)``.
    data
        A pandas DataFrame; it is never modified.
    family
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"negative_binomial"`` or a :class:`~mixedmodels.spec.families.Family` object such as
        ``Binomial(link="probit")``.
    weights
        Prior weights (a column name or one value per row): the numbers of trials for a
        binomial response given as proportions.
    offset
        A known term added to the linear predictor (a column name or one value per row).
    na_action
        ``"omit"`` drops incomplete rows; ``"exclude"`` too, padding per-row results with NaN.
    subset, contrasts
        The rows to fit and R's contrasts for factors, as for :func:`~mixedmodels.lmer`.
    nagq
        Points of adaptive Gauss–Hermite quadrature: 1 for the Laplace approximation, 0 for
        glmer's ``nAGQ = 0`` (β estimated inside PIRLS), up to 100 (lme4's limit) for one scalar
        term.
    functions
        Functions the formula may call besides the allowed ones, e.g. ``{"logit": fn}``
        (a formula never runs other code: see :mod:`mixedmodels.formula.expressions`).
    """

    def __init__(
        self,
        formula: str,
        data: Any,
        *,
        family: str | Family = "binomial",
        weights: Any = None,
        offset: Any = None,
        na_action: NaAction = "omit",
        nagq: int = 1,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        subset: Any = None,
        contrasts: Any = None,
    ) -> None:
        self.formula = formula
        self.parsed = mixed_model_formula(formula, functions)
        refuse_chunked(data)
        self.family = get_family(family)
        framing = replace(self.parsed, response=frame_response(self.parsed.response))
        self.frame = model_frame(framing, data, weights, offset, na_action, subset, contrasts)
        frame, self.contrasts = self.frame.data, self.frame.contrasts
        self.response: GlmResponse = glm_response(
            self.parsed.response,
            frame,
            self.family,
            self.frame.weights,
            weights is not None,
            self.parsed.functions,
        )
        fast = simple_fixed_effects(self.parsed.fixed, frame, self.response.y, self.frame)
        self.fixed = fast if fast is not None else self._formulaic_fixed()
        self.terms = random_effects_terms(self.parsed.random, frame, formula, self.parsed.functions)
        check_model(self.terms, self.response.y, self.parsed.response, allow_n=True)
        self.degenerate_terms = collinear_terms(self.terms)
        self.nagq = check_nagq(nagq, self.terms)
        self.data = GlmmData(
            self.family,
            self.response.y,
            self.response.weights,
            self.response.trials,
            self.frame.offset,
            self.fixed.X,
            self.terms,
        )
        single = len(self.terms) == 1 and self.terms[0].k == 1
        self.engine: LaplaceEngine = ScalarEngine(self.data) if single else BlockedEngine(self.data)
        self.lower: Array = np.concatenate([t.lower_bounds() for t in self.terms])
        self._theta, self._beta = (
            frozen_copy(self._initial_theta()),
            frozen_copy(np.zeros(self.n_fixed)),
        )
        self.optsum: OptSummary | None = None
        self.stage1: OptSummary | None = None
        self.hessian_approx: Array | None = None
        self.agq_whitening: Whitening | None = None
        self.final_gradient: Array | None = None
        self.convergence: ConvergenceCheck | None = None
        self.nb_theta_estimated = False
        self.vcov_method = "sdreport"
        self.diverging: list[int] = []  # fixed effects whose estimates are infinite (separation)
        self.data_name: str | None = self.frame.name
        self.weights_name = weights if isinstance(weights, str) else None
        self.offset_name = offset if isinstance(offset, str) else None

    def _formulaic_fixed(self) -> FixedEffects:
        """The fixed effects through formulaic (with the spec that encodes new data)."""
        frame = self.frame.data.assign(**{_RESPONSE: 0.0})
        fixed = fixed_effects(
            _RESPONSE,
            self.parsed.fixed,
            frame,
            self.formula,
            self.parsed.functions,
            self.contrasts,
        )
        return replace(fixed, y=self.response.y)

    def ensure_spec(self) -> None:
        """Make formulaic's spec of the fixed part (needed to encode new data) if missing."""
        if self.fixed.spec is not None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rank deficiency was reported at construction
            full = self._formulaic_fixed()
        if list(full.names) != list(self.fixed.names):
            raise ModelSpecificationError("formulaic encodes the fixed effects differently")
        self.fixed = replace(self.fixed, spec=full.model_spec())

    # ---- sizes ------------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return int(self.response.y.shape[0])

    @property
    def npar(self) -> int:
        """Parameters counted by logLik: β, θ, the dispersion and a glmer.nb θ."""
        extra = int(self.family.has_dispersion) + int(self.nb_theta_estimated)
        return self.n_fixed + self.n_theta + extra

    @property
    def reml(self) -> bool:
        """Always False: GLMMs are fitted by maximum likelihood."""
        return False

    # ---- the objective ------------------------------------------------------------------
    def _objective(self) -> GlmmObjective:
        """The objective on the model's own engine (what the fit moves)."""
        return GlmmObjective(self.engine, self.lower, self.n_fixed, self.nagq)

    @property
    def objective_function(self) -> GlmmObjective:
        """The objective ``(θ, β) ↦ -2 log L`` with its exact gradient, as lme4's devfun.

        A :class:`~mixedmodels.objective.glmm.GlmmObjective` on its own copy of the engine (at
        the estimates once fitted): evaluating it anywhere leaves the model as it was.
        ``model.objective_function(model.params)`` is ``model.objective``.
        """
        if self.optsum is not None:
            self._require_fit()
        return self._objective().detached()

    @property
    def all_lower(self) -> Array:
        """Lower bounds of (θ, β): 0 for the diagonal of each template, else none."""
        return np.concatenate([self.lower, np.full(self.n_fixed, -np.inf)])

    def objective_at(self, params: Array) -> float:
        """The objective (Laplace or adaptive quadrature) at ``params = (θ, β)``.

        Evaluated on a working copy of the engine (kept between calls, renewed by a fit): the
        engine the results are read from stays at the estimates.
        """
        return self._working()(params)

    def gradient_at(self, params: Array) -> Array:
        """The exact gradient of the Laplace objective at ``params = (θ, β)``."""
        return self._working().gradient(params)

    def _working(self) -> GlmmObjective:
        """The objective on the model's working copy of its engine."""
        work: GlmmObjective | None = self.__dict__.get("_work_objective")
        if work is None:
            work = self.__dict__["_work_objective"] = self._objective().detached()
        return work

    @property
    def gradient_affordable(self) -> bool:
        """Whether the exact gradient's selected inverse is cheap enough to form."""
        return self._objective().gradient_affordable

    @property
    def has_gradient(self) -> bool:
        """Whether stage 2 can use the exact gradient (Laplace, affordable selected inverse)."""
        return self._objective().has_gradient

    # ---- fitting ------------------------------------------------------------------------
    def fit(
        self,
        *,
        verbose: bool = False,
        start: Array | None = None,
        start_theta: Array | None = None,
    ) -> GeneralizedLinearMixedModel:
        """Fit in glmer's two stages and keep the optimum.

        The fit depends only on the data and the starts: fitting again gives the same
        estimates.

        Parameters
        ----------
        verbose
            Print the objective at each evaluation.
        start
            ``(θ, β)`` to start stage 2 from (stage 1 is then skipped), e.g. a previous fit;
            with ``nagq = 0`` its θ starts stage 1.
        start_theta
            θ to start stage 1 from (lme4's ``start = list(theta = ...)``); by default 1 on
            the diagonals of the templates and 0 off them.

        Returns
        -------
        GeneralizedLinearMixedModel
            ``self``, fitted. A model that is already fitted is a result and never changes: a
            new model is fitted and returned instead (as :meth:`refit`, from these starts).
        """
        if self.optsum is not None:
            new = self.with_family(self.family, theta_estimated=self.nb_theta_estimated)
            fitted = new.fit(verbose=verbose, start=start, start_theta=start_theta)
            return cast("GeneralizedLinearMixedModel", fitted)
        theta0 = self._initial_theta() if start_theta is None else start_theta
        with blas_threads(self.thread_limit()):
            result = fit_two_stages(self._objective(), theta0, verbose, start)
        self._keep(result)
        self.diverging = fit_warnings(self, self.convergence)
        return self

    def _initial_theta(self) -> Array:
        """lme4's start of θ: 1 on the diagonals of the templates, 0 off them."""
        return np.concatenate([t.initial_theta() for t in self.terms])

    def _keep(self, result: GlmmFit) -> None:
        """Keep a fit's estimates and reports, with the engine at the estimates."""
        self._theta, self._beta = frozen_copy(result.theta), frozen_copy(result.beta)
        self.optsum, self.stage1 = result.optsum, result.stage1
        self.hessian_approx = result.hessian_approx
        self.final_gradient = result.final_gradient
        self.agq_whitening = result.whitening
        self.convergence = convergence_check(result, self.all_lower)
        for cached in (*CACHED, "_work_objective"):
            self.__dict__.pop(cached, None)
        self._forget()
        e = self.engine
        if not (np.array_equal(e.theta, self.theta) and np.array_equal(e.beta, self.beta)):
            e.fit_modes(self.theta, self.beta, with_beta=False)

    @property
    def beta(self) -> Array:
        """Fixed-effect estimates β (read-only)."""
        return self._beta

    def thread_limit(self) -> int:
        """BLAS threads from the size of the largest dense block (one for small models)."""
        return self._objective().thread_limit

    # ---- results --------------------------------------------------------------------------
    @property
    def params(self) -> Array:
        """``(θ, β)`` at the estimates."""
        return np.concatenate([self.theta, self.beta])

    @property
    def objective(self) -> float:
        """``-2 log L`` at the optimum (Laplace or quadrature, on lme4's scale)."""
        self._require_fit()
        assert self.optsum is not None
        return float(self.optsum.fmin)

    @property
    def deviance(self) -> float:
        """Sum of the squared deviance residuals at the estimates (lme4's ``deviance``)."""
        self._require_fit()
        wk = self.engine.wk
        assert wk is not None
        return float(np.sum(wk.dev))

    @property
    def sigma(self) -> float:
        """1, or for Gamma and inverse Gaussian lme4's ``√((Pearson χ² + ‖u‖²)/n)``."""
        if not self.family.has_dispersion:
            return 1.0
        self._require_fit()
        wk = self.engine.wk
        assert wk is not None
        wrss = float(np.sum(self.data.weights * (self.data.y - wk.mu) ** 2 / wk.var))
        u = self.engine.u
        return math.sqrt((wrss + float(u @ u)) / self.nobs)

    @cached_property
    def _hessian(self) -> tuple[Array, npt.NDArray[np.bool_]]:
        """Exact Hessian of the objective over the free parameters, and the free mask."""
        self._require_fit()
        if self.nagq > 1:
            free = free_parameters(self.theta, self.lower, self.n_fixed)
            return self._agq_hessian().in_x(), free
        with blas_threads(self.thread_limit()):
            return laplace_hessian(self)

    def _agq_hessian(self) -> AgqHessian:
        """The quadrature Hessian (:mod:`mixedmodels.fit.agq`) for ``vcov_method``, once."""
        cache: dict[str, AgqHessian] = self.__dict__.setdefault("_agq_cache", {})
        key = "lme4" if self.vcov_method == "lme4" else "whitened"
        if key not in cache:
            cache[key] = quadrature_hessian(self, lme4=key == "lme4")
        return cache[key]

    @cached_property
    def _sdreport(self) -> Array | None:
        """The Hessian as glmmTMB takes it (see :mod:`~mixedmodels.results.glmm_vcov`), or None."""
        with blas_threads(self.thread_limit()):
            return sdreport_at_estimates(self)

    @property
    def hessian(self) -> pd.DataFrame:
        """Exact Hessian of ``-2 log L`` in (θ, β) at the optimum (θ on a bound left out)."""
        H, free = self._hessian
        names = [n for n, f in zip(self.parameter_names, free, strict=True) if f]
        return pd.DataFrame(H, index=names, columns=names)

    @property
    def parameter_names(self) -> list[str]:
        """Names of θ (``theta1``, ...) then of the fixed effects."""
        return [f"theta{i + 1}" for i in range(self.n_theta)] + list(self.fixed.names)

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of β̂: the β block of ``2 H⁻¹``, H the Hessian of the deviance.

        ``vcov_method = "sdreport"`` (the default) takes H as glmmTMB does, ``"exact"`` with
        steps scaled to each parameter (:mod:`mixedmodels.results.glmm_vcov`). With ``nagq > 1``
        H is the quadrature deviance's (:mod:`mixedmodels.fit.agq`), ``"lme4"`` as lme4's
        ``deriv12`` takes it; ``nagq = 0`` uses lme4's ``σ² (R_X R_Xᵀ)⁻¹``.
        """
        names = list(self.fixed.names)
        p = self.n_fixed
        self._require_fit()
        if self.nagq == 0 or p == 0:
            return self._unscaled_vcov(names)
        if self.diverging:
            cov: Array | None = separated_covariance(self, self.diverging)
        elif self.nagq > 1:
            cov = hessian_covariance(None, p, self._agq_hessian().covariance)
        else:
            H = self._sdreport if self.vcov_method == "sdreport" else None
            cov = hessian_covariance(self._hessian[0] if H is None else H, p)
        if cov is None:
            return self._unscaled_vcov(names)
        return pd.DataFrame(cov, index=names, columns=names)

    def _unscaled_vcov(self, names: list[str]) -> pd.DataFrame:
        """lme4's ``σ² (R_X R_Xᵀ)⁻¹`` (no Hessian)."""
        self._require_fit()
        cov = unscaled_covariance(self.engine.fixed_precision(), self.sigma)
        return pd.DataFrame(cov, index=names, columns=names)

    @property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, standard error, z statistic and two-sided p value of each fixed effect."""
        return z_table(self.beta, self.vcov.to_numpy(), list(self.fixed.names))

    @property
    def is_singular(self) -> bool:
        """True when a bounded θ is within 1e-4 of zero (lme4's ``isSingular``).

        Also true when a term has linearly dependent columns (as for a linear mixed model):
        its covariance cannot be estimated whatever θ the optimizer stops at.
        """
        bounded = self.lower == 0.0
        at_edge = correlations_at_limit(self.terms, self.theta)
        singular = bool(np.any(self.theta[bounded] < SINGULAR_TOL)) or bool(self.degenerate_terms)
        return singular or at_edge

    def spherical_modes(self) -> list[Array]:
        """Conditional modes of the spherical random effects ``u`` per term, ``(l, k)``."""
        self._require_fit()
        return self.engine.split(self.engine.u)

    @property
    def ranef_var(self) -> dict[str, Array]:
        """Conditional covariance blocks ``(levels, k, k)`` per term (lme4's ``condVar``)."""
        return glmm_conditional_variances(self)

    # ---- predictions, residuals, simulation: models.glmm_results ---------------------------
    def predict(
        self,
        new_data: Any = None,
        *,
        type: str = "link",
        re_form: str | None = None,
        allow_new_levels: bool = False,
        offset: Any = None,
    ) -> Array:
        """Predictions on the link or response scale, as lme4's ``predict.merMod``.

        Parameters
        ----------
        new_data
            A DataFrame with the predictor and grouping columns; ``None`` for the fitted data.
        type
            ``"link"`` (the linear predictor, lme4's default) or ``"response"`` (the mean).
        re_form
            ``None`` (all random effects), ``"~0"`` (none) or some of the model's terms.
        allow_new_levels
            Unseen grouping levels get the population prediction instead of an error.
        offset
            Offset values for ``new_data`` when the model's offset was an array.
        """
        from mixedmodels.results.glmm import predict_glmm

        self._require_fit()
        return predict_glmm(self, new_data, type, re_form, allow_new_levels, offset)

    def fitted(self) -> Array:
        """Fitted means ``μ̂`` (conditional on the random effects), as lme4's ``fitted``."""
        return self.frame.padded(fitted_means(self))

    def residuals(self, type: str = "deviance", *, scaled: bool = False) -> Array:
        """Residuals of type ``"deviance"`` (default), ``"pearson"``, ``"response"``, ``"working"``.

        With ``scaled``, divided by σ (as lme4's ``residuals(m, "pearson", scaled = TRUE)``).
        """
        from mixedmodels.results.glmm import glmm_residuals

        self._require_fit()
        res = glmm_residuals(self, type)
        return self.frame.padded(res / self.sigma if scaled else res)

    def simulate(
        self,
        nsim: int = 1,
        *,
        seed: Any = None,
        re_form: str | None = "NA",
        use_ranef: bool = True,
    ) -> Array:
        """Simulate responses at the estimates (lme4's ``simulate``); ``(nobs, nsim)``.

        Binomial responses are simulated as the model saw them: successes for ``cbind``,
        proportions with weights, 0/1 otherwise. ``re_form`` and ``use_ranef`` are as for
        :meth:`LinearMixedModel.simulate`.
        """
        from mixedmodels.results.glmm import simulate_glmm

        self._require_fit()
        rng = np.random.default_rng(seed)
        return simulate_glmm(self, nsim, rng, use_ranef, re_form)

    def summary(self) -> str:
        """Text like lme4's ``summary(glmer)``."""
        from mixedmodels.results.glmm_summary import glmm_summary_text

        return glmm_summary_text(self)

    def __repr__(self) -> str:
        state = "fitted" if self.optsum is not None else "not fitted"
        label = f"{self.family.label}({self.family.link.name})"
        return f"<GeneralizedLinearMixedModel {self.formula!r} {label}, {state}>"
