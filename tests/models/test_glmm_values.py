"""A GLMM's fit is a value: reading or evaluating never moves the engine results are read from.

``objective_at`` evaluates on a working copy of the engine, θ and β are read-only, ``at_params``
makes a new model read at given (θ, β), and fitting a fitted model makes a new one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture()
def model() -> mm.GeneralizedLinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.glmer(CBPP, mm.datasets.load("cbpp"), family="binomial")


def engine(m: mm.GeneralizedLinearMixedModel) -> tuple[np.ndarray, ...]:
    e = m.engine
    return (e.theta.copy(), e.beta.copy(), e.u.copy(), e.eta.copy())


def test_objective_at_leaves_the_engine_at_the_estimates(
    model: mm.GeneralizedLinearMixedModel,
) -> None:
    before = engine(model)
    away = model.params + 0.2
    value = model.objective_at(away)
    assert value > model.objective
    model.gradient_at(away)
    for a, b in zip(engine(model), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.objective_at(model.params) == pytest.approx(model.objective, abs=1e-8)


def test_estimates_are_read_only(model: mm.GeneralizedLinearMixedModel) -> None:
    with pytest.raises(AttributeError):
        model.theta = np.array([1.0])  # type: ignore[misc]
    with pytest.raises(AttributeError):
        model.beta = np.zeros(4)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        model.beta[0] = 1.0


def test_at_params_is_a_new_model_read_there(model: mm.GeneralizedLinearMixedModel) -> None:
    before = (engine(model), model.params.copy(), model.objective)
    x = model.params + np.r_[0.1, 0.05, 0.0, 0.0, 0.0]
    other = model.at_params(x)
    assert other is not model
    np.testing.assert_array_equal(other.params, x)
    assert other.objective == pytest.approx(model.objective_function(x), rel=1e-12)
    assert other.objective > model.objective
    assert other.ranef["herd"].to_numpy().shape == model.ranef["herd"].to_numpy().shape
    for a, b in zip(engine(model), before[0], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.params, before[1])
    assert model.objective == before[2]
    same = model.at_params(model.params)
    np.testing.assert_allclose(same.vcov, model.vcov, rtol=1e-6)
    with pytest.raises(DataError, match="5 finite numbers"):
        model.at_params(x[:3])
    with pytest.raises(DataError, match="below 0"):
        model.at_params(np.r_[-0.5, x[1:]])


def test_fitting_a_fitted_glmm_returns_a_new_one(model: mm.GeneralizedLinearMixedModel) -> None:
    optsum = model.optsum
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        again = model.fit()
    assert again is not model and model.optsum is optsum
    np.testing.assert_allclose(again.params, model.params, rtol=1e-6, atol=1e-8)


def test_linearly_dependent_columns_make_a_glmm_singular_as_an_lmm() -> None:
    """``is_singular`` means the same for both kinds: collinear term columns count."""
    data = mm.datasets.load("cbpp").copy()
    data["x"] = np.arange(len(data)) % 3
    data["x2"] = 2.0 * data["x"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.warns(mm.MixedModelsWarning, match="linearly dependent"):
            mm.GeneralizedLinearMixedModel(
                "cbind(incidence, size - incidence) ~ period + (1 + x + x2 | herd)",
                data,
                family="binomial",
            )
        glmm = mm.glmer(
            "cbind(incidence, size - incidence) ~ period + (1 + x + x2 | herd)",
            data,
            family="binomial",
        )
        lmm = mm.lmer("incidence ~ period + (1 + x + x2 | herd)", data)
    assert glmm.degenerate_terms == lmm.degenerate_terms
    assert len(glmm.degenerate_terms) == 1
    assert glmm.is_singular and lmm.is_singular
