"""The GLMM's objective as a value (lme4's devfun), and fits that depend only on their inputs.

``model.objective_function`` is a :class:`~mixedmodels.objective.glmm.GlmmObjective` on a copy
of the model's engine: at the estimates it gives the model's ``-2 log L`` and a vanishing
gradient, anywhere else it leaves the model as it was. Fitting a model again gives the same
estimates bit for bit, and reading results never changes them.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.fit.glmm import GlmmFit, fit_two_stages
from mixedmodels.objective.glmm import GlmmObjective
from mixedmodels.objective.laplace import BlockedEngine
from mixedmodels.objective.laplace_scalar import ScalarEngine
from mixedmodels.spec.families import NegativeBinomial

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)"


def cbpp() -> pd.DataFrame:
    return mm.datasets.load("cbpp")


def grouse() -> pd.DataFrame:
    frame = mm.datasets.load("grouseticks")
    return frame.assign(YEAR=frame["YEAR"].astype(str))


def quiet_fit(model: mm.GeneralizedLinearMixedModel, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(**kwargs)


def build(formula: str, frame: pd.DataFrame, **kwargs: Any) -> mm.GeneralizedLinearMixedModel:
    return mm.GeneralizedLinearMixedModel(formula, frame, **kwargs)


MODELS = {
    "laplace_scalar": lambda: build(CBPP, cbpp(), family="binomial"),
    "laplace_blocked": lambda: build(GROUSE, grouse(), family="poisson"),
    "quadrature": lambda: build(CBPP, cbpp(), family="binomial", nagq=9),
    "nagq0": lambda: build(CBPP, cbpp(), family="binomial", nagq=0),
}


def engine_state(model: mm.GeneralizedLinearMixedModel) -> tuple[np.ndarray, ...]:
    e = model.engine
    return tuple(np.copy(a) for a in (e.theta, e.beta, e.u, e.eta))


@pytest.mark.parametrize("name", ["laplace_scalar", "laplace_blocked", "quadrature"])
def test_objective_function_at_the_estimates_is_the_objective(name: str) -> None:
    model = quiet_fit(MODELS[name]())
    f = model.objective_function
    assert isinstance(f, GlmmObjective)
    assert f.nagq == model.nagq and f.n_theta == model.n_theta and f.n_fixed == model.n_fixed
    assert f(model.params) == model.objective
    np.testing.assert_array_equal(f.all_lower, model.all_lower)


def test_objective_function_of_nagq0_is_the_laplace_objective_at_the_estimates() -> None:
    model = quiet_fit(MODELS["nagq0"]())
    # nAGQ = 0 estimates β inside PIRLS; at (θ̂, β̂) the Laplace objective is the same number
    assert model.objective_function(model.params) == pytest.approx(model.objective, rel=1e-10)


@pytest.mark.parametrize("name", ["laplace_scalar", "laplace_blocked"])
def test_gradient_vanishes_at_the_estimates_and_matches_differences(name: str) -> None:
    model = quiet_fit(MODELS[name]())
    f = model.objective_function
    x = model.params
    g = f.gradient(x)
    assert f.has_gradient
    np.testing.assert_allclose(g, model.final_gradient, rtol=1e-6, atol=1e-8)
    assert float(np.max(np.abs(g))) < 1e-3
    x1 = x + 0.05 * np.r_[np.ones(model.n_theta), np.zeros(model.n_fixed)]
    h = 1e-6
    numeric = [(f(x1 + h * e) - f(x1 - h * e)) / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(f.gradient(x1), numeric, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_evaluating_the_objective_elsewhere_leaves_the_model_as_it_was(name: str) -> None:
    model = quiet_fit(MODELS[name]())
    before = engine_state(model)
    params, objective, vcov = model.params, model.objective, model.vcov
    f = model.objective_function
    away = params + 0.1 * np.r_[np.ones(model.n_theta), np.ones(model.n_fixed)]
    assert f(away) != f(params)
    f.with_nagq(1).gradient(away)
    for a, b in zip(engine_state(model), before, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.params, params)
    assert model.objective == objective
    pd.testing.assert_frame_equal(model.vcov, vcov, check_exact=True)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fitting_twice_and_reading_results_leave_the_estimates_unchanged(name: str) -> None:
    model = quiet_fit(MODELS[name]())
    first = (model.params.copy(), model.objective, model.optsum)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.vcov, model.hessian, model.summary(), model.ranef_var, model.coef_table
        model.predict(type="response"), model.residuals("pearson"), model.simulate(2, seed=1)
    np.testing.assert_array_equal(model.params, first[0])
    again = quiet_fit(model)  # fitting a fitted model makes a new one; this one is unchanged
    assert again is not model and model.optsum is first[2]
    np.testing.assert_array_equal(again.params, first[0])
    assert again.objective == first[1]
    assert again.optsum is not first[2] and again.optsum.feval == first[2].feval
    fresh = quiet_fit(MODELS[name]())
    np.testing.assert_array_equal(fresh.params, first[0])


def test_a_user_built_objective_on_a_fresh_engine_agrees() -> None:
    model = quiet_fit(MODELS["laplace_blocked"]())
    engine = BlockedEngine(model.data)
    f = GlmmObjective(engine, model.lower, model.n_fixed)
    assert f(model.params) == pytest.approx(model.objective, rel=1e-10)
    scalar = quiet_fit(MODELS["quadrature"]())
    g = GlmmObjective(ScalarEngine(scalar.data), scalar.lower, scalar.n_fixed, nagq=9)
    assert g(scalar.params) == pytest.approx(scalar.objective, rel=1e-10)
    # the Laplace objective differs from the quadrature one, on the same engine
    laplace = g.with_nagq(1)
    assert laplace.engine is g.engine and laplace.has_gradient and not g.has_gradient
    assert abs(laplace(scalar.params) - g(scalar.params)) > 1e-3


def test_the_fit_is_a_value_and_leaves_the_model_alone() -> None:
    model = build(CBPP, cbpp(), family="binomial")
    theta0 = model.theta.copy()
    result = fit_two_stages(model.objective_function, theta0, False, None)
    assert isinstance(result, GlmmFit)
    assert model.optsum is None
    np.testing.assert_array_equal(model.theta, theta0)
    fitted = quiet_fit(model)
    np.testing.assert_array_equal(fitted.params, result.params)
    assert fitted.optsum is not None and fitted.optsum.fmin == result.optsum.fmin
    with pytest.raises(AttributeError):
        result.theta = theta0  # type: ignore[misc]


def test_start_theta_starts_stage_one_and_leaves_later_fits_alone() -> None:
    model = build(CBPP, cbpp(), family="binomial")
    quiet_fit(model, start_theta=np.array([0.3]))
    assert model.stage1 is not None
    np.testing.assert_array_equal(model.stage1.initial, [0.3])
    again = quiet_fit(model)  # a new model: this one keeps its fit
    np.testing.assert_array_equal(again.stage1.initial, [1.0])
    np.testing.assert_array_equal(model.stage1.initial, [0.3])


def test_with_family_returns_a_new_model_and_leaves_this_one_fitted() -> None:
    model = quiet_fit(build(GROUSE, grouse(), family="poisson"))
    snapshot = copy.deepcopy((model.params, model.objective, model.vcov, engine_state(model)))
    other = model.with_family(NegativeBinomial(2.0))
    assert other is not model and other.engine is not model.engine
    assert other.optsum is None and other.data.family.name == "negative_binomial"
    assert other.data.X is model.data.X and other.terms is model.terms
    quiet_fit(other, start=model.params)
    assert model.family.name == "poisson" and model.data.family.name == "poisson"
    assert other.objective != snapshot[1]
    np.testing.assert_array_equal(model.params, snapshot[0])
    assert model.objective == snapshot[1]
    pd.testing.assert_frame_equal(model.vcov, snapshot[2], check_exact=True)
    for a, b in zip(engine_state(model), snapshot[3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_unscaled_covariance_is_sigma_squared_over_the_fixed_precision() -> None:
    model = quiet_fit(MODELS["nagq0"]())
    precision = model.engine.fixed_precision()
    expected = np.linalg.solve(precision, np.eye(len(precision)))
    np.testing.assert_allclose(model.vcov.to_numpy(), expected, rtol=1e-12, atol=1e-15)
    assert np.array_equal(model.vcov.to_numpy(), model.vcov.to_numpy().T)


def test_a_model_with_another_family_does_not_reuse_the_modes_of_the_old_one() -> None:
    # the copied engine's modes were fitted for the Poisson family: at the same (θ, β) the new
    # family's objective must come from PIRLS for it, as on an engine that never saw Poisson
    model = quiet_fit(build(GROUSE, grouse(), family="poisson"))
    other = model.with_family(NegativeBinomial(2.0))
    fresh = GlmmObjective(BlockedEngine(other.data), other.lower, other.n_fixed)
    expected = fresh(model.params)
    assert other.objective_at(model.params) == pytest.approx(expected, rel=1e-8)
    np.testing.assert_allclose(
        other.gradient_at(model.params), fresh.gradient(model.params), rtol=1e-6, atol=1e-6
    )


def test_glmer_nb_refits_reach_the_optimum_at_the_estimated_theta() -> None:
    model = mm.glmer_nb(GROUSE, grouse())
    assert model.nb_theta_estimated and model.npar == model.n_fixed + model.n_theta + 1
    f = model.objective_function
    assert float(np.max(np.abs(f.gradient(model.params)))) < 1e-3
    # a fit at the estimated θ from the default start reaches the same optimum
    again = quiet_fit(build(GROUSE, grouse(), family=model.family))
    assert again.objective == pytest.approx(model.objective, abs=1e-7)
    np.testing.assert_allclose(again.params, model.params, rtol=1e-4, atol=1e-6)
