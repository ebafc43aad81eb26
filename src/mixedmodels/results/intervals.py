"""Confidence and prediction intervals for predictions of a linear mixed model.

lme4's ``predict`` gives no intervals (its documentation points to the bootstrap). These are
normal-theory intervals at the estimates of θ and σ, from the conditional covariance of the
fixed and spherical random effects given the data, ``σ² (LLᵀ)⁻¹`` (``L`` the blocked factor of
the penalized system in ``(u, β)``; with a flat prior on β this is their posterior covariance,
and its ``β`` block is ``vcov``). For a row with fixed-effects vector ``x``, random-effects
vectors ``z_j`` at levels ``g_j`` and prior weight ``w``, the prediction is
``x'β̂ + Σ_{j∈J} z_j'b̃_j[g_j]`` for the terms ``J`` that ``re_form`` includes, and:

* ``se_fit²`` — the error of that estimate of ``x'β + Σ_{j∈J} z_j'b_j[g_j]``:
  ``σ² vᵀ(LLᵀ)⁻¹v`` with ``v = [Λ_jᵀz_j at g_j (j ∈ J); x]`` (this includes the uncertainty
  of β̂, its correlation with the modes, and the conditional variance of the modes), plus
  ``σ² z_j'T_jT_jᵀz_j`` for a new level of an included term (predicted as 0).
* ``se_prediction²`` — the error of predicting a new observation
  ``y = x'β + Σ_all z_j'b_j + ε``: ``se_fit²``, plus ``σ² z_j'T_jT_jᵀz_j`` (the marginal
  variance) for every term that ``re_form`` leaves out, plus ``σ²/w`` for ``ε``. With
  ``re_form="~0"`` that is ``x'Var(β̂)x + Σ_j z_j'Σ_j z_j + σ²``.

Not included: the uncertainty of θ and σ̂ (use the parametric bootstrap for that). Intervals are
``fit ± z_{1−α/2}·se`` with the normal quantile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, ModelSpecificationError, UnknownColumnError
from mixedmodels.linalg.selected_inverse import RowBlocks, selected_inverse
from mixedmodels.results.predict import _complete_rows, included_terms, new_fixed_matrix, predict
from mixedmodels.spec.frame import as_frame
from mixedmodels.spec.grouping import row_labels

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel, FittedModelBase
    from mixedmodels.spec import RandomEffectsTerm

__all__ = ["prediction_intervals"]

Array = FloatArray


def prediction_intervals(
    model: FittedLinearModel,
    new_data: Any = None,
    *,
    level: float = 0.95,
    interval: str = "prediction",
    re_form: str | None = None,
    allow_new_levels: bool = False,
    offset: Any = None,
    weights: Any = None,
) -> pd.DataFrame:
    """Predictions with standard errors and confidence or prediction intervals.

    Parameters
    ----------
    model
        A fitted model.
    new_data
        Rows to predict for; ``None`` for the fitted data.
    level
        Coverage of the intervals.
    interval
        ``"prediction"`` (for a new observation) or ``"confidence"`` (for the conditional
        mean of the included terms); see the module documentation for what each contains.
    re_form, allow_new_levels, offset
        As for :meth:`~mixedmodels.models.FittedLinearModel.predict`.
    weights
        Prior weights of the new observations (``Var(ε) = σ²/w``): a column of ``new_data``,
        one value per row, or ``None`` (the fitted weights for the fitted data, else 1).

    Returns
    -------
    pandas.DataFrame
        One row per row of the data: ``fit``, ``se_fit``, ``se_prediction``, ``lower`` and
        ``upper`` (missing where the prediction is missing).
    """
    if interval not in ("prediction", "confidence"):
        raise ModelSpecificationError(
            f"interval must be 'prediction' or 'confidence', not {interval!r}"
        )
    if not 0.0 < level < 1.0:
        raise ModelSpecificationError(f"level must be between 0 and 1, not {level!r}")
    model._require_fit()
    fit = predict(
        model, new_data, re_form=re_form, allow_new_levels=allow_new_levels, offset=offset
    )
    included = included_terms(model, re_form)
    if new_data is None:
        rows = _fitted_rows(model, weights)
    else:
        rows = _new_rows(model, as_frame(new_data), included, weights)
    se_fit, se_pred = _standard_errors(model, {t.name for t in included}, rows)
    se = se_pred if interval == "prediction" else se_fit
    half = float(scipy.stats.norm.ppf(0.5 + level / 2.0)) * se
    out = pd.DataFrame(
        {"fit": fit, "se_fit": se_fit, "se_prediction": se_pred},
        index=None if new_data is None else as_frame(new_data).index,
    )
    out["lower"] = out["fit"] - half
    out["upper"] = out["fit"] + half
    return out


# ---- the rows ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rows:
    """What the variances need for each predicted row.

    Attributes
    ----------
    X
        Fixed-effects model matrix.
    levels
        Term name → level index of each row (−1 for a new level), for the included terms.
    z
        Term name → per-row model matrix ``(n, k)``, for every term.
    weights
        Prior weights of the predicted observations.
    mask
        Which rows of the data are predicted (complete rows).
    """

    X: Array
    levels: dict[str, np.ndarray]
    z: dict[str, Array]
    weights: Array
    mask: np.ndarray


def _fitted_rows(model: FittedModelBase, weights: Any) -> _Rows:
    """The fitted observations."""
    w = model.frame.weights if weights is None else _weights(weights, None, model.nobs)
    levels = {t.name: t.refs for t in model.terms}
    z = {t.name: t.z for t in model.terms}
    mask = np.ones(model.nobs, dtype=bool)
    return _Rows(model.fixed.X, levels, z, w, mask)


def _new_rows(
    model: FittedModelBase,
    frame: pd.DataFrame,
    included: list[RandomEffectsTerm],
    weights: Any,
) -> _Rows:
    """New rows, encoded as :func:`~mixedmodels.results.predict.predict` encodes them."""
    mask = np.asarray(_complete_rows(model, frame, included), dtype=bool)
    rows = frame.loc[mask].reset_index(drop=True)
    levels: dict[str, np.ndarray] = {}
    z: dict[str, Array] = {}
    wanted = {t.name for t in included}
    for term in model.terms:
        if term.name in wanted:
            position = {label: i for i, label in enumerate(term.levels)}
            labels = row_labels(rows, term.spec.factors)
            levels[term.name] = np.array([position.get(v, -1) for v in labels], dtype=np.intp)
        try:
            z[term.name] = term.model_matrix(rows)
        except KeyError as error:
            raise UnknownColumnError([str(error.args[0])], frame.columns) from None
    w = _weights(weights, frame, len(frame))[mask]
    return _Rows(_fixed_matrix(model, rows), levels, z, w, mask)


def _fixed_matrix(model: FittedModelBase, rows: pd.DataFrame) -> Array:
    """The fixed-effects model matrix of new rows (the training encoding)."""
    return new_fixed_matrix(model, rows)


def _weights(weights: Any, frame: pd.DataFrame | None, n: int) -> Array:
    """Prior weights of the predicted observations."""
    if weights is None:
        return np.ones(n)
    if isinstance(weights, str):
        if frame is None or weights not in frame.columns:
            raise UnknownColumnError([weights], [] if frame is None else frame.columns)
        values = frame[weights].to_numpy(dtype=np.float64)
    else:
        values = np.asarray(weights, dtype=np.float64).reshape(-1)
    if values.shape != (n,) or np.any(values <= 0):
        raise DataError(f"weights must be {n} positive numbers")
    return values


# ---- the variances -------------------------------------------------------------------------
def _standard_errors(
    model: FittedLinearModel, included: set[str], rows: _Rows
) -> tuple[Array, Array]:
    """``se_fit`` and ``se_prediction`` for every row of the data (NaN where not predicted)."""
    inverse = selected_inverse(model.L)
    templates = dict(zip((t.name for t in model.terms), model.templates(), strict=True))
    sigma2 = model.sigma**2
    blocks = _row_blocks(model, included, rows, templates)
    var_fit = sigma2 * inverse.quadratic_forms(blocks) if blocks.levels else np.zeros(len(rows.X))
    var_new = np.zeros_like(var_fit)
    var_out = sigma2 / rows.weights
    for term in model.terms:
        zt = rows.z[term.name] @ templates[term.name]
        marginal = sigma2 * np.einsum("ik,ik->i", zt, zt)
        if term.name in included:
            var_new += np.where(rows.levels[term.name] < 0, marginal, 0.0)
        else:
            var_out = var_out + marginal
    se_fit = np.full(rows.mask.shape, np.nan)
    se_pred = np.full(rows.mask.shape, np.nan)
    se_fit[rows.mask] = np.sqrt(var_fit + var_new)
    se_pred[rows.mask] = np.sqrt(var_fit + var_new + var_out)
    return se_fit, se_pred


def _row_blocks(
    model: FittedLinearModel,
    included: set[str],
    rows: _Rows,
    templates: dict[str, Array],
) -> RowBlocks:
    """The vectors ``v = [Λ_jᵀz_j at g_j (j ∈ J); x]`` of new rows; new levels left out."""
    blocks = RowBlocks()
    for j, term in enumerate(model.terms):
        if term.name in included:
            blocks.add(j, rows.levels[term.name], rows.z[term.name] @ templates[term.name])
    if model.n_fixed:
        blocks.add(len(model.terms), np.zeros(len(rows.X), dtype=np.intp), rows.X)
    return blocks
