"""Likelihood-ratio tests between nested models (lme4's ``anova(m0, m1, ...)``).

The models are mixed models (``lmer``, ``glmer``) or models without random effects
(``mm.lm``, ``mm.glm``), as R's ``anova(lmer_model, lm_model)``: REML fits are refitted by ML,
so every log-likelihood is a maximized likelihood on the same scale (``lm``'s at the ML σ).

A test whose null model sets variance parameters to zero (the bigger model has more covariance
parameters, e.g. a mixed model against the same model without random effects) is a test on
the boundary of the parameter space: the χ² reference distribution is then conservative (the
p-value too large; for one variance it is twice the p-value of the ½χ²₀ + ½χ²₁ mixture, Self
and Liang 1987, Stram and Lee 1994). R's ``anova`` prints the χ² p-value without a word; the
table lists those rows in ``attrs["boundary"]`` with :data:`BOUNDARY_NOTE`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels.errors import ModelSpecificationError, RefitMLWarning, SingularFitWarning

if TYPE_CHECKING:
    from mixedmodels.fitted import ComparedModel

__all__ = ["BOUNDARY_NOTE", "REFIT_NOTE", "RefitMLWarning", "compare_models"]

REFIT_NOTE = "refitting model(s) with ML (instead of REML)"
BOUNDARY_NOTE = (
    "the test sets variance parameters to zero, on the boundary of the parameter space: its "
    "chi-square p-value is conservative (too large; for a single variance, halve it)"
)


def compare_models(
    *models: ComparedModel,
    names: Sequence[str] | None = None,
    refit: bool = True,
) -> pd.DataFrame:
    """Compare nested models by likelihood-ratio tests, as lme4's ``anova(m0, m1, ...)``.

    Parameters
    ----------
    *models
        Two or more fitted models on the same data (same observations and response):
        ``lmer`` / ``glmer`` fits, or ``mm.lm`` / ``mm.glm`` fits as models without random
        effects.
    names
        Row labels, one per model in the order given; ``model1, model2, ...`` by default.
    refit
        Refit REML fits by ML first (lme4's default; on copies, the models are not modified),
        with a :class:`RefitMLWarning` and ``attrs["note"]``. With ``refit=False`` the REML
        criteria are compared as they are (only meaningful for equal fixed effects).

    Returns
    -------
    pandas.DataFrame
        One row per model, sorted by number of parameters (ties keep the given order), with
        columns ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)``. ``Chisq`` is twice
        the increase in log-likelihood from the previous row (never below 0), ``Df`` the increase
        in ``npar``; the first row has none. ``attrs["formulas"]`` maps names to formulas;
        ``attrs["boundary"]`` lists the rows whose test sets variance parameters to zero
        (more covariance parameters than the row before), whose p-value is conservative, and
        ``attrs["boundary_note"]`` says so (:data:`BOUNDARY_NOTE`) when there are any.

    Raises
    ------
    ModelSpecificationError
        Fewer than two models, unfitted models, or models fitted to different data.
    """
    labels = _labels(models, names)
    _check_same_data(models, labels)
    fitted = _ml_versions(models, refit)
    loglik = np.array([m.loglik for m in fitted])
    npar = np.array([m.npar for m in fitted])
    order = np.argsort(npar, kind="stable")
    loglik, npar = loglik[order], npar[order]
    nobs = fitted[0].nobs
    chisq = np.concatenate([[math.nan], 2.0 * np.maximum(0.0, np.diff(loglik))])
    df = np.concatenate([[math.nan], np.diff(npar).astype(float)])
    with np.errstate(invalid="ignore"):
        p = np.where(df == 0, math.nan, scipy.stats.chi2.sf(chisq, df))
    table = pd.DataFrame(
        {
            "npar": npar,
            "AIC": -2.0 * loglik + 2.0 * npar,
            "BIC": -2.0 * loglik + npar * math.log(nobs),
            "logLik": loglik,
            "deviance": -2.0 * loglik,
            "Chisq": chisq,
            "Df": pd.array([None if math.isnan(d) else int(d) for d in df], dtype="Int64"),
            "Pr(>Chisq)": p,
        },
        index=[labels[i] for i in order],
    )
    table.attrs = {"formulas": {labels[i]: models[i].formula for i in order}}
    n_theta = [_n_theta(models[i]) for i in order]
    boundary = [
        labels[order[k]]
        for k in range(1, len(order))
        if n_theta[k] > n_theta[k - 1] and npar[k] > npar[k - 1]
    ]
    table.attrs["boundary"] = boundary
    if boundary:
        table.attrs["boundary_note"] = BOUNDARY_NOTE
    if refit and any(m.reml for m in models):
        table.attrs["note"] = REFIT_NOTE
    return table


def _labels(models: Sequence[ComparedModel], names: Sequence[str] | None) -> list[str]:
    """Row labels; refuses too few models, unfitted ones and a wrong number of names."""
    if len(models) < 2:
        raise ModelSpecificationError("a likelihood-ratio test needs at least two models")
    labels = [f"model{i + 1}" for i in range(len(models))] if names is None else list(names)
    if len(labels) != len(models) or len(set(labels)) != len(labels):
        raise ModelSpecificationError(
            f"names must be {len(models)} distinct labels, one per model; got {labels!r}"
        )
    for label, model in zip(labels, models, strict=True):
        if getattr(model, "optsum", None) is None and not getattr(model, "fixed_only", False):
            raise ModelSpecificationError(f"{label} has not been fitted yet: call .fit()")
    if all(getattr(m, "fixed_only", False) for m in models):
        raise ModelSpecificationError(
            "a likelihood-ratio test here needs a mixed model (lmer or glmer) among the "
            "models; R compares lm or glm fits by F or deviance tests (anova.lm, anova.glm), "
            "which are not provided"
        )
    return labels


def _check_same_data(models: Sequence[ComparedModel], labels: list[str]) -> None:
    """Refuse models whose observations or responses differ from the first model's."""
    first = models[0]
    for label, model in zip(labels[1:], models[1:], strict=True):
        if model.nobs != first.nobs:
            raise ModelSpecificationError(
                f"models were not all fitted to the same data: {labels[0]} has {first.nobs} "
                f"observations, {label} has {model.nobs}"
            )
        if not _same_response(model, first):
            raise ModelSpecificationError(
                f"models were not all fitted to the same data: the responses of {labels[0]} "
                f"({_response(first)}) and {label} ({_response(model)}) differ"
            )


