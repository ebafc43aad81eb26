"""Linear mixed models: build once, evaluate the profiled objective, fit, read the results.

The pipeline, each step in its own module::

    formula.parse_formula → terms.model_frame / fixed_effects / random_effects_terms
      → linalg.cross_products (A, once) → linalg.BlockedCholesky.update (per θ)
      → objective (below) → optimize.bobyqa → results.*
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import (
    ModelSpecificationError,
)
from mixedmodels.fit.allfit import OPTIMIZERS, all_fit
from mixedmodels.fit.lmm import fit_theta
from mixedmodels.fit.warnings import warn_after_lmm_fit
from mixedmodels.linalg import BlockedCholesky, cross_products
from mixedmodels.linalg.crossprod import CrossProducts, replace_response
from mixedmodels.linalg.shift import coefficient_shift
from mixedmodels.linalg.threads import blas_threads
from mixedmodels.models.base import MixedModelBase, frozen_copy
from mixedmodels.models.lmm_inference import LmmInference
from mixedmodels.models.rows import (
    needs_rows,
    new_response,
)
from mixedmodels.objective.lmm import LmmObjective, profiled_criterion
from mixedmodels.optimize import OptSummary
from mixedmodels.optimize.checks import ConvergenceCheck
from mixedmodels.optimize.scaling import SEARCH_LIMIT, theta_scaling
from mixedmodels.results.predict import predict
from mixedmodels.results.ranef import conditional_variances
from mixedmodels.results.simulate import simulate_responses
from mixedmodels.results.varcorr import varcorr_table
from mixedmodels.spec import (
    RandomEffectsTerm,
    fixed_effects,
    model_frame,
    random_effects_terms,
)
from mixedmodels.spec.arguments import check_flag, check_start
from mixedmodels.spec.checks import (
    check_fixed_count,
    check_model,
    collinear_terms,
    mixed_model_formula,
)
from mixedmodels.spec.frame import NaAction, formula_offsets
from mixedmodels.spec.magnitudes import check_magnitudes
from mixedmodels.spec.new_response import checked_flag, checked_response

__all__ = ["LinearMixedModel"]

Array = FloatArray
SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on the bounded θ
CHECK_NOBS = 10_000  # convergence checks by default up to this many observations


class LinearMixedModel(LmmInference, MixedModelBase):
    """A linear mixed model ``y = Xβ + Zb + ε`` built from an lme4-style formula.

    Construction evaluates the formula and stores ``[Z X y]'[Z X y]`` in blocks; :meth:`fit`
    optimizes the profiled deviance (ML) or REML criterion over θ.

    Parameters
    ----------
    formula
        An lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data
        A pandas DataFrame; it is never modified.
    reml
        Fit by REML (the default, as lme4) or by maximum likelihood.
    weights
        Prior weights (a column name or one value per row): ``Var(ε_i) = σ²/w_i``.
    offset
        A known term added to the linear predictor (a column name or one value per row).
    na_action
        ``"omit"`` drops rows with missing values in used columns; ``"exclude"`` too, but then
        pads per-row results with NaN (R's ``na.exclude``); ``"fail"`` refuses them.
    functions
        Functions the formula may call besides the allowed ones, e.g. ``{"logit": fn}``
        (a formula never runs other code: see :mod:`mixedmodels.formula.expressions`).
    subset, contrasts
        The rows to fit and R's contrasts for factors, as for :func:`~mixedmodels.lmer`.
    """

    def __init__(
        self,
        formula: str,
        data: Any,
        *,
        reml: bool = True,
        weights: Any = None,
        offset: Any = None,
        na_action: NaAction = "omit",
        functions: Mapping[str, Callable[..., Any]] | None = None,
        subset: Any = None,
        contrasts: Any = None,
    ) -> None:
        self.formula = formula
        self.parsed = mixed_model_formula(formula, functions)
        reml = check_flag(reml, "reml")
        self.frame = model_frame(self.parsed, data, weights, offset, na_action, subset, contrasts)
        frame = self.frame.data
        user = self.parsed.functions
        self.fixed = fixed_effects(
            self.parsed.response, self.parsed.fixed, frame, formula, user, self.frame.contrasts
        )
        self.terms: list[RandomEffectsTerm] = random_effects_terms(
            self.parsed.random, frame, formula, user
        )
        self.reml = bool(reml)
        self.y = self.fixed.y - self.frame.offset
        check_model(self.terms, self.y, self.parsed.response)
        self.degenerate_terms = collinear_terms(self.terms)
        weighted = not np.all(self.frame.weights == 1.0)
        self._sqrtw = np.sqrt(self.frame.weights) if weighted else None
        self.log_weights = float(np.sum(np.log(self.frame.weights))) if weighted else 0.0
        self._setup(cross_products(self.terms, self._xy(), self._sqrtw))
        self.weights_name = weights if isinstance(weights, str) else None
        self.offset_name = offset if isinstance(offset, str) else None

    def _setup(self, A: CrossProducts) -> None:
        """Factor structure and fit state from the stored blocks (``_shift`` already set)."""
        self.A = A
        self.L = BlockedCholesky(self.terms, self.A)
        self.L.set_response_shift(*self._shift)
        self.lower = np.concatenate([t.lower_bounds() for t in self.terms])
        self._theta = frozen_copy(np.concatenate([t.initial_theta() for t in self.terms]))
        self.optsum: OptSummary | None = None
        self.convergence: ConvergenceCheck | None = None
        self.data_name: str | None = self.frame.name  # shown as "Data:" in the summary
        self.ddf = "satterthwaite"  # the df method of coef_table and summary()

    # ---- sizes ------------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return int(self.y.shape[0])

    @property
    def n_fixed(self) -> int:
        """Number of (estimable) fixed-effect coefficients ``p``."""
        return int(self.fixed.X.shape[1])

    @property
    def dof_residual(self) -> int:
        """``n − p`` for REML, ``n`` for ML: the divisor of σ̂²."""
        return self.nobs - self.n_fixed if self.reml else self.nobs

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom ``n − npar``, as lme4's ``df.residual``."""
        return self.nobs - self.npar

    @property
    def npar(self) -> int:
        """Number of parameters: β, θ and σ (as lme4's ``df`` of ``logLik``)."""
        return self.n_fixed + len(self.theta) + 1

    def fixed_gram(self) -> FloatArray:
        """``XᵀX`` of the (kept) fixed-effects columns, unweighted."""
        X = self.fixed.X
        return X.T @ X

    # ---- the objective ----------------------------------------------------------------
    @property
    def objective_function(self) -> LmmObjective:
        """The objective of θ with a factor of its own (lme4's ``devfun``; a new one each time).

        ``model.objective_function(model.theta)`` is ``model.objective``; evaluating it never
        touches the model.
        """
        return LmmObjective(
            self.terms,
            self.A,
            self.L.spawn(),
            self.nobs,
            self.n_fixed,
            self.log_weights,
            self.reml,
            self.lower,
        )

    def objective_at(self, theta: Array) -> float:
        """The REML criterion or ML deviance at ``theta``, profiled over β and σ.

        Evaluated on a working factor of the model's own (kept between calls): the factor the
        results are read from stays at θ̂.
        """
        work = self.__dict__.get("_work_objective")
        if work is None or work.reml != self.reml:
            work = self.__dict__["_work_objective"] = self.objective_function
        return work(theta)

    def _criterion(self, reml: bool) -> float:
        """The ML deviance or REML criterion from the model's factor (at θ̂ once fitted)."""
        return profiled_criterion(self.L, self.nobs, self.n_fixed, self.log_weights, reml)

    def fit(
        self,
        *,
        reml: bool | None = None,
        verbose: bool = False,
        check_convergence: bool | None = None,
        start: Any = None,
    ) -> LinearMixedModel:
        """Optimize the objective over θ with BOBYQA and keep the optimum.

        Parameters
        ----------
        reml
            Override the criterion chosen at construction.
        start
            θ to start from (lme4's ``start``, see :func:`~mixedmodels.lmer`).
        verbose
            Print the objective at every evaluation.
        check_convergence
            Warn when the gradient and Hessian at the optimum look wrong (lme4's
            ``checkConv``; by default up to 10,000 observations, as lme4). Unless ``False``
            the optimum is also polished by one Newton step, so that fits of the same data
            agree to ~1e-10 whatever order they were summed in (in memory or by chunks).

        Returns
        -------
        LinearMixedModel
            ``self``, fitted. A model that is already fitted is a result and never changes:
            it is left as it is and a new model is fitted and returned (as :meth:`refit`).
        """
        reml = None if reml is None else check_flag(reml, "reml")
        if self.optsum is not None:
            new = self._spawn()
            new.optsum = None
            return new.fit(
                reml=reml, verbose=verbose, check_convergence=check_convergence, start=start
            )
        if reml is not None:
            self.reml = reml
        given = None if start is None else check_start(start, self.lower, self.terms)
        work = self.objective_function
        with blas_threads(self.L.thread_limit()):
            # derivatives and Newton polish unless refused (chunked and in-memory fits agree);
            # their warnings by default up to CHECK_NOBS observations, as lme4
            polish = check_convergence is not False
            optsum, found = fit_theta(work, verbose, polish, given)
            warn = self._checks_convergence() if check_convergence is None else polish
            self.L.update(optsum.final)
            optsum.fmin = self._criterion(self.reml)
        self._store_fit(optsum, found if warn else None)
        warn_after_lmm_fit(optsum, self.convergence, self.is_singular, stacklevel=2)
        return self

    def _store_fit(self, optsum: OptSummary, convergence: ConvergenceCheck | None) -> None:
        """Store a fit (the factor is already at its θ); forget what was kept for another."""
        self.optsum, self._theta = optsum, frozen_copy(optsum.final)
        self.convergence = convergence
        self._forget()

    @property
    def reml(self) -> bool:
        """Whether the criterion is REML (settable only before the fit; see :meth:`fit`)."""
        return self._reml

    @reml.setter
    def reml(self, value: bool) -> None:
        if getattr(self, "optsum", None) is not None:
            raise ModelSpecificationError(
                "a fitted model's criterion cannot change: fit(reml=...) or refit(reml=...) "
                "returns a new model"
            )
        self._reml = check_flag(value, "reml")

    @property
    def theta(self) -> Array:
        """Covariance parameters θ (read-only; :meth:`at_theta` evaluates another θ)."""
        return self._theta

    def at_theta(self, theta: Any) -> LinearMixedModel:
        """A new model whose results are evaluated at ``theta`` instead of optimized.

        As MixedModels.jl's ``updateL!(setθ!(m, θ))``: β, σ, the modes and every result follow
        from the factor at ``theta`` (useful to read a model at another program's estimates).
        This model is not changed.
        """
        given = check_start(theta, self.lower, self.terms)
        new = self._spawn()
        new.L.update(given)
        value = new._criterion(new.reml)
        summary = OptSummary(given, self.lower, given, value, 0, "GIVEN_THETA", "none")
        new._store_fit(summary, None)
        return new

    def _checks_convergence(self) -> bool:
        """Whether :meth:`fit` checks (and polishes) the optimum by default."""
        return self.nobs <= CHECK_NOBS

    def all_fit(self, optimizers: tuple[str, ...] = OPTIMIZERS) -> pd.DataFrame:
        """Refit with every available optimizer and tabulate objectives and estimates.

        As lme4's ``allFit`` (agreement says the optimum is well determined); the model is
        not changed.
        """
        self._require_fit()
        return all_fit(self, optimizers)

    @needs_rows("refit with a new response", when=new_response)
    def refit(
        self, y: Any = None, *, reml: bool | None = None, check_convergence: bool | None = None
    ) -> LinearMixedModel:
        """A new model fitted again, optionally to a new response (lme4's ``refit``).

        The model is left exactly as it was. The new one shares what a fit does not change
        (terms, frame, ``X``, the ``Z`` parts of the blocks), has its own factor, and only
        recomputes ``Z'y``, ``X'y`` and ``y'y`` (MixedModels.jl's ``refit!``; the bootstrap's).

        Parameters
        ----------
        y
            New response values, one finite number per observation used (before the offset
            is subtracted); a single column is accepted. None keeps the response.
        reml
            Override the criterion.
        check_convergence
            As for :meth:`fit` (the bootstrap turns it off).

        Raises
        ------
        DataError, ModelSpecificationError
            When ``y`` is not one finite number per observation, or a flag not a bool or None.
        """
        reml = checked_flag(reml, "reml")
        check_convergence = checked_flag(check_convergence, "check_convergence")
        values = None if y is None else checked_response(y, self.nobs)
        new = self._spawn()
        if values is not None:
            new._set_response(values)
        return new.fit(reml=reml, check_convergence=check_convergence)

    @needs_rows()
    def fit_to_rows(
        self, keep: NDArray[np.bool_], *, check_convergence: bool | None = False
    ) -> LinearMixedModel:
        """A new model of the same formula and arguments fitted to the rows ``keep`` (used)."""
        frame = self.frame
        extra = frame.offset - formula_offsets(self.parsed, frame.data)
        weighted = not np.all(frame.weights == 1.0)
        model = LinearMixedModel(
            self.formula,
            frame.data.loc[keep].reset_index(drop=True),
            reml=self.reml,
            weights=frame.weights[keep] if weighted else None,
            offset=extra[keep] if np.any(extra != 0.0) else None,
            functions=self.parsed.functions or None,
            contrasts=frame.contrasts or None,
        )
        return model.fit(check_convergence=check_convergence)

    def _spawn(self) -> LinearMixedModel:
        """A shallow copy that shares the immutable parts and owns its factor.

        Everything a fit or a new response changes is replaced, never written into, so the
        copy can be fitted (or its factor moved) without touching this model.
        """
        new = copy.copy(self)
        new.L = self.L.spawn()
        new.__dict__.pop("_work_objective", None)
        new._forget()
        return new

    def _set_response(self, values: FloatArray) -> None:
        """Use a new (checked) response: new response blocks, the same ``Z`` parts."""
        self.fixed = replace(self.fixed, y=values)
        self.y = values - self.frame.offset
        self.A = replace_response(self.A, self.terms, self._xy(), self._sqrtw)
        self.L.set_response_shift(*self._shift)
        self.L.set_blocks(self.A, same_z=True)
        self.__dict__.pop("_work_objective", None)

    def _xy(self) -> FloatArray:
        """``[X y−shift]``, the matrix whose cross-products are stored (sets ``_shift``)."""
        weights = None if self._sqrtw is None else self.frame.weights
        check_fixed_count(self.nobs, self.fixed.names, self.fixed.dropped)
        check_magnitudes(
            self.fixed.X, self.fixed.names, self.y, self.parsed.response, self.terms, self._sqrtw
        )
        self._shift = coefficient_shift(self.fixed.X, self.y, weights)
        shift, intercept = self._shift
        if intercept is None and np.ndim(shift) == 1:
            return np.column_stack([self.fixed.X, self.y - self.fixed.X @ shift])
        return np.column_stack([self.fixed.X, self.y - shift])

    @needs_rows()
    def simulate(
        self, nsim: int = 1, *, seed: Any = None, re_form: str | None = "NA", use_ranef: bool = True
    ) -> FloatArray:
        """Simulate responses at the estimates (lme4's ``simulate``); ``(nobs, nsim)``.

        ``re_form`` names the random-effects terms to condition on, as lme4's ``re.form``:
        ``"NA"`` (default) draws new effects for every term, ``None`` keeps every term's
        conditional modes, a formula keeps those of its terms. ``use_ranef=False`` leaves the
        random effects out altogether.
        """
        self._require_fit()
        rng = np.random.default_rng(seed)
        return simulate_responses(self, nsim, rng, use_ranef=use_ranef, re_form=re_form)

    # ---- results from the current factor ----------------------------------------------
    def _require_fit(self) -> None:
        """Refuse results before a fit (the model's factor is always at the estimates)."""
        if self.optsum is None:
            raise ModelSpecificationError("the model has not been fitted yet: call .fit()")

    @property
    def objective(self) -> float:
        """REML criterion (REML fits) or deviance, ``-2 log L`` (ML fits), at the optimum."""
        self._require_fit()
        assert self.optsum is not None
        return self.optsum.fmin

    @property
    def deviance(self) -> float:
        """``-2 log L`` (the ML criterion) at the estimates; REML fits report it too."""
        self._require_fit()
        return self._criterion(False)

    @property
    def sigma(self) -> float:
        """Residual standard deviation σ̂."""
        self._require_fit()
        return math.sqrt(self.L.pwrss() / self.dof_residual)

    @property
    def beta(self) -> Array:
        """Fixed-effect estimates as an array."""
        self._require_fit()
        return self.L.fixed_effects()

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates, named by model-matrix column."""
        return pd.Series(self.beta, index=list(self.fixed.names), name="estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of β̂, ``σ̂² (R_X'R_X)⁻¹``."""
        self._require_fit()
        p = self.n_fixed
        Rx = self.L.xx[:p, :p]
        cov = self.sigma**2 * scipy.linalg.cho_solve((Rx, True), np.eye(p), check_finite=False)
        names = list(self.fixed.names)
        return pd.DataFrame(cov, index=names, columns=names)

    @property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, standard error, df, t statistic and p-value (lmerTest).

        The df method is the model's ``ddf`` attribute: Satterthwaite unless set to
        ``"kenward-roger"``, ``"residual"`` or ``"wald"``.
        """
        return self.coef_test(self.ddf)

    @property
    def is_singular(self) -> bool:
        """True when a bounded θ is within 1e-4 of zero (lme4's ``isSingular``).

        Also true when a term has linearly dependent columns, whose covariance cannot be
        estimated whatever θ the optimizer stops at. For a random-effects column of an extreme
        size (beyond 2²⁰ or below 2⁻²⁰) θ is judged rescaled to the column's size
        (:mod:`mixedmodels.optimize.scaling`), so that rescaling a predictor does not change
        the verdict.
        """
        bounded = self.lower == 0.0
        phi = theta_scaling(self.terms, self.A, self.nobs, SEARCH_LIMIT).to_phi(self.theta)
        return bool(np.any(phi[bounded] < SINGULAR_TOL)) or bool(self.degenerate_terms)

    def templates(self) -> list[Array]:
        """Relative covariance templates ``T_j`` at the current θ."""
        return self.L.templates(self.theta)

    def spherical_modes(self) -> list[Array]:
        """Conditional modes of the spherical random effects ``u`` per term, ``(l, k)``."""
        self._require_fit()
        u = self.L.spherical_modes(self.beta)
        return [uj.reshape(t.nlevels, t.k) for uj, t in zip(u, self.terms, strict=True)]

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as R's ``as.data.frame(VarCorr(m))``."""
        self._require_fit()
        return varcorr_table(self.terms, self.templates(), self.sigma)

    @property
    def ranef_var(self) -> dict[str, FloatArray]:
        """Conditional covariance blocks ``(levels, k, k)`` per term, as lme4's ``condVar``."""
        self._require_fit()
        return conditional_variances(self.L, self.templates(), self.sigma)

    def summary(self, ddf: str | None = None) -> str:
        """Text like lme4's ``summary(lmer)``; ``ddf`` as lmerTest's ``summary(m, ddf=)``."""
        from mixedmodels.results.summary import summary_text

        return summary_text(self, ddf)

    def _repr_html_(self) -> str:
        """The summary as HTML tables, for notebooks."""
        if self.optsum is None:
            return f"<pre>{self!r}</pre>"
        from mixedmodels.results.summary_html import summary_html

        return summary_html(self)

    def fitted(self) -> FloatArray:
        """Fitted values ``Xβ̂ + Zb̃ + offset`` (conditional on the random effects)."""
        return self.predict()

    def predict(
        self,
        new_data: Any = None,
        *,
        re_form: str | None = None,
        allow_new_levels: bool = False,
        offset: Any = None,
        type: str = "response",
    ) -> FloatArray:
        """Predictions for the fitted data (``new_data=None``) or ``new_data``, as lme4's.

        ``re_form``: ``None`` (all random effects), ``"~0"`` (none) or a formula of some of the
        model's terms, e.g. ``"~(1 | plate)"``; with ``allow_new_levels`` unseen levels get the
        population prediction; ``offset``: values for ``new_data`` when the model's offset was
        an array; ``type``: ``"response"`` or ``"link"`` (the same for an LMM).
        """
        if type not in ("response", "link"):
            raise ModelSpecificationError(f"type must be 'response' or 'link', not {type!r}")
        self._require_fit()
        values = predict(
            self, new_data, re_form=re_form, allow_new_levels=allow_new_levels, offset=offset
        )
        return self.frame.padded(values) if new_data is None else values

    def residuals(self, type: str = "response", scaled: bool = False) -> FloatArray:
        """Residuals as lme4's ``residuals(m, type, scaled)``.

        ``"response"`` and ``"working"`` are ``y − fitted``; ``"pearson"`` and ``"deviance"``
        are those times ``√w``; ``scaled`` divides by σ̂.
        """
        from mixedmodels.results.residuals import residuals

        self._require_fit()
        return self.frame.padded(residuals(self, type, scaled))

    def __repr__(self) -> str:
        state = "fitted" if self.optsum is not None else "not fitted"
        method = "REML" if self.reml else "ML"
        return f"<LinearMixedModel {self.formula!r} by {method}, {state}>"
