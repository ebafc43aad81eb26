"""Likelihood profiles and profile intervals of GLMMs against lme4's profile / confint.

References from tests/data/r/glmm_inference.R (lme4 1.1-31 with tight tolerances; see there):
``confint(profile(m))`` at 95 % and 90 % and the ζ traces of ``as.data.frame(profile(m))`` for
cbpp (binomial), grouseticks (Poisson, two terms; the LOCATION SD's profile reaches 0) and a
simulated binary response with a random intercept and slope (its correlation's trace is flat
where the slope's SD has reached 0, so both lme4 and we interpolate linearly there).
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import mixedmodels as mm
from mixedmodels.errors import ConvergenceWarning, ModelSpecificationError, NotSupportedError
from mixedmodels.inference.glmm_profile import (
    glmm_confint,
    glmm_profile,
    glmm_profile_intervals,
)
from mixedmodels.inference.glmm_wald import glmm_wald_intervals

DATA = Path(__file__).parent / "data"
REFERENCE: dict[str, Any] = json.loads((DATA / "glmm_inference.json").read_text())
# profiled here: all of cbpp, and the parameters that exercise bounds and ties elsewhere
WHICH = {"cbpp": None, "grouse": [".sig02", "cHEIGHT"], "slope": [".sig02", "x"]}


@functools.cache
def _data(name: str) -> pd.DataFrame:
    if name == "sim":
        return pd.read_csv(DATA / "glmm_slope_sim.csv")
    return mm.datasets.load({"cbpp": "cbpp", "grouse": "grouseticks"}[name])


@functools.cache
def fit(name: str) -> Any:
    case = REFERENCE[name]
    return mm.glmer(case["formula"], _data(case["data"]), family=case["family"])


@functools.cache
def traces(name: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # lme4 warns about the same traces
        return glmm_profile(fit(name), WHICH[name])


def _r_names(name: str) -> list[str]:
    """lme4's parameter names (R codes factor levels as ``period2``, we as ``period[T.2]``)."""
    return list(REFERENCE[name]["profile"]["parameters"])


