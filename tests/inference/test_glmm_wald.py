"""Wald χ² tests and Wald intervals of GLMMs against car and lme4.

References from tests/data/r/glmm_inference.R (lme4 1.1-31, car 3.1-1, tight tolerances):
``car::Anova(m, type = "II" / "III")``, ``anova(m)``, ``car::linearHypothesis`` and
``confint(m, method = "Wald")`` for binomial (cbpp; a simulated random slope, with and without
an interaction) and Poisson (grouseticks, two terms, with and without an interaction) GLMMs.

car tests with ``vcov(m)``, from lme4's finite-difference Hessian, which differs from the exact
Hessian behind ``model.vcov`` by up to ~1e-4 relative: given R's covariance the statistics must
match car to 1e-4 (the estimates agree to ~1e-5); with the model's own to 2e-4.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import mixedmodels as mm
from mixedmodels.errors import DataError, ModelSpecificationError
from mixedmodels.inference.glmm_wald import (
    WALD_LABELS,
    glmm_anova,
    glmm_contrast,
    glmm_parameter_names,
    glmm_wald_intervals,
    wald_hypotheses,
)

DATA = Path(__file__).parent / "data"
REFERENCE: dict[str, Any] = json.loads((DATA / "glmm_inference.json").read_text())
CASES = list(REFERENCE)
OWN_RTOL = 2e-4  # lme4's finite-difference vcov against the exact one
R_RTOL = 1e-4


@functools.cache
def _data(name: str) -> pd.DataFrame:
    if name == "sim":
        return pd.read_csv(DATA / "glmm_slope_sim.csv")
    return mm.datasets.load({"cbpp": "cbpp", "grouse": "grouseticks"}[name])


@functools.cache
def fit(name: str) -> Any:
    case = REFERENCE[name]
    return mm.glmer(case["formula"], _data(case["data"]), family=case["family"])


def r_vcov(name: str) -> np.ndarray:
    return np.array(REFERENCE[name]["vcov"], dtype=float).T  # stored column by column


def _as_array(values: Any) -> np.ndarray:
    items = [np.nan if v == "NA" else v for v in np.atleast_1d(values)]
    return np.atleast_1d(np.array(items, dtype=float))


@pytest.mark.parametrize("name", CASES)
def test_estimates_are_lme4s(name: str) -> None:
    np.testing.assert_allclose(fit(name).beta, REFERENCE[name]["fixef"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", [2, 3])
@pytest.mark.parametrize("name", CASES)
def test_anova_matches_car(name: str, kind: int) -> None:
    ref = REFERENCE[name][f"type{kind}"]
    model = fit(name)
    own = glmm_anova(model, kind)
    given = glmm_anova(model, "I" * kind, vcov=r_vcov(name))
    assert list(own.index) == list(np.atleast_1d(ref["terms"]))
    np.testing.assert_array_equal(own["df"], _as_array(ref["df"]))
    np.testing.assert_allclose(given["chisq"], _as_array(ref["chisq"]), rtol=R_RTOL)
    np.testing.assert_allclose(own["chisq"], _as_array(ref["chisq"]), rtol=OWN_RTOL)
    np.testing.assert_allclose(own["p_value"], _as_array(ref["p_value"]), rtol=1e-2)
    expected_p = scipy.stats.chi2.sf(own["chisq"], own["df"])
    np.testing.assert_allclose(own["p_value"], expected_p, rtol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_type1_is_lme4s_sequential_anova(name: str) -> None:
    """lme4's anova(m) F table: Sum Sq = χ² (σ = 1) and F = χ²/df, from R_X."""
    ref = REFERENCE[name]["anova"]
    table = glmm_anova(fit(name), 1)
    assert list(table.index) == list(np.atleast_1d(ref["terms"]))
    np.testing.assert_array_equal(table["df"], _as_array(ref["npar"]))
    np.testing.assert_allclose(table["chisq"], _as_array(ref["sum_sq"]), rtol=R_RTOL)
    np.testing.assert_allclose(table["chisq"] / table["df"], _as_array(ref["f_value"]), rtol=R_RTOL)
    assert "sequential" in table.attrs["heading"]


def test_type1_with_a_given_covariance_is_sequential() -> None:
    """The last term's sequential test is its marginal test; all of them add up to the whole."""
    model = fit("grouse_int")
    V = r_vcov("grouse_int")
    seq = glmm_anova(model, 1, vcov=V)
    marginal = glmm_anova(model, 3, vcov=V)
    assert seq.loc["YEAR:cHEIGHT", "chisq"] == pytest.approx(
        marginal.loc["YEAR:cHEIGHT", "chisq"], rel=1e-10
    )
    slopes = np.eye(6)[1:]
    whole = glmm_contrast(model, slopes, vcov=V)
    assert seq["chisq"].sum() == pytest.approx(whole["chisq"][0], rel=1e-10)


def test_type2_differs_from_type3_only_under_an_interaction() -> None:
    """Terms without relatives test their own coefficients, in both types."""
    additive = fit("grouse")
    two, three = glmm_anova(additive, 2), glmm_anova(additive, 3)
    np.testing.assert_allclose(two["chisq"], three.loc[two.index, "chisq"], rtol=1e-12)
    interacting = fit("grouse_int")
    two, three = glmm_anova(interacting, 2), glmm_anova(interacting, 3)
    assert abs(two.loc["cHEIGHT", "chisq"] / three.loc["cHEIGHT", "chisq"] - 1) > 0.1
    assert two.loc["YEAR:cHEIGHT", "chisq"] == pytest.approx(three.loc["YEAR:cHEIGHT", "chisq"])


