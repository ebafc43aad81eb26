"""The summary of a fitted model, laid out as lme4's ``print(summary(lmer(...)))``.

Each section is first built as a small table of strings (numbers already formatted the way R
formats them), then rendered either as fixed-width text (:func:`summary_text`) or as HTML
(:func:`summary_html`). The number formatting follows R's ``format()``/``formatReal``: a common
number of decimals per column, chosen so that every entry shows ``digits`` significant digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.errors import ModelSpecificationError
from mixedmodels.results.r_format import (
    COR_MAX,
    DIGITS,
    SIGNIF_LEGEND,
    Table,
    _abbreviate_unique,
    _format_pvalues,
    _named_vector_lines,
    _stars,
    _table_lines,
    _zapsmall,
    abbreviate,
    format_numbers,
)
from mixedmodels.results.random_table import random_table, structure_descriptions

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel, FittedModelBase

__all__ = ["Sections", "Table", "abbreviate", "format_numbers", "sections", "summary_text"]


@dataclass
class Sections:
    """Every piece of the summary, already formatted."""

    title: str
    call: list[tuple[str, str]]
    criterion: str | None
    criteria: tuple[list[str], list[str]] | None
    residuals: tuple[list[str], list[str]]
    random: Table
    groups: str
    fixed: Table | None
    legend: bool
    correlation: Table | None
    notes_mid: list[str]
    cor_note: list[str]
    notes_end: list[str]


def _title(model: FittedModelBase, coef: pd.DataFrame) -> str:
    """``Linear mixed model fit by REML ['lmerMod']`` (or by maximum likelihood)."""
    method = "REML" if model.reml else "maximum likelihood "
    title, cls = f"Linear mixed model fit by {method}", "lmerMod"
    df_method = coef.attrs.get("df_method")
    if df_method and "df" in coef.columns:
        title, cls = f"{title.rstrip()}. t-tests use {df_method}'s method", "lmerModLmerTest"
    return f"{title} ['{cls}']"


def _call(model: FittedModelBase) -> list[tuple[str, str]]:
    """Build the ``Formula:`` and (when known) ``Data:``, ``Weights:``, ``Offset:`` lines."""
    out = [("Formula", " ".join(str(model.formula).split()))]
    for label, attr in (
        ("Data", "data_name"),
        ("Weights", "weights_name"),
        ("Offset", "offset_name"),
    ):
        value = getattr(model, attr, None)
        if value:
            out.append((label, str(value)))
    return out


def _criteria(model: FittedModelBase, deviance: float) -> tuple[list[str], list[str]]:
    """AIC, BIC, logLik, deviance and df.resid of an ML fit, rounded to one decimal."""
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    df_resid = float(model.df_resid)
    values = [round(float(v), 1) for v in (model.aic, model.bic, model.loglik, deviance)]
    text = format_numbers([*values, df_resid])
    text[-1] = format_numbers([df_resid])[0]
    return names, text


def _residuals(model: FittedModelBase) -> tuple[list[str], list[str]]:
    """Quantiles of the scaled residuals (from the model when it has no rows in memory)."""
    probs = (0.0, 0.25, 0.5, 0.75, 1.0)
    exact = getattr(model, "scaled_residual_quantiles", None)
    if exact is not None:
        quantiles = np.asarray(exact(probs), dtype=float)
    else:
        res = np.asarray(model.residuals("pearson", scaled=True), dtype=np.float64)
        quantiles = np.quantile(res[np.isfinite(res)], probs)
    q = _zapsmall(quantiles.tolist(), DIGITS + 1)
    return ["Min", "1Q", "Median", "3Q", "Max"], format_numbers(q, DIGITS)


def _groups_line(model: FittedModelBase) -> str:
    """Build the line ``Number of obs: 180, groups:  Subject, 18``."""
    groups = "; ".join(f"{g}, {n}" for g, n in model.ngroups.items())
    return f"Number of obs: {model.nobs}, groups:  {groups}"


def _coef_columns(coef: pd.DataFrame) -> list[tuple[str, str]]:
    """Columns of the coefficient table present, in lmerTest's order, with R's labels."""
    labels = [
        ("estimate", "Estimate"),
        ("std_error", "Std. Error"),
        ("df", "df"),
        ("statistic", "t value"),
        ("p_value", "Pr(>|t|)"),
    ]
    return [(key, label) for key, label in labels if key in coef.columns]


def _coef_table(coef: pd.DataFrame, digits: int = DIGITS) -> tuple[Table, bool]:
    """``printCoefmat``: the fixed-effects table; also whether significance stars were added."""
    cols = _coef_columns(coef)
    keys = [k for k, _ in cols]
    cs = [k for k in keys if k not in ("statistic", "p_value")]
    x = {k: coef[k].to_numpy(dtype=float) for k in keys}
    cells = {k: [""] * len(coef) for k in keys}
    acs = np.abs(np.concatenate([x[k] for k in cs])) if cs else np.array([])
    acs = acs[np.isfinite(acs) & (acs != 0)]
    digmin = 1 + np.floor(np.log10([acs.min(), acs.max()])) if acs.size else np.array([1.0])
    places = max(1, int(digits - digmin.min()))
    text = format_numbers([round(v, places) for k in cs for v in x[k]], digits)
    for i, k in enumerate(cs):
        cells[k] = _unzero(x[k], text[i * len(coef) : (i + 1) * len(coef)], digits)
    if "statistic" in x:
        dig_tst = max(1, min(5, digits - 1))
        cells["statistic"] = format_numbers([round(v, dig_tst) for v in x["statistic"]], digits)
    stars = False
    if "p_value" in x:
        cells["p_value"] = _format_pvalues(x["p_value"].tolist(), max(1, min(5, digits - 1)))
        stars = bool(np.any(x["p_value"][~np.isnan(x["p_value"])] < 0.1))
    header = [label for _, label in cols]
    rows = [[cells[k][i] for k in keys] for i in range(len(coef))]
    if stars:
        marks = [_stars(p) for p in x["p_value"]]
        width = max(len(m) for m in marks)
        header.append("")
        rows = [r + [m.ljust(width)] for r, m in zip(rows, marks, strict=True)]
    return Table(header, rows, [str(n) for n in coef.index], right=True), stars


def _unzero(values: np.ndarray, text: list[str], digits: int) -> list[str]:
    """Show non-zero values that rounded to zero with ``digits - 1`` significant digits."""
    bad = [
        i
        for i, (v, t) in enumerate(zip(values, text, strict=True))
        if math.isfinite(v) and v != 0 and _is_zero(t)
    ]
    if bad:
        redone = format_numbers([values[i] for i in bad], max(1, digits - 1))
        text = list(text)
        for i, t in zip(bad, redone, strict=True):
            text[i] = t
    return text


def _is_zero(text: str) -> bool:
    """Whether a formatted number reads as zero."""
    try:
        return float(text) == 0.0
    except ValueError:
        return False


def _correlation_table(vcov: pd.DataFrame) -> Table | None:
    """``Correlation of Fixed Effects``: lower triangle, abbreviated names (None when p < 2)."""
    names = [str(n) for n in vcov.index]
    p = len(names)
    if p < 2:
        return None
    v = vcov.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.diag(v))
        corr = v / np.outer(sd, sd)
    text = format_numbers([round(float(c), 3) for c in corr.ravel()], 7, nsmall=3)
    rows = [[text[a * p + b] if b < a else "" for b in range(p - 1)] for a in range(1, p)]
    rownames = _abbreviate_unique(names, 11)[1:]
    header = _abbreviate_unique(names, 6)[: p - 1]
    return Table(header, rows, rownames, right=False)


def _notes_mid(model: FittedModelBase) -> list[str]:
    """Rows dropped for missing values (after the counts, as ``summary.lm`` does); a fixed σ."""
    n = int(getattr(getattr(model, "frame", None), "n_dropped", 0) or 0)
    out = [f"  ({n} observation{'s' if n > 1 else ''} deleted due to missingness)"] if n else []
    fixed = getattr(model, "fixed_sigma", None)
    if fixed is not None:
        out.append(f"  (residual SD fixed at {fixed:.4g}, not estimated)")
    return out


def _notes_end(model: FittedModelBase) -> list[str]:
    """lme4's trailing ``fit warnings:`` and optimizer messages."""
    out: list[str] = []
    dropped = list(getattr(getattr(model, "fixed", None), "dropped", []) or [])
    if dropped:
        what = "column / coefficient" if len(dropped) == 1 else "columns / coefficients"
        out += [
            "fit warnings:",
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} {what}"
            f" ({', '.join(dropped)})",
        ]
    optsum = model.optsum
    assert optsum is not None  # sections() refuses unfitted models
    messages = []
    if not optsum.converged:
        messages.append(
            f"the optimizer stopped after {optsum.feval} evaluations; "
            "the estimates may not be at the optimum"
        )
    if model.is_singular:
        messages.append("boundary (singular) fit: see help('isSingular')")
    if messages:
        status = "OK" if optsum.converged else "failed"
        optimizer = getattr(optsum, "optimizer", "LN_BOBYQA")
        code = f"optimizer ({optimizer}) convergence code: {optsum.return_value} ({status})"
        out += [code, *messages]
    return out


