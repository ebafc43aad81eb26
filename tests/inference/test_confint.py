"""Confidence intervals against lme4 1.1-31's confint(m, method = "profile" | "Wald" | "boot")."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import mixedmodels as mm
from mixedmodels.inference.bootstrap import parametric_bootstrap
from mixedmodels.inference.confint import confidence_intervals, percentile_interval

# R 4.2, lme4 1.1-31, options(digits = 15); all fits by REML (lmer's default):
#   fm1 <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy); confint(fm1, method = "profile")
SLEEP_PROFILE = {
    ".sig01": (14.381418160773187, 37.715995318286623),
    ".sig02": (-0.481500758280773, 0.684986273295485),
    ".sig03": (3.801164053259096, 8.753380753055270),
    ".sigma": (22.898266882080826, 28.857996511425338),
    "(Intercept)": (237.680695505234183, 265.129514680174168),
    "Days": (7.358653275116994, 13.575918751708203),
}
#   dy <- lmer(Yield ~ 1 + (1|Batch), Dyestuff); confint(dy, method = "profile")
DYESTUFF_PROFILE = {
    ".sig01": (12.198535213114, 84.0630467107707),
    ".sigma": (38.229984882571, 67.6576962448221),
    "(Intercept)": (1486.451499968833, 1568.5484943681231),
}
#   pen <- lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin); confint(pen)
PENICILLIN_PROFILE = {
    ".sig01": (0.633565966954977, 1.182103975968989),
    ".sig02": (1.095789302357634, 3.556290952608359),
    ".sigma": (0.485845400185307, 0.629453478450691),
    "(Intercept)": (21.266627383624307, 24.677817616173751),
}
#   dy2 <- lmer(Yield ~ 1 + (1|Batch), Dyestuff2)   # singular: sd(Batch) = 0
#   confint(dy2, method = "profile")
DYESTUFF2_PROFILE = {
    ".sig01": (0.0, 2.08404348901022),
    ".sigma": (2.89283102010220, 4.81583255245072),
    "(Intercept)": (4.31210021673831, 7.01909234683741),
}
#   un <- lmer(Reaction ~ Days + (Days || Subject), sleepstudy); confint(un)
UNCORRELATED_PROFILE = {
    ".sig01": (15.25864667770453, 37.78647090039916),
    ".sig02": (3.96407385583658, 8.76915916200372),
    ".sigma": (22.88055464832789, 28.78759759458461),
    "(Intercept)": (237.57214801075611, 265.23806175886705),
    "Days": (7.33406682884986, 13.60050510661767),
}
#   rownames(confint(un, method = "Wald", oldNames = FALSE))
UNCORRELATED_READABLE = [
    "sd_(Intercept)|Subject",
    "sd_Days|Subject",
    "sigma",
    "(Intercept)",
    "Days",
]
#   pa <- lmer(strength ~ 1 + (1|batch/cask), Pastes); confint(pa)   # .sig02 reaches its bound 0
PASTES_PROFILE = {
    ".sig01": (2.157933708229311, 4.05358894410538),
    ".sig02": (0.0, 2.94659109690393),
    ".sigma": (0.652023359343391, 1.08544810372768),
    "(Intercept)": (58.663650378658105, 61.44301636842368),
}
#   rownames(confint(pa, method = "Wald", oldNames = FALSE))
PASTES_READABLE = ["sd_(Intercept)|cask:batch", "sd_(Intercept)|batch", "sigma", "(Intercept)"]
#   confint(fm1, method = "Wald")   # NA for .sig01 ... .sigma
SLEEP_WALD = {
    "(Intercept)": (238.02914111736226, 264.7810685796077),
    "Days": (7.43759392986527, 13.4969779893267),
}
#   confint(fm1, method = "profile", oldNames = FALSE)  -> row names
READABLE = [
    "sd_(Intercept)|Subject",
    "cor_Days.(Intercept)|Subject",
    "sd_Days|Subject",
    "sigma",
    "(Intercept)",
    "Days",
]
#   vn <- lme4:::profnames(fm1, TRUE, useSc = TRUE)
#   FUN <- function(x) c(setNames(lme4:::Cv_to_Sv(x@theta, n = lengths(x@cnms),
#                                                 s = sigma(x)), vn), fixef(x))
#   bb <- bootMer(fm1, FUN, nsim = 1000, seed = 101)
#   confint(bb, type = "perc")      # what confint(fm1, method = "boot", nsim = 1000) returns
#   apply(bb$t, 2, sd)              # bootstrap SDs, for the Monte-Carlo error
SLEEP_BOOT_1000 = {
    ".sig01": (11.539382801858679, 36.075152505991610),
    ".sig02": (-0.487372026154018, 0.879588123216474),
    ".sig03": (3.211957991057521, 8.153016640186523),
    ".sigma": (22.414817064797461, 28.533907005970232),
    "(Intercept)": (238.654092422485292, 264.689279009640927),
    "Days": (7.560094587643768, 13.443285074062590),
}
SLEEP_BOOT_SD = {
    ".sig01": 6.021934595613531,
    ".sig02": 0.354515583851796,
    ".sig03": 1.246167894628191,
    ".sigma": 1.498923145910929,
    "(Intercept)": 6.802305407332120,
    "Days": 1.540418699497533,
}

CASES = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", SLEEP_PROFILE),
    "dyestuff": ("Yield ~ 1 + (1 | Batch)", "Dyestuff", DYESTUFF_PROFILE),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin", PENICILLIN_PROFILE),
    "dyestuff2": ("Yield ~ 1 + (1 | Batch)", "Dyestuff2", DYESTUFF2_PROFILE),
    "uncorrelated": ("Reaction ~ Days + (Days || Subject)", "sleepstudy", UNCORRELATED_PROFILE),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", "Pastes", PASTES_PROFILE),
}


def _fit(formula: str, data: str) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        return mm.lmer(formula, mm.datasets.load(data))


@pytest.fixture(scope="module")
def fm1() -> mm.LinearMixedModel:
    return _fit("Reaction ~ Days + (Days | Subject)", "sleepstudy")


@pytest.mark.parametrize("case", list(CASES))
def test_profile_intervals_match_lme4(case: str) -> None:
    formula, data, expected = CASES[case]
    model = _fit(formula, data)
    ci = confidence_intervals(model, method="profile")
    assert list(ci.index) == list(expected)
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    np.testing.assert_allclose(
        ci.to_numpy(), np.array(list(expected.values())), rtol=1e-4, atol=1e-9
    )


def test_readable_names_and_labels(fm1: mm.LinearMixedModel) -> None:
    ci = confidence_intervals(fm1, method="wald", names="readable")
    assert list(ci.index) == READABLE
    assert ci.attrs["labels"][".sig02"] == "cor_Days.(Intercept)|Subject"
    assert ci.attrs["method"] == "wald"
    with pytest.raises(mm.ModelSpecificationError, match="names"):
        confidence_intervals(fm1, method="wald", names="old")


@pytest.mark.parametrize(
    ("formula", "data", "expected"),
    [
        ("Reaction ~ Days + (Days || Subject)", "sleepstudy", UNCORRELATED_READABLE),
        ("strength ~ 1 + (1 | batch/cask)", "Pastes", PASTES_READABLE),
    ],
)
def test_readable_names_of_other_terms(formula: str, data: str, expected: list[str]) -> None:
    ci = confidence_intervals(_fit(formula, data), method="wald", names="readable")
    assert list(ci.index) == expected


def test_wald_intervals_match_lme4(fm1: mm.LinearMixedModel) -> None:
    ci = confidence_intervals(fm1, method="wald")
    assert ci.loc[[".sig01", ".sig02", ".sig03", ".sigma"]].isna().all().all()
    np.testing.assert_allclose(
        ci.loc[["(Intercept)", "Days"]].to_numpy(), np.array(list(SLEEP_WALD.values())), rtol=1e-5
    )


def test_level_and_selection(fm1: mm.LinearMixedModel) -> None:
    ci = confidence_intervals(fm1, method="wald", level=0.9, which="Days")
    assert list(ci.columns) == ["5 %", "95 %"]
    assert list(ci.index) == ["Days"]
    se = np.sqrt(fm1.vcov.loc["Days", "Days"])
    z = scipy.stats.norm.ppf(0.95)
    np.testing.assert_allclose(ci.loc["Days"], fm1.fixef["Days"] + np.array([-z, z]) * se)
    prof = confidence_intervals(fm1, method="profile", which=["sigma"])
    assert list(prof.index) == [".sigma"]
    assert prof.loc[".sigma", "2.5 %"] == pytest.approx(SLEEP_PROFILE[".sigma"][0], rel=1e-4)
    with pytest.raises(mm.ModelSpecificationError, match="unknown method"):
        confidence_intervals(fm1, method="bayes")
    with pytest.raises(mm.ModelSpecificationError, match="level"):
        confidence_intervals(fm1, method="wald", level=95)


def test_percentile_interval_matches_boot_norm_inter() -> None:
    # R: boot:::norm.inter(((1:57)^1.5) / 10, c(0.025, 0.975))
    #    -> 0.19547049597099286 42.44534061998685104   (interpolated on the normal scale)
    got = percentile_interval(np.arange(1, 58) ** 1.5 / 10, [0.025, 0.975])
    np.testing.assert_allclose(got, [0.19547049597099286, 42.44534061998685104], rtol=1e-12)
    # R: boot:::norm.inter(((1:199)^1.5) / 10, c(0.025, 0.975, 0.5))  (integer ranks)
    #    -> 1.1180339887498949 272.3026808534943370 100
    got = percentile_interval(np.arange(1, 200) ** 1.5 / 10, [0.025, 0.975, 0.5])
    np.testing.assert_allclose(got, [1.1180339887498949, 272.3026808534943370, 100.0], rtol=1e-12)
    values = np.array([np.nan, 1.0, 2.0, np.inf])
    np.testing.assert_allclose(percentile_interval(values, [0.1, 0.9]), [1.0, 2.0])


def _mc_tolerance(parameter: str, n: int, n_ref: int = 1000, level: float = 0.95) -> float:
    """Four Monte-Carlo SEs of the difference of two percentile estimates (normal approx.)."""
    p = (1 - level) / 2
    per_draw = np.sqrt(p * (1 - p)) / scipy.stats.norm.pdf(scipy.stats.norm.ppf(p))
    return 4.0 * SLEEP_BOOT_SD[parameter] * per_draw * np.sqrt(1 / n + 1 / n_ref)


def test_bootstrap_intervals_within_monte_carlo_error_of_lme4(fm1: mm.LinearMixedModel) -> None:
    n = 200
    replicates = parametric_bootstrap(fm1, n, seed=2024, n_jobs=1, progress=False)
    ci = confidence_intervals(fm1, method="bootstrap", replicates=replicates)
    assert list(ci.index) == list(SLEEP_BOOT_1000)
    for name, (low, high) in SLEEP_BOOT_1000.items():
        tol = _mc_tolerance(name, n)
        assert abs(ci.loc[name, "2.5 %"] - low) < tol, name
        assert abs(ci.loc[name, "97.5 %"] - high) < tol, name
    readable = confidence_intervals(fm1, method="boot", replicates=replicates, names="readable")
    np.testing.assert_array_equal(readable.to_numpy(), ci.to_numpy())
    days = percentile_interval(replicates["Days"].to_numpy(), [0.025, 0.975])
    np.testing.assert_allclose(ci.loc["Days"].to_numpy(), days, rtol=1e-14)


def test_bootstrap_intervals_simulate_when_not_given(fm1: mm.LinearMixedModel) -> None:
    a = confidence_intervals(fm1, method="bootstrap", nsim=20, seed=5, n_jobs=1, progress=False)
    b = parametric_bootstrap(fm1, 20, seed=5, n_jobs=1, progress=False)
    c = confidence_intervals(fm1, method="bootstrap", replicates=b)
    pd.testing.assert_frame_equal(a, c)


@pytest.mark.slow
def test_bootstrap_intervals_1000_replicates(fm1: mm.LinearMixedModel) -> None:
    ci = confidence_intervals(fm1, method="bootstrap", nsim=1000, seed=7, progress=False)
    for name, (low, high) in SLEEP_BOOT_1000.items():
        tol = _mc_tolerance(name, 1000)
        assert abs(ci.loc[name, "2.5 %"] - low) < tol, name
        assert abs(ci.loc[name, "97.5 %"] - high) < tol, name
