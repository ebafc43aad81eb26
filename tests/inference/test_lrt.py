"""Likelihood-ratio tests against lme4 1.1-31's anova(m0, m1, ...)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.inference.lrt import REFIT_NOTE, RefitMLWarning, compare_models

COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]

# R 4.2, lme4 1.1-31, options(digits = 15):
#   fm1 <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy)          # REML
#   fm0 <- lmer(Reaction ~ Days + (1|Subject), sleepstudy)             # REML
#   as.data.frame(anova(fm0, fm1))   # "refitting model(s) with ML (instead of REML)"
#       npar AIC              BIC              logLik            deviance
#   fm0    4 1802.07864300523 1814.85047040879 -897.039321502613 1794.07864300523
#   fm1    6 1763.93934446321 1783.09708556855 -875.969672231605 1751.93934446321
#       Chisq            Df Pr(>Chisq)
#   fm0 NA               NA NA
#   fm1 42.1392985420164  2 7.07241254723003e-10
RANDOM: dict[str, Any] = {
    "npar": [4, 6],
    "AIC": [1802.07864300523, 1763.93934446321],
    "BIC": [1814.85047040879, 1783.09708556855],
    "logLik": [-897.039321502613, -875.969672231605],
    "Chisq": 42.1392985420164,
    "p": 7.07241254723003e-10,
}

# f1ml <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy, REML = FALSE)
# f0ml <- lmer(Reaction ~ 1 + (Days|Subject), sleepstudy, REML = FALSE)
# as.data.frame(anova(f0ml, f1ml))
#        npar AIC              BIC              logLik            deviance
#   f0ml    5 1785.47588196212 1801.44066621657 -887.737940981060 1775.47588196212
#   f1ml    6 1763.93934448899 1783.09708559433 -875.969672244495 1751.93934448899
#        Chisq            Df Pr(>Chisq)
#   f0ml NA               NA NA
#   f1ml 23.5365374731296  1 1.2256399729542e-06
FIXED: dict[str, Any] = {
    "npar": [5, 6],
    "logLik": [-887.737940981060, -875.969672244495],
    "Chisq": 23.5365374731296,
    "p": 1.2256399729542e-06,
}

# as.data.frame(anova(fm1, fm0, f0ml))  -> rows fm0, f0ml, fm1
#   Chisq NA, 18.6027610431056, 23.5365374989108; Df NA, 1, 1;
#   Pr(>Chisq) NA, 1.60987218840023e-05, 1.22563995653137e-06
THREE: dict[str, Any] = {
    "order": ["fm0", "f0ml", "fm1"],
    "Chisq": [18.6027610431056, 23.5365374989108],
    "p": [1.60987218840023e-05, 1.22563995653137e-06],
}


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fits(sleep: pd.DataFrame) -> dict[str, mm.LinearMixedModel]:
    return {
        "fm1": mm.lmer("Reaction ~ Days + (Days | Subject)", sleep),
        "fm0": mm.lmer("Reaction ~ Days + (1 | Subject)", sleep),
        "f1ml": mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, reml=False),
        "f0ml": mm.lmer("Reaction ~ 1 + (Days | Subject)", sleep, reml=False),
    }


def test_reml_fits_are_refitted_by_ml_as_lme4(fits: dict[str, mm.LinearMixedModel]) -> None:
    fm0, fm1 = fits["fm0"], fits["fm1"]
    before = (fm0.objective, fm1.objective, fm1.theta.copy())
    with pytest.warns(RefitMLWarning, match="refitting model\\(s\\) with ML"):
        table = compare_models(fm0, fm1, names=["fm0", "fm1"])
    assert list(table.columns) == COLUMNS
    assert list(table.index) == ["fm0", "fm1"]
    assert table.attrs["note"] == REFIT_NOTE
    assert table["npar"].tolist() == RANDOM["npar"]
    np.testing.assert_allclose(table["logLik"], RANDOM["logLik"], rtol=1e-9)
    np.testing.assert_allclose(table["AIC"], RANDOM["AIC"], rtol=1e-9)
    np.testing.assert_allclose(table["BIC"], RANDOM["BIC"], rtol=1e-9)
    np.testing.assert_allclose(table["deviance"], -2 * np.array(RANDOM["logLik"]), rtol=1e-9)
    assert table["Chisq"].iloc[1] == pytest.approx(RANDOM["Chisq"], rel=1e-6)
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(RANDOM["p"], rel=1e-5)
    assert table["Df"].iloc[1] == 2
    assert pd.isna(table["Chisq"].iloc[0]) and pd.isna(table["Df"].iloc[0])
    # the user's REML fits are untouched
    assert fm0.reml and fm1.reml
    assert (fm0.objective, fm1.objective) == before[:2]
    np.testing.assert_array_equal(fm1.theta, before[2])


def test_fixed_effect_comparison_of_ml_fits(fits: dict[str, mm.LinearMixedModel]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RefitMLWarning)  # nothing to refit
        table = compare_models(fits["f1ml"], fits["f0ml"], names=["f1ml", "f0ml"])
    assert list(table.index) == ["f0ml", "f1ml"]  # sorted by npar
    assert "note" not in table.attrs
    assert table["npar"].tolist() == FIXED["npar"]
    np.testing.assert_allclose(table["logLik"], FIXED["logLik"], rtol=1e-9)
    assert table["Chisq"].iloc[1] == pytest.approx(FIXED["Chisq"], rel=1e-6)
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(FIXED["p"], rel=1e-5)
    assert table.attrs["formulas"]["f0ml"] == "Reaction ~ 1 + (Days | Subject)"


def test_three_models_sorted_and_tested_in_sequence(fits: dict[str, mm.LinearMixedModel]) -> None:
    with pytest.warns(RefitMLWarning):
        table = compare_models(fits["fm1"], fits["fm0"], fits["f0ml"], names=["fm1", "fm0", "f0ml"])
    assert list(table.index) == THREE["order"]
    np.testing.assert_allclose(table["Chisq"].iloc[1:], THREE["Chisq"], rtol=1e-6)
    np.testing.assert_allclose(table["Pr(>Chisq)"].iloc[1:], THREE["p"], rtol=1e-5)
    assert table["Df"].iloc[1:].tolist() == [1, 1]


def test_default_names_follow_argument_order(fits: dict[str, mm.LinearMixedModel]) -> None:
    table = compare_models(fits["f1ml"], fits["f0ml"])
    assert list(table.index) == ["model2", "model1"]


def test_equal_npar_gives_no_p_value(
    sleep: pd.DataFrame, fits: dict[str, mm.LinearMixedModel]
) -> None:
    other = mm.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep, reml=False)
    alt = mm.lmer("Reaction ~ 1 + (1 | Subject) + (0 + Days | Subject)", sleep, reml=False)
    table = compare_models(alt, fits["f0ml"])
    assert table["Df"].iloc[1] == 1
    table = compare_models(other, fits["f0ml"])  # both 5 parameters
    assert table["Df"].iloc[1] == 0
    assert np.isnan(table["Pr(>Chisq)"].iloc[1])
    assert table["Chisq"].iloc[1] >= 0.0


def test_models_on_different_data_are_refused(
    sleep: pd.DataFrame, fits: dict[str, mm.LinearMixedModel]
) -> None:
    fewer = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep.iloc[:-10], reml=False)
    with pytest.raises(mm.ModelSpecificationError, match="same data.*f1ml.*180.*small.*170"):
        compare_models(fits["f1ml"], fewer, names=["f1ml", "small"])
    logged = sleep.assign(logReaction=np.log(sleep["Reaction"]))
    other = mm.lmer("logReaction ~ Days + (1 | Subject)", logged, reml=False)
    with pytest.raises(mm.ModelSpecificationError, match="responses of model1 .*model2"):
        compare_models(fits["f1ml"], other)


def test_bad_arguments(fits: dict[str, mm.LinearMixedModel], sleep: pd.DataFrame) -> None:
    with pytest.raises(mm.ModelSpecificationError, match="at least two"):
        compare_models(fits["f1ml"])
    with pytest.raises(mm.ModelSpecificationError, match="distinct labels"):
        compare_models(fits["f1ml"], fits["f0ml"], names=["a"])
    with pytest.raises(mm.ModelSpecificationError, match="distinct labels"):
        compare_models(fits["f1ml"], fits["f0ml"], names=["a", "a"])
    unfitted = mm.LinearMixedModel("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(mm.ModelSpecificationError, match="model2 has not been fitted"):
        compare_models(fits["f1ml"], unfitted)


def test_without_refit_mixed_criteria_warn(fits: dict[str, mm.LinearMixedModel]) -> None:
    with pytest.warns(RefitMLWarning, match="some models fit with REML"):
        table = compare_models(fits["fm1"], fits["f0ml"], refit=False)
    assert table.loc["model1", "logLik"] == pytest.approx(fits["fm1"].loglik)
    assert "note" not in table.attrs


def test_public_api_anova_and_model_methods() -> None:
    import mixedmodels as mm

    sleep = mm.datasets.load("sleepstudy")
    m0 = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    table = mm.anova(m0, m1)
    assert list(table["npar"]) == [4, 6]
    wald = m1.confint(method="wald")
    assert wald.loc["Days"].iloc[0] < m1.fixef["Days"] < wald.loc["Days"].iloc[1]
    trace = m0.profile(which=["(Intercept)"])
    assert {"parameter", "value", "zeta"} <= set(trace.columns)
    assert set(trace["parameter"]) == {"(Intercept)"}
    assert trace["zeta"].min() < -2 < 2 < trace["zeta"].max()


# ---- a mixed model against the same model without random effects --------------------------
# tests/data/r/fixed_only.R: anova(lmer(...), lm(...)) and anova(glmer(...), glm(...)) of lme4
# 1.1-31, in tests/inference/data/lrt_fixed_only.json
FIXED_ONLY: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "lrt_fixed_only.json").read_text()
)["tests"]


def _fixed_only_data(name: str) -> pd.DataFrame:
    if name == "sim":
        return pd.read_csv(Path(__file__).parents[1] / "models" / "data" / "fixed_only_sim.csv")
    return mm.datasets.load({"sleep": "sleepstudy"}.get(name, name))


def _fixed_only_pair(name: str) -> tuple[Any, Any]:
    case = FIXED_ONLY[name]
    data = _fixed_only_data(case["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)  # Dyestuff2 is singular
        if case.get("family"):
            mixed = mm.glmer(case["mixed"], data, case["family"], weights=case.get("weights"))
            return mixed, mm.glm(case["fixed"], data, case["family"], weights=case.get("weights"))
        mixed = mm.lmer(case["mixed"], data, reml=case["reml"], weights=case.get("weights"))
        return mixed, mm.lm(case["fixed"], data, weights=case.get("weights"))


@pytest.mark.parametrize("name", list(FIXED_ONLY))
def test_mixed_model_against_lm_or_glm_as_lme4(name: str) -> None:
    case = FIXED_ONLY[name]
    mixed, fixed = _fixed_only_pair(name)
    loglik_before = mixed.loglik
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        table = mm.anova(mixed, fixed, names=["m1", "m0"])
    assert list(table.index) == ["m0", "m1"] and list(table.columns) == COLUMNS
    assert table["npar"].tolist() == case["npar"]
    # glmer's Laplace optimum is ours, a little above lme4's on cbpp (3e-6 relative)
    rtol = 1e-4 if case.get("family") else 1e-8
    for column in ("AIC", "BIC", "logLik", "deviance"):
        np.testing.assert_allclose(table[column], case[column], rtol=rtol, err_msg=column)
    assert table["Chisq"].iloc[1] == pytest.approx(case["Chisq"], rel=rtol, abs=1e-6)
    assert table["Df"].iloc[1] == case["Df"]
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(case["p"], rel=10 * rtol, abs=1e-300)
    assert table.attrs["boundary"] == ["m1"]
    assert "conservative" in table.attrs["boundary_note"]
    assert (table.attrs.get("note") == REFIT_NOTE) == bool(mixed.reml)
    assert mixed.loglik == loglik_before  # the REML fit itself is not refitted


def test_lm_loglik_is_the_ml_lmer_scale() -> None:
    # an ML lmer whose random-effect variance is zero has the lm's log-likelihood (as in R)
    mixed, fixed = _fixed_only_pair("dyestuff2_boundary")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        ml = mm.lmer(
            FIXED_ONLY["dyestuff2_boundary"]["mixed"], _fixed_only_data("Dyestuff2"), reml=False
        )
    assert ml.loglik == pytest.approx(fixed.loglik, rel=1e-9)
    assert ml.npar == fixed.npar + 1


def test_boundary_rows_are_marked_only_for_added_variance_parameters(
    fits: dict[str, mm.LinearMixedModel],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        random = compare_models(fits["fm0"], fits["fm1"], names=["fm0", "fm1"])
        fixed = compare_models(fits["f0ml"], fits["f1ml"], names=["f0ml", "f1ml"])
    assert random.attrs["boundary"] == ["fm1"]  # (1 | Subject) → (Days | Subject)
    assert fixed.attrs["boundary"] == [] and "boundary_note" not in fixed.attrs


def test_fixed_only_comparisons_refuse_different_data_and_no_mixed_model(
    sleep: pd.DataFrame,
) -> None:
    mixed = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    fewer = mm.lm("Reaction ~ Days", sleep.iloc[:-3])
    with pytest.raises(mm.ModelSpecificationError, match="same data.*180.*177"):
        mm.anova(mixed, fewer)
    other = sleep.assign(Reaction=sleep["Reaction"] + 1.0)
    with pytest.raises(mm.ModelSpecificationError, match="responses"):
        mm.anova(mixed, mm.lm("Reaction ~ Days", other))
    lm0, lm1 = mm.lm("Reaction ~ 1", sleep), mm.lm("Reaction ~ Days", sleep)
    with pytest.raises(mm.ModelSpecificationError, match="needs a mixed model"):
        mm.anova(lm0, lm1)
    with pytest.raises(mm.NotSupportedError, match="lm or glm"):
        mm.anova(lm1)
