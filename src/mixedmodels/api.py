"""The functions most users call: a formula and data in, a fitted model out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from mixedmodels.errors import NotSupportedError
from mixedmodels.models import LinearMixedModel
from mixedmodels.spec.frame import NaAction

if TYPE_CHECKING:
    from mixedmodels.fitted import ComparedModel
    from mixedmodels.models.fixed_only import GeneralizedLinearModel, LinearModel
    from mixedmodels.spec.families import Family
    from mixedmodels.spec.residual import CorrelationSpec, VarianceSpec

__all__ = ["anova", "glm", "lm", "lmer"]


def lmer(
    formula: str,
    data: Any,
    *,
    reml: bool = True,
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
    verbose: bool = False,
    check_convergence: bool | None = None,
    progress: bool | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    subset: Any = None,
    contrasts: dict[str, str] | None = None,
    start: Any = None,
    timeout: float | None = None,
    sigma: float | None = None,
    correlation: CorrelationSpec | None = None,
    variance: VarianceSpec | None = None,
) -> LinearMixedModel:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Parameters
    ----------
    formula
        An lme4 formula such as ``"Reaction ~ Days + (Days | Subject)"``.
    data
        A pandas DataFrame (never modified); or, for data beyond memory, a Dask DataFrame, a
        PyArrow dataset, or a path, directory, glob or list of Parquet files, which are read
        chunk by chunk (see :class:`~mixedmodels.chunked.ChunkedLinearMixedModel`). The path
        of one CSV file (``.csv``, ``.csv.gz``) is read into memory.
    reml
        REML (default) or maximum likelihood (``reml=False``).
    weights, offset
        Prior weights and offset: a column name or one value per row.
    na_action
        ``"omit"`` (default) drops incomplete rows; ``"exclude"`` drops them too, but
        ``fitted()``, ``residuals()`` and ``predict()`` give one value per row of the data
        (NaN for the dropped rows, R's ``na.exclude``); ``"fail"`` raises.
    verbose
        Print the objective at each evaluation.
    check_convergence
        Warn when the gradient or Hessian at the optimum looks wrong (default: up to 10,000
        observations; always for chunked data). Unless ``False``, the optimum is polished by
        one Newton step on these derivatives, so that chunked and in-memory fits agree.
    progress
        For chunked data: show a progress bar over the partitions (default: on a terminal).
    functions
        Functions the formula may call besides the allowed ones, e.g. ``{"logit": fn}``.
        A formula never runs any other code: its Python pieces are checked against an
        allow-list (NumPy's elementwise math, formulaic's transforms, R's names) first.
    subset
        The rows to fit, before missing values are dropped: booleans, one per row (a NumPy
        array by position, a pandas Series by index label), or a query string read as
        ``DataFrame.query`` reads it but checked (columns, literals, comparisons, and/or/not,
        ``in [...]``; never calls), e.g. ``"Days >= 2 and Subject != '308'"``.
    contrasts
        R's contrasts for factors of the fixed part: ``{"f": "sum"}`` with ``"treatment"``,
        ``"sum"``, ``"helmert"``, ``"poly"`` or ``"sdif"`` (R's ``contr.*``, MASS's
        ``contr.sdif``); columns are named as R names them (``f1``, ``f.L``, ``fb-a``).
    start
        θ to start the optimizer from (lme4's ``start``), one value per covariance
        parameter within the bounds, or ``{"theta": ...}``.
    timeout
        For chunked data on a ``dask.distributed`` cluster: seconds a pass waits while the
        cluster has no worker before failing with :class:`~mixedmodels.errors.ClusterError`
        (default 300).
    correlation
        A residual correlation structure within groups, as nlme's ``lme(correlation=)``:
        :func:`~mixedmodels.cor_ar1` (``cor_ar1(time="Days", group="Subject")``),
        :func:`~mixedmodels.cor_car1` or :func:`~mixedmodels.cor_cs`. Each residual group
        must lie within one level of every random-effects grouping factor.
    variance
        A residual variance function, as nlme's ``lme(weights=)``:
        :func:`~mixedmodels.var_ident` (an SD ratio per level), :func:`~mixedmodels.var_power`
        or :func:`~mixedmodels.var_exp` (of a column or of the fitted values). With either, the
        model is a :class:`~mixedmodels.models.residual.ResidualMixedModel` (data in memory,
        no prior weights); ``start`` is then θ of the fit without the structure.
    sigma
        Fix the residual SD at this value instead of estimating it (nlme's
        ``lmeControl(sigma = )``). A tiny value, such as glmmTMB's ``2**-13``, is glmmTMB's
        ``dispformula = ~0``: no residual variance, for a structure over every visit with one
        observation per subject and visit (``us(0 + visit | subject)``, ``toep``), which the
        residual would otherwise duplicate. σ then counts in neither ``npar`` nor the df.

    Returns
    -------
    LinearMixedModel
        The fitted model.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> m = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"), reml=False)
    >>> round(m.loglik, 4)
    -64.28
    """
    from mixedmodels.spec.data_kinds import csv_in_memory, is_chunked_source

    data = csv_in_memory(data)  # one CSV file: read into memory, as the command line does
    if (correlation is not None or variance is not None) and sigma is not None:
        raise NotSupportedError(
            "a fixed residual SD (sigma=) together with a residual correlation or variance "
            "function is not available; use one of them"
        )
    if correlation is not None or variance is not None:
        return _residual_lmer(
            formula,
            data,
            correlation,
            variance,
            reml,
            weights,
            offset,
            na_action,
            functions,
            subset,
            contrasts,
            verbose,
            start,
        )
    if is_chunked_source(data):
        from mixedmodels.chunked import ChunkedLinearMixedModel

        _refuse_for_chunked(subset=subset, contrasts=contrasts, na_action=na_action)
        model: LinearMixedModel = ChunkedLinearMixedModel(
            formula,
            data,
            reml=reml,
            weights=weights,
            offset=offset,
            na_action=na_action,
            progress=progress,
            functions=functions,
            sigma=sigma,
            **({} if timeout is None else {"timeout": timeout}),
        )
    else:
        model = LinearMixedModel(
            formula,
            data,
            reml=reml,
            weights=weights,
            offset=offset,
            na_action=na_action,
            functions=functions,
            subset=subset,
            contrasts=contrasts,
            sigma=sigma,
        )
    return model.fit(verbose=verbose, check_convergence=check_convergence, start=start)


