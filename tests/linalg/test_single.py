"""One random-effects term of one or two columns: the closed form equals the blocked update."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.models import LinearMixedModel
from tests.linalg.test_blocked_cholesky import brute_force, make_data

FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (1 + x | g)",
    "y ~ x + z + (0 + z | g)",
    "y ~ 1 + (x | g)",
    "y ~ 0 + x + (1 + z | h)",
    "y ~ x + (x || g)",  # two scalar terms on one factor
    "y ~ x + (1 | g) + (0 + z | g)",
]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("weighted", [False, True])
def test_closed_form_equals_the_general_update(formula: str, weighted: bool) -> None:
    data = make_data(3)
    closed = LinearMixedModel(formula, data, weights="w" if weighted else None)
    general = LinearMixedModel(formula, data, weights="w" if weighted else None)
    assert closed.L._one_term is not None
    general.L._one_term = None  # the blocked update, term by term
    rng = np.random.default_rng(1)
    for _ in range(5):
        theta = rng.uniform(0.05, 2.0, size=len(closed.theta))
        theta[closed.lower < 0] -= 1.0
        for reml in (True, False):
            closed.reml = general.reml = reml
            one, blocked = closed.objective_function, general.objective_function
            value = one(theta)
            assert value == pytest.approx(blocked(theta), rel=1e-12)
            assert value == pytest.approx(brute_force(closed, theta, reml), rel=1e-9)
            L1, L2 = one.factor, blocked.factor
            for j in range(len(closed.terms)):
                np.testing.assert_allclose(L1.diag[j], L2.diag[j], rtol=1e-12)
                np.testing.assert_allclose(L1.xz[j], L2.xz[j], rtol=1e-11, atol=1e-12)
            np.testing.assert_allclose(L1.xx, L2.xx, rtol=1e-11, atol=1e-12)
            if len(closed.terms) == 2:  # the block between the two terms
                a, b = L1.sparse[1], L2.sparse[1]
                np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
                np.testing.assert_array_equal(a.indices, b.indices)
                np.testing.assert_allclose(L1.first_dense[1], L2.first_dense[1])


@pytest.mark.parametrize("formula", ["y ~ x + (1 + x | g)", "y ~ x + (x || g)"])
def test_fits_agree(formula: str) -> None:
    data = make_data(5)
    closed = LinearMixedModel(formula, data)
    general = LinearMixedModel(formula, data)
    general.L._one_term = None
    closed.fit(), general.fit()
    assert closed.objective == pytest.approx(general.objective, rel=1e-12)
    np.testing.assert_allclose(closed.theta, general.theta, rtol=1e-6, atol=1e-8)
    for name, modes in closed.ranef.items():
        np.testing.assert_allclose(modes.to_numpy(), general.ranef[name].to_numpy(), rtol=1e-5)
    general = general.at_theta(closed.theta)  # the same θ: every result from the factor agrees
    for name, variances in closed.ranef_var.items():
        np.testing.assert_allclose(variances, general.ranef_var[name], rtol=1e-10)
    np.testing.assert_allclose(closed.vcov, general.vcov, rtol=1e-10)


def test_only_single_small_terms_take_the_closed_form() -> None:
    data = make_data(4)
    assert LinearMixedModel("y ~ x + (1 + x + z | g)", data).L._one_term is None  # three columns
    assert LinearMixedModel("y ~ x + (1 | g) + (1 | h)", data).L._one_term is None  # crossed
    assert LinearMixedModel("y ~ x + (1 | g) + (1 | outer)", data).L._one_term is None  # nested
    assert LinearMixedModel("y ~ x + (x || g)", data).L._one_term.pair