def test_type2_hypothesis_is_orthogonal_to_the_relatives_in_vcov() -> None:
    model = fit("slope_int")
    V = model.vcov.to_numpy()
    hyp = wald_hypotheses(model, 2)
    interaction = np.eye(6)[[4, 5]]  # A:x's coefficients, the relative of A and of x
    for term in ("A", "x"):
        np.testing.assert_allclose(hyp[term] @ V @ interaction.T, 0.0, atol=1e-12)
    assert hyp["A"].shape == (2, 6) and hyp["x"].shape == (1, 6)


@pytest.mark.parametrize("name", CASES)
def test_contrast_matches_linear_hypothesis(name: str) -> None:
    ref = REFERENCE[name]["hypothesis"]
    L = np.atleast_2d(np.array(ref["L"], dtype=float))
    model = fit(name)
    own = glmm_contrast(model, L, ref["rhs"])
    given = glmm_contrast(model, L, ref["rhs"], vcov=r_vcov(name))
    assert list(own.columns) == list(WALD_LABELS) and own["df"][0] == ref["df"]
    assert given["chisq"][0] == pytest.approx(ref["chisq"], rel=R_RTOL)
    assert own["chisq"][0] == pytest.approx(ref["chisq"], rel=OWN_RTOL)
    assert own["p_value"][0] == pytest.approx(ref["p_value"], rel=1e-2)


def test_contrast_is_invariant_to_the_basis_and_aligns_names() -> None:
    model = fit("cbpp")
    L = np.array([[0, 1, -1, 0], [0, 1, 0, -1]], dtype=float)
    rhs = np.array([0.0, 0.5])
    base = glmm_contrast(model, L, rhs)["chisq"][0]
    mixed = np.array([[2.0, 1.0], [0.0, -3.0]])
    assert glmm_contrast(model, mixed @ L, mixed @ rhs)["chisq"][0] == pytest.approx(base)
    names = list(model.fixed.names)
    frame = pd.DataFrame(L[:, ::-1], columns=names[::-1])
    assert glmm_contrast(model, frame, rhs)["chisq"][0] == pytest.approx(base)


def test_rank_deficient_contrast_is_tested_on_its_rank() -> None:
    model = fit("cbpp")
    row = np.array([0.0, 1.0, -1.0, 0.0])
    single = glmm_contrast(model, row)
    doubled = glmm_contrast(model, np.vstack([row, 2 * row]))
    assert doubled["df"][0] == 1
    assert doubled["chisq"][0] == pytest.approx(single["chisq"][0])


@pytest.mark.parametrize("name", CASES)
def test_wald_intervals_match_lme4(name: str) -> None:
    model = fit(name)
    se = np.sqrt(np.diag(r_vcov(name)))
    for key, level in (("wald", 0.95), ("wald_90", 0.9)):
        ref = REFERENCE[name][key]
        nv = len(ref["parameters"]) - len(se)
        own = glmm_wald_intervals(model, level)
        given = glmm_wald_intervals(model, level, vcov=r_vcov(name))
        assert list(own.index[:nv]) == ref["parameters"][:nv]
        assert list(own.index[nv:]) == list(model.fixed.names)
        assert np.all(np.isnan(own.to_numpy()[:nv]))
        for table, scale in ((own, 5e-4), (given, 1e-4)):
            for column, bound in enumerate(("lower", "upper")):
                expected = _as_array(ref[bound])[nv:]
                error = np.abs(table.iloc[nv:, column].to_numpy() - expected) / se
                assert np.max(error) < scale, (key, bound)
    a = (1 - 0.9) / 2
    assert list(glmm_wald_intervals(model, 0.9).columns) == [f"{100 * a:g} %", "95 %"]


def test_wald_intervals_by_readable_name_and_selection() -> None:
    model = fit("slope")
    names = glmm_parameter_names(model)
    assert names.readable[:3] == ["sd_(Intercept)|g", "cor_x.(Intercept)|g", "sd_x|g"]
    table = glmm_wald_intervals(model, which="beta_", names="readable")
    assert list(table.index) == list(model.fixed.names)
    one = glmm_wald_intervals(model, which="x")
    se = np.sqrt(model.vcov.loc["x", "x"])
    z = scipy.stats.norm.ppf(0.975)
    np.testing.assert_allclose(one.loc["x"], model.fixef["x"] + np.array([-z, z]) * se)


def test_bad_arguments_are_refused() -> None:
    model = fit("cbpp")
    with pytest.raises(ModelSpecificationError, match="anova type"):
        glmm_anova(model, 4)
    with pytest.raises(ModelSpecificationError, match="4 columns"):
        glmm_contrast(model, np.ones((1, 3)))
    with pytest.raises(ModelSpecificationError, match="rhs"):
        glmm_contrast(model, np.eye(4)[:2], [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="coefficients"):
        glmm_contrast(model, pd.Series({"period2": 1.0}))
    with pytest.raises(ModelSpecificationError, match="vcov"):
        glmm_anova(model, 2, vcov=np.eye(3))
    with pytest.raises(ModelSpecificationError, match="level"):
        glmm_wald_intervals(model, 1.5)
    with pytest.raises(ModelSpecificationError, match="unknown parameter"):
        glmm_wald_intervals(model, which="nope")


@pytest.mark.parametrize("name", CASES)
def test_mm_anova_of_one_glmm_is_its_wald_table(name: str) -> None:
    """``mm.anova(glmm)`` gives the model's own Wald χ² table (car's type 2 by default)."""
    model = fit(name)
    pd.testing.assert_frame_equal(mm.anova(model), model.anova())
    pd.testing.assert_frame_equal(mm.anova(model, type=3), model.anova(type=3))
