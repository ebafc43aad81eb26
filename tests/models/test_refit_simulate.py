"""refit() returns a new model on the model's structure; simulate() draws from the fitted model."""

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
    refitted = model.refit(new_y)
    frame[response] = new_y
    fresh = mm.lmer(formula, frame)
    assert refitted is not model
    assert refitted.objective == pytest.approx(fresh.objective, rel=1e-10)
    np.testing.assert_allclose(refitted.fixef, fresh.fixef, rtol=1e-6)
    np.testing.assert_allclose(refitted.theta, fresh.theta, rtol=1e-4, atol=1e-6)


def test_refit_same_response_and_switch_criterion() -> None:
    rail = mm.datasets.load("Rail")
    model = mm.lmer("travel ~ 1 + (1 | Rail)", rail)
    reml = model.objective
    ml = model.refit(reml=False)
    assert ml.objective == pytest.approx(128.560036938435, rel=1e-9)
    assert not ml.reml and model.reml and model.objective == reml
    assert ml.refit(reml=True).objective == pytest.approx(reml, rel=1e-10)


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


def test_simulate_conditions_on_the_terms_re_form_names() -> None:
    pen = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    nsim = 4000
    vc = pen.varcorr.set_index("group")["variance"]
    # re_form=None: every term at its conditional modes; the mean is the fitted value and
    # only the residual varies (lme4's re.form = NULL)
    conditional = pen.simulate(nsim, seed=3, re_form=None)
    se = np.sqrt(vc["Residual"] / nsim)
    np.testing.assert_allclose(conditional.mean(axis=1)[:5], pen.fitted()[:5], atol=5 * se)
    assert np.var(conditional[0]) == pytest.approx(vc["Residual"], rel=0.08)
    # one term kept: the mean adds that term's modes to the population mean; the variance
    # adds the other term's variance
    plate = pen.simulate(nsim, seed=4, re_form="~(1 | plate)")
    expected = pen.predict(re_form="~(1 | plate)")
    spread = np.sqrt((vc["sample"] + vc["Residual"]) / nsim)
    np.testing.assert_allclose(plate.mean(axis=1)[:5], expected[:5], atol=5 * spread)
    assert np.var(plate[0]) == pytest.approx(vc["sample"] + vc["Residual"], rel=0.1)
    # the default draws every term anew (lme4's re.form = NA), as "~0" does
    np.testing.assert_array_equal(pen.simulate(3, seed=5), pen.simulate(3, seed=5, re_form="~0"))
    total = vc.sum()
    assert np.var(pen.simulate(nsim, seed=6)[0]) == pytest.approx(total, rel=0.1)
    with pytest.raises(mm.ModelSpecificationError, match="not a random-effects term"):
        pen.simulate(2, re_form="~(1 | nothere)")


def test_glmm_simulate_conditional_on_the_modes() -> None:
    cbpp = mm.datasets.load("cbpp")
    g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    sims = g.simulate(4000, seed=1, re_form=None)
    expected = g.predict(type="response") * cbpp["size"].to_numpy()
    np.testing.assert_allclose(sims.mean(axis=1), expected, atol=0.15)
