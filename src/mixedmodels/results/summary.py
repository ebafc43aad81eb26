"""The summary of a fitted model, laid out as lme4's ``print(summary(lmer(...)))``.

Each section is first built as a small table of strings (numbers already formatted the way R
formats them), then rendered either as fixed-width text (:func:`summary_text`) or as HTML
(:func:`summary_html`). The number formatting follows R's ``format()``/``formatReal``: a common
number of decimals per column, chosen so that every entry shows ``digits`` significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.errors import ModelSpecificationError

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel, FittedModelBase

__all__ = ["Sections", "Table", "abbreviate", "format_numbers", "sections", "summary_text"]

DIGITS = 4  # lme4's print.summary.merMod: max(3, getOption("digits") - 3)
COR_MAX = 12  # lme4.summary.cor.max
WIDTH = 80  # getOption("width")
EPS = float(np.finfo(float).eps)
SIGNIF_LEGEND = "0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


@dataclass(frozen=True)
class Table:
    """A table of formatted cells, rendered as R prints a character matrix.

    Attributes
    ----------
    header
        Column names.
    rows
        Cells, one list per row.
    rownames
        Row labels (left-justified); empty strings give R's blank row-label column.
    right
        Right-justify the columns (numbers) or left-justify them (R's character matrices).
    """

    header: list[str]
    rows: list[list[str]]
    rownames: list[str] = field(default_factory=list)
    right: bool = True


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


# ---- R's number formatting ----------------------------------------------------------------
def _significant(x: float, digits: int) -> tuple[int, int]:
    """Decimal exponent of ``x`` and the significant digits it needs (at most ``digits``)."""
    if x == 0.0:
        return 0, 1
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    return int(exponent), max(1, len(mantissa.replace(".", "").rstrip("0")))


def _special(x: float) -> str:
    """R's text for a non-finite number."""
    if math.isnan(x):
        return "NaN"
    return "Inf" if x > 0 else "-Inf"


def format_numbers(values: Sequence[float], digits: int = 7, nsmall: int = 0) -> list[str]:
    """Format numbers together as R's ``format(x, digits, nsmall)`` does.

    Parameters
    ----------
    values
        The numbers; NaN and infinities are written ``NaN``, ``Inf``, ``-Inf``.
    digits
        Significant digits the most demanding entry needs to show.
    nsmall
        Minimum number of decimals in fixed notation.

    Returns
    -------
    list of str
        One string per value, all right-justified to a common width; fixed notation unless
        scientific notation is narrower (R's rule with ``scipen = 0``).
    """
    xs = [float(v) for v in values]
    finite = [x for x in xs if math.isfinite(x)]
    if not finite:
        return _pad([_special(x) for x in xs])
    parts = [_significant(x, digits) for x in finite]
    neg = any(x < 0 for x in finite)
    left = max(int(x < 0) + max(1, e + 1) for x, (e, _) in zip(finite, parts, strict=True))
    rgt = max(max(0, nsig - e - 1) for e, nsig in parts)
    fixed_width = left + rgt + (rgt > 0)
    mxns = max(nsig for _, nsig in parts)
    exps = [e for e, _ in parts]
    e_digits = 2 if max(exps) >= 100 or min(exps) <= -100 else 1
    sci_width = int(neg) + (mxns > 1) + (mxns - 1) + 4 + e_digits
    if fixed_width <= sci_width:
        decimals = max(rgt, nsmall)
        out = [f"{x:.{decimals}f}" if math.isfinite(x) else _special(x) for x in xs]
    else:
        out = [f"{x:.{mxns - 1}e}" if math.isfinite(x) else _special(x) for x in xs]
    return _pad(out)


def _pad(strings: list[str]) -> list[str]:
    """Right-justify to a common width."""
    width = max((len(s) for s in strings), default=0)
    return [s.rjust(width) for s in strings]


def _zapsmall(values: Sequence[float], digits: int) -> list[float]:
    """R's ``zapsmall``: round so that tiny values relative to the largest become 0."""
    mx = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    places = max(0, digits - math.ceil(math.log10(mx))) if mx > 0 else digits
    return [round(float(v), places) for v in values]


def _format_pvalues(pvalues: Sequence[float], digits: int) -> list[str]:
    """R's ``format.pval``: values below machine epsilon as ``< 2e-16``."""
    out = ["NA" if math.isnan(p) else "" for p in pvalues]
    tiny = [i for i, p in enumerate(pvalues) if not math.isnan(p) and p < EPS]
    rest = [i for i, p in enumerate(pvalues) if not math.isnan(p) and p >= EPS]
    fixp = [i for i in rest if pvalues[i] == 0 or math.floor(math.log10(pvalues[i])) >= -3]
    for group in (fixp, [i for i in rest if i not in fixp]):
        for i, text in zip(group, format_numbers([pvalues[i] for i in group], digits), strict=True):
            out[i] = text
    if tiny:
        dig = max(1, digits - 2)
        sep = " "
        if rest:
            nc = max(len(out[i]) for i in rest)
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            sep = "" if dig == 1 and nc <= 6 else " "
        elif dig == 1:
            sep = ""
        for i in tiny:
            out[i] = "<" + sep + format_numbers([EPS], dig)[0]
    return out


def _stars(p: float) -> str:
    """Significance stars, R's ``symnum`` cut points."""
    if math.isnan(p):
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return mark
    return " "


def abbreviate(name: str, minlength: int) -> str:
    """R's ``abbreviate`` of one name (``"(Intercept)"`` → ``"(Intr)"`` for ``minlength=6``).

    Drops, from the right and never the first character, lower-case vowels at word ends, then
    other lower-case vowels, then lower-case letters at word ends, then other lower-case letters,
    then anything not starting a word, until the name is ``minlength`` characters long.
    """
    s = list(name.strip())
    if len(s) <= minlength:
        return "".join(s)
    spaces = sum(c.isspace() for c in s)

    def first(i: int) -> bool:
        return s[i - 1].isspace()

    def last(i: int) -> bool:
        return not s[i - 1].isspace() and (i + 1 >= len(s) or s[i + 1].isspace())

    rules = [
        lambda i: s[i] in "aeiou" and last(i),
        lambda i: s[i] in "aeiou" and not first(i),
        lambda i: s[i].islower() and last(i),
        lambda i: s[i].islower() and not first(i),
        lambda i: not first(i) and not s[i].isspace(),
    ]
    for rule in rules:
        if len(s) - spaces <= minlength:
            break
        for i in range(len(s) - 1, 0, -1):
            if i < len(s) and rule(i):
                del s[i]
            if len(s) - spaces <= minlength:
                break
    if len(s) > minlength:
        s = s[:1] + [c for c in s[1:] if not c.isspace()]
    return "".join(s)


def _abbreviate_unique(names: Sequence[str], minlength: int) -> list[str]:
    """Abbreviate, lengthening the abbreviations of duplicates until all are distinct."""
    out = [abbreviate(n, minlength) for n in names]
    length = minlength
    while len(set(out)) < len(out) and length < max(len(n) for n in names):
        length += 1
        dup = {a for a in out if out.count(a) > 1}
        out = [abbreviate(n, length) if a in dup else a for n, a in zip(names, out, strict=True)]
    return out


# ---- text layout ---------------------------------------------------------------------------
def _table_lines(table: Table, width: int = WIDTH) -> list[str]:
    """Print a character matrix as R does: one space between columns, wrapped at ``width``."""
    nrow = len(table.rows)
    rownames = table.rownames or [""] * nrow
    rw = max((len(r) for r in rownames), default=0)
    widths = [
        max([len(h)] + [len(row[j]) for row in table.rows]) for j, h in enumerate(table.header)
    ]

    def cell(text: str, w: int) -> str:
        return text.rjust(w) if table.right else text.ljust(w)

    lines: list[str] = []
    start = 0
    while start < len(widths):
        stop, used = start, rw
        while stop < len(widths) and (stop == start or used + widths[stop] + 1 <= width):
            used += widths[stop] + 1
            stop += 1
        cols = range(start, stop)
        lines.append(" " * rw + "".join(" " + cell(table.header[j], widths[j]) for j in cols))
        for name, row in zip(rownames, table.rows, strict=True):
            lines.append(name.ljust(rw) + "".join(" " + cell(row[j], widths[j]) for j in cols))
        start = stop
    return lines


def _named_vector_lines(names: list[str], values: list[str], width: int = WIDTH) -> list[str]:
    """Print a named vector as R does: common column width, a space after every entry."""
    w = max(len(s) for s in [*names, *values])
    per_line = max(1, width // (w + 1))
    lines: list[str] = []
    for start in range(0, len(names), per_line):
        chunk = slice(start, start + per_line)
        lines.append("".join(n.rjust(w) + " " for n in names[chunk]))
        lines.append("".join(v.rjust(w) + " " for v in values[chunk]))
    return lines


# ---- the sections --------------------------------------------------------------------------
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


def _corr_cells(
    names: list[str], corr: dict[tuple[str, str], float], ncols: int
) -> list[list[str]]:
    """Lower triangle of one term's correlation matrix, padded to ``ncols`` columns."""
    k = len(names)
    full = [[_lookup(corr, names[a], names[b]) for b in range(k)] for a in range(k)]
    text = format_numbers([round(v, 2) for row in full for v in row], 7, nsmall=2)
    cells = [[text[a * k + b] if b < a else "" for b in range(k)] for a in range(k)]
    return [(row + [""] * ncols)[:ncols] for row in cells]


def _lookup(corr: dict[tuple[str, str], float], a: str, b: str) -> float:
    """Correlation of effects ``a`` and ``b`` (1 on the diagonal, NaN when unknown)."""
    if a == b:
        return 1.0
    return corr.get((a, b), corr.get((b, a), math.nan))


def _random_table(varcorr: pd.DataFrame, digits: int = DIGITS) -> Table:
    """Build the ``Random effects:`` table: Groups, Name, Variance, Std.Dev. and correlations."""
    sds = varcorr[varcorr["term2"].isna()]
    corr_rows = varcorr[varcorr["term2"].notna()]
    groups = list(dict.fromkeys(sds["group"]))
    names = {
        g: [str(t) if isinstance(t, str) else "" for t in sds.loc[sds["group"] == g, "term1"]]
        for g in groups
    }
    maxlen = max(len(v) for v in names.values())
    variance = format_numbers(sds["variance"].tolist(), digits)
    stddev = format_numbers(sds["sd_cor"].tolist(), digits)
    rows: list[list[str]] = []
    for g in groups:
        corr = {
            (str(r.term1), str(r.term2)): float(r.sd_cor)
            for r in corr_rows[corr_rows["group"] == g].itertuples()
        }
        cells = _corr_cells(names[g], corr, maxlen - 1) if maxlen > 1 else [[]] * len(names[g])
        for i, (name, extra) in enumerate(zip(names[g], cells, strict=True)):
            n = len(rows)
            rows.append([g if i == 0 else "", name, variance[n], stddev[n], *extra])
    header = ["Groups", "Name", "Variance", "Std.Dev."]
    header += ["Corr"] + [""] * (maxlen - 2) if maxlen > 1 else []
    return Table(header, rows, right=False)


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
    """Rows dropped for missing values (after the counts, as ``summary.lm`` does)."""
    n = int(getattr(getattr(model, "frame", None), "n_dropped", 0) or 0)
    if n:
        return [f"  ({n} observation{'s' if n > 1 else ''} deleted due to missingness)"]
    return []


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
        random=_random_table(model.varcorr),
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
