"""Parametric bootstrap (lme4's bootMer): reproducibility, layout, workers, progress bar.

Agreement of the percentile intervals with lme4 is checked in test_confint.py.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.inference.bootstrap import _ProgressBar, parametric_bootstrap


@pytest.fixture(scope="module")
def fm1() -> mm.LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


def test_layout_of_the_replicate_table(fm1: mm.LinearMixedModel) -> None:
    table = parametric_bootstrap(fm1, 8, seed=1, n_jobs=1, progress=False)
    assert list(table.columns) == [
        "replicate",
        "objective",
        "(Intercept)",
        "Days",
        "sigma",
        "theta_1",
        "theta_2",
        "theta_3",
        "sd_(Intercept)|Subject",
        "cor_Days.(Intercept)|Subject",
        "sd_Days|Subject",
        "converged",
        "singular",
    ]
    assert table["replicate"].tolist() == list(range(8))
    assert table["converged"].dtype == bool and table["singular"].dtype == bool
    assert table.attrs["n_failed"] == 0
    assert table.attrs["seed"] == 1
    est = table.attrs["estimates"]
    assert est["objective"] == pytest.approx(fm1.objective)
    assert est["Days"] == pytest.approx(fm1.fixef["Days"])
    assert est["sd_(Intercept)|Subject"] == pytest.approx(fm1.varcorr["sd_cor"].iloc[0])
    # SDs and θ agree: sd_(Intercept) = σ θ₁
    np.testing.assert_allclose(table["sd_(Intercept)|Subject"], table["sigma"] * table["theta_1"])


def test_each_replicate_is_a_refit_of_a_simulated_response(fm1: mm.LinearMixedModel) -> None:
    table = parametric_bootstrap(fm1, 3, seed=11, n_jobs=1, progress=False)
    child = np.random.SeedSequence(11).spawn(3)[2]
    y = fm1.simulate(1, seed=np.random.default_rng(child))[:, 0]
    frame = fm1.frame.data.copy()
    frame["Reaction"] = y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        fresh = mm.lmer("Reaction ~ Days + (Days | Subject)", frame)
    assert table["objective"].iloc[2] == pytest.approx(fresh.objective, rel=1e-10)
    assert table["Days"].iloc[2] == pytest.approx(fresh.fixef["Days"], rel=1e-6)
    assert table["sigma"].iloc[2] == pytest.approx(fresh.sigma, rel=1e-5)


def test_reproducible_with_a_seed(fm1: mm.LinearMixedModel) -> None:
    a = parametric_bootstrap(fm1, 6, seed=123, n_jobs=1, progress=False)
    b = parametric_bootstrap(fm1, 6, seed=123, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(a, b)
    c = parametric_bootstrap(fm1, 6, seed=124, n_jobs=1, progress=False)
    assert not np.allclose(a["Days"], c["Days"])
    d = parametric_bootstrap(fm1, 6, seed=np.random.SeedSequence(123), n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(a, d)
    # the first replicates do not depend on how many are drawn
    longer = parametric_bootstrap(fm1, 9, seed=123, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(longer.iloc[:6], a, check_like=False)


def test_independent_of_the_number_of_workers(fm1: mm.LinearMixedModel) -> None:
    serial = parametric_bootstrap(fm1, 24, seed=7, n_jobs=1, progress=False)
    parallel = parametric_bootstrap(fm1, 24, seed=7, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel, rtol=1e-12)
    everything = parametric_bootstrap(fm1, 24, seed=7, progress=False)  # all cores
    pd.testing.assert_frame_equal(serial, everything, rtol=1e-12)


def test_model_is_not_modified(fm1: mm.LinearMixedModel) -> None:
    theta, y, objective = fm1.theta.copy(), fm1.fixed.y.copy(), fm1.objective
    parametric_bootstrap(fm1, 4, seed=3, n_jobs=1, progress=False)
    parametric_bootstrap(fm1, 4, seed=3, n_jobs=2, progress=False)
    np.testing.assert_array_equal(fm1.theta, theta)
    np.testing.assert_array_equal(fm1.fixed.y, y)
    assert fm1.objective == objective


def test_ml_fits_are_refitted_by_ml() -> None:
    rail = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"), reml=False)
    table = parametric_bootstrap(rail, 5, seed=2, n_jobs=1, progress=False)
    y = rail.simulate(1, seed=np.random.default_rng(np.random.SeedSequence(2).spawn(5)[0]))
    frame = rail.frame.data.copy()
    frame["travel"] = y[:, 0]
    fresh = mm.lmer("travel ~ 1 + (1 | Rail)", frame, reml=False)
    assert table["objective"].iloc[0] == pytest.approx(fresh.objective, rel=1e-10)


def test_bad_arguments(fm1: mm.LinearMixedModel) -> None:
    with pytest.raises(mm.DataError, match="positive integer"):
        parametric_bootstrap(fm1, 0)
    with pytest.raises(mm.DataError, match="positive integer"):
        parametric_bootstrap(fm1, 2.5)
    unfitted = mm.LinearMixedModel("Reaction ~ Days + (1 | Subject)", fm1.frame.data)
    with pytest.raises(mm.ModelSpecificationError, match="not been fitted"):
        parametric_bootstrap(unfitted, 3)


def test_progress_bar_only_when_asked(
    fm1: mm.LinearMixedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    parametric_bootstrap(fm1, 3, seed=1, n_jobs=1)  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    parametric_bootstrap(fm1, 3, seed=1, n_jobs=1, progress=True)
    err = capsys.readouterr().err
    assert "bootstrap |" in err and "3/3" in err and err.endswith("\n")


def test_progress_bar_text() -> None:
    stream = io.StringIO()
    bar = _ProgressBar(4, True, stream)
    bar.advance(2)
    bar.advance(2)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\rbootstrap |------------------------------| 0/4")
    assert "|##############################| 4/4" in text
    silent = io.StringIO()
    quiet = _ProgressBar(4, False, silent)
    quiet.advance(4)
    quiet.close()
    assert silent.getvalue() == ""
