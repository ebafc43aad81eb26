"""Predictions against lme4 1.1-31's predict.merMod.

Reference values (R 4.2.2, lme4 1.1-31):

    d <- read.csv("sleepstudy.csv"); d$Subject <- factor(d$Subject)
    m <- lmer(Reaction ~ Days + (Days | Subject), d)
    nd <- data.frame(Days = c(0, 4.5, 9, 2, 7), Subject = c("308", "309", "372", "999", "999"))
    predict(m, nd, allow.new.levels = TRUE); predict(m, nd, re.form = NA); head(predict(m), 5)
    p <- read.csv("Penicillin.csv"); p$plate <- factor(p$plate); p$sample <- factor(p$sample)
    mp <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), p)
    np <- data.frame(plate = c("a", "x", "c", "x"), sample = c("A", "B", "zz", "F"))
    predict(mp, np, allow.new.levels = TRUE)
    predict(mp, np, re.form = ~(1 | plate), allow.new.levels = TRUE)
    predict(mp, np, re.form = NA)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

SLEEP_FULL = [253.6636557984, 219.3205908193, 369.4814692814, 272.3396767677, 324.6761065657]
SLEEP_FIXED = [251.4051048485, 298.5078916667, 345.6106784848, 272.3396767677, 324.6761065657]
SLEEP_FITTED = [253.6636557984, 273.3299175235, 292.9961792487, 312.6624409739, 332.3287026990]
PEN_FULL = [25.9638275299, 20.7419489503, 23.1538941042, 18.7486805334]
PEN_PLATE = [23.7767691281, 21.7524253005, 23.1538941042, 21.7524253005]
PEN_FIXED = [22.9722222222] * 4
# lme4 stops its optimizer slightly before the optimum (see test_summary); predictions agree to
# about 1e-6 relative
RTOL = 1e-6


@pytest.fixture(scope="module")
def sleep() -> mm.LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def penicillin() -> mm.LinearMixedModel:
    return mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))


SLEEP_NEW = pd.DataFrame(
    {"Days": [0, 4.5, 9, 2, 7], "Subject": ["308", "309", "372", "999", "999"]}
)
PEN_NEW = pd.DataFrame({"plate": ["a", "x", "c", "x"], "sample": ["A", "B", "zz", "F"]})


def test_sleepstudy_predictions(sleep: mm.LinearMixedModel) -> None:
    full = sleep.predict(SLEEP_NEW, allow_new_levels=True)
    np.testing.assert_allclose(full, SLEEP_FULL, rtol=RTOL)
    np.testing.assert_allclose(sleep.predict(SLEEP_NEW, re_form="~0"), SLEEP_FIXED, rtol=RTOL)
    np.testing.assert_allclose(sleep.predict(SLEEP_NEW, re_form="NA"), SLEEP_FIXED, rtol=RTOL)
    np.testing.assert_allclose(sleep.predict()[:5], SLEEP_FITTED, rtol=RTOL)
    np.testing.assert_allclose(sleep.fitted(), sleep.predict(), rtol=0)


def test_penicillin_predictions_with_new_levels_and_re_form(
    penicillin: mm.LinearMixedModel,
) -> None:
    full = penicillin.predict(PEN_NEW, allow_new_levels=True)
    np.testing.assert_allclose(full, PEN_FULL, rtol=RTOL)
    plate = penicillin.predict(PEN_NEW, re_form="~(1 | plate)", allow_new_levels=True)
    np.testing.assert_allclose(plate, PEN_PLATE, rtol=RTOL)
    np.testing.assert_allclose(penicillin.predict(PEN_NEW, re_form="~0"), PEN_FIXED, rtol=RTOL)


def test_new_level_is_an_error_naming_it(penicillin: mm.LinearMixedModel) -> None:
    with pytest.raises(mm.DataError, match="new level\\(s\\) 'zz' of grouping factor 'sample'"):
        penicillin.predict(PEN_NEW)


def test_prediction_data_uses_training_encoding(sleep: mm.LinearMixedModel) -> None:
    shuffled = SLEEP_NEW.iloc[[4, 0, 2]].reset_index(drop=True)
    shuffled["Subject"] = pd.Categorical(shuffled["Subject"])
    values = sleep.predict(shuffled, allow_new_levels=True)
    np.testing.assert_allclose(values, np.array(SLEEP_FULL)[[4, 0, 2]], rtol=RTOL)


def test_missing_values_give_nan_and_unknown_columns_raise(sleep: mm.LinearMixedModel) -> None:
    frame = SLEEP_NEW.copy()
    frame.loc[1, "Days"] = np.nan
    values = sleep.predict(frame, allow_new_levels=True)
    assert np.isnan(values[1]) and np.all(np.isfinite(np.delete(values, 1)))
    with pytest.raises(mm.UnknownColumnError, match="'Subject'"):
        sleep.predict(frame.drop(columns="Subject"))
    with pytest.raises(mm.ModelSpecificationError, match="not a random-effects term"):
        sleep.predict(frame, re_form="~(1 | Subject)")


def test_interaction_grouping_factor_and_formula_offset() -> None:
    pastes = mm.datasets.load("Pastes")
    pastes["o"] = np.arange(len(pastes)) / 10.0
    model = mm.lmer("strength ~ 1 + (1 | batch/cask) + offset(o)", pastes)
    np.testing.assert_allclose(model.predict(pastes), model.fitted(), rtol=1e-12)


def test_new_fixed_effect_level_is_an_error_naming_it() -> None:
    frame = mm.datasets.load("sleepstudy")
    frame["f"] = np.array(list("abcd"))[frame["Days"].to_numpy() % 4]
    new = frame.head(3).copy()
    new.loc[1, "f"] = "z"
    for formula, contrasts in (
        ("Reaction ~ f + Days + (1 | Subject)", None),  # the fast path's lazy spec
        ("Reaction ~ f * Days + (1 | Subject)", None),
        ("Reaction ~ f + Days + (1 | Subject)", {"f": "sum"}),
    ):
        model = mm.lmer(formula, frame, contrasts=contrasts)
        with pytest.raises(
            mm.DataError, match="new level\\(s\\) 'z' of the fixed-effect factor 'f'"
        ):
            model.predict(new)
        with pytest.raises(mm.DataError, match="'z' of the fixed-effect factor 'f'"):
            model.prediction_intervals(new)
        np.testing.assert_allclose(model.predict(frame.head(3)), model.fitted()[:3], rtol=1e-10)
    model = mm.lmer("Reaction ~ C(f) + (1 | Subject)", frame)
    with pytest.raises(mm.DataError, match="new level\\(s\\) \\{'z'\\} .*'C\\(f\\)'"):
        model.predict(new)
    cbpp = mm.datasets.load("cbpp")
    glmm = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    other = cbpp.head(2).assign(period=["1", "5"])
    with pytest.raises(mm.DataError, match="new level\\(s\\) '5' of the fixed-effect factor"):
        glmm.predict(other)
