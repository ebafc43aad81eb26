"""The convergence check on an objective whose rounding is large (issue 13, item 5).

Case 105 of ``data/ill_scaled.csv`` (four groups, random effects of SD 100 beside a residual SD
of 0.1) has a relative SD of 830 and an objective that rounds to about 2e-8: with lme4's steps
of 1e-4 the second differences are of rounding. The check divides such parameters by their
size and takes a step fit for the rounding, and so sees where BOBYQA stopped short.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.fit.lmm import _check_at, _rounding_error, _stopped_short
from mixedmodels.optimize import OptSummary
from mixedmodels.optimize.differences import DERIV12_STEP, derivative_step
from mixedmodels.optimize.scaling import (
    CHECK_LIMIT,
    ThetaScaling,
    magnitude_scaling,
    theta_scaling,
)

DATA = Path(__file__).parent / "data"
FORMULA = "y ~ x + (x|g)"
# where BOBYQA stopped on one BLAS kernel, 1.5e-4 above the optimum
STOPPED = np.array([825.36806023, -7.89469078e-03, 5.84183274e-02])


@pytest.fixture(scope="module")
def model() -> mm.LinearMixedModel:
    frames = pd.read_csv(DATA / "ill_scaled.csv")
    data = frames[frames["case"] == 105].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(FORMULA, data, reml=True)


@pytest.fixture(scope="module")
def optimum() -> float:
    fits = json.loads((DATA / "ill_scaled.json").read_text())["fits"]
    (ref,) = [f for f in fits if f["case"] == 105 and f["formula"] == FORMULA and f["reml"]]
    return float(ref["objective"])


def test_magnitude_scaling_divides_only_large_parameters_by_a_power_of_two() -> None:
    columns = ThetaScaling(np.array([1.0, 4096.0, 4096.0]))
    theta = np.array([825.37, -7.9e-3, 1e-3])
    local = magnitude_scaling(columns, theta, CHECK_LIMIT)
    np.testing.assert_array_equal(local.factors, [2.0**-10, 2.0**7, 4096.0])
    psi = local.to_phi(theta)
    assert 0.5 < abs(psi[0]) < 2 and 0.5 < abs(psi[1]) < 2  # of the size 1
    np.testing.assert_array_equal(local.to_theta(psi), theta)  # exact both ways
    moderate = np.array([0.9, 0.02, 7.9])
    plain = ThetaScaling(np.ones(3))
    np.testing.assert_array_equal(magnitude_scaling(plain, moderate, CHECK_LIMIT).factors, 1.0)


@pytest.mark.parametrize(
    ("noise", "step"),
    [(1e-13, DERIV12_STEP), (1e-9, DERIV12_STEP), (np.inf, DERIV12_STEP), (2.7e-8, 3e-3)],
)
def test_derivative_step_is_lme4s_unless_the_rounding_is_large(noise: float, step: float) -> None:
    assert derivative_step(noise) == pytest.approx(step, rel=1e-3)
    assert derivative_step(1.0) == 1e-2  # capped


def test_the_rounding_estimate_is_the_size_of_the_objectives_rounding(
    model: mm.LinearMixedModel,
) -> None:
    objective = model.objective_function
    objective(model.theta)
    estimate = _rounding_error(objective)
    rng = np.random.default_rng(1)
    values = [objective(model.theta * (1 + 1e-12 * rng.standard_normal(3))) for _ in range(40)]
    spread = float(np.std(values))
    assert estimate / 10 < spread < estimate * 10
    sleep = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    assert _rounding_error(sleep.objective_function) < 1e-12


def test_the_check_sees_that_bobyqa_stopped_short(
    model: mm.LinearMixedModel, optimum: float
) -> None:
    objective = model.objective_function
    value = objective(STOPPED)
    gap = value - optimum
    assert gap > 1e-4
    found = OptSummary(STOPPED, model.lower, STOPPED.copy(), value, 355, "SUCCESS")
    columns = theta_scaling(model.terms, model.A, model.nobs, CHECK_LIMIT)
    _, check, noise = _check_at(objective, found, columns)
    assert noise > 1e-9 and check.step > DERIV12_STEP
    assert _stopped_short(check, value)
    assert gap / 3 < check.decrement < 3 * gap  # the Newton model sees what is left
