"""The functions most users call: a formula and data in, a fitted model out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from mixedmodels.models import LinearMixedModel
from mixedmodels.terms.frame import NaAction

__all__ = ["anova", "lmer"]


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
) -> LinearMixedModel:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Parameters
    ----------
    formula
        An lme4 formula such as ``"Reaction ~ Days + (Days | Subject)"``.
    data
        A pandas DataFrame (never modified); or, for data beyond memory, a Dask DataFrame, a
        PyArrow dataset, or a path, directory, glob or list of Parquet files, which are read
        chunk by chunk (see :class:`~mixedmodels.scale.ChunkedLinearMixedModel`).
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
        Check the gradient and Hessian at the optimum (default: up to 10,000 observations).
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
    from mixedmodels.scale.sources import is_chunked_source

    if is_chunked_source(data):
        from mixedmodels.scale import ChunkedLinearMixedModel

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
        )
    return model.fit(verbose=verbose, check_convergence=check_convergence, start=start)


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


def anova(*models: LinearMixedModel, **kwargs: Any) -> pd.DataFrame:
    """lme4's ``anova``: F tests of one model's terms, or likelihood-ratio tests of several.

    With one model, the table of F tests of its fixed-effect terms (lmerTest's ``anova``;
    ``type=`` and ``ddf=`` options). With several, a likelihood-ratio test of each model against
    the one before it, sorted by number of parameters; REML fits are refitted by ML first.
    """
    if len(models) == 1:
        from mixedmodels.inference.ftest import anova_table

        return anova_table(models[0], **kwargs)
    from mixedmodels.inference.lrt import compare_models

    return compare_models(*models, **kwargs)
