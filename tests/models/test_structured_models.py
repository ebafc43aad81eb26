"""Models with structured random-effects covariances: equivalences, results and refusals."""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.inference.parameters import parameter_names
from mixedmodels.optimize.differences import jacobian

PANEL = Path(__file__).parent / "data" / "covstruct_panel.csv"


@cache
def panel() -> pd.DataFrame:
    data = pd.read_csv(PANEL)
    data["ftime"] = data["time"].astype(str)
    return data


@cache
def sleep() -> pd.DataFrame:
    data = mm.datasets.load("sleepstudy").copy()
    data["fDays"] = data["Days"].astype(str)
    return data


@cache
def ar1_model() -> mm.LinearMixedModel:
    return mm.lmer("y ~ time + trt + x + ar1(0 + ftime | subject)", panel(), reml=False)


def quiet_lmer(formula: str, data: pd.DataFrame, **options: object) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, data, **options)


# ---- equivalences with lme4's terms ------------------------------------------------------------
def test_us_is_lme4s_term_to_the_bit() -> None:
    plain = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep())
    us = mm.lmer("Reaction ~ Days + us(Days | Subject)", sleep())
    np.testing.assert_array_equal(us.theta, plain.theta)
    assert us.objective == plain.objective


def test_diag_is_the_uncorrelated_term_in_one_group() -> None:
    double = mm.lmer("Reaction ~ Days + (Days || Subject)", sleep())
    diag = mm.lmer("Reaction ~ Days + diag(Days | Subject)", sleep())
    assert diag.objective == pytest.approx(double.objective, abs=1e-7)
    np.testing.assert_allclose(np.sort(diag.theta), np.sort(double.theta), rtol=1e-5)
    vc = diag.varcorr
    assert list(vc["group"]) == ["Subject", "Subject", "Subject", "Residual"]
    assert vc.iloc[2]["sd_cor"] == 0.0  # the zero correlation is reported (|| gives 2 groups)
    assert len(double.varcorr) == 3


@cache
def pastes_pair() -> tuple[mm.LinearMixedModel, mm.LinearMixedModel]:
    data = mm.datasets.load("Pastes")
    nested = mm.lmer("strength ~ 1 + (1 | batch) + (1 | batch:cask)", data)
    cs = mm.lmer("strength ~ 1 + cs(0 + cask | batch, hom = TRUE)", data)
    return nested, cs


def test_homogeneous_cs_is_an_intercept_and_a_nested_intercept() -> None:
    nested, cs = pastes_pair()
    assert cs.objective == pytest.approx(nested.objective, abs=1e-7)
    sd, rho = cs.terms[0].structure.natural(cs.theta, float(cs.sigma))
    vc = nested.varcorr.set_index("group")["variance"]
    assert sd**2 * rho == pytest.approx(vc["batch"], rel=1e-4)
    assert sd**2 * (1 - rho) == pytest.approx(vc["batch:cask"], rel=1e-4)


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_degrees_of_freedom_agree_with_the_equivalent_lme4_model(ddf: str) -> None:
    nested, cs = pastes_pair()
    a, b = nested.coef_test(ddf), cs.coef_test(ddf)
    np.testing.assert_allclose(b["df"], a["df"], rtol=1e-5)
    np.testing.assert_allclose(b["std_error"], a["std_error"], rtol=1e-6)


def test_kenward_roger_of_ar1_is_the_dense_formula_with_second_derivatives() -> None:
    """Kenward and Roger (1997) written out densely: Φ_A with the ``R_ij`` terms, ψ = (v, ρ, σ²)."""
    data = panel()[panel()["subject"] <= "s20"]
    model = quiet_lmer("y ~ time + x + ar1(0 + ftime | subject)", data)
    sd, rho = model.terms[0].structure.natural(model.theta, float(model.sigma))
    term = model.terms[0]
    Z = np.zeros((model.nobs, term.q))
    for i, (level, row) in enumerate(zip(term.refs, term.z, strict=True)):
        Z[i, level * term.k : (level + 1) * term.k] = row
    X = model.fixed.X
    lag = np.abs(np.subtract.outer(np.arange(term.k), np.arange(term.k)))

    def V(psi: np.ndarray) -> np.ndarray:
        G = psi[0] * psi[1] ** lag
        return Z @ np.kron(np.eye(term.nlevels), G) @ Z.T + psi[2] * np.eye(len(Z))

    psi, h = np.array([sd**2, rho, float(model.sigma) ** 2]), 1e-4
    E = np.eye(3) * h
    d1 = [(V(psi + e) - V(psi - e)) / (2 * h) for e in E]
    d2 = [
        [
            (V(psi + a + b) - V(psi + a - b) - V(psi - a + b) + V(psi - a - b)) / (4 * h * h)
            for b in E
        ]
        for a in E
    ]
    Vi = np.linalg.inv(V(psi))
    Phi = np.linalg.inv(X.T @ Vi @ X)
    Pi = Vi - Vi @ X @ Phi @ X.T @ Vi
    P = [-X.T @ Vi @ D @ Vi @ X for D in d1]
    Q = [[X.T @ Vi @ Di @ Vi @ Dj @ Vi @ X for Dj in d1] for Di in d1]
    R = [[X.T @ Vi @ d2[i][j] @ Vi @ X for j in range(3)] for i in range(3)]
    info = np.array([[np.trace(Pi @ Di @ Pi @ Dj) for Dj in d1] for Di in d1])
    W = 2.0 * np.linalg.inv(info)
    U = sum(
        W[i, j] * (Q[i][j] - P[i] @ Phi @ P[j] - 0.25 * R[i][j]) for i in range(3) for j in range(3)
    )
    adjusted = Phi + 2.0 * Phi @ U @ Phi
    np.testing.assert_allclose(model.vcov.to_numpy(), Phi, rtol=1e-6)
    ours = model.coef_test("kenward-roger")["std_error"].to_numpy()
    np.testing.assert_allclose(ours, np.sqrt(np.diag(adjusted)), rtol=1e-5)


