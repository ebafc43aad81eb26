"""Tidy tables and the JSON document, against lme4 1.1-31 and broom.mixed's layout.

Reference values (R 4.2.2, lme4 1.1-31)::

    d <- read.csv("sleepstudy.csv"); d$Subject <- factor(d$Subject)
    m <- lmer(Reaction ~ Days + (Days | Subject), d)
    coef(summary(m)); as.data.frame(VarCorr(m), order = "lower.tri"); confint(m, method = "Wald")
    p <- read.csv("Penicillin.csv"); p$plate <- factor(p$plate); p$sample <- factor(p$sample)
    mp <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), p)
    as.data.frame(ranef(mp, condVar = TRUE))

broom.mixed's ``tidy(m)`` names the variance parameters ``sd__(Intercept)``,
``cor__(Intercept).Days``, ``sd__Days`` (group ``Subject``) and ``sd__Observation`` (group
``Residual``), after the fixed effects (group missing).
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.cli import fit_document as cli_fit_document
from mixedmodels.models import LinearMixedModel
from mixedmodels.results.tidy import fit_document, tidy, to_frame, to_json

SLEEP_ESTIMATES = [251.4051048485, 10.4672859596, 24.7406579949841, 0.0655512382381,
                   5.9221376588981, 25.5917957216753]  # fmt: skip
SLEEP_SE = [6.82459669495, 1.54578964391]
SLEEP_T = [36.8380896463, 6.7714814890]
SLEEP_WALD = [[238.02914111736, 264.7810685796], [7.43759392987, 13.4969779893]]
PEN_RAN_VALS_HEAD = [0.804546905830, 0.804546905830, 0.181671881962]
PEN_CONDSD_PLATE = 0.271359302589
PEN_RAN_VALS_TAIL = [-0.0138421417754, -3.0037447670626]
PEN_CONDSD_SAMPLE = 0.202170685096
RTOL = 2e-5  # lme4 stops slightly before the optimum


@pytest.fixture(scope="module")
def sleep() -> LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def penicillin() -> LinearMixedModel:
    return mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))


def test_tidy_layout_and_values(sleep: LinearMixedModel) -> None:
    table = tidy(sleep)
    columns = ["effect", "group", "term", "estimate", "std_error", "statistic", "p_value"]
    assert [c for c in table.columns if c != "df"] == columns  # df when the table has it
    assert list(table["effect"]) == ["fixed"] * 2 + ["ran_pars"] * 4
    assert table["group"].iloc[:2].isna().all()
    assert list(table["group"].iloc[2:]) == ["Subject"] * 3 + ["Residual"]
    assert list(table["term"]) == [
        "(Intercept)", "Days", "sd__(Intercept)", "cor__(Intercept).Days", "sd__Days",
        "sd__Observation",
    ]  # fmt: skip
    np.testing.assert_allclose(table["estimate"], SLEEP_ESTIMATES, rtol=RTOL)
    np.testing.assert_allclose(table["std_error"].iloc[:2], SLEEP_SE, rtol=RTOL)
    np.testing.assert_allclose(table["statistic"].iloc[:2], SLEEP_T, rtol=RTOL)
    assert table[["std_error", "statistic"]].iloc[2:].isna().all().all()
    assert table["p_value"].iloc[2:].isna().all()
    pd.testing.assert_frame_equal(to_frame(sleep), table)


def test_wald_intervals(sleep: LinearMixedModel) -> None:
    table = tidy(sleep, conf_int=True)
    assert list(table.columns[-2:]) == ["conf_low", "conf_high"]
    limits = table[["conf_low", "conf_high"]].to_numpy()
    np.testing.assert_allclose(limits[:2], SLEEP_WALD, rtol=RTOL)
    assert np.isnan(limits[2:]).all()
    narrow = tidy(sleep, conf_int=True, level=0.5)
    assert (narrow["conf_high"] - narrow["conf_low"]).iloc[0] < limits[0, 1] - limits[0, 0]


def test_p_values_and_df_are_taken_from_the_coefficient_table(
    sleep: LinearMixedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = sleep.coef_table.assign(df=[17.0, 17.0], p_value=[1e-17, 3e-6])
    monkeypatch.setattr(type(sleep), "coef_table", property(lambda self: table))
    tidied = tidy(sleep)
    assert list(tidied.columns).index("df") < list(tidied.columns).index("p_value")
    np.testing.assert_allclose(tidied["p_value"].iloc[:2], [1e-17, 3e-6])
    np.testing.assert_allclose(tidied["df"].iloc[:2], [17.0, 17.0])


def test_ran_vals(penicillin: LinearMixedModel) -> None:
    table = tidy(penicillin, effects=["ran_vals"], conf_int=True)
    assert list(table.columns[:5]) == ["effect", "group", "term", "level", "estimate"]
    assert len(table) == 24 + 6
    plate = table[table["group"] == "plate"]
    np.testing.assert_allclose(plate["estimate"].iloc[:3], PEN_RAN_VALS_HEAD, rtol=RTOL)
    np.testing.assert_allclose(plate["std_error"], PEN_CONDSD_PLATE, rtol=RTOL)
    sample = table[table["group"] == "sample"]
    assert list(sample["level"]) == list("ABCDEF")
    np.testing.assert_allclose(sample["estimate"].iloc[-2:], PEN_RAN_VALS_TAIL, rtol=RTOL)
    np.testing.assert_allclose(sample["std_error"], PEN_CONDSD_SAMPLE, rtol=RTOL)
    half = table["conf_high"] - table["estimate"]
    np.testing.assert_allclose(half, 1.959963984540054 * table["std_error"])


def test_crossed_terms_and_uncorrelated_terms(penicillin: LinearMixedModel) -> None:
    table = tidy(penicillin)
    assert list(table["group"].iloc[1:]) == ["plate", "sample", "Residual"]
    assert list(table["term"].iloc[1:]) == ["sd__(Intercept)"] * 2 + ["sd__Observation"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.lmer("Reaction ~ Days + (Days || Subject)", mm.datasets.load("sleepstudy"))
    table = tidy(model, effects=["ran_pars"])
    assert list(table["group"]) == ["Subject", "Subject.1", "Residual"]
    assert list(table["term"]) == ["sd__(Intercept)", "sd__Days", "sd__Observation"]


def test_unknown_effects_and_level(sleep: LinearMixedModel) -> None:
    with pytest.raises(mm.ModelSpecificationError, match="unknown effects"):
        tidy(sleep, effects=["ran_coefs"])
    with pytest.raises(mm.ModelSpecificationError, match="level"):
        tidy(sleep, conf_int=True, level=95)


def test_json_document(sleep: LinearMixedModel) -> None:
    text = to_json(sleep)
    doc = json.loads(text)
    for key in ("formula", "method", "nobs", "ngroups", "objective", "loglik", "aic", "bic",
                "deviance", "sigma", "theta", "fixef", "coef_table", "varcorr", "ranef",
                "is_singular", "converged"):  # fmt: skip
        assert key in doc
    assert doc["method"] == "REML" and doc["nobs"] == 180 and doc["ngroups"] == {"Subject": 18}
    assert doc["fixef"]["Days"] == pytest.approx(10.4672859596, rel=RTOL)
    assert doc["varcorr"][0]["term2"] is None  # NaN → null
    assert doc["ranef"]["Subject"]["308"]["Days"] == pytest.approx(9.199, abs=1e-3)
    assert doc["coef_table"][0]["term"] == "(Intercept)"
    assert json.loads(to_json(sleep, indent=None)) == doc
    assert fit_document(sleep) == cli_fit_document(sleep)


def test_json_has_no_nan() -> None:
    data = mm.datasets.load("sleepstudy")
    data["zero"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mm.lmer("Reaction ~ Days + zero + (1 | Subject)", data)
    doc = fit_document(model)

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, float):
            assert math.isfinite(value)

    walk(doc)
    json.loads(to_json(model))


def test_profile_intervals_line_up_with_confint() -> None:
    from mixedmodels.inference.confint import confidence_intervals

    model = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"), reml=False)
    table = tidy(model, conf_int=True, conf_method="profile")
    limits = confidence_intervals(model, "profile").iloc[:, :2].to_numpy()  # .sig01, .sigma, β
    np.testing.assert_allclose(table[["conf_low", "conf_high"]].to_numpy(), limits[[2, 0, 1]])
    assert np.all(table["conf_low"] < table["estimate"])
    assert np.all(table["estimate"] < table["conf_high"])