def _residual_lmer(
    formula: str,
    data: Any,
    correlation: CorrelationSpec | None,
    variance: VarianceSpec | None,
    reml: bool,
    weights: Any,
    offset: Any,
    na_action: NaAction,
    functions: Mapping[str, Callable[..., Any]] | None,
    subset: Any,
    contrasts: dict[str, str] | None,
    verbose: bool,
    start: Any,
) -> LinearMixedModel:
    """:func:`lmer` with a residual structure (data in memory only)."""
    from mixedmodels.models.residual import ResidualMixedModel
    from mixedmodels.spec.data_kinds import is_chunked_source

    if is_chunked_source(data):
        raise NotSupportedError(
            "a residual correlation structure or variance function needs the data in memory "
            "(a pandas DataFrame), not chunked data"
        )
    model = ResidualMixedModel(
        formula,
        data,
        correlation=correlation,
        variance=variance,
        reml=reml,
        weights=weights,
        offset=offset,
        na_action=na_action,
        functions=functions,
        subset=subset,
        contrasts=contrasts,
    )
    return model.fit(verbose=verbose, start=start)


def _refuse_for_chunked(**arguments: Any) -> None:
    """Arguments that need the rows in memory, refused for chunked data with our error."""
    from mixedmodels.errors import NotSupportedError

    given = [name for name, value in arguments.items() if value is not None]
    if arguments.get("na_action") != "exclude":
        given = [name for name in given if name != "na_action"]
    if given:
        raise NotSupportedError(
            f"{', '.join(given)} is available for data in memory (a pandas DataFrame), not "
            "for chunked data (Parquet files, Dask DataFrames, PyArrow datasets): select the "
            "rows or code the factors in the files, or load the columns into pandas"
        )


