"""Moment-based starting values and the optimizer wrapper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.linalg.crossprod import replace_response
from mixedmodels.models import LinearMixedModel
from mixedmodels.optimize import bobyqa
from mixedmodels.optimize.start import initial_step, moment_start


def simulated(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 4000
    g = rng.integers(0, 200, n)
    h = rng.integers(0, 40, n)
    x = rng.normal(size=n)
    y = (
        2.0
        + 0.5 * x
        + rng.normal(scale=1.5, size=200)[g]
        + rng.normal(scale=0.8, size=200)[g] * x
        + rng.normal(scale=0.6, size=40)[h]
        + rng.normal(scale=1.0, size=n)
    )
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


def test_moment_start_is_close_to_the_estimate() -> None:
    model = LinearMixedModel("y ~ x + (1 + x | g) + (1 | h)", simulated())
    start = moment_start(model.terms, model.A, model.nobs)
    assert start is not None
    model.fit()
    # diagonal entries near the REML estimates; correlations start at zero
    np.testing.assert_allclose(start[[0, 2, 3]], model.theta[[0, 2, 3]], rtol=0.15)
    assert start[1] == 0.0
    steps = initial_step(start, model.terms)
    assert steps[1] == pytest.approx(max(0.1 * np.sqrt(start[0] * start[2]), 0.05))


def test_fit_from_moment_start_reaches_the_optimum_of_the_default_start() -> None:
    model = LinearMixedModel("y ~ x + (1 + x | g) + (1 | h)", simulated(1)).fit()
    default = bobyqa(model.objective_at, np.array([1.0, 0.0, 1.0, 1.0]), model.lower)
    assert model.objective <= default.fmin + 1e-8 * abs(default.fmin)


def test_constant_response_gives_no_moment_start() -> None:
    model = LinearMixedModel("y ~ 1 + (1 | g)", simulated())
    xy = np.column_stack([model.fixed.X, np.zeros(model.nobs)])  # constant y, centred
    A = replace_response(model.A, model.terms, xy)
    assert moment_start(model.terms, A, model.nobs) is None