def sections(
    model: FittedModelBase, coef: pd.DataFrame | None = None, *, deviance: float | None = None
) -> Sections:
    """Compute every section of the summary once.

    ``coef``: the coefficient table to show (the model's ``coef_table`` by default);
    ``deviance``: the value shown as ``deviance`` (the model's by default; glmer shows
    ``-2 log L`` there).
    """
    if model.optsum is None:
        raise ModelSpecificationError("the model has not been fitted yet: call .fit()")
    coef = model.coef_table if coef is None else coef
    deviance = float(model.deviance) if deviance is None else deviance
    fixed, legend = _coef_table(coef) if len(coef) else (None, False)
    p = len(coef)
    correlation = _correlation_table(model.vcov) if 1 < p <= COR_MAX else None
    cor_note: list[str] = []
    if p > COR_MAX:
        cor_note = [
            f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
            "Use the model's vcov if you need it",
        ]
    criterion = None
    if model.reml:
        criterion = format_numbers([round(float(model.objective), 1)])[0]
    return Sections(
        title=_title(model, coef),
        call=_call(model),
        criterion=criterion,
        criteria=None if model.reml else _criteria(model, deviance),
        residuals=_residuals(model),
        random=random_table(model.varcorr, structure_descriptions(model)),
        groups=_groups_line(model),
        fixed=fixed,
        legend=legend,
        correlation=correlation,
        notes_mid=_notes_mid(model),
        cor_note=cor_note,
        notes_end=_notes_end(model),
    )


