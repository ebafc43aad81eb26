"""Inference: denominator df, t and F tests, contrasts, model comparison, intervals.

* :func:`coefficient_table` — lmerTest's ``summary`` coefficients (Satterthwaite,
  Kenward-Roger, residual or Wald df);
* :func:`anova_table` — lmerTest's type I / II / III ``anova`` of the fixed-effect terms;
* :func:`contrast` — lmerTest's ``contest``: F (or t) tests of ``L β = rhs``;
* :func:`compare_models` — lme4's ``anova(m0, m1, ...)`` likelihood-ratio tests (an ``mm.lm`` or
  ``mm.glm`` fit as the model without random effects);
* :func:`confidence_intervals` — lme4's ``confint`` (profile, Wald, bootstrap);
* :func:`parametric_bootstrap` — lme4's ``bootMer``;
* ``inference.profile.profile`` — lme4's ``profile`` (the ζ traces).
"""

from mixedmodels.inference.bootstrap import parametric_bootstrap
from mixedmodels.inference.confint import confidence_intervals
from mixedmodels.inference.ddf import (
    KR_MAX_RANDOM_EFFECTS,
    KenwardRoger,
    Satterthwaite,
    coefficient_table,
    ddf_method,
    kenward_roger,
    kenward_roger_df,
    satterthwaite,
    satterthwaite_df,
)
from mixedmodels.inference.ftest import anova_table, contrast
from mixedmodels.inference.hypotheses import term_contrasts
from mixedmodels.inference.lrt import compare_models

__all__ = [
    "KR_MAX_RANDOM_EFFECTS",
    "KenwardRoger",
    "Satterthwaite",
    "anova_table",
    "coefficient_table",
    "compare_models",
    "confidence_intervals",
    "contrast",
    "ddf_method",
    "kenward_roger",
    "kenward_roger_df",
    "parametric_bootstrap",
    "satterthwaite",
    "satterthwaite_df",
    "term_contrasts",
]
