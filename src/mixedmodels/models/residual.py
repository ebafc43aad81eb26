"""Linear mixed models with a residual correlation structure and/or variance function.

nlme's ``lme(correlation=, weights=)``: ``Cov(ε_g) = σ² S_g R_g S_g`` within residual groups
(:mod:`mixedmodels.spec.residual`). The model is fitted on the whitened rows
(:mod:`mixedmodels.objective.residual`, :mod:`mixedmodels.fit.residual`); at the optimum it is
a :class:`~mixedmodels.models.LinearMixedModel` of the whitened blocks, with
``log_weights = −log|S R S|``, so β, its covariance, σ, the modes, VarCorr, the criterion,
logLik, AIC and likelihood-ratio tests come from the ordinary code. Per-row results (fitted
values, residuals) use the original rows: ``Xβ̂ + Zb̃`` and ``y`` minus it; ``"pearson"`` and
``"normalized"`` residuals are nlme's. What does not hold with a residual structure is refused
with :class:`~mixedmodels.errors.NotSupportedError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.fit.residual import fit_residual
from mixedmodels.fit.warnings import warn_after_lmm_fit
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.frame_blocks import frame_blocks
from mixedmodels.linalg.model_blocks import ModelBlocks
from mixedmodels.linalg.whitening import helmert_whiten
from mixedmodels.models.base import frozen_copy
from mixedmodels.models.linear import LinearMixedModel
from mixedmodels.objective.residual import ResidualObjective, Whitened, whitened_blocks
from mixedmodels.optimize import OptSummary
from mixedmodels.results.predict import included_terms
from mixedmodels.spec.arguments import check_flag
from mixedmodels.spec.checks import mixed_model_formula
from mixedmodels.spec.frame import NaAction, as_frame
from mixedmodels.spec.residual import (
    CorrelationSpec,
    ResidualStructure,
    VarianceSpec,
    residual_structure,
)

__all__ = ["ResidualMixedModel"]

Array = FloatArray
T = TypeVar("T")
RESIDUAL_TYPES = ("response", "working", "pearson", "deviance", "normalized")


def _refused(what: str) -> NotSupportedError:
    return NotSupportedError(
        f"{what} is not available for a model with a residual correlation structure or "
        "variance function (it assumes independent residuals of equal variance); available: "
        "fixef, vcov, coef_table (Satterthwaite, residual or Wald df), anova, contrast, "
        "confint(method='wald'), sigma, varcorr, ranef, loglik, AIC, BIC, likelihood-ratio "
        "tests, fitted, residuals, predict, summary"
    )


class ResidualMixedModel(LinearMixedModel):
    """An LMM with structured residuals (nlme's ``lme(correlation=, weights=)``).

    Build it with :func:`~mixedmodels.lmer` (``correlation=``, ``variance=``) or directly; the
    arguments are those of :class:`~mixedmodels.models.LinearMixedModel` plus:

    Parameters
    ----------
    correlation
        A residual correlation structure: :func:`~mixedmodels.cor_ar1`,
        :func:`~mixedmodels.cor_car1` or :func:`~mixedmodels.cor_cs`, or None.
    variance
        A variance function: :func:`~mixedmodels.var_ident`, :func:`~mixedmodels.var_power`
        or :func:`~mixedmodels.var_exp`, or None.

    Attributes
    ----------
    structure
        The evaluated structure (:class:`~mixedmodels.spec.residual.ResidualStructure`).

    Notes
    -----
    ``objective_function`` and ``objective_at`` are the criterion of θ with the residual
    parameters held at their estimates; :attr:`residual_objective` is the criterion of both.
    A variance function of the fitted values (``var_power()``) is evaluated at the fitted
    values of the last of nlme's passes (see :mod:`mixedmodels.fit.residual`); a data column
    named ``"fitted"`` cannot be its covariate.
    """

    def __init__(
        self,
        formula: str,
        data: Any,
        *,
        correlation: CorrelationSpec | None = None,
        variance: VarianceSpec | None = None,
        reml: bool = True,
        weights: Any = None,
        offset: Any = None,
        na_action: NaAction = "omit",
        functions: Mapping[str, Callable[..., Any]] | None = None,
        subset: Any = None,
        contrasts: Any = None,
    ) -> None:
        if correlation is None and variance is None:
            raise ModelSpecificationError(
                "a ResidualMixedModel needs a correlation or a variance function; without "
                "them use LinearMixedModel"
            )
        if weights is not None:
            raise NotSupportedError(
                "prior weights together with a residual correlation structure or variance "
                "function are not supported; express the variances with variance=var_*()"
            )
        parsed = mixed_model_formula(formula, functions)
        reml = check_flag(reml, "reml")
        blocks = frame_blocks(parsed, data, None, offset, na_action, subset, contrasts)
        used = as_frame(data).iloc[blocks.frame.rows].reset_index(drop=True)
        self.structure: ResidualStructure = residual_structure(
            correlation, variance, used, blocks.terms
        )
        self._plain = blocks
        self._build(blocks, reml)
        self._params: Array = frozen_copy(self.structure.start)
        self._covariate: Array | None = None

    # ---- the fit ----------------------------------------------------------------------
    def _objective(self, normalize: bool) -> ResidualObjective:
        """The criterion of ``(θ, u)`` on the original rows (a new one each time)."""
        blocks = self._plain
        return ResidualObjective(
            self.structure,
            blocks.terms,
            _stored_xy(blocks),
            blocks.shift,
            blocks.frame.offset,
            blocks.nobs,
            int(blocks.fixed.X.shape[1]),
            self.reml,
            np.concatenate([t.lower_bounds() for t in blocks.terms]),
            normalize=normalize,
        )

    @property
    def residual_objective(self) -> ResidualObjective:
        """The criterion as a function of ``x = (θ, u)``; a new one each time.

        ``u`` are the unconstrained residual parameters; a variance function of the fitted
        values is held at the fit's covariate.
        """
        objective = self._objective(normalize=False)
        objective.fitted = self._covariate
        return objective

    def fit(
        self,
        *,
        reml: bool | None = None,
        verbose: bool = False,
        check_convergence: bool | None = None,
        start: Any = None,
    ) -> LinearMixedModel:
        """Optimize the criterion jointly over θ and the residual parameters.

        Starts from the fit without the structure (or θ = ``start``); see
        :mod:`mixedmodels.fit.residual`. ``check_convergence`` is accepted for the signature
        of :meth:`LinearMixedModel.fit` (the restarts of the optimizer serve instead).
        A fitted model is left as it is and a new one is fitted and returned.
        """
        reml = None if reml is None else check_flag(reml, "reml")
        if self.optsum is not None:
            return self._unfitted().fit(reml=reml, verbose=verbose, start=start)
        if reml is not None:
            self.reml = reml
        plain = LinearMixedModel.from_blocks(self._plain, reml=self.reml)
        if start is not None:
            plain = plain.at_theta(start)
        else:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plain.fit(check_convergence=False)
        objective = self._objective(normalize=True)
        found = fit_residual(objective, plain.theta, plain.fitted(), verbose)
        self._covariate = None if found.fitted is None else frozen_copy(found.fitted)
        white = whitened_blocks(
            self.structure, self._plain.terms, objective.xy, found.params, found.fitted
        )
        self._use_whitened(white)
        self.L.update(found.theta)
        summary = OptSummary(
            plain.theta,
            self.lower,
            found.theta,
            self._criterion(self.reml),
            found.summary.feval,
            found.summary.return_value,
            settings={"passes": float(found.passes)},
        )
        self._params = frozen_copy(found.params)
        self._store_fit(summary, None)
        warn_after_lmm_fit(summary, None, self.is_singular, stacklevel=2)
        return self

    def _use_whitened(self, white: Whitened) -> None:
        """Use the whitened blocks (original rows kept for the per-row results)."""
        blocks = replace(self._plain, A=white.A, terms=white.terms, log_weights=-white.logdet)
        self._use(blocks)
        self.L = BlockedCholesky(self.terms, self.A)
        self.L.set_response_shift(*blocks.shift)
        self.__dict__.pop("_work_objective", None)
        self._white = white

    # ---- what the structure adds ------------------------------------------------------
    @property
    def npar(self) -> int:
        """β, θ, σ and the residual parameters (nlme's ``df`` of ``logLik``)."""
        return self.n_fixed + len(self.theta) + 1 + self.structure.n_params

    @property
    def residual_params(self) -> Array:
        """The residual parameters on the optimizer's (unconstrained) scale."""
        return self._params

    @property
    def correlation_parameters(self) -> dict[str, float]:
        """The correlation parameter by nlme's name (``Phi``, ``Phi1``, ``Rho``)."""
        self._require_fit()
        return self.structure.correlation_parameters(self._params)

    @property
    def variance_parameters(self) -> dict[str, float]:
        """The variance function's parameters: ratios per level (varIdent), ``power``, ``expon``."""
        self._require_fit()
        return self.structure.variance_parameters(self._params)

    def sd_multipliers(self) -> Array:
        """The residual SD of each row relative to σ (``S_ii``; ones without variance function)."""
        self._require_fit()
        _, sd = self.structure.parts(self._params, self._covariate)
        return np.ones(self.nobs) if sd is None else sd

    # ---- per-row results on the original rows ------------------------------------------
    def predict(
        self,
        new_data: Any = None,
        *,
        re_form: str | None = None,
        allow_new_levels: bool = False,
        offset: Any = None,
        type: str = "response",
    ) -> FloatArray:
        """Predictions ``Xβ̂ + Zb̃`` as nlme's (the residual correlation is not used).

        The arguments are those of :meth:`LinearMixedModel.predict`; ``re_form="NA"`` (or
        ``"~0"``) gives the population level.
        """
        if new_data is not None:
            return super().predict(
                new_data,
                re_form=re_form,
                allow_new_levels=allow_new_levels,
                offset=offset,
                type=type,
            )
        if type not in ("response", "link"):
            raise ModelSpecificationError(f"type must be 'response' or 'link', not {type!r}")
        self._require_fit()
        return self.frame.padded(self._fitted_rows(re_form))

    def _fitted_rows(self, re_form: str | None) -> Array:
        """``Xβ̂ + offset`` plus the included terms' ``z b̃`` on the original rows."""
        eta = self.fixed.X @ self.beta + self.frame.offset
        wanted = {id(t) for t in included_terms(self, re_form)}
        modes = self.random_effects()
        for white, term, b in zip(self.terms, self._plain.terms, modes, strict=True):
            if id(white) in wanted:
                eta = eta + np.einsum("ik,ik->i", term.z, b[term.refs])
        return np.asarray(eta)

    def residuals(self, type: str = "response", scaled: bool = False) -> FloatArray:
        """Residuals of the original rows, as nlme's.

        ``"response"`` (``"working"``): ``y − fitted``, divided by σ̂ if ``scaled``;
        ``"pearson"`` (``"deviance"``): ``(y − fitted)/(σ̂ S_ii)``; ``"normalized"``:
        ``C_g⁻¹(y − fitted)/σ̂`` (these two are scaled already: ``scaled`` does not apply).
        """
        if type not in RESIDUAL_TYPES:
            allowed = ", ".join(repr(t) for t in RESIDUAL_TYPES)
            raise ModelSpecificationError(f"residual type must be one of {allowed}, not {type!r}")
        self._require_fit()
        res: Array = self.fixed.y - self._fitted_rows(None)
        if type in ("pearson", "deviance"):
            res = res / (self.sigma * self.sd_multipliers())
        elif type == "normalized":
            res = self._normalized(res)
        elif scaled:
            res = res / self.sigma
        return self.frame.padded(np.asarray(res))

    def _normalized(self, res: Array) -> Array:
        """The normalized residuals (nlme's): whitened by the residual covariance, over σ̂."""
        cor = self.structure.correlation
        if cor is not None and cor.spec.kind == "cs":  # nlme's (Helmert) factor
            rho = cor.natural(float(self._params[0]))
            return helmert_whiten(cor.layout, rho, res / self.sd_multipliers()) / self.sigma
        return self._white.factor.whiten(res) / self.sigma

    def summary(self, ddf: str | None = None) -> str:
        """lme4's summary with nlme's sections of the correlation structure and variance."""
        from mixedmodels.models.residual_summary import residual_sections

        text = super().summary(ddf)
        extra = residual_sections(self)
        marker = "\nFixed effects:"
        head, sep, tail = text.partition(marker)
        return head + "\n" + extra + sep + tail if sep else text + extra

    # ---- inference ------------------------------------------------------------------------
    def cached(self, kind: str, build: Callable[[Any], T]) -> T:
        """As :meth:`LinearMixedModel.cached`; Satterthwaite's parts over (θ, u, σ).

        Satterthwaite's df (:mod:`mixedmodels.inference.ddf`) read their parts through here:
        a model with a residual structure computes them over every variance parameter.
        """
        if kind == "satterthwaite":
            from mixedmodels.models.residual_inference import residual_satterthwaite

            return cast(T, super().cached(kind, residual_satterthwaite))
        return super().cached(kind, build)

    def coef_test(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """The t tests of the fixed effects (Satterthwaite, residual or Wald df; not KR)."""
        from mixedmodels.inference.ddf import ddf_method

        if ddf_method(ddf) == "kenward-roger":
            raise _refused("Kenward-Roger df")
        return super().coef_test(ddf)

    def confint(self, method: str = "wald", level: float = 0.95, **kwargs: Any) -> pd.DataFrame:
        """Wald intervals of the fixed effects (profile and bootstrap intervals are refused)."""
        if str(method).lower() != "wald":
            raise _refused(f"confint(method={method!r})")
        return super().confint(method, level, **kwargs)

    def refit(
        self, y: Any = None, *, reml: bool | None = None, check_convergence: bool | None = None
    ) -> LinearMixedModel:
        """A new model fitted again (``reml`` to change the criterion); a new ``y`` is refused."""
        if y is not None:
            raise _refused("refit with a new response")
        new = self._unfitted()
        return new.fit(reml=reml)

    def _unfitted(self) -> ResidualMixedModel:
        new = super()._unfitted()
        assert isinstance(new, ResidualMixedModel)
        new._use(new._plain)
        new.L = BlockedCholesky(new.terms, new.A)
        new.L.set_response_shift(*new._plain.shift)
        return new

    def at_theta(self, theta: Any) -> LinearMixedModel:
        """Refused: θ alone does not determine a model with residual parameters."""
        raise _refused("at_theta")

    def all_fit(self, optimizers: Any = None) -> pd.DataFrame:
        """Refused (the optimizers run over θ alone)."""
        raise _refused("all_fit")

    def profile(self, which: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Refused (the profile runs over θ alone)."""
        raise _refused("profile")

    def bootstrap(self, n: int, **kwargs: Any) -> pd.DataFrame:
        """Refused (the simulation draws independent residuals)."""
        raise _refused("the parametric bootstrap")

    def bootstrap_replicates(self) -> Any:
        """Refused (the simulation draws independent residuals)."""
        raise _refused("the parametric bootstrap")

    def bootstrap_batch(self) -> int:
        """Refused, in the caller's process before any worker starts."""
        raise _refused("the parametric bootstrap")

    def simulate(self, nsim: int = 1, **kwargs: Any) -> FloatArray:
        """Refused (the simulation draws independent residuals)."""
        raise _refused("simulate")

    def hat_values(self) -> FloatArray:
        """Refused."""
        raise _refused("hat_values")

    def cooks_distance(self, group: Any = None) -> Any:
        """Refused."""
        raise _refused("cooks_distance")

    def influence(self, group: Any) -> Any:
        """Refused."""
        raise _refused("influence")

    def fit_to_rows(self, keep: Any, *, check_convergence: bool | None = False) -> Any:
        """Refused."""
        raise _refused("fit_to_rows")

    def prediction_intervals(self, new_data: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Refused (the residual variance of a new row is not defined by the fit)."""
        raise _refused("prediction_intervals")

    def __repr__(self) -> str:
        state = "fitted" if self.optsum is not None else "not fitted"
        method = "REML" if self.reml else "ML"
        cor, var = self.structure.correlation, self.structure.variance
        parts = [] if cor is None else [f"{cor.title} {cor.formula()}"]
        parts += [] if var is None else [f"{var.title} {var.spec.formula()}"]
        return (
            f"<{type(self).__name__} {self.formula!r} with {', '.join(parts)} by {method}, {state}>"
        )


def _stored_xy(blocks: ModelBlocks) -> Array:
    """``[X y−shift]`` of the original rows, as :func:`frame_blocks` stored them."""
    X, y = blocks.fixed.X, blocks.y
    shift, intercept = blocks.shift
    if intercept is None and np.ndim(shift) == 1:
        return np.column_stack([X, y - X @ np.asarray(shift)])
    return np.column_stack([X, y - shift])
