"""Confidence intervals for the predictions of a GLMM, on the link scale mapped to the mean.

lme4's ``predict`` gives no intervals. These are normal-theory intervals for the linear
predictor at the estimates (the Laplace approximation, θ fixed, no dispersion in the link-scale
variance), mapped through the inverse link, so the limits are ordered and inside the family's
range of the mean (an interval for ``η`` that leaves the link's image of that range is cut at
its end):

* ``re_form="~0"`` (or ``"NA"``), any rows: ``se_link² = xᵀ Var(β̂) x`` with the model's
  ``vcov`` (the Hessian-based covariance of β̂ by default).
* with random effects (``re_form=None`` for all terms, or some of them):
  ``se_link² = vᵀ M⁻¹ v`` with ``v = [Λ_jᵀz_j at g_j (j included); x]`` and ``M`` the
  penalized weighted least-squares system in ``(u, β)`` at the converged PIRLS weights, whose
  inverse is the approximate posterior covariance of the modes and β̂ (flat prior on β); plus
  ``z_jᵀT_jT_jᵀz_j`` for a new level of an included term (predicted as 0). For the fitted rows
  with all terms that is :func:`~mixedmodels.objective.leverage.penalized_leverages` (the
  quantity of the hat values), else
  :func:`~mixedmodels.objective.leverage.penalized_quadratic_forms`.

The β block of ``M⁻¹`` is lme4's unscaled ``vcov`` (``(R_X R_Xᵀ)⁻¹``), not the Hessian-based
one, so with and without random effects the fixed effects' uncertainty differs slightly. Not
included: the uncertainty of θ. A new observation of a non-normal response has no
normal-theory prediction interval: use ``simulate()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.objective.leverage import penalized_leverages, penalized_quadratic_forms
from mixedmodels.results.intervals import _fitted_rows, _new_rows
from mixedmodels.results.predict import _complete_rows, included_terms, new_fixed_matrix
from mixedmodels.spec.families import Family
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
        As for the model's ``predict``.

    Returns
    -------
    pandas.DataFrame
        One row per row of the data: ``fit`` (the mean), ``fit_link``, ``se_link``, ``lower``
        and ``upper`` (missing where the prediction is missing).

    Raises
    ------
    NotSupportedError
        For ``interval="prediction"``.
    """
    _check_options(interval, level)
    model._require_fit()
    options = {"re_form": re_form, "allow_new_levels": allow_new_levels, "offset": offset}
    fit = model.predict(new_data, type="response", **options)
    fit_link = model.predict(new_data, type="link", **options)
    se = _standard_errors(model, new_data, re_form)
    half = float(scipy.stats.norm.ppf(0.5 + level / 2.0)) * se
    ends = _limits(model.family, fit_link - half, fit_link + half)
    index = None if new_data is None else as_frame(new_data).index
    out = pd.DataFrame({"fit": fit, "fit_link": fit_link, "se_link": se}, index=index)
    out["lower"] = np.min(ends, axis=0)
    out["upper"] = np.max(ends, axis=0)
    return out


def _limits(family: Family, low: Array, high: Array) -> Array:
    """The link-scale limits, kept to the link's image of the family's means, on the mean scale.

    An interval for ``η`` can leave the values a link takes on the family's means (``η < 0``
    for the inverse link of a Gamma, the identity link of a Poisson); it is cut there, so the
    limit on that side is the range's end (``+∞`` and ``0`` in those examples).
    """
    lo, hi = family.mean_range
    with np.errstate(divide="ignore", invalid="ignore"):
        bounds = np.sort(np.asarray(family.link.link(np.array([lo, hi])), dtype=np.float64))
        ends = [family.link.inverse(np.clip(x, bounds[0], bounds[1])) for x in (low, high)]
    return np.vstack(ends)


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


def _standard_errors(model: FittedGeneralizedModel, new_data: Any, re_form: str | None) -> Array:
    """``se_link`` per row of the data (NaN where the prediction is missing)."""
    included = included_terms(model, re_form)
    if not included:
        return _population_se(model, new_data)
    if new_data is None and len(included) == len(model.terms):
        return model.frame.padded(np.sqrt(penalized_leverages(model.engine)))
    if new_data is None:
        rows = _fitted_rows(model, None)
    else:
        rows = _new_rows(model, as_frame(new_data), included, None)
    wanted = {t.name for t in included}
    levels = [rows.levels[t.name] if t.name in wanted else None for t in model.terms]
    zeta = [
        rows.z[t.name] @ T if t.name in wanted else None
        for t, T in zip(model.terms, model.templates(), strict=True)
    ]
    var = penalized_quadratic_forms(model.engine, levels, zeta, rows.X)
    for g, zt in zip(levels, zeta, strict=True):
        if g is not None and zt is not None:  # a new level: its marginal variance
            var += np.where(g < 0, np.einsum("ik,ik->i", zt, zt), 0.0)
    se = np.full(rows.mask.shape, np.nan)
    se[rows.mask] = np.sqrt(var)
    return model.frame.padded(se) if new_data is None else se


def _population_se(model: FittedGeneralizedModel, new_data: Any) -> Array:
    """``sqrt(xᵀ Var(β̂) x)`` per row (NaN where the prediction is missing)."""
    V = model.vcov.to_numpy()
    if new_data is None:
        X = model.fixed.X
        return model.frame.padded(np.sqrt(np.einsum("ij,jk,ik->i", X, V, X)))
    frame = as_frame(new_data)
    mask: np.ndarray = np.asarray(_complete_rows(model, frame, []))
    rows = frame.iloc[np.flatnonzero(mask)].reset_index(drop=True)
    X = new_fixed_matrix(model, rows)
    se = np.full(len(frame), np.nan)
    se[mask] = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
    return se
