"""The summary's ``Random effects:`` table (lme4's ``print(VarCorr(m))``), structured terms too."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels.results.r_format import DIGITS, Table, format_numbers

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedModelBase

__all__ = ["random_table", "structure_descriptions"]


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


def random_table(
    varcorr: pd.DataFrame, structures: dict[str, str] | None = None, digits: int = DIGITS
) -> Table:
    """Build the ``Random effects:`` table: Groups, Name, Variance, Std.Dev. and correlations.

    A structured term (``structures``: its group's description, as ``"ar1  rho 0.88"``) shows
    its SDs, one row when they are all equal, and the description instead of correlations.
    """
    structures = structures or {}
    sds = varcorr[varcorr["term2"].isna()]
    corr_rows = varcorr[varcorr["term2"].notna()]
    groups = list(dict.fromkeys(sds["group"]))
    names = {
        g: [str(t) if isinstance(t, str) else "" for t in sds.loc[sds["group"] == g, "term1"]]
        for g in groups
    }
    plain = [len(v) for g, v in names.items() if g not in structures]
    maxlen = max(plain) if plain else 1
    rows_of = {g: _group_rows(sds[sds["group"] == g], g in structures) for g in groups}
    kept = pd.concat([rows_of[g] for g in groups])
    variance = format_numbers(kept["variance"].tolist(), digits)
    stddev = format_numbers(kept["sd_cor"].tolist(), digits)
    extra_cols = max(maxlen - 1, 1 if structures else 0)
    rows: list[list[str]] = []
    for g in groups:
        corr = {
            (str(r.term1), str(r.term2)): float(r.sd_cor)
            for r in corr_rows[corr_rows["group"] == g].itertuples()
        }
        labels = [str(t) if isinstance(t, str) else "" for t in rows_of[g]["term1"]]
        if g in structures:
            cells = [[structures[g]] + [""] * (extra_cols - 1)] + [[""] * extra_cols] * (
                len(labels) - 1
            )
        elif maxlen > 1:
            cells = _corr_cells(names[g], corr, extra_cols)
        else:
            cells = [[""] * extra_cols] * len(labels)
        for i, (name, extra) in enumerate(zip(labels, cells, strict=True)):
            n = len(rows)
            rows.append([g if i == 0 else "", name, variance[n], stddev[n], *extra])
    header = ["Groups", "Name", "Variance", "Std.Dev."]
    header += ["Corr"] + [""] * (extra_cols - 1) if extra_cols else []
    return Table(header, rows, right=False)


def _group_rows(sds: pd.DataFrame, structured: bool) -> pd.DataFrame:
    """A group's SD rows; a structured term's equal SDs as one row (``f[0] … f[9]``)."""
    sd = sds["sd_cor"].to_numpy(dtype=float)
    if not structured or len(sds) < 2 or not np.allclose(sd, sd[0], rtol=1e-9, atol=0.0):
        return sds
    first = sds.iloc[:1].copy()
    first["term1"] = f"{sds['term1'].iloc[0]} … {sds['term1'].iloc[-1]}"
    return first


def structure_descriptions(model: FittedModelBase) -> dict[str, str]:
    """The description of each structured term (``ar1  sd 46.1  rho 0.879``), by group."""
    out, at = {}, 0
    sigma = float(model.sigma) if model.has_scale else 1.0
    for term in model.terms:
        part = model.theta[at : at + term.ntheta]
        at += term.ntheta
        if term.structured:
            out[term.name] = term.structure.describe(part, sigma)
    return out
