"""Models without random effects: R's ``lm`` and ``glm``, fitted by our own least squares.

They are what a likelihood-ratio test of a mixed model against the same model without random
effects compares with (``anova(lmer_model, lm_model)`` in R): the log-likelihoods are on the
same scale as lme4's ML fits (``lm``'s uses the ML estimate of σ, as R's ``logLik.lm``).

The fixed part is evaluated exactly as for the mixed models (``terms.model_frame`` and
``terms.fixed_effects``; ``glm`` reads the response as ``glmer`` does, so ``cbind(s, f)``
and proportions with ``weights=`` work); ``lm`` solves the weighted least-squares problem by a
QR factorization, ``glm`` by R's IRLS iterations (:mod:`mixedmodels.fit.irls`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.fit.irls import irls, least_squares, unscaled_covariance
from mixedmodels.formula import ParsedFormula, parse_formula
from mixedmodels.results.criteria import InformationCriteria
from mixedmodels.spec import FixedEffects, fixed_effects, model_frame
from mixedmodels.spec.families import Family
from mixedmodels.spec.family_names import get_family
from mixedmodels.spec.frame import ModelFrame, NaAction
from mixedmodels.spec.response import GlmResponse, frame_response, glm_response

__all__ = ["FixedEffectsModel", "GeneralizedLinearModel", "LinearModel", "fixed_only_formula"]

Array = FloatArray
LOG_2PI = math.log(2.0 * math.pi)
_RESPONSE = "_glm_response_"


def fixed_only_formula(formula: str, caller: str) -> ParsedFormula:
    """Parse a formula, refusing random-effects terms (they belong to ``lmer``/``glmer``)."""
    parsed = parse_formula(formula)
    if parsed.random:
        mixed = "lmer" if caller == "lm" else "glmer"
        raise ModelSpecificationError(
            f"the formula {formula!r} has the random-effects term {parsed.random[0]}; "
            f"{caller}() fits fixed effects only: use {mixed}() for a mixed model"
        )
    return parsed


def _glm_family(family: str | Family, link: str | None) -> Family:
    """The family of a glm; a Gaussian one with the identity link is a linear model."""
    gaussian = isinstance(family, str) and family.strip().lower() == "gaussian"
    if gaussian and link in (None, "identity"):
        raise ModelSpecificationError(
            "a Gaussian glm with the identity link is a linear model: use mm.lm()"
        )
    return get_family(family, link)


class FixedEffectsModel(InformationCriteria):
    """What ``lm`` and ``glm`` fits share: coefficients, their table, criteria, residuals.

    Attributes
    ----------
    formula
        The formula as given.
    frame
        The model frame (used columns, complete rows, weights and offset).
    fixed
        The response and the model matrix (rank-deficient columns dropped, as lme4 does).
    """

    fixed_only: ClassVar[bool] = True  # what model comparisons look for
    statistic_name: ClassVar[str] = "t"

    def __init__(
        self,
        formula: str,
        parsed: ParsedFormula,
        frame: ModelFrame,
        fixed: FixedEffects,
        offset: Any,
    ) -> None:
        self.formula = formula
        self.parsed = parsed
        self.frame = frame
        self.fixed = fixed
        self.terms: list[Any] = []  # no random-effects terms
        self.offset_name = offset if isinstance(offset, str) else None
        self.data_name: str | None = frame.name
        self._beta: Array = np.zeros(fixed.X.shape[1])
        self._unscaled: Array = np.zeros((fixed.X.shape[1],) * 2)

    # ---- sizes --------------------------------------------------------------------------
    @property
    def reml(self) -> bool:
        """Always False: these fits maximize the likelihood."""
        return False

    @property
    def is_singular(self) -> bool:
        """Always False: there are no variance parameters on a boundary."""
        return False

    @property
    def n_theta(self) -> int:
        """No covariance parameters (0)."""
        return 0

    def ml_fit(self) -> FixedEffectsModel:
        """Itself: the fit maximizes the likelihood already."""
        return self

    @property
    def n_fixed(self) -> int:
        """Number of (estimable) coefficients ``p``."""
        return int(self.fixed.X.shape[1])

    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return int(self.fixed.y.shape[0])

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom ``n − p`` (R's ``df.residual``)."""
        return self.nobs - self.n_fixed

    @property
    def loglik(self) -> float:
        """Maximized log-likelihood (R's ``logLik``)."""
        raise NotImplementedError

    @property
    def objective(self) -> float:
        """``−2 log L`` at the estimates."""
        return -2.0 * self.loglik

    # ---- coefficients -------------------------------------------------------------------
    @property
    def dispersion(self) -> float:
        """The scale of ``Var(β̂) = dispersion (XᵀWX)⁻¹``."""
        raise NotImplementedError

    @property
    def beta(self) -> Array:
        """Coefficient estimates as an array."""
        return self._beta.copy()

    @property
    def fixef(self) -> pd.Series:
        """Coefficient estimates, named by model-matrix column."""
        return pd.Series(self._beta, index=list(self.fixed.names), name="estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the estimates."""
        names = list(self.fixed.names)
        return pd.DataFrame(self.dispersion * self._unscaled, index=names, columns=names)

    def _reference(self) -> Any:
        """The distribution of the test statistic: t on ``n − p`` df, or the normal."""
        if self.statistic_name == "t":
            return scipy.stats.t(self.df_resid)
        return scipy.stats.norm()

    @property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, standard error, t (lm, dispersion families) or z statistic and p-value."""
        se = np.sqrt(self.dispersion * np.diag(self._unscaled))
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = self._beta / se
        table = pd.DataFrame(
            {
                "estimate": self._beta,
                "std_error": se,
                "statistic": stat,
                "p_value": 2.0 * self._reference().sf(np.abs(stat)),
            },
            index=list(self.fixed.names),
        )
        table.attrs["statistic"] = self.statistic_name
        return table

    def tidy(self, conf_int: bool = False, level: float = 0.95) -> pd.DataFrame:
        """One row per coefficient: term, estimate, std_error, statistic, p_value.

        With ``conf_int``, Wald intervals (on the t or normal quantiles, as R's ``confint.lm``
        and ``confint.default``) in ``conf_low`` and ``conf_high``.
        """
        table = self.coef_table.rename_axis("term").reset_index()
        if conf_int:
            if not 0.0 < level < 1.0:
                raise ModelSpecificationError(f"level must be between 0 and 1, not {level}")
            half = self._reference().ppf(0.5 + level / 2.0) * table["std_error"]
            table["conf_low"] = table["estimate"] - half
            table["conf_high"] = table["estimate"] + half
        return table

    def linear_predictor(self) -> Array:
        """``Xβ̂`` plus the offset."""
        return self.fixed.X @ self._beta + self.frame.offset

    def predict(self, new_data: Any = None, *, type: str = "link", offset: Any = None) -> Array:
        """Predictions for new rows (or the fitted rows), as R's ``predict.lm`` / ``predict.glm``.

        Parameters
        ----------
        new_data
            Rows to predict for, encoded as the fitted data; ``None`` for the fitted rows.
        type
            ``"link"`` (the linear predictor, R's default for a glm) or ``"response"`` (the
            means); the same for a linear model.
        offset
            Offset for ``new_data`` when the model's offset was given as an array.

        Returns
        -------
        numpy.ndarray
            One prediction per row; ``nan`` where a needed value is missing.
        """
        from mixedmodels.results.predict import predict

        if type not in ("link", "response"):
            raise ModelSpecificationError(f"unknown type {type!r}; use 'link' or 'response'")
        eta = predict(cast(Any, self), new_data, re_form="~0", offset=offset)
        return self._inverse_link(eta) if type == "response" else eta

    def _inverse_link(self, eta: Array) -> Array:
        """Means from linear predictors (the identity for a linear model)."""
        return eta

    def random_effects(self) -> list[Array]:
        """No random effects (an empty list), for code shared with the mixed models."""
        return []

    def summary(self) -> str:
        """A text summary in the manner of R's ``summary.lm`` and ``summary.glm``."""
        stat = f"{self.statistic_name} value"
        table = self.coef_table.rename(
            columns={"estimate": "Estimate", "std_error": "Std. Error", "statistic": stat}
        )
        table = table.rename(columns={"p_value": f"Pr(>|{self.statistic_name}|)"})
        lines = [self._title(), f"Formula: {self.formula}"]
        if self.data_name:
            lines.append(f"   Data: {self.data_name}")
        lines += ["", "Coefficients:", table.to_string(float_format=lambda v: f"{v:.6g}"), ""]
        lines += self._footer()
        lines.append(
            f"logLik {self.loglik:.6g} (df={self.npar}), AIC {self.aic:.6g}, "
            f"BIC {self.bic:.6g}; {self.nobs} observations"
            + (
                f" ({self.frame.n_dropped} dropped for missing values)"
                if self.frame.n_dropped
                else ""
            )
        )
        return "\n".join(lines)

    def _title(self) -> str:
        raise NotImplementedError

    def _footer(self) -> list[str]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.formula!r}, {self.nobs} obs, logLik {self.loglik:.4f}>"
        )


