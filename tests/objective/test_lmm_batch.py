"""The criteria of many replicates at once equal each replicate's own objective and gradient."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.models import LinearMixedModel
from mixedmodels.objective.lmm_batch import ReplicateCriteria
from tests.linalg.test_single_batch import _batch, _models, _thetas


@pytest.mark.parametrize("formula", ["y ~ x + (1 + x | g)", "y ~ x + (1 | g)", "y ~ x + (x || g)"])
@pytest.mark.parametrize("settings", [{"reml": True}, {"reml": False}, {"sigma": 1.5}])
def test_criteria_are_the_replicates_objectives(formula: str, settings: dict) -> None:
    models = [
        LinearMixedModel(formula, model.frame.data, **settings)
        for model in _models(formula, True, 4)
    ]
    factors = np.exp2(np.arange(len(models[0].theta)) - 1.0)  # φ = d·θ
    criteria = ReplicateCriteria(_batch(models), models[0].objective_function, factors)
    thetas = _thetas(models[0], 4, 8)
    values, grads = criteria(thetas * factors, np.arange(4))
    for i, model in enumerate(models):
        devfun = model.objective_function
        assert values[i] == pytest.approx(devfun(thetas[i]), rel=1e-12)
        np.testing.assert_allclose(grads[i], devfun.gradient(thetas[i]) / factors, rtol=1e-8)


def test_replicates_without_a_factor_are_infinite() -> None:
    models = _models("y ~ x + (1 + x | g)", False, 2)
    criteria = ReplicateCriteria(_batch(models), models[0].objective_function, np.ones(3))
    values, grads = criteria(np.array([[1.0, 0.2, 0.5], [1.0, 0.2, np.nan]]), np.arange(2))
    assert np.isfinite(values[0]) and values[1] == np.inf
    assert np.isnan(grads[1]).all() and np.isfinite(grads[0]).all()
