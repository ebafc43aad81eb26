"""Fixed-effects-only fits (``mm.lm``, ``mm.glm``) against R 4.2's ``lm`` and ``glm``.

The reference values and the simulated data are made by ``tests/data/r/fixed_only.R``
(``tests/models/data/fixed_only.json``, ``fixed_only_sim.csv``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.models.fixed_only import FixedEffectsModel

DATA = Path(__file__).parent / "data"
REFERENCE: dict[str, Any] = json.loads((DATA / "fixed_only.json").read_text())["fits"]
RTOL = 1e-8


@cache
def dataset(name: str) -> pd.DataFrame:
    """A case's data, as the R script reads it."""
    if name == "sim":
        sim = pd.read_csv(DATA / "fixed_only_sim.csv")
        sim["logexpo"] = np.log(sim["expo"])
        return sim
    return mm.datasets.load({"sleep": "sleepstudy"}.get(name, name))


def fit(name: str) -> FixedEffectsModel:
    """The case fitted by ``mm.lm`` or ``mm.glm``."""
    case = REFERENCE[name]
    options = {"weights": case.get("weights"), "offset": case.get("offset")}
    if case["call"] == "lm":
        return mm.lm(case["formula"], dataset(case["data"]), **options)
    return mm.glm(
        case["formula"], dataset(case["data"]), case["family"], case.get("link"), **options
    )


