"""Structured random-effects covariances against glmmTMB (``tests/data/r/covstruct.R``).

Every usable glmmTMB case of ``covstruct.json``: the objective (−2 log L, ML or REML: glmmTMB's
REML criterion equals lme4's, with no constant), the fixed effects, each term's SDs and
correlations and σ; the fixed-effect SEs of GLMMs against glmmTMB's (both from the Hessian),
those of LMMs against lme4's convention σ²(R_XᵀR_X)⁻¹ at glmmTMB's estimates
(``covstruct_extra.json``, written by ``tests/data/r/covstruct_extra.R``).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "covstruct.json").read_text())
RESPONSES = {  # glmmTMB's cbind(successes, failures) as proportions and weights
    "cbind(incidence, size - incidence)": ("incidence / size", "size"),
    "cbind(succ, trials - succ)": ("succ / trials", "trials"),
}
# σ fixed near 0 (dispformula = ~0) has no counterpart: our LMMs estimate σ (see the test below)
FIXED_SIGMA = {  # fitted with sigma= below
    k for k, v in REF["glmmTMB"].items() if v.get("dispformula") == "~ 0" and not v["skipped"]
}
CASES = sorted(k for k, v in REF["glmmTMB"].items() if not v["skipped"] and k not in FIXED_SIGMA)


@cache
def load(name: str) -> pd.DataFrame:
    """A reference data set with the factors the R script made."""
    key = {"covstruct_panel.csv": "panel"}.get(name, name.removesuffix(".csv"))
    data = pd.read_csv(ROOT / REF["data_paths"][key])
    if key == "sleepstudy":
        data["fDays"] = data["Days"].astype(str)
    if key == "panel":
        data["ftime"] = data["time"].astype(str)
    if key == "cbpp":
        data["period"] = data["period"].astype(str)
        data["herd"] = data["herd"].astype(str)
    return data


@cache
def fitted(key: str) -> Any:
    case = REF["glmmTMB"][key]
    data = load(case["data"])
    formula = case["formula"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case["family"] == "gaussian":
            return mm.lmer(formula, data, reml=case["REML"])
        response = formula.split("~")[0].strip()
        proportion, weights = RESPONSES.get(response, (response, None))
        formula = formula.replace(response, proportion, 1)
        return mm.glmer(formula, data, family=case["family"], weights=weights)


def minus2loglik(model: Any) -> float:
    """−2 log L (the REML criterion for REML fits), as glmmTMB's 2·objective."""
    return float(-2.0 * model.loglik) if hasattr(model, "loglik") else float(model.objective)


@pytest.mark.parametrize("key", CASES)
def test_objective_and_fixed_effects(key: str) -> None:
    case, model = REF["glmmTMB"][key], fitted(key)
    assert minus2loglik(model) == pytest.approx(case["minus2logLik"], rel=1e-6, abs=1e-6)
    ref = np.array(list(case["fixef"].values()))
    np.testing.assert_allclose(
        model.fixef.to_numpy(), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max()
    )


@pytest.mark.parametrize("key", CASES)
def test_variance_parameters(key: str) -> None:
    case, model = REF["glmmTMB"][key], fitted(key)
    if case["family"] == "gaussian":
        assert float(model.sigma) == pytest.approx(case["sigma"], rel=1e-3)
    vc = model.varcorr
    for ref in case["random_effects"]:
        rows = vc[(vc["group"] == ref["group"]) & vc["term2"].isna()]
        sd = np.atleast_1d(ref["stddev"])
        scale = sd.max()
        if case.get("boundary"):  # a variance at zero: compare on the scale of the largest
            np.testing.assert_allclose(rows["sd_cor"].to_numpy(), sd, atol=2e-3 * scale)
        else:
            np.testing.assert_allclose(rows["sd_cor"].to_numpy(), sd, rtol=1e-3)
        if "correlation" in ref and len(sd) > 1:
            corr = np.asarray(ref["correlation"])
            ours = _correlation(vc, ref["group"], len(sd))
            np.testing.assert_allclose(ours, corr, atol=1e-3)


