"""Residuals, hat values and per-observation Cook's distance against lme4 1.1-31.

Reference values (R 4.2.2, lme4 1.1-31; idx are 1-based rows)::

    d <- read.csv("sleepstudy.csv"); d$Subject <- factor(d$Subject)
    m <- lmer(Reaction ~ Days + (Days | Subject), d)
    idx <- c(1, 2, 10, 57, 100, 180)
    getME(m, "theta"); residuals(m, type = "response")[idx]
    residuals(m, type = "pearson", scaled = TRUE)[idx]      # same for every type (no weights)
    hatvalues(m)[idx]; sum(hatvalues(m)); cooks.distance(m)[idx]
    p <- read.csv("Penicillin.csv"); p$plate <- factor(p$plate); p$sample <- factor(p$sample)
    mp <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), p); idx2 <- c(1, 2, 7, 50, 144)
    getME(mp, "theta"); residuals(mp, type = "pearson", scaled = TRUE)[idx2]
    hatvalues(mp)[idx2]; sum(hatvalues(mp)); cooks.distance(mp)[idx2]
    d$w <- 1 + (d$Days %% 3) / 2
    mw <- lmer(Reaction ~ Days + (Days | Subject), d, weights = w)
    getME(mw, "theta"); residuals(mw, type = "pearson")[idx]; residuals(mw, type = "response")[idx]
    residuals(mw, type = "deviance", scaled = TRUE)[idx]
    hatvalues(mw)[idx]; sum(hatvalues(mw)); cooks.distance(mw)[idx]

lme4 stops its optimizer slightly before the optimum, so at our own estimates the values agree
to about 5e-6 (relative); evaluated at lme4's θ they agree to 1e-10.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.models import LinearMixedModel
from mixedmodels.results.influence import cooks_distance
from mixedmodels.results.residuals import RESIDUAL_TYPES, hat_values, residuals

IDX = [0, 1, 9, 56, 99, 179]
SLEEP_THETA = [0.9667417739674123, 0.0151690588960361, 0.2309099532077945]
SLEEP_RESPONSE = [-4.103655798386, -14.625217523548, 35.693488675157, 132.546573465714,
                  0.761148264365, -5.357869281353]  # fmt: skip
SLEEP_SCALED = [-0.160350443674, -0.571480707435, 1.394723881956, 5.179260373411,
                0.029741885745, -0.209358864052]  # fmt: skip
SLEEP_HAT = [0.229304037740, 0.169729993799, 0.293177188099, 0.121876251522, 0.293177188099,
             0.293177188099]  # fmt: skip
SLEEP_HAT_SUM = 29.0221239506
SLEEP_COOK = [0.004963132514815, 0.040206201855609, 0.570762641860718, 2.119889074630149,
              0.000259547031729, 0.012860616002899]  # fmt: skip

IDX2 = [0, 1, 6, 49, 143]
PEN_THETA = [1.53967555430648, 3.51251885988167]
PEN_SCALED = [1.884214824928, 0.424981965233, 1.884214824928, -0.380244759816, -1.361428720461]
PEN_HAT = [0.190780273374] * 5
PEN_HAT_SUM = 27.4723593659
PEN_COOK = [1.0343353732603, 0.0526188734034, 1.0343353732603, 0.0421237493448, 0.5399957736217]

W_THETA = [0.88423373034352870, -0.00804666827806146, 0.21772203760284520]
W_PEARSON = [-0.591319117915, -14.420690703141, 33.251751059743, 133.408501575986,
             -2.799833519125, -7.254843373258]  # fmt: skip
W_RESPONSE = [-0.591319117915, -11.774444653731, 33.251751059743, 133.408501575986,
              -2.799833519125, -7.254843373258]  # fmt: skip
W_DEVIANCE_SCALED = [-0.0204253901851, -0.4981206009192, 1.1485845276389, 4.6082066622704,
                     -0.0967120635017, -0.2505973545272]  # fmt: skip
W_HAT = [0.1816675587766, 0.1986230221450, 0.2148267153186, 0.0846663999726, 0.2148267153186,
         0.2148267153186]  # fmt: skip
W_HAT_SUM = 29.995612345
W_COOK = [5.65885506856e-05, 3.83702715817e-02, 2.29854593375e-01, 1.07296655199e00,
          1.62962831933e-03, 1.09415847252e-02]  # fmt: skip

RTOL_OWN = 1e-5  # at our optimum (lme4 stops slightly early)
RTOL_AT_THETA = 1e-9  # at lme4's θ


def fit(formula: str, data: pd.DataFrame, **kwargs: object) -> LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, data, **kwargs)  # type: ignore[arg-type,unused-ignore]


def at_theta(model: LinearMixedModel, theta: list[float]) -> LinearMixedModel:
    """The model evaluated at lme4's θ (β, σ and the modes follow from it)."""
    return model.at_theta(np.array(theta))


