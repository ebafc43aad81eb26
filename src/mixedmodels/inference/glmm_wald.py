"""Wald χ² tests and intervals of a GLMM: car's ``Anova``, ``linearHypothesis``; ``confint``.

Every test is the Wald statistic ``(Lβ̂ − r)ᵀ (L V Lᵀ)⁻¹ (Lβ̂ − r)`` on ``rank(L)`` degrees of
freedom, ``V`` the covariance of β̂ (``model.vcov`` unless another is given). Per term of the
fixed part the hypothesis matrix ``L`` is

* type II (car's ``Anova(m, type = "II")``): the coefficients of the term and of the terms that
  contain all its variables (car's ``relatives``), less the directions of the containing terms:
  the complement of their rows in ``V``'s inner product (car's ``ConjComp``);
* type III (car's ``Anova(m, type = "III")``): the rows of the identity of the term's
  coefficients, the intercept included — a test that depends on the contrasts coding, as in car;
* type I: sequential tests in the order of the formula. Row ``k`` of ``R``, the upper Cholesky
  factor of ``V⁻¹``, belongs to the coefficient it is on the diagonal of; the statistic of a term
  is the squared length of its rows times β̂. lme4's ``anova`` of one GLMM reports the same
  numbers as an F table: its ``Sum Sq`` is this χ² (times σ², 1 for binomial and Poisson) and
  its ``F value`` the χ² over its df, with ``V = σ² (R_Xᵀ R_X)⁻¹`` from the PIRLS weights at the
  estimates — the covariance type I uses unless another is given. Types II and III use
  ``model.vcov`` (from the Hessian of the deviance, as ``vcov(m)`` in lme4, which car uses).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError, RankDeficiencyWarning
from mixedmodels.inference.confint import _table
from mixedmodels.inference.hypotheses import (
    FixedTerm,
    anova_type,
    formula_terms,
    hypothesis_matrix,
)
from mixedmodels.inference.parameters import ParameterNames, parameter_names, select_parameters

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel

__all__ = [
    "WALD_COLUMNS",
    "WALD_LABELS",
    "glmm_anova",
    "glmm_contrast",
    "glmm_parameter_names",
    "glmm_wald_intervals",
    "wald_hypotheses",
]

Array = FloatArray
WALD_COLUMNS = ["chisq", "df", "p_value"]
WALD_LABELS = {"chisq": "Chisq", "df": "Df", "p_value": "Pr(>Chisq)"}  # car's column names
EIGEN_EPS = float(np.sqrt(np.finfo(float).eps))
QR_TOL = 1e-7  # R's qr tolerance (the rank in car's ConjComp)
HEADINGS = {
    1: "Analysis of Deviance Table (Type I Wald chisquare tests, sequential)",
    2: "Analysis of Deviance Table (Type II Wald chisquare tests)",
    3: "Analysis of Deviance Table (Type III Wald chisquare tests)",
}


# ---- the covariance and the statistic -------------------------------------------------------
def _covariance(model: FittedGeneralizedModel, vcov: Any, rx: bool = False) -> Array:
    """``vcov`` as a ``p × p`` array (a DataFrame is aligned on the coefficient names).

    When ``vcov`` is None: ``model.vcov``, or with ``rx`` lme4's ``σ² (R_Xᵀ R_X)⁻¹``.
    """
    names = list(model.fixed.names)
    if vcov is None and rx:
        precision = np.asarray(model.engine.fixed_precision(), dtype=float)
        unscaled = scipy.linalg.cho_solve(scipy.linalg.cho_factor(precision), np.eye(len(names)))
        return 0.5 * (unscaled + unscaled.T) * float(model.sigma) ** 2
    if vcov is None:
        return np.asarray(model.vcov.to_numpy(), dtype=float)
    if isinstance(vcov, pd.DataFrame):
        missing = [n for n in names if n not in vcov.index or n not in vcov.columns]
        if missing:
            raise ModelSpecificationError(f"vcov has no row or column for {missing}")
        vcov = vcov.loc[names, names]
    V = np.asarray(vcov, dtype=float)
    p = len(names)
    if V.shape != (p, p) or not np.all(np.isfinite(V)):
        raise ModelSpecificationError(
            f"vcov must be a finite {p} × {p} matrix (one row per coefficient), not {V.shape}"
        )
    return 0.5 * (V + V.T)


def wald_chisq(beta: Array, V: Array, L: Array, rhs: Array) -> tuple[float, int]:
    """The Wald χ² of ``L β = rhs`` and its df, ``rank(L V Lᵀ)`` (car's ``linearHypothesis``).

    A rank-deficient ``L V Lᵀ`` is tested on its non-null eigenvectors, as lmerTest's
    ``contestMD`` does.
    """
    if L.shape[0] == 0:
        return np.nan, 0
    d = L @ beta - rhs
    S = L @ V @ L.T
    try:
        factor = scipy.linalg.cho_factor(S)
        return float(d @ scipy.linalg.cho_solve(factor, d)), L.shape[0]
    except np.linalg.LinAlgError:
        pass
    values, vectors = np.linalg.eigh(0.5 * (S + S.T))
    keep = values > max(EIGEN_EPS * float(np.max(values, initial=0.0)), 0.0)
    if not np.any(keep):
        return np.nan, 0
    if np.any(rhs != 0):
        warnings.warn(
            "the contrast is rank deficient and the test may be affected",
            RankDeficiencyWarning,
            stacklevel=3,
        )
    rotated = vectors[:, keep].T @ d
    return float(np.sum(rotated**2 / values[keep])), int(np.sum(keep))


def _wald_row(beta: Array, V: Array, L: Array) -> list[float]:
    """``[χ², df, p]`` of ``L β = 0`` (nan with df 0 for an empty hypothesis)."""
    chisq, df = wald_chisq(beta, V, L, np.zeros(L.shape[0]))
    p = float(scipy.stats.chi2.sf(chisq, df)) if df > 0 else np.nan
    return [chisq, float(df), p]


# ---- the hypotheses of each term ------------------------------------------------------------
def wald_hypotheses(
    model: FittedGeneralizedModel, type: int | str = 2, vcov: Any = None
) -> dict[str, Array]:
    """The hypothesis matrix of each fixed-effect term for :func:`glmm_anova`.

    Parameters
    ----------
    model
        A fitted GLMM.
    type
        1 (sequential), 2 (car's type II) or 3 (car's type III, with the intercept).
    vcov
        The covariance of β̂ (types I and II depend on it); when None ``model.vcov`` (types II
        and III) or lme4's ``σ² (R_Xᵀ R_X)⁻¹`` (type I).
    """
    kind = anova_type(type)
    V = _covariance(model, vcov, rx=kind == 1)
    model.ensure_spec()
    intercept, terms = formula_terms(model)
    names = list(model.fixed.names)
    if kind == 1:
        return _sequential(V, terms)
    if kind == 2:
        return {t.label: _type2(V, t, terms) for t in terms}
    eye = np.eye(len(names))
    out: dict[str, Array] = {}
    if intercept and "(Intercept)" in names:
        out["(Intercept)"] = eye[[names.index("(Intercept)")]]
    out.update({t.label: eye[list(t.columns)] for t in terms})
    return out


def _sequential(V: Array, terms: list[FixedTerm]) -> dict[str, Array]:
    """Rows of ``R``, ``Rᵀ R = V⁻¹`` upper triangular, per term (type I).

    With ``J`` the reversal, ``J V J = C Cᵀ`` gives ``R = J C⁻¹ J``: a triangular solve.
    """
    p = V.shape[0]
    if p == 0:
        return {t.label: np.zeros((0, 0)) for t in terms}
    J = np.eye(p)[::-1]
    C = np.linalg.cholesky(J @ V @ J)
    R = J @ scipy.linalg.solve_triangular(C, J, lower=True)
    return {t.label: R[list(t.columns)] for t in terms}


def _relatives(term: FixedTerm, terms: list[FixedTerm]) -> list[FixedTerm]:
    """The other terms with every variable of ``term`` (car's ``relatives``)."""
    own = set(term.factors)
    return [t for t in terms if t.label != term.label and own <= set(t.factors)]


def _type2(V: Array, term: FixedTerm, terms: list[FixedTerm]) -> Array:
    """The type II hypothesis (car's) of ``term``: its relatives' complement in ``V``'s metric."""
    p = V.shape[0]
    eye = np.eye(p)
    related = [c for t in _relatives(term, terms) for c in t.columns]
    Z = eye[related + list(term.columns)].T
    L = Z.T if not related else _conjugate_complement(eye[related].T, Z, V).T
    if L.size == 0:
        return L
    scale = float(np.max(np.abs(L)))
    return L[np.max(np.abs(L), axis=1) > 1e-12 * scale]


def _conjugate_complement(X: Array, Z: Array, ip: Array) -> Array:
    """A basis of the part of ``span(Z)`` orthogonal to ``span(X)`` in the ``ip`` inner product.

    car's ``ConjComp``: ``Z Q₂`` where ``Q₂`` completes the rank of the QR of ``Zᵀ ip X``.
    """
    M = Z.T @ ip @ X
    Q, R, _ = scipy.linalg.qr(M, pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > QR_TOL * diag[0])) if diag.size and diag[0] > 0 else 0
    return np.asarray(Z @ Q[:, rank:])


# ---- the tables -----------------------------------------------------------------------------
def glmm_anova(
    model: FittedGeneralizedModel, type: int | str = 2, *, vcov: Any = None
) -> pd.DataFrame:
    """Wald χ² tests of the fixed-effect terms of a GLMM, as car's ``Anova(m, type=)``.

    Parameters
    ----------
    model
        A fitted GLMM.
    type
        2 (``"II"``, car's default), 3 (``"III"``, with a row for the intercept) or 1
        (``"I"``, sequential; the χ² of lme4's ``anova(m)``, see the module notes).
    vcov
        The covariance of β̂ to test with (an array or a DataFrame named as the
        coefficients); when None ``model.vcov`` (types II and III) or lme4's
        ``σ² (R_Xᵀ R_X)⁻¹`` (type I, the numbers of lme4's ``anova``).

    Returns
    -------
    pandas.DataFrame
        One row per term with ``chisq``, ``df`` and ``p_value`` (:data:`WALD_LABELS` has car's
        column names); ``attrs`` holds ``heading``, ``type`` and ``hypotheses`` (the matrix
        tested for each term).
    """
    model._require_fit()
    kind = anova_type(type)
    V = _covariance(model, vcov, rx=kind == 1)
    hypotheses = wald_hypotheses(model, kind, V)
    beta = np.asarray(model.beta, dtype=float)
    rows = [_wald_row(beta, V, L) for L in hypotheses.values()]
    table = pd.DataFrame(rows, index=list(hypotheses), columns=WALD_COLUMNS)
    table.index.name = "term"
    table.attrs = {"heading": HEADINGS[kind], "type": kind, "hypotheses": hypotheses}
    return table


def glmm_contrast(
    model: FittedGeneralizedModel, L: Any, rhs: Any = 0.0, *, vcov: Any = None
) -> pd.DataFrame:
    """The joint Wald χ² test of ``L β = rhs``, as car's ``linearHypothesis(m, L, rhs)``.

    Parameters
    ----------
    model
        A fitted GLMM.
    L
        Hypothesis matrix, one row per linear function of β and one column per coefficient (a
        vector is one row; a DataFrame or Series is aligned on the coefficient names).
    rhs
        Right-hand side: a scalar or one value per row of ``L``.
    vcov
        The covariance of β̂; ``model.vcov`` when None.

    Returns
    -------
    pandas.DataFrame
        One row: ``chisq``, ``df`` (the rank of ``L``) and ``p_value``.
    """
    model._require_fit()
    Lm = hypothesis_matrix(model.fixed.names, L, ModelSpecificationError)
    try:
        r = np.broadcast_to(np.asarray(rhs, dtype=float), (Lm.shape[0],)).copy()
    except ValueError as err:
        raise ModelSpecificationError(
            f"rhs must be a scalar or {Lm.shape[0]} values (one per row of L)"
        ) from err
    V = _covariance(model, vcov)
    chisq, df = wald_chisq(np.asarray(model.beta, dtype=float), V, Lm, r)
    p = float(scipy.stats.chi2.sf(chisq, df)) if df > 0 else np.nan
    return pd.DataFrame([[chisq, float(df), p]], columns=WALD_COLUMNS)


# ---- Wald intervals -------------------------------------------------------------------------
def glmm_parameter_names(model: FittedGeneralizedModel) -> ParameterNames:
    """lme4's names of a GLMM's parameters: ``.sig01, ...``, then the coefficient names.

    Readable names (lme4's ``oldNames = FALSE``) are ``sd_(Intercept)|herd``,
    ``cor_x.(Intercept)|g`` and the coefficient names. A family with a scale (Gamma, inverse
    Gaussian) has ``.sigma`` (``sigma``) after the SDs and correlations, as in lme4: the names
    of :func:`~mixedmodels.inference.profile.parameter_names`, which reads ``has_scale``.
    """
    return parameter_names(model)


def glmm_wald_intervals(
    model: FittedGeneralizedModel,
    level: float = 0.95,
    *,
    which: Any = None,
    names: Literal["lme4", "readable"] = "lme4",
    vcov: Any = None,
) -> pd.DataFrame:
    """Wald intervals ``β̂ ± z·se``, as lme4's ``confint(m, method = "Wald")``.

    Parameters
    ----------
    model
        A fitted GLMM.
    level
        Confidence level.
    which
        Parameters (lme4's ``parm``): names, ``"theta_"``, ``"beta_"`` or indices; all if None.
    names
        Row names: lme4's ``.sig01 ...`` (default) or readable ``sd_...|group``.
    vcov
        The covariance of β̂; ``model.vcov`` when None.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, ``nan`` for the SDs, correlations and σ (as lme4), columns
        ``"2.5 %"`` and ``"97.5 %"`` (for ``level = 0.95``).
    """
    if not 0.0 < level < 1.0:
        raise ModelSpecificationError(f"level must be between 0 and 1, not {level}")
    model._require_fit()
    pnames = glmm_parameter_names(model)
    chosen = select_parameters(which, pnames)
    z = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
    se = np.sqrt(np.diag(_covariance(model, vcov)))
    beta = np.asarray(model.beta, dtype=float)
    nan = np.full(pnames.n_variance, np.nan)
    lower = np.concatenate([nan, beta - z * se])
    upper = np.concatenate([nan, beta + z * se])
    return _table(pnames, chosen, lower, upper, level, names, "wald")
