"""A fitted model as tidy tables and as a JSON document (broom.mixed's ``tidy``).

:func:`tidy` follows broom.mixed's ``tidy.merMod``: one row per fixed effect (``effect =
"fixed"``, no group), then one per variance parameter (``effect = "ran_pars"``) in lme4's
``lower.tri`` order — for each term, the SD of each column followed by its correlations with the
later columns — named ``sd__(Intercept)``, ``cor__(Intercept).Days``, ``sd__Days``; the residual
SD is ``sd__Observation`` in group ``Residual``. This is also the order of the ``.sig01``,
``.sig02``, ... parameters of ``confint``, so profile or bootstrap intervals line up.

:func:`fit_document` is everything a fitted model reports as plain JSON values (used by the
command line's ``--json``); :func:`to_json` serializes it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels.errors import ModelSpecificationError, NotSupportedError

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedModelBase

__all__ = ["fit_document", "tidy", "to_frame", "to_json"]

EFFECTS = ("fixed", "ran_pars", "ran_vals")
COLUMNS = ["effect", "group", "term", "estimate", "std_error", "statistic", "p_value"]


def tidy(
    model: FittedModelBase,
    conf_int: bool = False,
    level: float = 0.95,
    *,
    effects: Sequence[str] = ("fixed", "ran_pars"),
    conf_method: str = "wald",
) -> pd.DataFrame:
    """The estimates of a fitted model as one tidy table (broom.mixed's ``tidy``).

    Parameters
    ----------
    model
        A fitted model.
    conf_int
        Add ``conf_low`` and ``conf_high`` columns.
    level
        Confidence level of the intervals.
    effects
        Which rows: ``"fixed"``, ``"ran_pars"`` (SDs and correlations) and ``"ran_vals"``
        (conditional modes per level, with their conditional SDs, in a ``level`` column).
    conf_method
        ``"wald"`` (fixed effects only; missing for the variance parameters, as lme4),
        ``"profile"`` or ``"bootstrap"`` (every parameter, from ``confint``).

    Returns
    -------
    pandas.DataFrame
        Columns ``effect, group, term, estimate, std_error, statistic, p_value`` (plus ``df``
        when the coefficient table has degrees of freedom, ``level`` with ``"ran_vals"`` and
        the interval columns); missing values where a quantity does not apply.
    """
    unknown = [e for e in effects if e not in EFFECTS]
    if unknown:
        raise ModelSpecificationError(f"unknown effects {unknown}; choose from {list(EFFECTS)}")
    parts = []
    if "fixed" in effects:
        parts.append(_fixed_rows(model, conf_int, level, conf_method))
    if "ran_pars" in effects:
        parts.append(_ran_pars_rows(model, conf_int, level, conf_method))
    if "ran_vals" in effects:
        parts.append(_ran_vals_rows(model, conf_int, level))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    order = [c for c in COLUMNS[:3] if c in table.columns]
    order += ["level"] if "level" in table.columns else []
    order += [c for c in table.columns if c not in order]
    return table[order]


def to_frame(model: FittedModelBase, **kwargs: Any) -> pd.DataFrame:
    """The same as :func:`tidy`."""
    return tidy(model, **kwargs)


def _normal_quantile(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ModelSpecificationError(f"level must be between 0 and 1, not {level!r}")
    return float(scipy.stats.norm.ppf(0.5 + level / 2.0))


def _fixed_rows(
    model: FittedModelBase, conf_int: bool, level: float, conf_method: str
) -> pd.DataFrame:
    """One row per fixed effect, from the coefficient table."""
    coef = model.coef_table
    n = len(coef)
    rows = pd.DataFrame(
        {
            "effect": "fixed",
            "group": [None] * n,
            "term": list(coef.index.astype(str)),
            "estimate": coef["estimate"].to_numpy(dtype=float),
            "std_error": coef["std_error"].to_numpy(dtype=float),
            "statistic": coef["statistic"].to_numpy(dtype=float),
        }
    )
    if "df" in coef.columns:
        rows["df"] = coef["df"].to_numpy(dtype=float)
    rows["p_value"] = coef["p_value"].to_numpy(dtype=float) if "p_value" in coef else np.nan
    if conf_int:
        if conf_method.lower() == "wald":
            half = _normal_quantile(level) * rows["std_error"]
            rows["conf_low"], rows["conf_high"] = rows["estimate"] - half, rows["estimate"] + half
        else:
            limits = _confint(model, conf_method, level)
            rows["conf_low"] = limits[-n:, 0] if n else []
            rows["conf_high"] = limits[-n:, 1] if n else []
    return rows


def _ran_pars_rows(
    model: FittedModelBase, conf_int: bool, level: float, conf_method: str
) -> pd.DataFrame:
    """SDs and correlations in lme4's ``lower.tri`` order, then the residual SD."""
    vc = model.varcorr
    records = []
    for group in dict.fromkeys(vc["group"]):
        part = vc[vc["group"] == group]
        if group == "Residual":
            records.append((group, "sd__Observation", float(part["sd_cor"].iloc[0])))
            continue
        sds = part[part["term2"].isna()]
        for name, sd in zip(sds["term1"], sds["sd_cor"], strict=True):
            records.append((group, f"sd__{name}", float(sd)))
            cors = part[(part["term1"] == name) & part["term2"].notna()]
            for other, cor in zip(cors["term2"], cors["sd_cor"], strict=True):
                records.append((group, f"cor__{name}.{other}", float(cor)))
    rows = pd.DataFrame(records, columns=["group", "term", "estimate"])
    rows.insert(0, "effect", "ran_pars")
    for column in ("std_error", "statistic", "p_value"):
        rows[column] = np.nan
    if conf_int:
        rows["conf_low"] = rows["conf_high"] = np.nan
        if conf_method.lower() != "wald":
            limits = _confint(model, conf_method, level)[: len(rows)]
            rows["conf_low"], rows["conf_high"] = limits[:, 0], limits[:, 1]
    return rows


def _ran_vals_rows(model: FittedModelBase, conf_int: bool, level: float) -> pd.DataFrame:
    """Conditional modes and conditional SDs per level (broom.mixed's ``ran_vals``)."""
    frames = []
    variances = model.ranef_var
    for term, modes in zip(model.terms, model.random_effects(), strict=True):
        sd = np.sqrt(np.diagonal(variances[term.name], axis1=1, axis2=2))
        for c, name in enumerate(term.column_names):
            frames.append(
                pd.DataFrame(
                    {
                        "effect": "ran_vals",
                        "group": term.group,
                        "level": list(term.levels),
                        "term": name,
                        "estimate": modes[:, c],
                        "std_error": sd[:, c],
                    }
                )
            )
    rows = pd.concat(frames, ignore_index=True)
    rows["statistic"] = rows["p_value"] = np.nan
    if conf_int:
        half = _normal_quantile(level) * rows["std_error"]
        rows["conf_low"], rows["conf_high"] = rows["estimate"] - half, rows["estimate"] + half
    return rows


def _confint(model: FittedModelBase, method: str, level: float) -> np.ndarray:
    """Lower and upper limits of every parameter in lme4's order (``confint``)."""
    table = model.confint(method.lower(), level)
    return table.iloc[:, :2].to_numpy(dtype=float)


# ---- JSON ----------------------------------------------------------------------------------
def fit_document(model: FittedModelBase, ddf: str | None = None) -> dict[str, Any]:
    """Everything a fitted model reports, as plain JSON-ready values (NaN and ±inf → None).

    Parameters
    ----------
    model
        A fitted :class:`~mixedmodels.models.LinearMixedModel`.
    ddf
        The df method of ``coef_table`` (the model's ``ddf`` attribute by default).

    Returns
    -------
    dict
        formula, data, method, nobs, ngroups, objective, loglik, aic, bic, deviance, sigma,
        theta, fixef, coef_table and varcorr (lists of records), is_singular, converged, feval,
        optimizer return value, rows dropped for missing values, rank-deficient columns dropped
        and ranef (``{group: {level: {effect: value}}}``).
    """
    coef = model.coef_table if ddf is None else _coef_test(model, ddf)
    coef = coef.rename_axis("term").reset_index()
    optsum = model.optsum
    if optsum is None:
        raise ModelSpecificationError("the model has not been fitted yet: call .fit()")
    doc = {
        "formula": model.formula,
        "data": getattr(model, "data_name", None),
        "method": "REML" if model.reml else "ML",
        "nobs": model.nobs,
        "ngroups": dict(model.ngroups),
        "objective": model.objective,
        "loglik": model.loglik,
        "aic": model.aic,
        "bic": model.bic,
        "deviance": model.deviance,
        "sigma": model.sigma,
        "theta": list(np.asarray(model.theta, dtype=float)),
        "fixef": {str(k): v for k, v in model.fixef.items()},
        "coef_table": coef.to_dict(orient="records"),
        "varcorr": model.varcorr.to_dict(orient="records"),
        "is_singular": model.is_singular,
        "converged": optsum.converged,
        "feval": optsum.feval,
        "return_value": optsum.return_value,
        "n_dropped": int(getattr(model.frame, "n_dropped", 0)),
        "dropped_columns": list(getattr(model.fixed, "dropped", [])),
        "ranef": _ranef_document(model.ranef),
    }
    return dict(_plain(doc))


def to_json(model: FittedModelBase, indent: int | None = 2, ddf: str | None = None) -> str:
    """The fitted model as a JSON document (see :func:`fit_document`); NaN becomes ``null``."""
    return json.dumps(fit_document(model, ddf), indent=indent, allow_nan=False)


def _ranef_document(ranef: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """``{group: {level: {effect: value}}}`` from the conditional-mode frames."""
    return {
        str(group): {str(level): row.to_dict() for level, row in frame.iterrows()}
        for group, frame in ranef.items()
    }


def _plain(value: Any) -> Any:
    """Convert numpy/pandas scalars and containers to JSON values; missing numbers → None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _coef_test(model: FittedModelBase, ddf: str) -> pd.DataFrame:
    """The t tests of an LMM with ``ddf`` degrees of freedom (a GLMM's tests are z tests)."""
    test = getattr(model, "coef_test", None)
    if test is None:
        raise NotSupportedError(
            f"ddf={ddf!r} applies to linear mixed models (t tests); a "
            f"{type(model).__name__}'s coefficient tests are z tests: leave ddf out"
        )
    table: pd.DataFrame = test(ddf)
    return table