def lm(
    formula: str,
    data: Any,
    *,
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
) -> LinearModel:
    """Fit a linear model without random effects by least squares, as R's ``lm``.

    The null model of a likelihood-ratio test of an ``lmer`` fit: ``mm.anova(lmer_fit,
    lm_fit)`` as R's ``anova(lmer_model, lm_model)``.

    Parameters
    ----------
    formula
        A formula with no random-effects term, e.g. ``"Reaction ~ Days"``.
    data
        A pandas DataFrame (never modified).
    weights, offset
        Prior weights and offset: a column name or one value per row.
    na_action
        ``"omit"`` (default) drops incomplete rows; ``"fail"`` raises.

    Returns
    -------
    LinearModel
        The fit: ``fixef``, ``coef_table`` (t tests), ``sigma``, ``loglik`` (at the ML σ, as
        R's ``logLik.lm``), ``deviance`` (the residual sum of squares), ``aic``, ``bic``,
        ``nobs``, ``npar`` (p + 1), ``fitted()``, ``residuals()``, ``summary()``, ``tidy()``.

    Raises
    ------
    ModelSpecificationError
        When the formula has a random-effects term (use :func:`lmer`).

    Examples
    --------
    >>> import mixedmodels as mm
    >>> round(mm.lm("Reaction ~ Days", mm.datasets.load("sleepstudy")).loglik, 4)
    -950.1465
    """
    from mixedmodels.models.fixed_only import LinearModel

    return LinearModel(formula, data, weights=weights, offset=offset, na_action=na_action)


def glm(
    formula: str,
    data: Any,
    family: str | Family = "binomial",
    link: str | None = None,
    *,
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
) -> GeneralizedLinearModel:
    """Fit a generalized linear model without random effects by IRLS, as R's ``glm``.

    Parameters
    ----------
    formula
        A formula with no random-effects term; binomial responses as for :func:`glmer`
        (``cbind(successes, failures)``, 0/1, a factor, or proportions with ``weights=``).
    data
        A pandas DataFrame (never modified).
    family
        ``"binomial"`` (default), ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"`` or a
        Family object.
    link
        The link's R name; the family's canonical link by default.
    weights, offset, na_action
        As for :func:`glmer`.

    Returns
    -------
    GeneralizedLinearModel
        The fit, with the attributes of :func:`lm`'s (z tests for the binomial and Poisson,
        t tests when the dispersion is estimated) and ``dispersion``, ``null_deviance``.

    Raises
    ------
    ModelSpecificationError
        When the formula has a random-effects term (use :func:`glmer`).

    Examples
    --------
    >>> import mixedmodels as mm
    >>> cbpp = mm.datasets.load("cbpp")
    >>> round(mm.glm("cbind(incidence, size - incidence) ~ period", cbpp).loglik, 4)
    -99.0292
    """
    from mixedmodels.models.fixed_only import GeneralizedLinearModel

    return GeneralizedLinearModel(
        formula,
        data,
        family=family,
        link=link,
        weights=weights,
        offset=offset,
        na_action=na_action,
    )


def anova(*models: ComparedModel, **kwargs: Any) -> pd.DataFrame:
    """lme4's ``anova``: F tests of one model's terms, or likelihood-ratio tests of several.

    With one model, the table of tests of its fixed-effect terms: F tests for an LMM
    (lmerTest's ``anova``; ``type=`` 1, 2 or 3 and ``ddf=`` options), Wald χ² tests for a GLMM
    (car's ``Anova``; ``type=``). With several, a likelihood-ratio test of each
    model against the one before it, sorted by number of parameters; REML fits are refitted
    by ML first. An :func:`lm` or :func:`glm` fit may be the null model of an ``lmer`` or
    ``glmer`` fit (R's ``anova(lmer_model, lm_model)``).
    """
    if len(models) == 1:
        from mixedmodels.models.generalized import GeneralizedLinearMixedModel

        (model,) = models
        if not isinstance(model, LinearMixedModel | GeneralizedLinearMixedModel):
            raise NotSupportedError(
                "F tests of the terms of an lm or glm fit are not provided; anova() takes an "
                "lmer fit, or several models of which one is mixed"
            )
        return model.anova(**kwargs)  # F tests of an LMM, Wald χ² tests of a GLMM
    from mixedmodels.inference.lrt import compare_models

    return compare_models(*models, **kwargs)