def _correlation(vc: pd.DataFrame, group: str, k: int) -> np.ndarray:
    """A group's correlation matrix from the varcorr table (NaN beside a zero SD: skipped)."""
    rows = vc[(vc["group"] == group) & vc["term2"].notna()]
    corr = np.eye(k)
    names = list(vc[(vc["group"] == group) & vc["term2"].isna()]["term1"])
    for r in rows.itertuples():
        a, b = names.index(r.term1), names.index(r.term2)
        corr[a, b] = corr[b, a] = r.sd_cor
    return np.nan_to_num(corr, nan=0.0)


@pytest.mark.parametrize("key", [k for k in CASES if REF["glmmTMB"][k]["family"] != "gaussian"])
def test_glmm_standard_errors_are_glmmtmbs(key: str) -> None:
    case, model = REF["glmmTMB"][key], fitted(key)
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    np.testing.assert_allclose(se, list(case["se"].values()), rtol=1e-3)


@pytest.mark.parametrize("key", [k for k in CASES if REF["glmmTMB"][k]["family"] == "gaussian"])
def test_lmm_standard_errors_follow_lme4s_convention(key: str) -> None:
    model = fitted(key)
    extra = json.loads((DATA / "covstruct_extra.json").read_text())
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    np.testing.assert_allclose(se, list(extra["lme4_se"][key]["se"].values()), rtol=1e-3)


def test_structure_parameters_ar1_rho_and_sd() -> None:
    case, model = REF["glmmTMB"]["panel_ar1_site_ml"], fitted("panel_ar1_site_ml")
    term = next(t for t in model.terms if t.structured)
    at = sum(t.ntheta for t in model.terms[: model.terms.index(term)])
    sd, rho = term.structure.natural(model.theta[at : at + term.ntheta], float(model.sigma))
    ref = case["random_effects"][0]
    assert sd == pytest.approx(ref["stddev"][0], rel=1e-3)
    assert rho == pytest.approx(ref["rho"], abs=1e-3)


def test_toeplitz_with_glmmtmbs_fixed_sigma() -> None:
    """glmmTMB's toep cases fix σ at 2⁻¹³ (``dispformula = ~0``): ``sigma=`` does the same."""
    case = REF["glmmTMB"]["panel_toep_ml"]
    model = quiet_fit(case["formula"], load(case["data"]), case["REML"], sigma=case["sigma"])
    assert model.sigma == case["sigma"] and model.npar == case["npar"]
    assert minus2loglik(model) == pytest.approx(case["minus2logLik"], rel=1e-7)
    # with σ = 2⁻¹³ the criterion's r²/σ² is what is left of y'y after cancelling to ~1e-10 of
    # it: the objective is uncertain to ~1e-4 (nearby θ differ by that much), and BOBYQA's
    # optimum, and glmmTMB's, only to that; one fixed effect moves by 2e-4 (relative) along the
    # flat directions, with the CPU's BLAS kernels (0.002 of its standard error)
    np.testing.assert_allclose(model.fixef.to_numpy(), list(case["fixef"].values()), rtol=1e-3)
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    extra = json.loads((DATA / "covstruct_extra.json").read_text())["lme4_se"]
    np.testing.assert_allclose(se, list(extra["panel_toep_ml"]["se"].values()), rtol=1e-3)
    vc = model.varcorr
    sds = vc[(vc["group"] == "subject") & vc["term2"].isna()]["sd_cor"].to_numpy()
    np.testing.assert_allclose(sds, case["random_effects"][0]["stddev"], rtol=1e-3)


def test_toeplitz_fixed_sigma_from_glmmtmbs_estimates() -> None:
    """sleepstudy's toep with σ = 2⁻¹³ has several optima: from lme4's start the fit stops at
    one 0.78 above glmmTMB's; from glmmTMB's estimates it ends at least as low as glmmTMB."""
    case = REF["glmmTMB"]["sleep_toep_ml"]
    data, sigma = load(case["data"]), case["sigma"]
    model = quiet_fit(case["formula"], data, False, sigma=sigma)
    term, ref = model.terms[0], case["random_effects"][0]
    start = term.structure.from_natural(np.r_[ref["stddev"], ref["rho"]], sigma)
    assert model.objective_at(start) <= case["minus2logLik"] + 1e-9  # β profiled: not above
    refit = quiet_fit(case["formula"], data, False, sigma=sigma, start=start)
    assert minus2loglik(refit) <= case["minus2logLik"] + 1e-6