class LinearModel(FixedEffectsModel):
    """A linear model ``y = Xβ + ε``, ``ε ~ N(0, σ²/w)``, as R's ``lm``.

    Parameters
    ----------
    formula
        A formula without random-effects terms, e.g. ``"Reaction ~ Days"``.
    data
        A pandas DataFrame (never modified).
    weights, offset
        Prior weights and offset: a column name or one value per row.
    na_action
        ``"omit"`` (default) drops incomplete rows; ``"fail"`` raises.
    """

    def __init__(
        self,
        formula: str,
        data: Any,
        *,
        weights: Any = None,
        offset: Any = None,
        na_action: NaAction = "omit",
    ) -> None:
        parsed = fixed_only_formula(formula, "lm")
        frame = model_frame(parsed, data, weights, offset, na_action)
        fixed = fixed_effects(parsed.response, parsed.fixed, frame.data, formula)
        super().__init__(formula, parsed, frame, fixed, offset)
        self.y = fixed.y - frame.offset
        solution = least_squares(fixed.X, self.y, frame.weights)
        self._beta = solution.beta
        self._unscaled = unscaled_covariance(solution.R)
        self.rss = solution.rss

    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``: the coefficients and σ."""
        return self.n_fixed + 1

    @property
    def sigma(self) -> float:
        """Residual standard error ``√(RSS / (n − p))`` (R's ``sigma``)."""
        return math.sqrt(self.rss / self.df_resid) if self.df_resid > 0 else math.nan

    @property
    def dispersion(self) -> float:
        """σ̂², the scale of the covariance of the estimates."""
        return self.sigma**2

    @property
    def deviance(self) -> float:
        """The weighted residual sum of squares (R's ``deviance.lm``)."""
        return self.rss

    @property
    def loglik(self) -> float:
        """Log-likelihood at the ML estimate of σ (R's ``logLik.lm``, as lme4's ML fits)."""
        n = self.nobs
        log_w = float(np.sum(np.log(self.frame.weights)))
        return 0.5 * (log_w - n * (LOG_2PI + 1.0 - math.log(n) + math.log(self.rss)))

    def fitted(self) -> Array:
        """Fitted values ``Xβ̂`` plus the offset."""
        return self.linear_predictor()

    def residuals(self, type: str = "response") -> Array:
        """Residuals ``y − ŷ`` (``"response"``, R's default) or ``√w (y − ŷ)`` (``"pearson"``)."""
        raw = self.fixed.y - self.fitted()
        if type in ("response", "working"):
            return raw
        if type in ("pearson", "deviance"):
            return raw * np.sqrt(self.frame.weights)
        raise ModelSpecificationError(
            f"unknown residual type {type!r}; use 'response', 'working', 'pearson' or 'deviance'"
        )

    def _title(self) -> str:
        return "Linear model fit by least squares"

    def _footer(self) -> list[str]:
        return [f"Residual standard error: {self.sigma:.6g} on {self.df_resid} degrees of freedom"]


class GeneralizedLinearModel(FixedEffectsModel):
    """A generalized linear model ``g(E[y]) = Xβ``, as R's ``glm``, fitted by IRLS.

    Parameters
    ----------
    formula
        A formula without random-effects terms; binomial responses may be
        ``cbind(successes, failures)``, 0/1, a factor, or proportions with ``weights=``.
    data
        A pandas DataFrame (never modified).
    family
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"`` or a Family object.
    link
        The link's R name (the family's canonical link by default).
    weights, offset, na_action
        As for :class:`LinearModel` (for proportions the weights are the numbers of trials).
    """

    def __init__(
        self,
        formula: str,
        data: Any,
        *,
        family: str | Family = "binomial",
        link: str | None = None,
        weights: Any = None,
        offset: Any = None,
        na_action: NaAction = "omit",
    ) -> None:
        parsed = fixed_only_formula(formula, "glm")
        self.family = _glm_family(family, link)
        framing = replace(parsed, response=frame_response(parsed.response))
        frame = model_frame(framing, data, weights, offset, na_action)
        self.response: GlmResponse = glm_response(
            parsed.response, frame.data, self.family, frame.weights, weights is not None
        )
        placeholder = frame.data.assign(**{_RESPONSE: 0.0})
        fixed = fixed_effects(_RESPONSE, parsed.fixed, placeholder, formula)
        super().__init__(formula, parsed, frame, replace(fixed, y=self.response.y), offset)
        r = self.response
        self.fit = irls(fixed.X, r.y, r.weights, frame.offset, self.family, r.trials)
        self._beta = self.fit.beta
        self._unscaled = unscaled_covariance(self.fit.R)

    @property
    def statistic_name(self) -> str:  # type: ignore[override]
        """``"z"`` for families with a known dispersion, ``"t"`` when it is estimated."""
        return "t" if self.family.has_dispersion else "z"

    @property
    def nobs(self) -> int:
        """Observations with a non-zero prior weight (R's ``nobs.glm``)."""
        return int(np.sum(self.response.weights != 0))

    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``: the coefficients, and the dispersion if estimated."""
        return self.n_fixed + int(self.family.has_dispersion)

    @property
    def deviance(self) -> float:
        """The residual deviance."""
        return self.fit.deviance

    @property
    def null_deviance(self) -> float:
        """The deviance of the model with the intercept (and offset) only."""
        r = self.response
        X = np.ones((len(r.y), 1 if "(Intercept)" in self.fixed.names else 0))
        if X.shape[1] == 0:
            mu = self.family.link.inverse(self.frame.offset)
            return float(np.sum(self.family.dev_resid(r.y, mu, r.weights)))
        return irls(X, r.y, r.weights, self.frame.offset, self.family, r.trials).deviance

    @property
    def dispersion(self) -> float:
        """1, or for families with a dispersion Pearson's χ² over ``n − p`` (``summary.glm``)."""
        if not self.family.has_dispersion:
            return 1.0
        working = (self.response.y - self.fit.mu) / self.family.link.mu_eta(self.fit.eta)
        return float(np.sum(self.fit.working_weights * working**2)) / self.df_resid

    @property
    def sigma(self) -> float:
        """``√(deviance / (n − p))``, as R's ``sigma`` of a glm."""
        return math.sqrt(self.deviance / self.df_resid) if self.df_resid > 0 else math.nan

    @property
    def loglik(self) -> float:
        """The log-likelihood (R's ``logLik.glm``, on the scale of glmer's)."""
        r = self.response
        aic = self.family.aic(r.y, r.trials, self.fit.mu, r.weights, self.deviance)
        return float(self.family.has_dispersion) - aic / 2.0

    def fitted(self) -> Array:
        """Fitted means ``μ̂``."""
        return self.fit.mu.copy()

    def _inverse_link(self, eta: Array) -> Array:
        """Means from linear predictors."""
        out = np.full_like(eta, np.nan)
        ok = np.isfinite(eta)
        out[ok] = self.family.link.inverse(eta[ok])
        return out

    def residuals(self, type: str = "deviance") -> Array:
        """Residuals: ``"deviance"`` (default), ``"pearson"``, ``"response"`` or ``"working"``."""
        r, mu = self.response, self.fit.mu
        if type == "deviance":
            dev = self.family.dev_resid(r.y, mu, r.weights)
            return np.sign(r.y - mu) * np.sqrt(np.maximum(dev, 0.0))
        if type == "pearson":
            return (r.y - mu) * np.sqrt(r.weights) / np.sqrt(self.family.variance(mu))
        if type == "response":
            return r.y - mu
        if type == "working":
            return (r.y - mu) / self.family.link.mu_eta(self.fit.eta)
        raise ModelSpecificationError(
            f"unknown residual type {type!r}; use 'deviance', 'pearson', 'response' or 'working'"
        )

    def _title(self) -> str:
        return (
            f"Generalized linear model fit by IRLS ({self.fit.iterations} iterations)\n"
            f" Family: {self.family.label} ( {self.family.link.name} )"
        )

    def _footer(self) -> list[str]:
        return [
            f"(Dispersion parameter for {self.family.label} family taken to be "
            f"{self.dispersion:.6g})",
            f"    Null deviance: {self.null_deviance:.6g}",
            f"Residual deviance: {self.deviance:.6g} on {self.df_resid} degrees of freedom",
        ]
