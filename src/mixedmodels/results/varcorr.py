"""Variance components: ``σ² T Tᵀ`` per term, laid out as R's ``as.data.frame(VarCorr(m))``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["covariance_matrices", "varcorr_table"]


def covariance_matrices(templates: Sequence[FloatArray], sigma: float) -> list[FloatArray]:
    """Covariance matrix ``σ² T Tᵀ`` of each term's random effects."""
    return [sigma**2 * (T @ T.T) for T in templates]


def varcorr_table(
    terms: Sequence[RandomEffectsTerm],
    templates: Sequence[FloatArray],
    sigma: float | None,
    theta: FloatArray | None = None,
) -> pd.DataFrame:
    """One row per SD and per correlation, then the residual (when ``sigma`` is not None).

    Parameters
    ----------
    terms
        Random-effects terms in storage order.
    templates
        Their templates ``T_j`` at the estimate.
    sigma
        Residual SD, or ``None`` for families without a residual term (scale 1).
    theta
        The covariance parameters: a structured term's correlations are its structure's
        (defined beside a zero SD too, as glmmTMB reports them); without θ, or for lme4's
        terms, a correlation with a zero SD is NaN (as lme4's).

    Returns
    -------
    pandas.DataFrame
        Columns ``group, term1, term2, variance, sd_cor``: for an SD row ``term2`` is missing
        and ``sd_cor`` is the SD; for a correlation row ``variance`` is the covariance.
    """
    scale = 1.0 if sigma is None else sigma
    rows: list[tuple[str, str | None, str | None, float, float]] = []
    at = 0
    for term, cov in zip(terms, covariance_matrices(templates, scale), strict=True):
        sd = np.sqrt(np.diag(cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(sd, sd)
        if theta is not None and term.structured:
            part = theta[at : at + term.ntheta]
            corr = term.structure.correlation_matrix(term.structure.correlations(part))
        at += term.ntheta
        names = term.column_names
        for a, name in enumerate(names):
            rows.append((term.name, name, None, float(cov[a, a]), float(sd[a])))
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                rows.append((term.name, names[a], names[b], float(cov[a, b]), float(corr[a, b])))
    if sigma is not None:
        rows.append(("Residual", None, None, sigma**2, sigma))
    return pd.DataFrame(rows, columns=["group", "term1", "term2", "variance", "sd_cor"])
