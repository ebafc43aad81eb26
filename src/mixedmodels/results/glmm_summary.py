"""The summary of a fitted GLMM, laid out as lme4's ``print(summary(glmer(...)))``.

The sections are those of the linear model's summary (:mod:`mixedmodels.results.summary`,
whose formatting of numbers and tables follows R's), with glmer's differences: the title names
the approximation, a ``Family:`` line follows it, the information criteria show ``-2 log L``
as the deviance, the scaled residuals are Pearson residuals, there is no residual variance for
families without a scale, and the fixed effects have z statistics.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from mixedmodels.results.r_format import SIGNIF_LEGEND, _named_vector_lines, _table_lines
from mixedmodels.results.summary import sections

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel

__all__ = ["glmm_summary_text", "glmm_title"]


def glmm_title(model: FittedGeneralizedModel) -> list[str]:
    """The first lines: the approximation (wrapped as R wraps it) and the family."""
    if model.nagq > 1:
        method = f"Adaptive Gauss-Hermite Quadrature, nAGQ = {model.nagq}"
    elif model.nagq == 0:
        method = "Laplace Approximation (nAGQ = 0)"
    else:
        method = "Laplace Approximation"
    words = f"Generalized linear mixed model fit by maximum likelihood ({method}) [glmerMod]"
    lines, line = [], ""
    for word in words.split(" "):
        if line and len(line) + 1 + len(word) > 66:
            lines.append(line)
            line = "  " + word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    family = model.family
    return [*lines, f" Family: {family.label}  ( {family.link.name} )"]


def glmm_summary_text(model: FittedGeneralizedModel) -> str:
    """Describe a fitted GLMM as lme4 prints ``summary(glmer(...))``.

    Parameters
    ----------
    model
        A fitted GLMM (:class:`~mixedmodels.models.generalized.GeneralizedLinearMixedModel`).

    Returns
    -------
    str
        Header, information criteria, scaled residuals, random effects, fixed effects with
        z statistics and their correlations, then any notes.
    """
    s = sections(model, deviance=model.objective)  # glmer shows -2 log L as the deviance
    out = glmm_title(model)
    out += [f"{label.rjust(7)}: {value}" for label, value in s.call]
    out.append("")
    if s.criteria is not None:
        out += _named_vector_lines(*s.criteria)
    out += ["", "Scaled residuals: ", *_named_vector_lines(*s.residuals), ""]
    out += ["Random effects:", *_table_lines(s.random), s.groups, *s.notes_mid]
    if s.fixed is not None:
        statistic = "t value" if model.family.has_dispersion else "z value"
        labels = {"t value": statistic, "Pr(>|t|)": "Pr(>|z|)"}
        fixed = replace(s.fixed, header=[labels.get(h, h) for h in s.fixed.header])
        out += ["", "Fixed effects:", *_table_lines(fixed)]
        if s.legend:
            out += ["---", f"Signif. codes:  {SIGNIF_LEGEND}"]
    if s.correlation is not None:
        out += ["", "Correlation of Fixed Effects:", *_table_lines(s.correlation)]
    if s.cor_note:
        out += ["", *s.cor_note]
    out += s.notes_end
    return "\n".join(out) + "\n"