def _n_theta(model: ComparedModel) -> int:
    """Number of covariance parameters (0 for a model without random effects)."""
    return model.n_theta


def _same_response(a: ComparedModel, b: ComparedModel) -> bool:
    """Equal responses: compared value by value in memory, by their sums on chunked data."""
    if getattr(a, "has_rows", True) and getattr(b, "has_rows", True):
        return bool(np.array_equal(a.fixed.y, b.fixed.y))
    sa, sb = _stats(a), _stats(b)
    return bool(sa[0] == sb[0] and np.allclose(sa[1:], sb[1:], rtol=1e-10, atol=0.0))


def _stats(model: ComparedModel) -> tuple[int, float, float]:
    """Number, sum and sum of squares of a model's response minus its offset."""
    stats = getattr(model, "response_stats", None)
    if stats is not None:
        found: tuple[int, float, float] = stats()
        return found
    y = model.fixed.y - model.frame.offset
    return len(y), float(np.sum(y)), float(y @ y)


def _response(model: ComparedModel) -> str:
    """The left-hand side of the model's formula."""
    return model.formula.split("~", 1)[0].strip() or "?"


def _ml_versions(models: Sequence[ComparedModel], refit: bool) -> list[ComparedModel]:
    """ML fits of the models: new models refitted by ML where a model was fitted by REML."""
    reml = [m.reml for m in models]
    if not refit:
        if any(reml) and not all(reml):
            warnings.warn("some models fit with REML, some not", RefitMLWarning, stacklevel=3)
        return list(models)
    if any(reml):
        warnings.warn(REFIT_NOTE, RefitMLWarning, stacklevel=3)
    out = []
    for model in models:
        if not model.reml:
            out.append(model)
            continue
        with warnings.catch_warnings():
            if model.is_singular:  # already reported when the model was fitted
                warnings.simplefilter("ignore", SingularFitWarning)
            out.append(model.ml_fit())
    return out
