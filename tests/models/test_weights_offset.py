"""Prior weights and offsets against lme4 1.1-31.

Reference values made with R 4.2.2 / lme4 1.1-31:

    library(lme4)
    d <- read.csv("sleepstudy.csv"); d$Subject <- factor(d$Subject)
    d$w <- 1 + d$Days / 10; d$o <- d$Days * 2
    m1 <- lmer(Reaction ~ Days + (Days | Subject), d, weights = w)
    m2 <- lmer(Reaction ~ Days + (1 | Subject), d, offset = o, REML = FALSE)
    m3 <- lmer(Reaction ~ Days + (1 | Subject) + offset(o), d, weights = w, REML = FALSE)
    # objective (REMLcrit or deviance), fixef, SEs, sigma, theta of each
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

LME4 = {
    "m1": (1755.1550939726, [250.6202766167, 10.6221160189], [7.0179101698, 1.5541108212],
           31.6392461565, [0.7701085529, 0.0157234873, 0.1856915207]),
    "m2": (1794.0786430052, [251.4051048485, 8.4672859596], [9.5061851931, 0.8017354217],
           30.8954338732, [1.1656117887]),
    "m3": (1803.5539976530, [250.6202766167, 8.6221160189], [10.2782031242, 0.8267660791],
           37.6043044673, [1.0257633630]),
}  # fmt: skip


@pytest.fixture()
def sleep() -> pd.DataFrame:
    data = mm.datasets.load("sleepstudy")
    data["w"] = 1 + data["Days"] / 10
    data["o"] = data["Days"] * 2.0
    return data


def check(model: mm.LinearMixedModel, key: str) -> None:
    objective, fixef, se, sigma, theta = LME4[key]
    assert model.objective <= objective + 1e-6 * objective
    assert model.objective == pytest.approx(objective, rel=1e-8)
    np.testing.assert_allclose(model.fixef, fixef, rtol=1e-5)
    np.testing.assert_allclose(model.coef_table["std_error"], se, rtol=1e-4)
    assert model.sigma == pytest.approx(sigma, rel=1e-4)
    np.testing.assert_allclose(model.theta, theta, rtol=1e-3, atol=1e-4)


def test_weights_reml(sleep: pd.DataFrame) -> None:
    check(mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights="w"), "m1")
    by_array = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights=sleep["w"].to_numpy())
    check(by_array, "m1")


def test_offset_argument_ml(sleep: pd.DataFrame) -> None:
    check(mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, offset="o", reml=False), "m2")


def test_offset_in_formula_with_weights(sleep: pd.DataFrame) -> None:
    model = mm.lmer("Reaction ~ Days + (1 | Subject) + offset(o)", sleep, weights="w", reml=False)
    check(model, "m3")
    fitted = model.fitted()
    np.testing.assert_allclose(model.residuals(), sleep["Reaction"] - fitted)


def test_offset_expression_in_formula(sleep: pd.DataFrame) -> None:
    a = mm.lmer("Reaction ~ Days + (1 | Subject) + offset(2 * Days)", sleep, reml=False)
    check(a, "m2")
