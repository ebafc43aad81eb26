"""glmer with a Gaussian family and a log or inverse link, against lme4 1.1-31.

The parity set (``tests/test_parity.py``) checks the estimates of five such fits; this module
checks what the fit reports besides: the summary's lines and the Residual row of ``VarCorr``,
``logLik``/``AIC``/``BIC``, fitted and predicted means, residuals (all from
``tests/models/data/r/glmm_gaussian_link.R``), simulation and the errors for links glmer does not
fit with this family.
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
from mixedmodels.errors import DataError, ModelSpecificationError
from mixedmodels.spec.family_gaussian import Gaussian
from mixedmodels.spec.family_names import get_family

PARITY = Path(__file__).resolve().parents[1] / "data" / "parity"
REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "glmm_gaussian_link.json").read_text()
)
PARITY_REF = {r["id"]: r for r in json.loads((PARITY / "lme4.json").read_text())}
GLMMS = ["chickweight_log", "sim_inverse_weights"]


@cache
def frame(name: str) -> pd.DataFrame:
    data = pd.read_csv(PARITY / f"{name}.csv")
    if "Chick" in data:
        data["Chick"] = data["Chick"].astype(str)
    return data


@cache
def fitted(name: str) -> Any:
    ref = REF[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.glmer(
            ref["formula"],
            frame(ref["data"]),
            family="gaussian",
            link=ref["link"],
            weights=ref["weights"],
        )
    model.data_name = None
    return model


def section(text: str, title: str) -> list[str]:
    """Lines after ``title`` up to the next blank line."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    return lines[start : lines.index("", start)]


