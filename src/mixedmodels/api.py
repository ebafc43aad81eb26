"""The functions most users call: a formula and data in, a fitted model out."""

from __future__ import annotations

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
    timeout: float | None = None,
) -> LinearMixedModel:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Parameters
    ----------
    formula
        An lme4 formula such as ``"Reaction ~ Days + (Days | Subject)"``.
    data
        A pandas DataFrame (never modified); or, for data beyond memory, a Dask DataFrame, a
        PyArrow dataset, or a path, directory, glob or list of Parquet files, which are read
        chunk by chunk (see :class:`~mixedmodels.scale.ChunkedLinearMixedModel`). The path
        of one CSV file (``.csv``, ``.csv.gz``) is read into memory.
    reml
        REML (default) or maximum likelihood (``reml=False``).
    weights, offset
        Prior weights and offset: a column name or one value per row.
    na_action
        ``"omit"`` (default) drops incomplete rows; ``"fail"`` raises.
    verbose
        Print the objective at each evaluation.
    check_convergence
        Warn when the gradient or Hessian at the optimum looks wrong (default: up to 10,000
        observations; always for chunked data). Unless ``False``, the optimum is polished by
        one Newton step on these derivatives, so that chunked and in-memory fits agree.
    progress
        For chunked data: show a progress bar over the partitions (default: on a terminal).
    timeout
        For chunked data on a ``dask.distributed`` cluster: seconds a pass waits while the
        cluster has no worker before failing with :class:`~mixedmodels.errors.ClusterError`
        (default 300).

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
    from mixedmodels.scale.sources import is_chunked_source, is_csv_path, read_csv_path

    if is_csv_path(data):  # one CSV file: read into memory, as the command line does
        data = read_csv_path(data)
    if is_chunked_source(data):
        from mixedmodels.scale import ChunkedLinearMixedModel

        model: LinearMixedModel = ChunkedLinearMixedModel(
            formula,
            data,
            reml=reml,
            weights=weights,
            offset=offset,
            na_action=na_action,
            progress=progress,
            **({} if timeout is None else {"timeout": timeout}),
        )
    else:
        model = LinearMixedModel(
            formula, data, reml=reml, weights=weights, offset=offset, na_action=na_action
        )
    return model.fit(verbose=verbose, check_convergence=check_convergence)


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
