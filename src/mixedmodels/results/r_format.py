"""R's formatting of numbers and tables, as ``print`` shows them (``format()``, ``formatReal``).

A common number of decimals per column, chosen so that every entry shows ``digits`` significant
digits; p-values, significance stars, ``abbreviate`` and the rendering of a character matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DIGITS", "Table", "abbreviate", "format_numbers"]

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
