"""F tests of fixed-effect hypotheses ``L β = rhs``: lmerTest's ``contest`` and ``anova``.

A hypothesis matrix ``L`` has one row per linear function of β. The F statistic and its
denominator df follow lmerTest's ``contestMD``:

* Satterthwaite — ``L Var(β̂) Lᵀ = P D Pᵀ``; the F statistic is the mean of the squared t
  statistics of the rotated contrasts ``PᵀL`` and its df combines their Satterthwaite dfs
  ``ν_m`` (their mean when all are equal, ``2E/(E − q)`` with ``E = Σ ν_m/(ν_m − 2)``
  otherwise, and 2 when any ``ν_m ≤ 2``);
* Kenward-Roger — pbkrtest's ``KRmodcomp``: the Wald statistic with the adjusted covariance,
  scaled by its F scaling factor, on pbkrtest's df;
* residual / Wald — the Wald F on ``n − p`` or infinitely many df.

:func:`anova_table` builds one hypothesis per fixed-effect term: type I (sequential, from the
Doolittle decomposition of ``XᵀX``), type II (each term adjusted for the terms that do not
contain it) or type III (lmerTest's contrasts): :mod:`mixedmodels.inference.hypotheses`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, RankDeficiencyWarning
from mixedmodels.fitted import FittedLinearModel
from mixedmodels.inference.ddf import (
    METHOD_LABELS,
    contrast_df,
    ddf_method,
    kenward_roger,
    kenward_roger_df,
    kenward_roger_stats,
    satterthwaite,
    satterthwaite_df,
    two_sided_p,
)
from mixedmodels.inference.hypotheses import anova_type, hypothesis_matrix, term_contrasts

__all__ = ["F_COLUMNS", "R_LABELS", "anova_table", "contrast"]

Array = FloatArray
F_COLUMNS = ["sum_sq", "mean_sq", "num_df", "den_df", "statistic", "p_value"]
R_LABELS = {
    "sum_sq": "Sum Sq",
    "mean_sq": "Mean Sq",
    "num_df": "NumDF",
    "den_df": "DenDF",
    "statistic": "F value",
    "p_value": "Pr(>F)",
}
EIGEN_EPS = float(np.sqrt(np.finfo(float).eps))  # contestMD's eps for the rank of L C Lᵀ


# ---- contrasts ------------------------------------------------------------------------------
def contrast(
    model: FittedLinearModel,
    L: Any,
    *,
    rhs: Any = 0.0,
    ddf: str = "satterthwaite",
    joint: bool = True,
) -> pd.DataFrame:
    """Test ``L β = rhs`` for a fitted linear mixed model, as lmerTest's ``contest``.

    Parameters
    ----------
    model
        A fitted :class:`~mixedmodels.LinearMixedModel`.
    L
        Hypothesis matrix, one row per hypothesis and one column per coefficient (a vector is
        one row; a DataFrame is aligned on the coefficient names).
    rhs
        Right-hand side, a scalar or one value per row.
    ddf
        ``"satterthwaite"``, ``"kenward-roger"``, ``"residual"`` or ``"wald"``.
    joint
        One F test of all rows (default), or a t test of each row.

    Returns
    -------
    pandas.DataFrame
        Joint: one row with ``sum_sq, mean_sq, num_df, den_df, statistic`` (F) and
        ``p_value``. Otherwise one row per hypothesis with ``estimate, std_error, df,
        statistic`` (t) and ``p_value``.
    """
    method = ddf_method(ddf)
    Lm = hypothesis_matrix(model.fixed.names, L, DataError)
    r = np.broadcast_to(np.asarray(rhs, dtype=np.float64), (Lm.shape[0],)).copy()
    if not joint:
        return _t_tests(model, Lm, r, method)
    table = pd.DataFrame([_ftest(model, Lm, r, method)], columns=F_COLUMNS)
    table.attrs["ddf"] = method
    return table


def _t_tests(model: FittedLinearModel, L: Array, rhs: Array, method: str) -> pd.DataFrame:
    """A t (or z) test of each row, as ``contest(joint = FALSE)``."""
    if method == "kenward-roger":
        kr = kenward_roger(model)
        cov = kr.vcov_adjusted
        df = np.array([kenward_roger_df(kr, row) for row in L])
    else:
        cov = model.vcov.to_numpy()
        df = contrast_df(model, L, method)
    estimate = L @ model.beta
    se = np.sqrt(np.einsum("ia,ab,ib->i", L, cov, L))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (estimate - rhs) / se
    table = {"estimate": estimate, "std_error": se, "df": df, "statistic": stat}
    out = pd.DataFrame(table)
    out["p_value"] = two_sided_p(stat, df)
    out.attrs["ddf"] = method
    return out


def _ftest(model: FittedLinearModel, L: Array, rhs: Array, method: str) -> list[float]:
    """One row of an F table (lmerTest's ``contestMD``)."""
    if L.shape[0] == 0:
        return [np.nan] * len(F_COLUMNS)
    if method == "kenward-roger":
        return _ftest_kenward_roger(model, L, rhs)
    sigma = float(model.sigma)
    if L.shape[0] == 1:
        return _ftest_1d(model, L[0], float(rhs[0]), method, sigma)
    beta = np.asarray(model.beta)
    if np.any(rhs != 0):
        beta = beta - np.linalg.pinv(L) @ rhs
    values, vectors = np.linalg.eigh(L @ model.vcov.to_numpy() @ L.T)
    values, vectors = values[::-1], vectors[:, ::-1]  # decreasing, as R's eigen
    q = int(np.sum(values > max(EIGEN_EPS * values[0], 0.0)))
    if q < L.shape[0] and np.any(rhs != 0):
        warnings.warn(
            "the contrast is rank deficient and the test may be affected",
            RankDeficiencyWarning,
            stacklevel=3,
        )
    if q == 0:
        return [np.nan] * len(F_COLUMNS)
    PtL = (vectors.T @ L)[:q]
    if q == 1:
        return _ftest_1d(model, PtL[0], float(rhs[0]), method, sigma)
    fvalue = float(np.sum((PtL @ beta) ** 2 / values[:q]) / q)
    if method == "satterthwaite":
        ddf = _fstat_ddf(satterthwaite_df(satterthwaite(model), PtL))
    else:
        ddf = float(contrast_df(model, PtL[:1], method)[0])
    return _f_row(fvalue, q, ddf, sigma)


def _ftest_1d(
    model: FittedLinearModel, row: Array, rhs: float, method: str, sigma: float
) -> list[float]:
    """The F test of one contrast: the squared t statistic (lmerTest's ``contest1D``)."""
    variance = float(row @ model.vcov.to_numpy() @ row)
    t = (float(row @ model.beta) - rhs) / np.sqrt(variance)
    return _f_row(t**2, 1, float(contrast_df(model, row, method)[0]), sigma)


def _f_row(fvalue: float, q: int, ddf: float, sigma: float, scaling: float = 1.0) -> list[float]:
    """``[Sum Sq, Mean Sq, NumDF, DenDF, F, p]`` with ``Mean Sq = F σ²`` (before scaling)."""
    mean_sq = fvalue * sigma**2
    f = fvalue * scaling
    if np.isfinite(ddf):
        p = float(scipy.stats.f.sf(f, q, ddf))
    else:
        p = float(scipy.stats.chi2.sf(f * q, q))
    return [mean_sq * q, mean_sq, float(q), float(ddf), f, p]


def _fstat_ddf(nu: Array, tol: float = 1e-8) -> float:
    """The df of a mean of squared t statistics (lmerTest's ``get_Fstat_ddf``)."""
    nu = np.asarray(nu, dtype=np.float64)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - nu.size)