def sleep_data(weighted: bool = False) -> pd.DataFrame:
    data = mm.datasets.load("sleepstudy")
    if weighted:
        data["w"] = 1 + (data["Days"] % 3) / 2
    return data


@pytest.fixture(scope="module")
def sleep() -> LinearMixedModel:
    return fit("Reaction ~ Days + (Days | Subject)", sleep_data())


@pytest.fixture(scope="module")
def penicillin() -> LinearMixedModel:
    return fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))


@pytest.fixture(scope="module")
def weighted() -> LinearMixedModel:
    return fit("Reaction ~ Days + (Days | Subject)", sleep_data(True), weights="w")


def test_unweighted_residual_types_coincide(sleep: LinearMixedModel) -> None:
    base = residuals(sleep)
    for kind in RESIDUAL_TYPES:
        np.testing.assert_allclose(residuals(sleep, kind), base, rtol=0)
        np.testing.assert_allclose(residuals(sleep, kind, scaled=True), base / sleep.sigma)
    # absolute tolerance 1e-5 σ̂ for residuals near zero: lme4 stops slightly short of the
    # optimum, and the conditional modes differ from ours by about that much
    np.testing.assert_allclose(base[IDX], SLEEP_RESPONSE, rtol=RTOL_OWN, atol=1e-5 * sleep.sigma)
    scaled = residuals(sleep, "pearson", True)
    np.testing.assert_allclose(scaled[IDX], SLEEP_SCALED, rtol=RTOL_OWN, atol=1e-5)
    np.testing.assert_allclose(base, sleep.residuals(), rtol=0)


def test_sleepstudy_hat_values(sleep: LinearMixedModel) -> None:
    h = hat_values(sleep)
    assert h.shape == (180,)
    np.testing.assert_allclose(h[IDX], SLEEP_HAT, rtol=RTOL_OWN)
    assert h.sum() == pytest.approx(SLEEP_HAT_SUM, rel=RTOL_OWN)
    np.testing.assert_allclose(cooks_distance(sleep)[IDX], SLEEP_COOK, rtol=1e-4)


def test_sleepstudy_at_lme4_theta() -> None:
    model = at_theta(fit("Reaction ~ Days + (Days | Subject)", sleep_data()), SLEEP_THETA)
    np.testing.assert_allclose(residuals(model)[IDX], SLEEP_RESPONSE, rtol=RTOL_AT_THETA)
    scaled = residuals(model, "pearson", scaled=True)
    np.testing.assert_allclose(scaled[IDX], SLEEP_SCALED, rtol=RTOL_AT_THETA)
    h = hat_values(model)
    np.testing.assert_allclose(h[IDX], SLEEP_HAT, rtol=RTOL_AT_THETA)
    assert h.sum() == pytest.approx(SLEEP_HAT_SUM, rel=RTOL_AT_THETA)
    np.testing.assert_allclose(cooks_distance(model)[IDX], SLEEP_COOK, rtol=RTOL_AT_THETA)


