"""Confidence intervals for the predictions of a GLMM, on the link scale mapped to the mean.

lme4's ``predict`` gives no intervals. These are normal-theory intervals for the linear
predictor at the estimates (the Laplace approximation, θ fixed, no dispersion in the link-scale
variance), mapped through the inverse link, so the limits are ordered and inside the family's
range of the mean:

* ``re_form="~0"`` (or ``"NA"``), any rows: ``se_link² = xᵀ Var(β̂) x`` with the model's
  ``vcov`` (the Hessian-based covariance of β̂ by default).
* ``re_form=None`` for the fitted rows: ``se_link² = vᵢᵀ M⁻¹ vᵢ`` with ``vᵢ = [Λᵀzᵢ; xᵢ]`` and
  ``M`` the penalized weighted least-squares system in ``(u, β)`` at the converged PIRLS
  weights (:func:`~mixedmodels.objective.leverage.penalized_leverages`, the quantity of the hat
  values): the approximate posterior covariance of the modes and β̂, with a flat prior on β.

Its β block is lme4's unscaled ``vcov`` (``(R_X R_Xᵀ)⁻¹``), not the Hessian-based one, so the
two ``re_form`` give slightly different fixed-effects uncertainties. A new observation of a
non-normal response has no normal-theory prediction interval: use ``simulate()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.objective.leverage import penalized_leverages
from mixedmodels.results.predict import NO_RANDOM, _complete_rows, new_fixed_matrix
from mixedmodels.spec.frame import as_frame

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel

__all__ = ["glmm_prediction_intervals"]

Array = FloatArray


def glmm_prediction_intervals(
    model: FittedGeneralizedModel,
    new_data: Any = None,
    *,
    level: float = 0.95,
    interval: str = "confidence",
    re_form: str | None = None,
    allow_new_levels: bool = False,
    offset: Any = None,
) -> pd.DataFrame:
    """Predictions of the mean with link-scale standard errors and confidence intervals.

    Parameters
    ----------
    model
        A fitted GLMM.
    new_data
        Rows to predict for; ``None`` for the fitted data.
    level
        Coverage of the intervals.
    interval
        ``"confidence"`` (for the conditional mean of the included terms); ``"prediction"``
        is refused (see the module documentation).
    re_form, allow_new_levels, offset
        As for the model's ``predict``; ``re_form`` ``"~0"`` for any rows, ``None`` for the
        fitted rows.

    Returns
    -------
    pandas.DataFrame
        One row per row of the data: ``fit`` (the mean), ``fit_link``, ``se_link``, ``lower``
        and ``upper`` (missing where the prediction is missing).

    Raises
    ------
    NotSupportedError
        For ``interval="prediction"``, and for random effects in predictions for new data or
        for some of the terms only.
    """
    _check_options(interval, level)
    model._require_fit()
    population = re_form is not None and str(re_form).replace(" ", "") in NO_RANDOM
    if not population and (new_data is not None or re_form is not None):
        raise NotSupportedError(
            "prediction_intervals of a GLMM with random effects is available for the fitted "
            "rows with all terms (new_data=None, re_form=None) only; use re_form='~0' for new "
            "data or simulate()"
        )
    options = {"re_form": re_form, "allow_new_levels": allow_new_levels, "offset": offset}
    fit = model.predict(new_data, type="response", **options)
    fit_link = model.predict(new_data, type="link", **options)
    se = _population_se(model, new_data) if population else _conditional_se(model)
    half = float(scipy.stats.norm.ppf(0.5 + level / 2.0)) * se
    inverse = model.family.link.inverse
    with np.errstate(invalid="ignore"):
        ends = np.vstack([inverse(fit_link - half), inverse(fit_link + half)])
    index = None if new_data is None else as_frame(new_data).index
    out = pd.DataFrame({"fit": fit, "fit_link": fit_link, "se_link": se}, index=index)
    out["lower"] = np.min(ends, axis=0)
    out["upper"] = np.max(ends, axis=0)
    return out


def _check_options(interval: str, level: float) -> None:
    """Refuse a prediction interval and a level outside (0, 1)."""
    if interval == "prediction":
        raise NotSupportedError(
            "a new observation of a non-normal response has no normal-theory prediction "
            "interval: use interval='confidence' for the mean, or simulate() for new responses"
        )
    if interval != "confidence":
        raise ModelSpecificationError(
            f"interval must be 'confidence' or 'prediction', not {interval!r}"
        )
    if not 0.0 < level < 1.0:
        raise ModelSpecificationError(f"level must be between 0 and 1, not {level!r}")


def _population_se(model: FittedGeneralizedModel, new_data: Any) -> Array:
    """``sqrt(xᵀ Var(β̂) x)`` per row (NaN where the prediction is missing)."""
    V = model.vcov.to_numpy()
    if new_data is None:
        X = model.fixed.X
        return model.frame.padded(np.sqrt(np.einsum("ij,jk,ik->i", X, V, X)))
    frame = as_frame(new_data)
    mask: np.ndarray = np.asarray(_complete_rows(model, frame, []))  # type: ignore[arg-type]
    rows = frame.iloc[np.flatnonzero(mask)].reset_index(drop=True)
    X = new_fixed_matrix(model, rows)  # type: ignore[arg-type]
    se = np.full(len(frame), np.nan)
    se[mask] = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
    return se


def _conditional_se(model: FittedGeneralizedModel) -> Array:
    """``sqrt(vᵢᵀ M⁻¹ vᵢ)`` for the fitted rows, all terms (NaN-padded as the predictions)."""
    return model.frame.padded(np.sqrt(penalized_leverages(model.engine)))
