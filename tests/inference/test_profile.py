"""Likelihood profiles (lme4's profile.merMod): traces, parametrization, spline inversion.

The intervals obtained from the profiles are compared with lme4 in test_confint.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import mixedmodels as mm
from mixedmodels.inference.confint import back_spline, profile_intervals
from mixedmodels.inference.parameters import (
    parameter_names,
    sdcor_from_theta,
    select_parameters,
    theta_from_sdcor,
)
from mixedmodels.inference.profile import profile

SLEEP_NAMES = [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]
SLEEP_READABLE = [
    "sd_(Intercept)|Subject",
    "cor_Days.(Intercept)|Subject",
    "sd_Days|Subject",
    "sigma",
    "(Intercept)",
    "Days",
]


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fm1(sleep: pd.DataFrame) -> mm.LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def prof(fm1: mm.LinearMixedModel) -> pd.DataFrame:
    return profile(fm1)


def test_names_follow_lme4(fm1: mm.LinearMixedModel) -> None:
    names = parameter_names(fm1)
    assert names.lme4 == SLEEP_NAMES
    assert names.readable == SLEEP_READABLE
    assert [names.kind(i) for i in range(6)] == ["sd", "cor", "sd", "sigma", "fixed", "fixed"]
    lower, upper = names.bounds()
    np.testing.assert_array_equal(lower, [0, -1, 0, 0, -np.inf, -np.inf])
    np.testing.assert_array_equal(upper, [np.inf, 1, np.inf, np.inf, np.inf, np.inf])


def test_table_layout(prof: pd.DataFrame) -> None:
    assert list(prof.columns[:4]) == ["parameter", "label", "value", "zeta"]
    assert list(prof.columns[4:]) == SLEEP_NAMES
    assert list(prof["parameter"].unique()) == SLEEP_NAMES
    assert set(prof.attrs) >= {"estimates", "lower", "upper", "labels", "deviance"}
    assert prof.attrs["labels"] == dict(zip(SLEEP_NAMES, SLEEP_READABLE, strict=True))
    for name in SLEEP_NAMES:
        trace = prof[prof["parameter"] == name]
        np.testing.assert_array_equal(trace["value"], trace[name])


def test_traces_are_monotone_and_cross_the_cutoff(prof: pd.DataFrame) -> None:
    cutoff = math.sqrt(scipy.stats.chi2.ppf(0.99, 6))  # lme4's alphamax = 0.01, 6 parameters
    for name, trace in prof.groupby("parameter", sort=False):
        zeta = trace["zeta"].to_numpy()
        value = trace["value"].to_numpy()
        assert np.all(np.diff(value) > 0), name
        assert np.all(np.diff(zeta) > 0), name
        centre = np.flatnonzero(zeta == 0.0)
        assert len(centre) == 1
        assert value[centre[0]] == pytest.approx(prof.attrs["estimates"][name])
        hit_lower = value[0] == prof.attrs["lower"][name]
        hit_upper = value[-1] == prof.attrs["upper"][name]
        assert zeta[0] < -cutoff or hit_lower, name
        assert zeta[-1] > cutoff or hit_upper, name
    # the correlation reaches its bound +1 before ζ reaches the cutoff (as in lme4)
    cor = prof[prof["parameter"] == ".sig02"]
    assert cor["value"].max() == 1.0


def test_profile_is_of_the_ml_fit_and_leaves_the_model_alone(
    fm1: mm.LinearMixedModel, prof: pd.DataFrame
) -> None:
    ml = mm.lmer("Reaction ~ Days + (Days | Subject)", fm1.frame.data, reml=False)
    assert prof.attrs["deviance"] == pytest.approx(ml.objective, rel=1e-10)
    est = prof.attrs["estimates"]
    assert est[".sigma"] == pytest.approx(ml.sigma, rel=1e-6)
    assert est["Days"] == pytest.approx(ml.fixef["Days"], rel=1e-7)
    sd = ml.varcorr["sd_cor"].to_numpy()  # sd, sd, cor, residual
    np.testing.assert_allclose([est[".sig01"], est[".sig03"], est[".sig02"]], sd[:3], rtol=1e-5)
    assert fm1.reml
    assert fm1.objective == pytest.approx(1743.6282719589, rel=1e-10)


def test_fixed_effect_point_equals_a_fit_with_an_offset(
    sleep: pd.DataFrame, prof: pd.DataFrame
) -> None:
    days = prof[prof["parameter"] == "Days"]
    row = days.iloc[2]
    b = float(row["value"])
    fixed = mm.lmer("Reaction ~ 1 + (Days | Subject)", sleep, reml=False, offset=b * sleep["Days"])
    assert fixed.objective == pytest.approx(prof.attrs["deviance"] + row["zeta"] ** 2, rel=1e-9)
    # the deviance is pinned down tightly; β and σ move with θ along a flat valley
    assert row["(Intercept)"] == pytest.approx(fixed.fixef["(Intercept)"], rel=1e-5)
    assert row[".sigma"] == pytest.approx(fixed.sigma, rel=1e-4)
    sd = fixed.varcorr["sd_cor"].to_numpy()  # sd, sd, cor, residual
    ours = row[[".sig01", ".sig03", ".sig02"]].to_numpy(float)
    np.testing.assert_allclose(ours, sd[:3], rtol=1e-4, atol=1e-4)


def test_intercept_point_equals_a_fit_without_intercept_and_an_offset(
    sleep: pd.DataFrame, prof: pd.DataFrame
) -> None:
    intercept = prof[prof["parameter"] == "(Intercept)"]
    for k in (1, len(intercept) - 2):
        row = intercept.iloc[k]
        b = float(row["value"])
        fixed = mm.lmer(
            "Reaction ~ 0 + Days + (Days | Subject)", sleep, reml=False, offset=np.full(180, b)
        )
        expected = prof.attrs["deviance"] + row["zeta"] ** 2
        assert fixed.objective == pytest.approx(expected, rel=1e-9)
        assert row["Days"] == pytest.approx(fixed.fixef["Days"], rel=1e-4)
        assert row[".sigma"] == pytest.approx(fixed.sigma, rel=1e-4)


def test_variance_point_is_the_minimum_over_the_other_parameters(
    prof: pd.DataFrame, fm1: mm.LinearMixedModel
) -> None:
    # perturbing the other parameters of a trace point never lowers the deviance
    from mixedmodels.inference.profile import _make_setup, _sdcor_deviance

    setup = _make_setup(fm1, 0.01, 100, None, 1 / 8, 10)
    row = prof[prof["parameter"] == ".sigma"].iloc[3]
    phi = row[[".sig01", ".sig02", ".sig03", ".sigma"]].to_numpy(float)
    dev = _sdcor_deviance(setup, phi)
    assert dev == pytest.approx(setup.base + row["zeta"] ** 2, rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = phi.copy()
        other[:3] += rng.normal(scale=[0.05, 0.002, 0.01])
        assert _sdcor_deviance(setup, other) >= dev - 1e-7


def test_which_selects_parameters(fm1: mm.LinearMixedModel) -> None:
    names = parameter_names(fm1)
    assert select_parameters(None, names) == [0, 1, 2, 3, 4, 5]
    assert select_parameters("theta_", names) == [0, 1, 2, 3]
    assert select_parameters("beta_", names) == [4, 5]
    assert select_parameters(["Days", "sd_Days|Subject", 0], names) == [0, 2, 5]
    with pytest.raises(mm.ModelSpecificationError, match="unknown parameter 'days'"):
        select_parameters("days", names)
    with pytest.raises(mm.ModelSpecificationError, match="index 9"):
        select_parameters(9, names)
    only = profile(fm1, which="sigma")
    assert list(only["parameter"].unique()) == [".sigma"]


def test_sdcor_theta_round_trip() -> None:
    frame = pd.DataFrame(
        {
            "y": np.arange(80.0),
            "x": np.sin(np.arange(80.0)),
            "z": np.cos(np.arange(80.0)),
            "g": np.repeat(list("abcdefgh"), 10),
            "h": list("pqrst") * 16,
        }
    )
    model = mm.LinearMixedModel("y ~ x + (1 + x + z | g) + (1 | h)", frame)
    rng = np.random.default_rng(1)
    theta = rng.normal(size=len(model.theta))
    theta[model.lower == 0] = np.abs(theta[model.lower == 0])
    sdcor = sdcor_from_theta(model.terms, theta, 2.5)
    assert len(sdcor) == 7
    back = theta_from_sdcor(model.terms, sdcor, 2.5)
    np.testing.assert_allclose(back, theta, rtol=1e-10, atol=1e-12)
    again = sdcor_from_theta(model.terms, back, 2.5)
    np.testing.assert_allclose(again, sdcor, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::mixedmodels.ModelSpecificationWarning")
def test_sdcor_at_the_boundary_and_beyond() -> None:
    n = np.arange(48.0)
    frame = pd.DataFrame({"y": n, "x": n % 3, "g": list("abcd") * 12})
    model = mm.LinearMixedModel("y ~ 1 + (x | g)", frame)
    theta = theta_from_sdcor(model.terms, np.array([2.0, 1.0, 3.0]), 1.0)  # correlation +1
    np.testing.assert_allclose(theta, [2.0, 3.0, 0.0], atol=1e-12)
    sd = sdcor_from_theta(model.terms, np.array([0.0, 0.0, 1.0]), 1.0)
    assert sd[0] == 0.0 and np.isnan(sd[1])
    three = pd.DataFrame({"y": n, "a": n % 3, "b": n % 2, "g": list("abcd") * 12})
    model3 = mm.LinearMixedModel("y ~ 1 + (a + b | g)", three)
    bad = np.array([1.0, 0.9, -0.9, 1.0, 0.9, 1.0])  # a correlation matrix that is not PSD
    with pytest.raises(np.linalg.LinAlgError):
        theta_from_sdcor(model3.terms, bad, 1.0)


def test_singular_fit_profiles_upward_from_zero() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        dy2 = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
        prof = profile(dy2, which=".sig01")
    assert prof["value"].min() == 0.0
    assert (prof["zeta"] >= 0).all()
    lower, upper = profile_intervals(prof, [".sig01"])
    assert lower[0] == 0.0  # beyond the profiled range: the bound, as lme4


def test_back_spline_matches_r() -> None:
    # R: library(splines); x <- seq(-1, 2, by = 0.5); z <- sinh(x) + x
    #    predict(backSpline(interpSpline(z ~ x)), c(-2.5, -2, 0.3, 1.7, 5, 5.7))$y
    #    NA -0.92409656884922586 0.15040611880789043 0.80363128922012628 1.84309511787661195 NA
    x = np.arange(-1.0, 2.01, 0.5)
    inverse = back_spline(x, np.sinh(x) + x)
    got = inverse(np.array([-2.5, -2.0, 0.3, 1.7, 5.0, 5.7]))
    expected = [
        np.nan,
        -0.92409656884922586,
        0.15040611880789043,
        0.80363128922012628,
        1.84309511787661195,
        np.nan,
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert inverse(np.array([np.sinh(-1.0) - 1.0]))[0] == pytest.approx(-1.0)


def test_back_spline_refuses_non_monotone_or_short_traces() -> None:
    with pytest.raises(ValueError, match="increasing"):
        back_spline(np.arange(5.0), np.array([0.0, 1.0, 0.5, 2.0, 3.0]))
    with pytest.raises(ValueError, match="4"):
        back_spline(np.arange(3.0), np.arange(3.0))


def test_progress_bar_of_the_profile_points(capsys: pytest.CaptureFixture[str]) -> None:
    rail = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"), reml=False)
    quiet = rail.profile()  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    shown = rail.profile(progress=True)
    err = capsys.readouterr().err
    assert err.startswith("\rprofile |") and err.endswith("\n")
    points = len(shown) - 3  # one row a point, and the estimates of each of the 3 traces
    assert err.rstrip().split("  ")[-2].endswith(f"| {points}/{points}")
    pd.testing.assert_frame_equal(quiet, shown)
    ci = rail.confint(method="profile", progress=True)
    assert "profile |" in capsys.readouterr().err and len(ci) == 3


def test_traces_shared_over_processes_give_the_same_table() -> None:
    sleep = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    serial = sleep.profile(["sigma", ".sig01", "Days"])
    shared = sleep.profile(["sigma", ".sig01", "Days"], n_jobs=2)
    pd.testing.assert_frame_equal(serial, shared)
    intervals = sleep.confint(method="profile", which=["sigma", "Days"], n_jobs=2)
    expected = sleep.confint(method="profile", which=["sigma", "Days"])
    pd.testing.assert_frame_equal(intervals, expected)


def test_warnings_raised_in_worker_processes_reach_the_caller() -> None:
    rail = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"), reml=False)
    with pytest.warns(mm.ConvergenceWarning, match="identical or missing"):
        rail.profile(max_mult=0.0, n_jobs=2)  # steps of 0: ζ repeats, each trace warns
