"""refit() reuses the model's structure; simulate() draws from the fitted model."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm


@pytest.mark.parametrize(
    ("formula", "data"),
    [
        ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
        ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
        ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
    ],
)
@pytest.mark.filterwarnings("ignore::mixedmodels.SingularFitWarning")  # simulated Pastes data
def test_refit_to_new_response_equals_a_fresh_fit(formula: str, data: str) -> None:
    frame = mm.datasets.load(data)
    model = mm.lmer(formula, frame)
    response = formula.split("~")[0].strip()
    new_y = model.simulate(1, seed=3)[:, 0]
    model.refit(new_y)
    frame[response] = new_y
    fresh = mm.lmer(formula, frame)
    assert model.objective == pytest.approx(fresh.objective, rel=1e-10)
    np.testing.assert_allclose(model.fixef, fresh.fixef, rtol=1e-6)
    np.testing.assert_allclose(model.theta, fresh.theta, rtol=1e-4, atol=1e-6)


def test_refit_same_response_and_switch_criterion() -> None:
    rail = mm.datasets.load("Rail")
    model = mm.lmer("travel ~ 1 + (1 | Rail)", rail)
    reml = model.objective
    model.refit(reml=False)
    assert model.objective == pytest.approx(128.560036938435, rel=1e-9)
    model.refit(reml=True)
    assert model.objective == pytest.approx(reml, rel=1e-10)


def test_refit_refuses_a_response_of_the_wrong_length() -> None:
    model = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"))
    with pytest.raises(mm.DataError, match="18 finite numbers"):
        model.refit(np.ones(5))


def test_results_are_at_the_estimates_after_other_evaluations() -> None:
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    sigma, beta = model.sigma, model.beta.copy()
    model.objective_at(np.array([2.0, 0.5, 1.0]))
    assert model.sigma == sigma
    np.testing.assert_array_equal(model.beta, beta)


def test_simulate_is_reproducible_and_has_the_fitted_moments() -> None:
    model = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"), reml=False)
    a = model.simulate(4000, seed=1)
    np.testing.assert_array_equal(a, model.simulate(4000, seed=1))
    assert a.shape == (18, 4000)
    vc = model.varcorr["variance"].to_numpy()
    total = vc[0] + vc[1]
    assert np.mean(a) == pytest.approx(66.5, abs=4 * np.sqrt(total / 4000 * 3))
    assert np.var(a[0]) == pytest.approx(total, rel=0.08)
    same_rail = np.mean((a[0] - a[0].mean()) * (a[1] - a[1].mean()))
    assert same_rail == pytest.approx(vc[0], rel=0.1)  # rows 0 and 1 share rail 1
    no_ranef = model.simulate(4000, seed=2, use_ranef=False)
    assert np.var(no_ranef[0]) == pytest.approx(vc[1], rel=0.08)