def _ftest_kenward_roger(model: FittedLinearModel, L: Array, rhs: Array) -> list[float]:
    """The F test of pbkrtest's ``KRmodcomp`` with a restriction matrix, as lmerTest reports it."""
    kr = kenward_roger(model)
    q = int(np.linalg.matrix_rank(L))
    if q < L.shape[0] and np.any(rhs != 0):
        warnings.warn(
            "the contrast is rank deficient and the test may be affected",
            RankDeficiencyWarning,
            stacklevel=3,
        )
    if q == 0:
        return [np.nan] * len(F_COLUMNS)
    beta_h = np.linalg.pinv(L) @ rhs if np.any(rhs != 0) else 0.0
    if q < L.shape[0]:  # pbkrtest's force_full_rank: an orthonormal basis of the rows
        L = np.linalg.svd(L, full_matrices=False)[2][:q]
    stats = kenward_roger_stats(kr, L, q=q)
    diff = L @ (np.asarray(model.beta) - beta_h)
    wald = float(diff @ np.linalg.solve(L @ kr.vcov_adjusted @ L.T, diff))
    return _f_row(wald / q, q, stats.ddf, float(model.sigma), stats.f_scaling)


# ---- the anova table ------------------------------------------------------------------------
def anova_table(
    model: FittedLinearModel, type: int | str = 3, ddf: str = "satterthwaite"
) -> pd.DataFrame:
    """F tests of the fixed-effect terms, as lmerTest's ``anova(m, type=, ddf=)``.

    Parameters
    ----------
    model
        A fitted :class:`~mixedmodels.LinearMixedModel`.
    type
        3 (``"III"``, marginal tests, default), 2 (``"II"``, each term adjusted for the terms
        that do not contain it) or 1 (``"I"``, sequential tests).
    ddf
        ``"satterthwaite"``, ``"kenward-roger"``, ``"residual"`` or ``"wald"``.

    Returns
    -------
    pandas.DataFrame
        One row per term (the intercept excluded) with ``sum_sq, mean_sq, num_df, den_df,
        statistic`` (F) and ``p_value`` (:data:`R_LABELS` has lmerTest's column names);
        ``attrs["heading"]`` is lmerTest's heading and ``attrs["hypotheses"]`` the matrix
        tested for each term.
    """
    method = ddf_method(ddf)
    kind = anova_type(type)
    hypotheses = term_contrasts(model, kind)
    rows = [_ftest(model, L, np.zeros(L.shape[0]), method) for L in hypotheses.values()]
    table = pd.DataFrame(rows, index=list(hypotheses), columns=F_COLUMNS)
    label = METHOD_LABELS[method]
    suffix = f"{label}'s method" if method in ("satterthwaite", "kenward-roger") else f"{label} df"
    roman = "I" * kind
    table.attrs["heading"] = f"Type {roman} Analysis of Variance Table with {suffix}"
    table.attrs["hypotheses"] = hypotheses
    table.attrs["ddf"] = method
    return table
