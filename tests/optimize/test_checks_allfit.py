"""Convergence checks at the optimum (lme4's checkConv) and refits with every optimizer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.optimize.checks import check_convergence


def quadratic(x: np.ndarray) -> float:
    return float((x[0] - 1) ** 2 + 10 * (x[1] - 2) ** 2 + x[0] * x[1])


def test_check_flags_a_point_that_is_not_an_optimum() -> None:
    lower = np.array([-np.inf, -np.inf])
    optimum = np.linalg.solve([[2, 1], [1, 20]], [2, 40])
    assert check_convergence(quadratic, optimum, lower).ok
    away = check_convergence(quadratic, optimum + 0.1, lower)
    assert not away.ok and "max|grad|" in away.messages[0]


def test_bound_parameters_are_left_out() -> None:
    check = check_convergence(
        lambda x: float((x[0] + 1) ** 2 + x[1] ** 2), np.zeros(2), np.zeros(2)
    )
    assert check.free == [] and check.ok
    interior = check_convergence(
        lambda x: float((x[0] + 1) ** 2 + x[1] ** 2), np.zeros(2), np.array([0.0, -np.inf])
    )
    assert interior.free == [1] and interior.ok


def test_fitted_models_pass_and_a_perturbed_optimum_fails() -> None:
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    assert model.convergence is not None and model.convergence.ok
    moved = check_convergence(model.objective_at, model.theta * 1.05, model.lower)
    assert not moved.ok


def test_convergence_warning_names_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    from mixedmodels.fit import lmm as lmm_fit
    from mixedmodels.optimize import bobyqa, lbfgs

    def stop_early(objective, x0, lower, **kwargs):  # type: ignore[no-untyped-def]
        return bobyqa(objective, x0, lower, maxeval=6, **kwargs)

    def stop_quasi_newton(objective, gradient, x0, lower, **kwargs):  # type: ignore[no-untyped-def]
        return lbfgs(objective, gradient, x0, lower, maxeval=3, **kwargs)

    monkeypatch.setattr(lmm_fit, "bobyqa", stop_early)
    monkeypatch.setattr(lmm_fit, "lbfgs", stop_quasi_newton)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    messages = [str(w.message) for w in caught if issubclass(w.category, mm.ConvergenceWarning)]
    assert any("max|grad|" in m and "all_fit" in m for m in messages)
    assert any("MAXEVAL_REACHED" in m for m in messages)


def test_large_models_skip_the_check_unless_asked() -> None:
    model = mm.LinearMixedModel("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"))
    model.fit(check_convergence=False)
    assert model.convergence is None


def test_all_fit_agrees_across_optimizers() -> None:
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    table = model.all_fit()
    assert list(table.index) == ["bobyqa", "nelder_mead", "sbplx", "cobyla", "lbfgsb", "powell"]
    assert table["objective"].max() - model.objective < 1e-3
    np.testing.assert_allclose(table["Days"], model.fixef["Days"], rtol=1e-4)
    assert model.sigma == pytest.approx(25.5918, rel=1e-4)  # the model keeps its own fit


def test_check_with_an_exact_gradient_matches_the_check_from_values() -> None:
    def f(x: np.ndarray) -> float:
        return float(3 * (x[0] - 1) ** 2 + (x[0] - 1) * x[1] + 2 * x[1] ** 2 + 0.1 * x[1] ** 4)

    def g(x: np.ndarray) -> np.ndarray:
        return np.array([6 * (x[0] - 1) + x[1], (x[0] - 1) + 4 * x[1] + 0.4 * x[1] ** 3])

    lower = np.array([0.0, -np.inf])
    for x in (np.array([1.0, 0.0]), np.array([1.3, 0.2])):
        by_values = check_convergence(f, x, lower)
        exact = check_convergence(f, x, lower, gradient=g)
        assert exact.free == by_values.free
        assert exact.gradient == pytest.approx(g(x)[exact.free], abs=1e-14)
        assert exact.hessian == pytest.approx(by_values.hessian, rel=1e-3, abs=1e-3)
        assert exact.ok == by_values.ok
    assert not check_convergence(f, np.array([1.3, 0.2]), lower, gradient=g).ok