# ---- the term's size and its refusals ------------------------------------------------------
def test_a_structured_term_may_have_a_random_effect_per_observation() -> None:
    with pytest.raises(ModelSpecificationError, match="number of random effects"):
        mm.lmer("Reaction ~ Days + (0 + fDays | Subject)", sleep())
    model = quiet_lmer("Reaction ~ Days + ar1(0 + fDays | Subject)", sleep())
    assert sum(t.q for t in model.terms) == model.nobs


def test_a_correlation_structure_needs_several_columns() -> None:
    with pytest.raises(ModelSpecificationError, match="ar1\\(\\) correlates the columns"):
        mm.lmer("y ~ time + ar1(0 + time | subject)", panel())


def test_the_callers_data_is_not_modified() -> None:
    data = panel().copy()
    before = data.copy()
    mm.lmer("y ~ time + ar1(0 + ftime | subject)", data)
    pd.testing.assert_frame_equal(data, before)


# ---- results -------------------------------------------------------------------------------
def test_summary_names_the_structure() -> None:
    text = ar1_model().summary()
    sd, rho = ar1_model().terms[0].structure.natural(ar1_model().theta, ar1_model().sigma)
    assert f"ar1  sd {sd:.4g}  rho {rho:.4g}" in text
    assert "ftime[0] … ftime[5]" in text


def test_ranef_predict_and_simulate() -> None:
    model = ar1_model()
    (effects,) = model.ranef.values()
    assert effects.shape == (48, 6)
    np.testing.assert_allclose(model.predict(panel()), model.fitted(), atol=1e-10)
    population = model.predict(panel(), re_form="NA")
    np.testing.assert_allclose(population, model.fixed.X @ model.beta, atol=1e-10)
    one, two = model.simulate(3, seed=5), model.simulate(3, seed=5)
    np.testing.assert_array_equal(one, two)


def test_profile_intervals_of_the_structures_own_parameters() -> None:
    model = ar1_model()
    ci = model.confint(method="profile", which=[".sig01", ".sig02"])
    sd, rho = model.terms[0].structure.natural(model.theta, float(model.sigma))
    (low_sd, high_sd), (low_rho, high_rho) = ci.to_numpy()
    assert low_sd < sd < high_sd
    assert -1.0 < low_rho < rho < high_rho < 1.0
    names = parameter_names(model).readable[:2]
    assert names == ["sd|subject", "rho|subject"]


def test_likelihood_ratio_test_between_nested_structures() -> None:
    diag = mm.lmer("y ~ time + diag(1 + time | subject)", panel(), reml=False)
    us = mm.lmer("y ~ time + us(1 + time | subject)", panel(), reml=False)
    table = mm.anova(diag, us)
    assert list(table["npar"]) == [5, 6]
    assert table["Chisq"].iloc[1] == pytest.approx(2 * (us.loglik - diag.loglik), rel=1e-10)


def test_the_same_fit_from_parquet_chunks(tmp_path: Path) -> None:
    path = tmp_path / "panel.parquet"
    panel().to_parquet(path)
    chunked = mm.lmer("y ~ time + trt + x + ar1(0 + ftime | subject)", path, reml=False)
    model = ar1_model()
    assert chunked.objective == pytest.approx(model.objective, abs=1e-8)
    np.testing.assert_allclose(chunked.theta, model.theta, rtol=1e-6)


def test_refitting_gives_the_same_bits() -> None:
    formula = "y ~ time + cs(0 + ftime | subject) + (1 | site)"
    a, b = quiet_lmer(formula, panel()), quiet_lmer(formula, panel())
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.objective == b.objective


# ---- GLMMs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("structure", ["ar1(0 + ftime | subject)", "cs(0 + ftime | subject)"])
def test_glmm_gradient_through_the_structure(structure: str) -> None:
    model = mm.glmer(f"count ~ time + {structure}", panel(), family="poisson")
    x = np.concatenate([model.theta, model.beta]) + 0.05
    exact = model.gradient_at(x)
    numeric = jacobian(lambda p: np.array([model.objective_at(p)]), x, np.full(len(x), 1e-5))
    np.testing.assert_allclose(exact, numeric[0], rtol=1e-4, atol=1e-4)
