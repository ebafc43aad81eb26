"""The summary of a fitted model as an HTML fragment (tables), for notebooks."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from mixedmodels.results.r_format import Table
from mixedmodels.results.summary import sections

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedModelBase

__all__ = ["summary_html"]


def _html_table(table: Table, caption: str | None = None) -> str:
    """One ``<table>``; the row labels, when any, become a header column."""
    esc = html.escape
    has_names = any(table.rownames)
    align = "right" if table.right else "left"
    head = ("<th></th>" if has_names else "") + "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = []
    for i, row in enumerate(table.rows):
        name = f"<th style='text-align:left'>{esc(table.rownames[i])}</th>" if has_names else ""
        tds = "".join(f"<td style='text-align:{align}'>{esc(c.strip())}</td>" for c in row)
        body.append(f"<tr>{name}{tds}</tr>")
    cap = f"<caption style='text-align:left'>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def summary_html(model: FittedModelBase) -> str:
    """Describe a fitted model in a small HTML fragment (tables), for notebooks.

    Parameters
    ----------
    model
        A fitted model (an LMM; a GLMM's shows its own coefficient table).

    Returns
    -------
    str
        A ``<div>`` with the same content as :func:`summary_text`.
    """
    esc = html.escape
    s = sections(model)
    parts = [f"<p><strong>{esc(s.title)}</strong><br>"]
    parts.append(
        "<br>".join(f"{esc(label)}: <code>{esc(v)}</code>" for label, v in s.call) + "</p>"
    )
    if s.criterion is not None:
        parts.append(f"<p>REML criterion at convergence: {esc(s.criterion)}</p>")
    elif s.criteria is not None:
        names, values = s.criteria
        parts.append(_html_table(Table(names, [[v.strip() for v in values]])))
    names, values = s.residuals
    parts.append(_html_table(Table(names, [[v.strip() for v in values]]), "Scaled residuals"))
    parts.append(_html_table(s.random, "Random effects"))
    parts.append(f"<p>{esc(s.groups)}" + "".join(f"<br>{esc(n)}" for n in s.notes_mid) + "</p>")
    if s.fixed is not None:
        parts.append(_html_table(s.fixed, "Fixed effects"))
    if s.correlation is not None:
        parts.append(_html_table(s.correlation, "Correlation of fixed effects"))
    if s.cor_note or s.notes_end:
        notes = [*s.cor_note, *s.notes_end]
        parts.append("<p><em>" + "<br>".join(esc(n) for n in notes) + "</em></p>")
    return "<div class='mixedmodels-summary'>" + "\n".join(parts) + "</div>"