@pytest.mark.parametrize("level", [0.95, 0.9])
@pytest.mark.parametrize("name", list(WHICH))
def test_profile_intervals_match_lme4(name: str, level: float) -> None:
    ref = REFERENCE[name]["profile" if level == 0.95 else "profile_90"]
    model = fit(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = glmm_profile_intervals(model, level, table=traces(name))
    ours = list(table.index)
    chosen = range(len(ours)) if WHICH[name] is None else [ours.index(p) for p in WHICH[name]]
    r_names = _r_names(name)
    for i in chosen:
        j = r_names.index(ours[i]) if ours[i].startswith(".sig") else i
        expected = [ref["lower"][j], ref["upper"][j]]
        np.testing.assert_allclose(table.iloc[i], expected, rtol=1e-3, atol=1e-3, err_msg=ours[i])
    unprofiled = [i for i in range(len(ours)) if i not in chosen]
    assert np.all(np.isnan(table.iloc[unprofiled].to_numpy()))


def test_profile_reaching_a_bound_gives_the_bound() -> None:
    """grouseticks' LOCATION SD: ζ(0) > −1.96, so the lower limit is 0, as lme4's."""
    trace = traces("grouse")
    sd = trace[trace["parameter"] == ".sig02"]
    assert sd["value"].min() == 0.0 and sd["zeta"].min() > -1.96
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = glmm_profile_intervals(fit("grouse"), which=".sig02", table=trace)
    assert table.loc[".sig02", "2.5 %"] == 0.0


@pytest.mark.parametrize("name", list(WHICH))
def test_zeta_at_lme4s_points(name: str) -> None:
    """ζ at the values of lme4's trace points is lme4's ζ (every other point).

    Compared as deviances ``ζ²``, to 5e-5: lme4's optimizer stops up to ~3e-5 above the optimum
    at some points, and its estimates (``ζ = 0``) ~1e-6 above it.
    """
    from mixedmodels.inference.glmm_profile import _make_setup, _zeta_function

    ref = pd.DataFrame(REFERENCE[name]["trace"])
    setup = _make_setup(fit(name), 0.01, 100, None, 1 / 8, 10.0)
    ours = setup.names.lme4
    for w in range(len(ours)) if WHICH[name] is None else [ours.index(p) for p in WHICH[name]]:
        theirs = ref[ref["parameter"] == _r_names(name)[w]].iloc[::2]
        zeta = _zeta_function(setup, w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mine = [zeta(v, setup.opt)[0] for v in theirs["value"]]
        # on the deviance scale: lme4 stops ~1e-5 above the optimum at some points
        mine, r_zeta = np.asarray(mine), theirs["zeta"].to_numpy()
        np.testing.assert_array_equal(
            np.sign(mine[np.abs(r_zeta) > 1e-3]), np.sign(r_zeta[np.abs(r_zeta) > 1e-3])
        )
        np.testing.assert_allclose(mine**2, r_zeta**2, atol=5e-5, err_msg=ours[w])


def test_traces_are_lme4s_grid() -> None:
    """ζ = 0 at the estimate, increasing in the value, ending beyond the cutoff or at a bound."""
    table = traces("cbpp")
    model = fit("cbpp")
    estimates = table.attrs["estimates"]
    cutoff = math.sqrt(scipy.stats.chi2.ppf(0.99, 5))
    assert table.attrs["deviance"] == pytest.approx(model.objective, rel=1e-12)
    for name, trace in table.groupby("parameter", sort=False):
        z = trace["zeta"].to_numpy()
        values = trace["value"].to_numpy()
        assert np.all(np.diff(values) > 0) and np.all(np.diff(z) > 0)
        assert z[values == estimates[name]] == [0.0]
        assert z[-1] > cutoff
        assert z[0] < -cutoff or values[0] == table.attrs["lower"][name]
        np.testing.assert_array_equal(trace[name], values)
    sd = table[table["parameter"] == ".sig01"]
    assert sd["value"].min() == 0.0  # cbpp's herd SD is profiled down to its bound


def test_profile_points_are_optima_of_the_others() -> None:
    """At each point the other parameters minimize the deviance: nudging one raises it."""
    model = fit("cbpp")
    table = traces("cbpp")
    point = table[table["parameter"] == "period[T.2]"].iloc[-2]
    names = list(table.attrs["estimates"])
    phi = point[names].to_numpy(dtype=float)
    scratch = model.objective_function
    deviance = table.attrs["deviance"] + point["zeta"] ** 2
    assert scratch(phi) == pytest.approx(deviance, abs=1e-7)
    for i in (0, 1, 3):
        for step in (-1e-3, 1e-3):
            moved = phi.copy()
            moved[i] += step
            assert scratch(moved) > deviance


def test_the_model_reads_the_same_after_profiling() -> None:
    case = REFERENCE["slope"]
    model = mm.glmer(case["formula"], _data("sim"), family="binomial")
    before = _readings(model)
    u = model.engine.u.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        glmm_profile(model, [".sig02", "x"], max_points=5)
        np.testing.assert_array_equal(model.engine.u, u)  # the engine has not moved
        glmm_confint(model, "wald")
    after = _readings(model)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def _readings(model: Any) -> dict[str, np.ndarray]:
    """What a user reads from a fitted GLMM."""
    return {
        "theta": model.theta.copy(),
        "beta": model.beta.copy(),
        "objective": np.array(model.objective),
        "deviance": np.array(model.deviance),
        "fitted": model.fitted().copy(),
        "residuals": model.residuals().copy(),
        "ranef": model.random_effects()[0].copy(),
        "vcov": model.vcov.to_numpy().copy(),
        "predict": model.predict(_data("sim").head(20)).copy(),
    }


def test_confint_dispatches_and_selects() -> None:
    model = fit("cbpp")
    wald = glmm_confint(model, "Wald", 0.9)
    pd.testing.assert_frame_equal(wald, glmm_wald_intervals(model, 0.9))
    profiled = glmm_confint(
        model, "profile", which="theta_", names="readable", table=traces("cbpp")
    )
    assert list(profiled.index) == ["sd_(Intercept)|herd"]
    assert profiled.attrs["method"] == "profile"
    with pytest.raises(ModelSpecificationError, match="unknown method"):
        glmm_confint(model, "likelihood")
    replicates = model.bootstrap(5, seed=1, n_jobs=1, progress=False)
    booted = glmm_confint(model, "boot", which="beta_", replicates=replicates)
    assert list(booted.index) == list(model.fixed.names)
    assert booted.attrs["method"] == "bootstrap"
    with pytest.raises(ModelSpecificationError, match="level"):
        glmm_profile_intervals(model, 0.0)


def test_models_lme4_does_not_profile_are_refused() -> None:
    cbpp = _data("cbpp")
    formula = REFERENCE["cbpp"]["formula"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nagq0 = mm.glmer(formula, cbpp, nagq=0)
    with pytest.raises(ModelSpecificationError, match="nagq=0"):
        glmm_profile(nagq0)
    gamma = mm.glmer("size ~ period + (1 | herd)", cbpp, family="Gamma")
    with pytest.raises(NotSupportedError, match="scale"):
        glmm_profile(gamma)
    assert list(glmm_wald_intervals(gamma).index[:2]) == [".sig01", ".sigma"]
    with pytest.raises(ModelSpecificationError, match="alpha_max"):
        glmm_profile(fit("cbpp"), alpha_max=1.5)


def test_quadrature_fits_are_profiled_on_their_objective() -> None:
    """With nagq > 1 the profile is of the quadrature deviance: ζ = 0 at its estimates."""
    model = mm.glmer(REFERENCE["cbpp"]["formula"], _data("cbpp"), nagq=7)
    table = glmm_profile(model, "period[T.4]", max_points=4)
    at = table[table["value"] == model.fixef["period[T.4]"]]
    assert at["zeta"].tolist() == [0.0]
    assert table.attrs["deviance"] == pytest.approx(model.objective, rel=1e-12)
    assert np.all(np.diff(table["zeta"]) > 0)


def test_progress_bar_of_the_profile_points(capsys: pytest.CaptureFixture[str]) -> None:
    model = fit("cbpp")
    quiet = model.profile(".sig01")  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    shown = model.profile(".sig01", progress=True)
    err = capsys.readouterr().err
    assert err.startswith("\rprofile |") and err.endswith("\n")
    points = len(shown) - 1  # one row a point, and the estimates
    assert err.rstrip().split("  ")[-2].endswith(f"| {points}/{points}")
    pd.testing.assert_frame_equal(quiet, shown)
    ci = model.confint(method="profile", which=".sig01", progress=True)
    assert "profile |" in capsys.readouterr().err and len(ci) == 1