def test_penicillin(penicillin: LinearMixedModel) -> None:
    scaled = residuals(penicillin, "pearson", scaled=True)
    np.testing.assert_allclose(scaled[IDX2], PEN_SCALED, rtol=RTOL_OWN, atol=1e-6)
    np.testing.assert_allclose(hat_values(penicillin)[IDX2], PEN_HAT, rtol=RTOL_OWN)
    model = at_theta(
        fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin")),
        PEN_THETA,
    )
    h = hat_values(model)
    np.testing.assert_allclose(h[IDX2], PEN_HAT, rtol=RTOL_AT_THETA)
    assert h.sum() == pytest.approx(PEN_HAT_SUM, rel=RTOL_AT_THETA)
    scaled = residuals(model, "pearson", scaled=True)
    np.testing.assert_allclose(scaled[IDX2], PEN_SCALED, rtol=RTOL_AT_THETA)
    np.testing.assert_allclose(cooks_distance(model)[IDX2], PEN_COOK, rtol=RTOL_AT_THETA)


def test_weighted_residuals_and_hat_values(weighted: LinearMixedModel) -> None:
    # lme4's weighted fit stops visibly short of the optimum (θ differs by 2e-5): compare the
    # definitions at our estimates, the values at lme4's θ
    w = weighted.frame.weights
    response = residuals(weighted, "response")
    np.testing.assert_allclose(residuals(weighted, "working"), response, rtol=0)
    np.testing.assert_allclose(residuals(weighted, "pearson"), np.sqrt(w) * response, rtol=1e-15)
    np.testing.assert_allclose(residuals(weighted, "deviance"), np.sqrt(w) * response, rtol=1e-15)
    model = at_theta(
        fit("Reaction ~ Days + (Days | Subject)", sleep_data(True), weights="w"), W_THETA
    )
    np.testing.assert_allclose(residuals(model, "pearson")[IDX], W_PEARSON, rtol=RTOL_AT_THETA)
    np.testing.assert_allclose(residuals(model, "response")[IDX], W_RESPONSE, rtol=RTOL_AT_THETA)
    deviance = residuals(model, "deviance", scaled=True)
    np.testing.assert_allclose(deviance[IDX], W_DEVIANCE_SCALED, rtol=RTOL_AT_THETA)
    h = hat_values(model)
    np.testing.assert_allclose(h[IDX], W_HAT, rtol=RTOL_AT_THETA)
    assert h.sum() == pytest.approx(W_HAT_SUM, rel=RTOL_AT_THETA)
    np.testing.assert_allclose(cooks_distance(model)[IDX], W_COOK, rtol=RTOL_AT_THETA)


def test_hat_values_with_offset_and_missing_rows() -> None:
    data = sleep_data()
    data["off"] = 0.1 * data["Days"]
    data.loc[3, "Days"] = np.nan
    plain = fit("Reaction ~ Days + (Days | Subject)", data)
    shifted = fit("Reaction ~ Days + (Days | Subject)", data, offset="off")
    assert hat_values(plain).shape == (179,)
    # an offset changes the response only, never the hat matrix
    np.testing.assert_allclose(hat_values(plain), hat_values(shifted), rtol=1e-6)
    np.testing.assert_allclose(
        residuals(shifted), shifted.fixed.y - shifted.fitted(), rtol=0, atol=0
    )


def test_unknown_type_is_refused(sleep: LinearMixedModel) -> None:
    with pytest.raises(mm.ModelSpecificationError, match="partial"):
        residuals(sleep, "partial")


def test_model_without_fixed_effects() -> None:
    model = fit("travel ~ 0 + (1 | Rail)", mm.datasets.load("Rail"))
    h = hat_values(model)
    assert np.all((h > 0) & (h < 1))
    assert np.isnan(cooks_distance(model)).all()  # p = 0, as lme4 (NaN)


@pytest.mark.slow
def test_hat_values_on_insteval() -> None:
    """73,421 rows and 4,114 random effects: blockwise, without Z or the inverse."""
    model = fit(
        "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
        mm.datasets.load("InstEval"),
        check_convergence=False,
    )
    h = hat_values(model)
    assert h.shape == (73421,)
    assert np.all((h > 0) & (h < 1))
    q = sum(t.q for t in model.terms)
    assert model.n_fixed < h.sum() < model.n_fixed + q
