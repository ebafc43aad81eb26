"""The exact gradient of the profiled criterion of one small term, and the fit that uses it."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import NotSupportedError
from mixedmodels.models import LinearMixedModel
from mixedmodels.objective.lmm import LmmObjective
from tests.linalg.test_blocked_cholesky import make_data

FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (1 + x | g)",
    "y ~ 1 + (x | g)",
    "y ~ 0 + x + (1 + z | h)",
    "y ~ x + (x || g)",  # two scalar terms on one factor
    "y ~ x + ar1(0 + f2 | g)",  # a structured term: the chain rule through the template
    "y ~ x + cs(0 + f2 | g)",
    "y ~ x + diag(1 + x | g)",
]


def _data() -> object:
    data = make_data(5)
    data["f2"] = np.where(data["x"] > 0, "a", "b")
    return data


def _central(f: LmmObjective, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    steps = np.eye(len(theta)) * h
    return np.array([(f(theta + e) - f(theta - e)) / (2 * h) for e in steps])


CRITERIA = [(True, None), (False, None), (True, 0.8), (False, 1.3)]  # (REML, fixed σ)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize(("reml", "sigma"), CRITERIA)
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_equals_central_differences(
    formula: str, reml: bool, sigma: float | None, weighted: bool
) -> None:
    model = LinearMixedModel(
        formula, _data(), reml=reml, sigma=sigma, weights="w" if weighted else None
    )
    f = model.objective_function
    assert f.has_gradient
    rng = np.random.default_rng(2)
    for _ in range(3):
        theta = rng.uniform(0.2, 1.5, size=len(model.lower))
        theta[model.lower < 0] -= 0.8
        exact = f.gradient(theta)
        assert exact == pytest.approx(_central(f, theta), rel=1e-5, abs=1e-5)


def test_gradient_at_a_zero_variance_is_zero_along_it() -> None:
    f = LinearMixedModel("y ~ x + (1 | g)", _data()).objective_function
    assert f.gradient(np.array([0.0])) == pytest.approx([0.0], abs=1e-12)


def test_gradient_reads_the_factor_left_at_that_theta() -> None:
    f = LinearMixedModel("y ~ x + (1 + x | g)", _data()).objective_function
    theta = np.array([0.7, 0.1, 0.4])
    first = f.gradient(theta)
    f(np.array([1.0, 0.0, 1.0]))
    assert np.array_equal(f.gradient(theta), first)


def test_models_without_the_closed_form_have_no_gradient() -> None:
    f = LinearMixedModel("y ~ x + (1 | g) + (1 | h)", _data()).objective_function
    assert not f.has_gradient
    with pytest.raises(NotSupportedError, match="one small term"):
        f.gradient(np.array([1.0, 1.0]))


def test_one_term_fits_take_few_evaluations_to_the_optimum_of_bobyqa() -> None:
    data = mm.datasets.load("sleepstudy")
    quasi = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert quasi.optsum.optimizer == "LD_LBFGS" and quasi.optsum.feval < 25
    model = LinearMixedModel("Reaction ~ Days + (Days | Subject)", data)
    model.L._one_term = None  # the blocked update has no gradient: BOBYQA
    plain = model.fit()
    assert plain.optsum.optimizer == "LN_BOBYQA"
    assert quasi.objective <= plain.objective + 1e-9
    assert quasi.theta == pytest.approx(plain.theta, abs=1e-5)
    assert quasi.convergence is not None and quasi.convergence.ok


def test_a_singular_one_term_fit_reaches_the_boundary() -> None:
    data = mm.datasets.load("Dyestuff2")
    fit = mm.lmer("Yield ~ 1 + (1 | Batch)", data)
    assert fit.theta == pytest.approx([0.0], abs=1e-8)