@pytest.mark.parametrize("name", list(REFERENCE))
def test_coefficients_and_criteria_are_rs(name: str) -> None:
    case, model = REFERENCE[name], fit(name)
    table = model.coef_table
    assert list(table.columns) == ["estimate", "std_error", "statistic", "p_value"]
    assert len(table) == len(case["coef"]["names"])
    for column in ("estimate", "std_error", "statistic"):
        np.testing.assert_allclose(table[column], case["coef"][column], rtol=RTOL, err_msg=column)
    np.testing.assert_allclose(table["p_value"], case["coef"]["p_value"], rtol=1e-7, atol=1e-300)
    for ours, theirs in [
        (model.loglik, "loglik"),
        (model.sigma, "sigma"),
        (model.deviance, "deviance"),
        (model.aic, "aic"),
        (model.bic, "bic"),
    ]:
        np.testing.assert_allclose(ours, case[theirs], rtol=RTOL, err_msg=theirs)
    assert (model.nobs, model.npar, model.df_resid) == (
        case["nobs"],
        case["npar"],
        case["df_residual"],
    )
    np.testing.assert_allclose(model.fitted(), case["fitted"], rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(model.residuals(), case["residuals"], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", [n for n, c in REFERENCE.items() if c["call"] == "glm"])
def test_glm_dispersion_null_deviance_and_residual_types(name: str) -> None:
    case, model = REFERENCE[name], fit(name)
    assert isinstance(model, mm.GeneralizedLinearModel)
    np.testing.assert_allclose(model.dispersion, case["dispersion"], rtol=RTOL)
    np.testing.assert_allclose(model.null_deviance, case["null_deviance"], rtol=RTOL)
    np.testing.assert_allclose(model.residuals("pearson"), case["pearson"], atol=1e-10)
    np.testing.assert_allclose(model.residuals("response"), case["response_residuals"], atol=1e-10)
    expected = "t" if case["family"] == "Gamma" else "z"
    assert model.coef_table.attrs["statistic"] == expected


def test_lm_loglik_is_at_the_ml_sigma() -> None:
    # R's logLik.lm: the normal log-likelihood at σ̂² = RSS/n, as an ML lmer fit's
    model = fit("lm_sleep")
    n = model.nobs
    y, mu = model.fixed.y, model.fitted()
    s2 = float(np.sum((y - mu) ** 2)) / n
    direct = -0.5 * n * np.log(2 * np.pi * s2) - 0.5 * n
    assert model.loglik == pytest.approx(direct, rel=1e-12)
    assert model.npar == model.n_fixed + 1


def test_binomial_response_forms_agree() -> None:
    # cbind(s, f), proportions with weights= and 0/1 rows expanded give the same estimates
    sim = dataset("sim")
    counts = mm.glm("cbind(succ, trials - succ) ~ f + x", sim)
    props = mm.glm("prop ~ f + x", sim, weights="trials")
    np.testing.assert_allclose(counts.fixef, props.fixef, rtol=1e-10)
    np.testing.assert_allclose(counts.loglik, props.loglik, rtol=1e-10)
    rows = sim.loc[sim.index.repeat(sim["trials"])].copy()
    rows["one"] = np.concatenate(
        [
            np.r_[np.ones(s), np.zeros(t - s)]
            for s, t in zip(sim["succ"], sim["trials"], strict=True)
        ]
    )
    binary = mm.glm("one ~ f + x", rows)
    np.testing.assert_allclose(binary.fixef, counts.fixef, rtol=1e-8)


def test_random_effects_terms_are_refused_and_lmer_still_needs_one() -> None:
    sleep = dataset("sleep")
    with pytest.raises(mm.ModelSpecificationError, match=r"\(1 \| Subject\).*use lmer"):
        mm.lm("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(mm.ModelSpecificationError, match="use glmer"):
        mm.glm("cbind(incidence, size - incidence) ~ period + (1 | herd)", dataset("cbpp"))
    with pytest.raises(mm.ModelSpecificationError, match="no random-effects term"):
        mm.lmer("Reaction ~ Days", sleep)


def test_bad_input_gets_our_errors() -> None:
    sleep = dataset("sleep")
    with pytest.raises(mm.UnknownColumnError, match="Dayz"):
        mm.lm("Reaction ~ Dayz", sleep)
    with pytest.raises(mm.DataError, match="weights"):
        mm.lm("Reaction ~ Days", sleep, weights=-np.ones(len(sleep)))
    with pytest.raises(mm.DataError, match="binomial response"):
        mm.glm("Reaction ~ Days", sleep, "binomial")
    with pytest.raises(mm.ModelSpecificationError, match="unknown family"):
        mm.glm("Reaction ~ Days", sleep, "student")
    with pytest.raises(mm.ModelSpecificationError, match="residual type"):
        mm.lm("Reaction ~ Days", sleep).residuals("partial")


def test_missing_rows_rank_deficiency_and_the_callers_frame() -> None:
    sim = dataset("sim").copy()
    sim.loc[[3, 7], "x"] = np.nan
    sim["x2"] = 2.0 * sim["x"]
    before = sim.copy()
    with pytest.warns(mm.RankDeficiencyWarning, match="x2"):
        model = mm.lm("y ~ f + x + x2", sim)
    pd.testing.assert_frame_equal(sim, before)
    assert model.nobs == len(sim) - 2 and model.frame.n_dropped == 2
    assert list(model.fixef.index) == ["(Intercept)", "f[T.lo]", "f[T.mid]", "x"]
    complete = mm.lm("y ~ f + x", sim.dropna())
    np.testing.assert_allclose(model.fixef, complete.fixef, rtol=1e-12)


def test_summary_tidy_and_vcov() -> None:
    model = fit("glm_cbind")
    text = model.summary()
    assert "Family: binomial ( logit )" in text and "Pr(>|z|)" in text
    assert "Residual deviance" in text
    tidy = model.tidy(conf_int=True)
    assert list(tidy.columns) == [
        "term",
        "estimate",
        "std_error",
        "statistic",
        "p_value",
        "conf_low",
        "conf_high",
    ]
    # R: confint.default(glm(...))["period2", ]
    np.testing.assert_allclose(
        tidy.loc[1, ["conf_low", "conf_high"]].to_numpy(dtype=float),
        tidy.loc[1, "estimate"] + np.array([-1, 1]) * 1.959963984540054 * tidy.loc[1, "std_error"],
    )
    np.testing.assert_allclose(np.sqrt(np.diag(model.vcov)), model.coef_table["std_error"])
    assert "Residual standard error" in fit("lm_sleep").summary()
    assert repr(fit("lm_sleep")).startswith("<LinearModel 'Reaction ~ Days'")


def test_poisson_with_an_offset_in_the_formula_equals_offset_argument() -> None:
    sim = dataset("sim")
    inside = mm.glm("count ~ f + x + offset(np.log(expo))", sim, "poisson")
    argument = fit("glm_poisson_offset")
    np.testing.assert_allclose(inside.fixef, argument.fixef, rtol=1e-12)
    np.testing.assert_allclose(inside.loglik, argument.loglik, rtol=1e-12)


def test_glm_without_valid_first_step_is_refused_as_r() -> None:
    # R: glm(y ~ x, binomial(link = "log")) and glm(y ~ x, poisson(link = "identity")) stop
    # with "no valid set of coefficients has been found: please supply starting values"
    binary = pd.DataFrame({"y": [1, 1, 1, 0, 1, 1] * 3, "x": np.arange(18.0)})
    with pytest.raises(mm.ModelSpecificationError, match="no valid set of coefficients"):
        mm.glm("y ~ x", binary, "binomial", "log")
    counts = pd.DataFrame({"y": [0, 1, 3, 8, 20, 50.0], "x": np.arange(6.0)})
    with pytest.raises(mm.ModelSpecificationError, match="identity link"):
        mm.glm("y ~ x", counts, "poisson", "identity")


def test_predict_new_rows_as_the_fitted_ones() -> None:
    sim = dataset("sim")
    model = fit("glm_prop")
    np.testing.assert_allclose(model.predict(sim), model.linear_predictor(), rtol=1e-12)
    np.testing.assert_allclose(model.predict(sim, type="response"), model.fitted(), rtol=1e-12)
    np.testing.assert_allclose(model.predict(), model.linear_predictor())
    new = pd.DataFrame({"f": ["mid", "lo", None], "x": [1.0, 2.5, 3.0]})
    beta = model.fixef
    expected = beta["(Intercept)"] + beta["f[T.mid]"] + beta["x"] * 1.0
    predicted = model.predict(new)
    assert predicted[0] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(predicted[2])  # a missing value gives NaN, as R's na.pass
    lm_offset = fit("lm_weights_offset")
    rows = sim.iloc[:4]
    np.testing.assert_allclose(lm_offset.predict(rows), lm_offset.fitted()[:4], rtol=1e-12)
    with pytest.raises(mm.ModelSpecificationError, match="'link' or 'response'"):
        model.predict(new, type="terms")


def test_gaussian_glm_with_identity_link_points_to_lm() -> None:
    with pytest.raises(mm.ModelSpecificationError, match=r"use mm\.lm\(\)"):
        mm.glm("Reaction ~ Days", dataset("sleep"), "gaussian")


def test_separated_binomial_warns_as_glm_fit_and_stops_where_r_does() -> None:
    # R: glm(y ~ x, binomial, data.frame(x = 1:10, y = as.numeric(1:10 > 5)))
    #    coef -245.84732, 44.69951; "algorithm did not converge", "fitted probabilities
    #    numerically 0 or 1 occurred"
    data = pd.DataFrame({"x": np.arange(1, 11.0), "y": (np.arange(1, 11) > 5) * 1.0})
    with pytest.warns(mm.ConvergenceWarning, match="did not converge.*numerically 0 or 1"):
        model = mm.glm("y ~ x", data)
    np.testing.assert_allclose(model.fixef, [-245.84732, 44.69951], rtol=1e-5)
    assert not model.fit.converged and model.fit.iterations == 25
