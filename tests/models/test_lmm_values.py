"""An LMM's fit is a value: its objective is a function of its own, its θ changes only by a fit.

As lme4's ``devfun`` and MixedModels.jl's ``objective!``, ``objective_function`` maps θ to the
criterion with a factor of its own; ``at_theta`` makes a new model read at a given θ; fitting a
model that is already fitted makes a new one.
"""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture()
def model() -> mm.LinearMixedModel:
    return mm.lmer(SLEEP, mm.datasets.load("sleepstudy"))


def state(m: mm.LinearMixedModel) -> tuple[object, ...]:
    """The estimates and the model's factor, copied."""
    return (m.theta.copy(), m.beta.copy(), m.objective, m.L.theta.copy(), m.L.xx.copy())


def assert_same(a: tuple[object, ...], b: tuple[object, ...]) -> None:
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_the_objective_function_is_the_criterion_and_leaves_the_model(
    model: mm.LinearMixedModel,
) -> None:
    before = state(model)
    f = model.objective_function
    assert f(model.theta) == pytest.approx(model.objective, abs=1e-9)
    far = f(np.array([0.2, 0.0, 0.1]))
    assert far > model.objective + 1.0
    assert model.objective_at(np.array([0.2, 0.0, 0.1])) == far
    assert f is not model.objective_function  # a new function (and factor) each time
    assert_same(state(model), before)  # even the model's factor stays at θ̂


def test_the_ml_objective_at_the_reml_optimum_is_the_deviance(
    model: mm.LinearMixedModel,
) -> None:
    ml = mm.lmer(SLEEP, mm.datasets.load("sleepstudy"), reml=False)
    assert ml.objective_function(model.theta) == pytest.approx(model.deviance, rel=1e-12)


def test_theta_is_read_only(model: mm.LinearMixedModel) -> None:
    with pytest.raises(AttributeError):
        model.theta = np.array([1.0, 0.0, 1.0])  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        model.theta[0] = 2.0


def test_at_theta_is_a_new_model_read_at_that_theta(model: mm.LinearMixedModel) -> None:
    before = state(model)
    theta = np.array([0.9, 0.05, 0.2])
    other = model.at_theta(theta)
    assert other is not model
    np.testing.assert_array_equal(other.theta, theta)
    assert other.objective == pytest.approx(model.objective_function(theta), rel=1e-14)
    assert other.objective > model.objective
    assert other.sigma != pytest.approx(model.sigma, rel=1e-6)
    assert_same(state(model), before)
    at_hat = model.at_theta(model.theta)
    np.testing.assert_allclose(at_hat.beta, model.beta, rtol=1e-12)
    np.testing.assert_allclose(at_hat.vcov, model.vcov, rtol=1e-12)
    with pytest.raises(ModelSpecificationError):
        model.at_theta([1.0, 0.0])  # one value short
    with pytest.raises(ModelSpecificationError):
        model.at_theta([-1.0, 0.0, 1.0])  # below the bound


def test_fitting_a_fitted_model_returns_a_new_one(model: mm.LinearMixedModel) -> None:
    before = state(model)
    ml = model.fit(reml=False)
    assert ml is not model and not ml.reml and model.reml
    assert_same(state(model), before)
    fresh = mm.lmer(SLEEP, mm.datasets.load("sleepstudy"), reml=False)
    assert ml.objective == pytest.approx(fresh.objective, abs=1e-8)


def test_satterthwaite_parts_are_computed_once_per_fit(model: mm.LinearMixedModel) -> None:
    from mixedmodels.inference.ddf import satterthwaite

    first = satterthwaite(model)
    assert satterthwaite(model) is first
    refitted = model.refit()
    assert satterthwaite(refitted) is not first
    np.testing.assert_allclose(satterthwaite(refitted).hessian, first.hessian, rtol=1e-6)


def test_the_criterion_of_a_fitted_model_cannot_be_switched(model: mm.LinearMixedModel) -> None:
    before = state(model)
    with pytest.raises(ModelSpecificationError, match="criterion cannot change"):
        model.reml = False
    assert model.reml
    assert_same(state(model), before)
    unfitted = mm.LinearMixedModel(SLEEP, mm.datasets.load("sleepstudy"))
    unfitted.reml = False  # before the fit it is a setting
    assert unfitted.fit().objective == pytest.approx(model.refit(reml=False).objective, abs=1e-8)


def test_ml_fit_is_lme4s_refit_ml(model: mm.LinearMixedModel) -> None:
    ml = model.ml_fit()
    assert ml is not model and not ml.reml and model.reml
    assert ml.ml_fit() is ml
    fresh = mm.lmer(SLEEP, mm.datasets.load("sleepstudy"), reml=False)
    assert ml.objective == pytest.approx(fresh.objective, abs=1e-8)
