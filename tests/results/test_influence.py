"""Influence of deleted groups on the fixed effects, against lme4 1.1-31's influence.merMod.

Reference values (R 4.2.2, lme4 1.1-31)::

    d <- read.csv("sleepstudy.csv"); d$Subject <- factor(d$Subject)
    m <- lmer(Reaction ~ Days + (Days | Subject), d)
    inf <- influence(m, groups = "Subject")
    cooks.distance(inf); inf[["fixed.effects[-Subject]"]][1:3, ]
    p <- read.csv("Penicillin.csv"); p$plate <- factor(p$plate); p$sample <- factor(p$sample)
    mp <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), p)
    inf <- influence(mp, groups = "sample"); cooks.distance(inf); inf[["fixed.effects[-sample]"]]

lme4's ``cooks.distance(influence(...))`` is ``(G − p)/G`` times influence.ME's
``(β̂ − β̂₍₋g₎)ᵀ V⁻¹ (β̂ − β̂₍₋g₎) / p`` (``G`` deleted levels, ``p`` fixed effects).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.models import LinearMixedModel
from mixedmodels.results.influence import GroupInfluence, cooks_distance, influence

SLEEP_COOK_LME4 = [
    0.08214840506941, 0.13202079795776, 0.09824074429175, 0.07414650244086, 0.05012150650643,
    0.00561342403902, 0.01864015470029, 0.00552518966056, 0.11509367843965, 0.11199669312307,
    0.04585099806898, 0.06613215873221, 0.01226208712781, 0.03044378392382, 0.00106453183828,
    0.08152969842566, 0.00112375552178, 0.00921615992657,
]  # fmt: skip
SLEEP_DELETED = {
    "308": [251.829365775, 9.80273204991],
    "309": [254.131584813, 10.94996245989],
    "310": [254.223980107, 10.72330873440],
}
PEN_THETA = [1.53967555430648, 3.51251885988167]
PEN_COOK_LME4 = [2.45507879420e-01, 5.24079269895e-02, 1.92755745737e-01, 4.81889364066e-04,
                 9.83447678881e-06, 4.63095679141e-01]  # fmt: skip
PEN_DELETED = [22.5333333333, 23.1750000000, 22.5833333333, 22.9916666667, 22.9750000000,
               23.5750000000]  # fmt: skip


def fit(formula: str, data: pd.DataFrame, **kwargs: object) -> LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, data, **kwargs)  # type: ignore[arg-type,unused-ignore]


SLEEP_THETA = [0.9667417739674123, 0.0151690588960361, 0.2309099532077945]


@pytest.fixture(scope="module")
def sleep_influence() -> GroupInfluence:
    model = fit("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    return influence(model, "Subject")


def test_sleepstudy_at_lme4_theta() -> None:
    """The refits agree with lme4's to 1e-11; the full fit's Var(β̂) is what differs."""
    model = fit("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    model = model.at_theta(np.array(SLEEP_THETA))
    result = influence(model, "Subject")
    np.testing.assert_allclose(result.cooks_distance_lme4, SLEEP_COOK_LME4, rtol=1e-8)


def test_sleepstudy_deleting_subjects(sleep_influence: GroupInfluence) -> None:
    result = sleep_influence
    assert list(result.fixef_deleted.index[:3]) == list(SLEEP_DELETED)
    for level, values in SLEEP_DELETED.items():
        np.testing.assert_allclose(result.fixef_deleted.loc[level], values, rtol=1e-7)
    # lme4 stops early; its Var(β̂) differs from ours by about 1e-5 (relative)
    np.testing.assert_allclose(result.cooks_distance_lme4, SLEEP_COOK_LME4, rtol=5e-5)
    G, p = 18, 2
    np.testing.assert_allclose(
        result.cooks_distance, result.cooks_distance_lme4 * G / (G - p), rtol=1e-14
    )
    assert result.converged.all()
    assert result.theta_deleted.shape == (18, 3)
    assert np.all(result.sigma_deleted > 0)


def test_dfbeta_and_frame(sleep_influence: GroupInfluence) -> None:
    result = sleep_influence
    np.testing.assert_allclose(result.dfbeta, result.fixef_deleted - result.fixef.to_numpy())
    se = np.sqrt(np.diag(result.vcov))
    np.testing.assert_allclose(result.dfbetas, result.dfbeta / se)
    frame = result.to_frame()
    assert list(frame.columns) == [
        "cooks_distance", "dfbetas_(Intercept)", "dfbetas_Days", "sigma", "converged"
    ]  # fmt: skip
    assert frame.index.name == "Subject"
    # D = dbᵀ V⁻¹ db / p by hand for one level
    db = result.dfbeta.iloc[0].to_numpy()
    by_hand = db @ np.linalg.solve(result.vcov.to_numpy(), db) / 2
    assert frame["cooks_distance"].iloc[0] == pytest.approx(by_hand)


def test_penicillin_deleting_samples() -> None:
    model = fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    result = influence(model, "sample")
    np.testing.assert_allclose(result.fixef_deleted["(Intercept)"], PEN_DELETED, rtol=1e-9)
    # Var(β̂) for the sample SD is flat in θ: lme4's estimate differs by 5e-5; at lme4's θ
    # the distances agree to 1e-8
    np.testing.assert_allclose(result.cooks_distance_lme4, PEN_COOK_LME4, rtol=1e-4)
    at_lme4 = influence(model.at_theta(np.array(PEN_THETA)), "sample")
    np.testing.assert_allclose(at_lme4.cooks_distance_lme4, PEN_COOK_LME4, rtol=1e-8)
    series = cooks_distance(model, "sample")
    assert isinstance(series, pd.Series) and list(series.index) == list("ABCDEF")


def test_group_given_as_labels_and_weights() -> None:
    data = mm.datasets.load("sleepstudy")
    data["w"] = 1 + (data["Days"] % 3) / 2
    data["off"] = 0.5 * data["Days"]
    model = fit("Reaction ~ Days + (1 | Subject)", data, weights="w", offset="off")
    half = np.where(data["Days"] < 5, "early", "late")
    result = influence(model, half)
    assert list(result.fixef_deleted.index) == ["early", "late"]
    early = fit(
        "Reaction ~ Days + (1 | Subject)",
        data[data["Days"] >= 5].reset_index(drop=True),
        weights="w",
        offset="off",
    )
    np.testing.assert_allclose(result.fixef_deleted.loc["early"], early.fixef, rtol=1e-6)


def test_errors() -> None:
    model = fit("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))
    with pytest.raises(mm.UnknownColumnError):
        influence(model, "nope")
    with pytest.raises(mm.DataError, match="one label per observation"):
        influence(model, ["a", "b"])
    with pytest.raises(mm.DataError, match="single level"):
        influence(model, np.zeros(model.nobs))