KR = json.loads((DATA / "covstruct_extra.json").read_text())["kenward_roger"]


@pytest.mark.parametrize("key", sorted(KR))
@pytest.mark.parametrize("ddf", ["kenward-roger", "satterthwaite"])
def test_homogeneous_cs_df_are_pbkrtests_and_lmertests(key: str, ddf: str) -> None:
    """A homogeneous cs is lme4's ``(1 | g) + (1 | g:f)`` (ρ ≥ 0): pbkrtest's and lmerTest's
    df and adjusted SEs of that model (the unbalanced Oats case has a non-zero adjustment)."""
    case = KR[key]
    data = pd.read_csv(ROOT / case["data_path"])
    if case.get("dropped_rows"):
        data = data.drop(index=[r - 1 for r in case["dropped_rows"]]).reset_index(drop=True)
    formula = case["glmmTMB_formula"].replace("homcs(", "cs(")[:-1] + ", hom = TRUE)"
    model = mm.lmer(formula, data)
    assert model.objective == pytest.approx(case["lme4"]["REMLcrit"], rel=1e-8)
    table = model.coef_test(ddf)
    if ddf == "kenward-roger":
        ref_df, ref_se = case["kenward_roger"]["df"], case["kenward_roger"]["se_adj"]
    else:
        rows = case["satterthwaite"]["lmerTest"]
        ref_df = {k: v["df"] for k, v in rows.items()}
        ref_se = {k: v["se"] for k, v in rows.items()}
    np.testing.assert_allclose(table["df"].to_numpy(), list(ref_df.values()), rtol=1e-4)
    np.testing.assert_allclose(table["std_error"].to_numpy(), list(ref_se.values()), rtol=1e-5)


HOMOGENEOUS = json.loads((DATA / "covstruct_extra.json").read_text())["homogeneous"]


def _ours(formula: str) -> str:
    """glmmTMB's homcs/homdiag (emulated there by ``map``) in our spelling, ``hom = TRUE``."""
    for name in ("homcs", "homdiag"):
        if f"{name}(" in formula:
            head, rest = formula.split(f"{name}(", 1)
            return f"{head}{name[3:]}({rest[:-1]}, hom = TRUE)"
    return formula


@pytest.mark.parametrize(
    "key", [k for k, v in HOMOGENEOUS.items() if v["dispformula"] == "~ 1" and v["identified"]]
)
def test_identified_homogeneous_structures(key: str) -> None:
    case = HOMOGENEOUS[key]
    model = quiet_fit(_ours(case["formula"]), load(case["data"]), case["REML"])
    assert minus2loglik(model) == pytest.approx(case["minus2logLik"], rel=1e-7)
    np.testing.assert_allclose(model.fixef.to_numpy(), list(case["fixef"].values()), rtol=1e-5)
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    np.testing.assert_allclose(se, list(case["lme4_se"]["se"].values()), rtol=1e-3)
    assert float(model.sigma) == pytest.approx(case["sigma"], rel=1e-3)


@pytest.mark.parametrize(
    "key", [k for k, v in HOMOGENEOUS.items() if v["dispformula"] == "~ 1" and not v["identified"]]
)
def test_unidentified_homogeneous_cs_reaches_the_ridge(key: str) -> None:
    """hom cs + residual with one observation per cell: a ridge whose value is lme4's
    random-intercept optimum (glmmTMB lands at some point of it; so do we)."""
    case = HOMOGENEOUS[key]
    model = quiet_fit(_ours(case["formula"]), load(case["data"]), case["REML"])
    assert minus2loglik(model) == pytest.approx(case["minus2logLik"], abs=1e-5)


def quiet_fit(formula: str, data: pd.DataFrame, reml: bool, **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data, reml=reml, **options)
