"""Many responses' closed forms at once equal each response's own closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.linalg.single import OneTerm
from mixedmodels.linalg.single_batch import OneTermBatch
from mixedmodels.models import LinearMixedModel
from tests.linalg.test_blocked_cholesky import make_data

FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (1 + x | g)",
    "y ~ x + z + (0 + z | g)",
    "y ~ 0 + x + (1 + z | h)",
    "y ~ x + (x || g)",  # two scalar terms on one factor
]


def _models(formula: str, weighted: bool, m: int) -> list[LinearMixedModel]:
    """Models of ``m`` responses on the same rows (the same ``Z``, ``X`` and weights)."""
    data = make_data(3)
    rng = np.random.default_rng(2)
    models = []
    for _ in range(m):
        frame = data.assign(y=data["y"] + rng.normal(scale=2.0, size=len(data)))
        models.append(LinearMixedModel(formula, frame, weights="w" if weighted else None))
    return models


def _batch(models: list[LinearMixedModel]) -> OneTermBatch:
    """The batch of the models' response rows on the first model's closed form."""
    ones = [OneTerm.of(model.A) for model in models]
    assert all(one is not None for one in ones)
    p = models[0].A.xx.shape[0] - 1
    yz = [np.stack([one.xz[c][p] for one in ones if one]) for c in range(len(ones[0].xz))]
    xy = np.stack([model.A.xx[p, :p] for model in models])
    yy = np.array([model.A.xx[p, p] for model in models])
    first = ones[0]
    assert first is not None
    return OneTermBatch(first, yz, xy, yy)


def _thetas(model: LinearMixedModel, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.05, 2.0, size=(m, len(model.theta)))
    theta[:, model.lower < 0] -= 1.0
    return theta


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("weighted", [False, True])
def test_each_replicate_is_its_own_closed_form(formula: str, weighted: bool) -> None:
    models = _models(formula, weighted, 5)
    batch = _batch(models)
    thetas = _thetas(models[0], 5, 4)
    pieces = batch.evaluate(thetas, np.arange(5))
    assert pieces.ok.all()
    for i, model in enumerate(models):
        factor = model.objective_function.factor
        factor.update(thetas[i])
        assert pieces.logdet_z[i] == pytest.approx(factor.logdet_z, rel=1e-12)
        assert pieces.logdet_x[i] == pytest.approx(factor.logdet_x(), rel=1e-11, abs=1e-12)
        assert pieces.r2[i] == pytest.approx(factor.pwrss(), rel=1e-11)
        found = factor.derivatives()
        assert found is not None
        np.testing.assert_allclose(pieces.d_logdet_z[i], found.logdet_z, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(pieces.d_logdet_x[i], found.logdet_x, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(pieces.d_log_r2[i], found.log_r2, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_replicate_does_not_depend_on_the_others(formula: str) -> None:
    models = _models(formula, False, 7)
    batch = _batch(models)
    thetas = _thetas(models[0], 7, 5)
    every = batch.evaluate(thetas, np.arange(7))
    for rows in (np.array([3]), np.array([6, 0, 2]), np.arange(1, 6)):
        part = batch.evaluate(thetas[rows], rows)
        for name in ("logdet_z", "logdet_x", "r2", "d_logdet_z", "d_logdet_x", "d_log_r2"):
            np.testing.assert_array_equal(getattr(part, name), getattr(every, name)[rows])


def test_a_factor_that_does_not_exist_is_flagged() -> None:
    models = _models("y ~ x + (1 + x | g)", False, 3)
    batch = _batch(models)
    thetas = _thetas(models[0], 3, 6)
    thetas[1] = [1.0, 0.0, np.nan]
    pieces = batch.evaluate(thetas, np.arange(3))
    assert pieces.ok.tolist() == [True, False, True]


def test_the_model_is_not_written() -> None:
    data = pd.DataFrame(make_data(3))
    model = LinearMixedModel("y ~ x + (1 + x | g)", data)
    A_xx = model.A.xx.copy()
    batch = _batch([model, model])
    batch.evaluate(_thetas(model, 2, 1), np.arange(2))
    np.testing.assert_array_equal(model.A.xx, A_xx)