# ---- the two renderings --------------------------------------------------------------------
def summary_text(model: FittedLinearModel, ddf: str | None = None) -> str:
    """Describe a fitted model as lme4 prints ``summary(lmer(...))``.

    Parameters
    ----------
    model
        A fitted :class:`~mixedmodels.models.LinearMixedModel`.
    ddf
        The df method of the t tests (as lmerTest's ``summary(m, ddf=)``); the model's
        ``ddf`` attribute by default.

    Returns
    -------
    str
        Header, criterion (REML) or information criteria (ML), scaled residuals, random
        effects, fixed effects and their correlations, then any notes.
    """
    if model.optsum is None:
        raise ModelSpecificationError("the model has not been fitted yet: call .fit()")
    s = sections(model, model.coef_table if ddf is None else model.coef_test(ddf))
    out = [s.title]
    out += [f"{label.rjust(7)}: {value}" for label, value in s.call]
    out.append("")
    if s.criterion is not None:
        out.append(f"REML criterion at convergence: {s.criterion}")
    elif s.criteria is not None:
        out += _named_vector_lines(*s.criteria)
    out += ["", "Scaled residuals: ", *_named_vector_lines(*s.residuals), ""]
    out += ["Random effects:", *_table_lines(s.random), s.groups, *s.notes_mid]
    if s.fixed is not None:
        out += ["", "Fixed effects:", *_table_lines(s.fixed)]
        if s.legend:
            out += ["---", f"Signif. codes:  {SIGNIF_LEGEND}"]
    if s.correlation is not None:
        out += ["", "Correlation of Fixed Effects:", *_table_lines(s.correlation)]
    if s.cor_note:
        out += ["", *s.cor_note]
    out += s.notes_end
    return "\n".join(out) + "\n"
