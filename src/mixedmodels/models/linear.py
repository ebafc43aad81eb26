"""Linear mixed models: build once, evaluate the profiled objective, fit, read the results.

The pipeline, each step in its own module::

    formula.parse_formula → spec.model_frame / fixed_effects / random_effects_terms
      → linalg.frame_blocks (A, once; or chunked.chunked_blocks by a pass over the chunks)
      → LinearMixedModel.from_blocks → linalg.BlockedCholesky.update (per θ)
      → objective.lmm → optimize → results.*
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.fit.allfit import OPTIMIZERS, all_fit
from mixedmodels.fit.lmm import fit_theta
from mixedmodels.fit.warnings import warn_after_lmm_fit
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.frame_blocks import frame_blocks, with_response
from mixedmodels.linalg.model_blocks import ModelBlocks
from mixedmodels.linalg.threads import blas_threads
from mixedmodels.models.base import MixedModelBase, frozen_copy
from mixedmodels.models.lmm_inference import LmmInference
from mixedmodels.models.rows import needs_rows, new_response, passed_fitted, passed_residuals
from mixedmodels.objective.lmm import LmmObjective, profiled_criterion
from mixedmodels.optimize import OptSummary
from mixedmodels.optimize.checks import ConvergenceCheck
from mixedmodels.optimize.scaling import SEARCH_LIMIT, theta_scaling
from mixedmodels.results.predict import predict
from mixedmodels.results.ranef import conditional_variances
from mixedmodels.results.simulate import simulate_responses
from mixedmodels.spec.arguments import check_fixed_sigma, check_flag, check_start
from mixedmodels.spec.checks import mixed_model_formula
from mixedmodels.spec.frame import NaAction, formula_offsets
from mixedmodels.spec.new_response import checked_flag, checked_response
from mixedmodels.spec.random import correlations_at_limit

if TYPE_CHECKING:
    from mixedmodels.inference.lmm_replicates import LmmReplicates

__all__ = ["LinearMixedModel"]

Array = FloatArray
SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on the bounded θ
CHECK_NOBS = 10_000  # convergence checks by default up to this many observations


class LinearMixedModel(LmmInference, MixedModelBase):
    """A linear mixed model ``y = Xβ + Zb + ε`` built from an lme4-style formula.

    Construction evaluates the formula on the data and stores ``[Z X y]'[Z X y]`` in blocks
    (:func:`~mixedmodels.linalg.frame_blocks.frame_blocks`); :meth:`from_blocks` builds the
    model from blocks computed otherwise (by passes over data beyond memory). :meth:`fit`
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
    sigma
        A fixed residual SD (nlme's ``lmeControl(sigma = )``; a tiny one is glmmTMB's
        ``dispformula = ~0``), or None (estimated, the default).

    Attributes
    ----------
    blocks
        What the model was built from (:class:`~mixedmodels.linalg.model_blocks.ModelBlocks`):
        the stored blocks, terms, fixed part, sums and, in memory, the rows.
    has_rows
        Whether the rows are in memory (the blocks have them); what needs them refuses
        itself otherwise (:mod:`mixedmodels.models.rows`).
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
        sigma: float | None = None,
    ) -> None:
        parsed = mixed_model_formula(formula, functions)
        reml = check_flag(reml, "reml")
        blocks = frame_blocks(parsed, data, weights, offset, na_action, subset, contrasts)
        self._build(blocks, reml, sigma)

    @classmethod
    def from_blocks(
        cls, blocks: ModelBlocks, *, reml: bool = True, sigma: float | None = None
    ) -> Self:
        """A model (not fitted) of ``blocks``, however they were computed.

        Every model is built this way: from a data frame in memory
        (:func:`~mixedmodels.linalg.frame_blocks.frame_blocks`, what the constructor does) or
        by passes over data beyond memory (:func:`~mixedmodels.chunked.model.chunked_blocks`).
        The model has the rows (``has_rows``) when the blocks have them.
        """
        model = cls.__new__(cls)
        model._build(blocks, check_flag(reml, "reml"), sigma)
        return model

    def _build(self, blocks: ModelBlocks, reml: bool, sigma: float | None = None) -> None:
        """The model of ``blocks``, not fitted: where every construction ends."""
        self.fixed_sigma = check_fixed_sigma(sigma)  # σ not estimated (nlme's sigma =)
        self.formula, self.parsed, self.reml = blocks.parsed.formula, blocks.parsed, reml
        self.weights_name, self.offset_name = blocks.weights_name, blocks.offset_name
        self.data_name: str | None = blocks.data_name  # shown as "Data:" in the summary
        self.has_rows = blocks.has_rows  # what needs the rows refuses itself (models.rows)
        self._use(blocks)
        self.L = BlockedCholesky(self.terms, self.A)
        self.L.set_response_shift(*blocks.shift)
        self.lower = np.concatenate([t.lower_bounds() for t in self.terms])
        self._theta = frozen_copy(np.concatenate([t.initial_theta() for t in self.terms]))
        self.optsum: OptSummary | None = None
        self.convergence: ConvergenceCheck | None = None
        self.ddf = "satterthwaite"  # the df method of coef_table and summary()

    def _use(self, blocks: ModelBlocks) -> None:
        """Take the parts of ``blocks`` that results read (at construction, for a new response)."""
        self.blocks = blocks
        self.A, self.terms, self.y = blocks.A, blocks.terms, blocks.y
        self.fixed, self.frame = blocks.fixed, blocks.frame
        self.log_weights, self.degenerate_terms = blocks.log_weights, blocks.degenerate_terms

    # ---- sizes ------------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return self.blocks.nobs

    @property
    def dof_residual(self) -> int:
        """``n − p`` for REML, ``n`` for ML: the divisor of σ̂²."""
        return self.nobs - self.n_fixed if self.reml else self.nobs

    @property
    def npar(self) -> int:
        """Number of parameters: β, θ and σ unless fixed (as lme4's ``df`` of ``logLik``)."""
        return self.n_fixed + len(self.theta) + (self.fixed_sigma is None)

    def fixed_gram(self) -> FloatArray:
        """``XᵀX`` of the (kept) fixed-effects columns, unweighted."""
        return self.blocks.fixed_gram()

    def response_stats(self) -> tuple[int, float, float]:
        """Number, sum and sum of squares of the response minus the offset."""
        return self.blocks.response_stats()

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
            self.fixed_sigma,
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
        return profiled_criterion(
            self.L, self.nobs, self.n_fixed, self.log_weights, reml, self.fixed_sigma
        )

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
            return self._unfitted().fit(
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

    def ml_fit(self) -> LinearMixedModel:
        """The model fitted by maximum likelihood (lme4's ``refitML``): a new model if REML."""
        return self.refit(reml=False) if self.reml else self

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
        """Whether :meth:`fit` checks (and polishes) the optimum by default.

        Up to 10,000 rows in memory; always for data read by passes (an evaluation of the
        derivatives costs nothing next to a pass).
        """
        return self.nobs <= CHECK_NOBS or not self.blocks.has_rows

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
        new = self._unfitted()
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
            sigma=self.fixed_sigma,
        )
        return model.fit(check_convergence=check_convergence)

    @needs_rows("the parametric bootstrap")
    def bootstrap_replicates(self) -> LmmReplicates:
        """The parametric bootstrap's simulate-and-refit replicates on this model's blocks."""
        from mixedmodels.inference.lmm_replicates import LmmReplicates

        self._require_fit()
        sqrtw = None if self.blocks.rows is None else self.blocks.rows.sqrtw
        return LmmReplicates(self, sqrtw, self.blocks.shift, self.singular_at)

    def bootstrap_batch(self) -> int:
        """How many bootstrap replicates :meth:`bootstrap_replicates` runs best together."""
        from mixedmodels.inference.lmm_replicates import replicate_batch

        return replicate_batch(self)

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

    def _unfitted(self) -> LinearMixedModel:
        """A copy (:meth:`_spawn`) without this model's fit, ready to be fitted in place."""
        new = self._spawn()
        new.optsum, new.convergence = None, None
        return new

    def _set_response(self, values: FloatArray) -> None:
        """Use a new (checked) response: new response blocks, the same ``Z`` parts."""
        self._use(with_response(self.blocks, values))
        self.L.set_response_shift(*self.blocks.shift)
        self.L.set_blocks(self.A, same_z=True)
        self.__dict__.pop("_work_objective", None)

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
        """Residual standard deviation σ̂ (the given value when it is fixed)."""
        self._require_fit()
        if self.fixed_sigma is not None:
            return self.fixed_sigma
        return math.sqrt(self.L.pwrss() / self.dof_residual)

    @property
    def beta(self) -> Array:
        """Fixed-effect estimates as an array."""
        self._require_fit()
        return self.L.fixed_effects()

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
        return self.singular_at(self.theta)

    def singular_at(self, theta: Array) -> bool:
        """:attr:`is_singular` of covariance parameters ``theta`` of this model's terms."""
        bounded = self.lower == 0.0
        scaling = self.cached(
            "theta scaling", lambda m: theta_scaling(m.terms, m.A, m.nobs, SEARCH_LIMIT)
        )
        at_edge = correlations_at_limit(self.terms, theta)
        phi = scaling.to_phi(theta)
        return bool(np.any(phi[bounded] < SINGULAR_TOL)) or bool(self.degenerate_terms) or at_edge

    def spherical_modes(self) -> list[Array]:
        """Conditional modes of the spherical random effects ``u`` per term, ``(l, k)``."""
        self._require_fit()
        u = self.L.spherical_modes(self.beta)
        return [uj.reshape(t.nlevels, t.k) for uj, t in zip(u, self.terms, strict=True)]

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
        an array; ``type``: ``"response"`` or ``"link"`` (the same for an LMM). Without the
        rows in memory the fitted data's predictions are a lazy series (a pass over the data).
        """
        if type not in ("response", "link"):
            raise ModelSpecificationError(f"type must be 'response' or 'link', not {type!r}")
        self._require_fit()
        if new_data is None and self.blocks.passes is not None:
            return passed_fitted(self, self.blocks.passes, re_form)
        values = predict(
            self, new_data, re_form=re_form, allow_new_levels=allow_new_levels, offset=offset
        )
        return self.frame.padded(values) if new_data is None else values

    def residuals(self, type: str = "response", scaled: bool = False) -> FloatArray:
        """Residuals as lme4's ``residuals(m, type, scaled)``.

        ``"response"`` and ``"working"`` are ``y − fitted``; ``"pearson"`` and ``"deviance"``
        are those times ``√w``; ``scaled`` divides by σ̂. Without the rows in memory, a lazy
        series computed by a pass over the data.
        """
        from mixedmodels.results.residuals import residuals

        self._require_fit()
        if self.blocks.passes is not None:
            return passed_residuals(self, self.blocks.passes, type, scaled)
        return self.frame.padded(residuals(self, type, scaled))

    def scaled_residual_quantiles(self, probs: tuple[float, ...]) -> FloatArray:
        """Quantiles of the scaled Pearson residuals (the summary's; by passes without rows)."""
        key = tuple(float(p) for p in probs)
        return self.cached(
            f"residual quantiles {key}",
            lambda m: m.blocks.quantiles(m.residuals("pearson", scaled=True), key),
        )

    def __repr__(self) -> str:
        state = "fitted" if self.optsum is not None else "not fitted"
        method = "REML" if self.reml else "ML"
        return f"<{type(self).__name__} {self.formula!r} by {method}, {state}>"
