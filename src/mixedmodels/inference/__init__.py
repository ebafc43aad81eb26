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

For GLMMs (Wald χ² rather than F, every parameter re-optimized along a profile):

* :func:`glmm_anova` — car's ``Anova(m, type = "II" / "III")``, and sequential type I (lme4's
  ``anova(m)``);
* :func:`glmm_contrast` — car's ``linearHypothesis``: the Wald χ² of ``L β = rhs``;
* :func:`glmm_confint` — lme4's ``confint(m, method = "profile" / "Wald")``;
* :func:`glmm_profile` — lme4's ``profile(m)``.
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
from mixedmodels.inference.glmm_profile import glmm_confint, glmm_profile, glmm_profile_intervals
from mixedmodels.inference.glmm_wald import glmm_anova, glmm_contrast, glmm_wald_intervals
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
    "glmm_anova",
    "glmm_confint",
    "glmm_contrast",
    "glmm_profile",
    "glmm_profile_intervals",
    "glmm_wald_intervals",
    "kenward_roger",
    "kenward_roger_df",
    "parametric_bootstrap",
    "satterthwaite",
    "satterthwaite_df",
    "term_contrasts",
]