def assert_same_lines(ours: list[str], theirs: list[str], rel: float = 1e-4) -> None:
    """The same words and layout; numbers within ``rel`` (two optima agree to ~1e-5)."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert len(a) == len(b), (a, b)
        for x, y in zip(a.split(), b.split(), strict=True):
            try:
                assert float(x) == pytest.approx(float(y), rel=rel), (a, b)
            except ValueError:
                assert x == y, (a, b)


@pytest.mark.parametrize("name", GLMMS)
def test_summary_shows_the_family_criteria_and_residual_row_as_lme4(name: str) -> None:
    ref, text = REF[name], fitted(name).summary()
    lines = text.splitlines()
    assert ref["family_line"] in lines
    start = lines.index(ref["criteria"][0])
    assert lines[start : start + 2] == ref["criteria"]
    assert_same_lines(section(text, "Random effects:"), ref["random"])
    assert section(text, "Fixed effects:")[0] == ref["fixed_header"]  # t value, Pr(>|z|)


@pytest.mark.parametrize("name", GLMMS)
def test_criteria_and_sigma(name: str) -> None:
    ref, model = REF[name], fitted(name)
    assert model.npar == ref["df"]  # β, θ and σ
    assert model.df_resid == ref["df_resid"]
    for ours, theirs in [(model.loglik, "logLik"), (model.aic, "AIC"), (model.bic, "BIC")]:
        assert ours == pytest.approx(ref[theirs], rel=1e-6, abs=1e-5), theirs
    assert model.sigma == pytest.approx(ref["sigma"], rel=1e-5)


def test_varcorr_residual_row_is_lme4s() -> None:
    ref = PARITY_REF["chickweight_gaussian_log"]
    vc = fitted("chickweight_log").varcorr
    assert list(vc["group"]) == [r["grp"] for r in ref["varcorr"]] == ["Chick", "Residual"]
    np.testing.assert_allclose(vc["variance"], [r["vcov"] for r in ref["varcorr"]], rtol=1e-4)
    np.testing.assert_allclose(vc["sd_cor"], [r["sdcor"] for r in ref["varcorr"]], rtol=1e-4)
    model = fitted("chickweight_log")  # lme4 scales θ by σ there, as for Gamma
    assert vc["sd_cor"].iloc[0] == pytest.approx(model.theta[0] * model.sigma)


@pytest.mark.parametrize("name", GLMMS)
def test_fitted_predict_and_residuals(name: str) -> None:
    ref, model = REF[name], fitted(name)
    # two optima of the same objective: β agrees to ~1e-5 (parity asks 1e-3)
    np.testing.assert_allclose(model.fitted()[:6], ref["fitted"], rtol=1e-4)
    np.testing.assert_allclose(model.predict()[:6], ref["predict_link"], rtol=1e-4)
    response = model.predict(type="response")
    np.testing.assert_allclose(response, model.fitted(), rtol=1e-12)
    scale = ref["sigma"]  # residuals near 0: absolute, on the scale of σ
    pearson, deviance = model.residuals("pearson")[:6], model.residuals()[:6]
    np.testing.assert_allclose(pearson, ref["pearson"], rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(deviance, ref["deviance_resid"], rtol=1e-4, atol=1e-4 * scale)
    new = pd.DataFrame(ref["newdata"])
    np.testing.assert_allclose(
        model.predict(new, re_form="~0", type="response"), ref["predict_new_response"], rtol=1e-4
    )


def test_conditional_simulation_has_the_fitted_means_and_sigma() -> None:
    model = fitted("sim_inverse_weights")  # weights 1-3: y ~ N(μ, σ²/w)
    draws = model.simulate(400, seed=1, re_form=None)
    assert draws.shape == (model.nobs, 400)
    z = (draws - model.fitted()[:, None]) * np.sqrt(frame("gaussian_sim")["w"].to_numpy())[:, None]
    z /= model.sigma
    assert abs(z.mean()) < 0.01  # 96000 standard normal draws: SE 0.003
    assert z.std() == pytest.approx(1.0, abs=0.01)


def test_unconditional_simulation_draws_effects_with_sd_theta_not_sigma_theta() -> None:
    # lme4's simulate draws b = Λu unscaled for GLMMs: E[y] = exp(Xβ + θ²/2) under the log link
    model = fitted("chickweight_log")
    draws = model.simulate(2000, seed=3)
    population = model.predict(re_form="~0", type="response")
    ratio = float(np.mean(draws.mean(axis=1) / population))
    assert ratio == pytest.approx(np.exp(model.theta[0] ** 2 / 2), rel=5e-3)


def test_identity_link_points_to_lmer() -> None:
    data = frame("ChickWeight")
    for link in (None, "identity"):
        with pytest.raises(ModelSpecificationError, match=r"lmer\(\)"):
            mm.glmer("weight ~ Time + (1|Chick)", data, family="gaussian", link=link)
        with pytest.raises(ModelSpecificationError, match=r"lmer\(\)"):
            get_family("gaussian", link)


@pytest.mark.parametrize("link", ["logit", "probit", "sqrt", "1/mu^2"])
def test_links_not_valid_for_gaussian_are_refused(link: str) -> None:
    with pytest.raises(ModelSpecificationError, match="not available for the gaussian family"):
        mm.glmer("weight ~ Time + (1|Chick)", frame("ChickWeight"), family="gaussian", link=link)


def test_unknown_link_and_link_given_twice() -> None:
    with pytest.raises(ModelSpecificationError, match="unknown link"):
        Gaussian("exp")
    with pytest.raises(ModelSpecificationError, match="not both"):
        mm.glmer("weight ~ Time + (1|Chick)", frame("ChickWeight"), Gaussian("log"), link="inverse")


def test_family_object_and_name_fit_alike() -> None:
    model = fitted("chickweight_log")
    same = mm.glmer("weight ~ Time + (1|Chick)", frame("ChickWeight"), family=mm.Gaussian("log"))
    assert same.objective == pytest.approx(model.objective, rel=1e-10)
    assert repr(same.family) == "Gaussian(link='log')"


@pytest.mark.parametrize(("link", "value"), [("log", 0.0), ("log", -1.0), ("inverse", 0.0)])
def test_responses_without_valid_starting_means_are_refused(link: str, value: float) -> None:
    data = frame("ChickWeight").copy()
    data.loc[3, "weight"] = value
    with pytest.raises(DataError, match=f"gaussian response 'weight' with the {link} link"):
        mm.glmer("weight ~ Time + (1|Chick)", data, family="gaussian", link=link)


def test_aic_is_lme4s_profiled_gaussian() -> None:
    # GaussianDist::aic: n (log(2π dev/n) + 1) + 2 − Σ log w, n the number of observations
    y, mu, w = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0]), np.array([1.0, 2.0, 0.5])
    family = Gaussian("log")
    dev = float(np.sum(family.dev_resid(y, mu, w)))
    assert dev == pytest.approx(0.25 + 0.0 + 0.5)
    expected = 3 * (np.log(2 * np.pi * dev / 3) + 1) + 2 - np.log(w).sum()
    assert family.aic(y, np.ones(3), mu, w, dev) == pytest.approx(expected, rel=1e-14)
    # the exact gradient's factor: ∂aic/∂dev = n/dev
    h = 1e-6
    slope = (family.aic(y, y, mu, w, dev + h) - family.aic(y, y, mu, w, dev - h)) / (2 * h)
    assert family.aic_factor(y, mu, w, dev) == pytest.approx(slope, rel=1e-6)


def test_command_line_fits_a_gaussian_link_with_glmer(capsys) -> None:  # type: ignore[no-untyped-def]
    from mixedmodels.cli import main

    data = str(PARITY / "ChickWeight.csv")
    args = ["fit", "weight ~ Time + (1|Chick)", "--data", data, "--family", "gaussian"]
    assert main([*args, "--link", "log", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    ref = PARITY_REF["chickweight_gaussian_log"]
    assert document["fixef"]["Time"] == pytest.approx(ref["fixef"]["Time"], rel=1e-4)
    assert main(args) == 0  # no link: the linear mixed model
    assert capsys.readouterr().out.startswith("Linear mixed model fit by REML")


def test_glm_with_a_gaussian_log_link_is_rs() -> None:
    ref = REF["glm"]
    model = mm.glm(ref["formula"], frame(ref["data"]), "gaussian", ref["link"])
    table = model.coef_table
    np.testing.assert_allclose(table["estimate"], ref["coef"], rtol=1e-7)
    np.testing.assert_allclose(table["std_error"], ref["se"], rtol=1e-6)
    for ours, theirs in [(model.loglik, "logLik"), (model.aic, "AIC"), (model.sigma, "sigma")]:
        assert ours == pytest.approx(ref[theirs], rel=1e-8), theirs
    assert model.dispersion == pytest.approx(ref["dispersion"], rel=1e-7)


def test_ladder_start_takes_the_best_rung() -> None:
    from mixedmodels.fit.glmm_starts import LADDER, ladder_start

    seen: list[float] = []

    def objective(theta: np.ndarray) -> float:  # two basins, the deeper one at θ = 0.003
        seen.append(float(theta[0]))
        return float(np.log10(theta[0] / 0.003) ** 2) if theta[0] > 1e-3 else 10.0

    best = ladder_start(objective, np.array([1.0]))
    assert best[0] == pytest.approx(10**-2.5)  # the rung nearest 0.003
    assert seen == pytest.approx(list(LADDER))  # from s = 1 downwards
    assert ladder_start(lambda t: float("inf"), np.array([1.0]))[0] == 1.0


def test_inside_start_moves_no_further_than_the_objective_allows() -> None:
    from mixedmodels.fit.glmm_starts import BOUNDARY_START, INSIDE_FLOOR, inside_start

    bounded = np.array([True, False])
    flat = inside_start(lambda x: float(x[0] ** 2), np.array([0.0, -1e-3]), bounded)
    assert flat.tolist() == [BOUNDARY_START, -1e-3]  # β never moves
    steep = inside_start(lambda x: 1e4 * float(x[0]), np.array([0.0, 1.0]), bounded)
    assert steep[0] == pytest.approx(1e-5)  # the first of 1e-2, 1e-3, ... within 0.1
    steeper = inside_start(lambda x: 1e9 * float(x[0]), np.array([0.0, 1.0]), bounded)
    assert steeper[0] == pytest.approx(INSIDE_FLOOR)  # never closer to the bound than this
    kept = inside_start(lambda x: 1e6 * float(x[0]), np.array([3e-3, 1.0]), bounded)
    assert kept[0] == 3e-3  # already inside: not moved
