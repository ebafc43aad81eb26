"""Newton's method for many small problems at once."""

from __future__ import annotations

import numpy as np

from mixedmodels.optimize.batch_newton import batch_newton


def _quadratics(centers: np.ndarray, seed: int = 0):  # type: ignore[no-untyped-def]
    """Problems ``½ (x − c)ᵀ A (x − c)`` with their own positive definite ``A``."""
    rng = np.random.default_rng(seed)
    m, e = centers.shape
    B = rng.normal(size=(m, e, e))
    A = B @ B.swapaxes(1, 2) + np.eye(e)

    def evaluate(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = x - centers[rows]
        g = np.einsum("mij,mj->mi", A[rows], d)
        return 0.5 * np.einsum("mi,mi->m", d, g), g

    return evaluate


def test_quadratics_reach_their_centers() -> None:
    centers = np.random.default_rng(1).uniform(1.0, 3.0, size=(6, 3))
    found = batch_newton(_quadratics(centers), np.full((6, 3), 2.0), np.full(3, -np.inf))
    assert found.converged.all()
    np.testing.assert_allclose(found.x, centers, atol=1e-6)


def test_a_minimum_beyond_a_bound_is_met_on_it() -> None:
    centers = np.array([[1.0, -0.5], [2.0, 1.5]])
    evaluate = _quadratics(centers, seed=3)
    found = batch_newton(evaluate, np.ones((2, 2)), np.array([-np.inf, 0.0]))
    assert found.converged.all()
    assert found.x[0, 1] == 0.0  # held on the bound, the gradient pushing outwards
    assert evaluate(found.x[:1], np.array([0]))[1][0, 1] > 0.0
    np.testing.assert_allclose(found.x[1], centers[1], atol=1e-6)


def test_a_function_even_in_a_bounded_parameter_converges_at_its_zero() -> None:
    # f = (1 + x₀²) t² + (x₀ − 1)²: at t = 0 the gradient in t vanishes by symmetry
    def evaluate(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, t = x[:, 0], x[:, 1]
        f = (1 + a * a) * t * t + (a - 1) ** 2
        g = np.stack([2 * a * t * t + 2 * (a - 1), 2 * (1 + a * a) * t], axis=1)
        return f, g

    found = batch_newton(evaluate, np.array([[0.3, 0.8]]), np.array([-np.inf, 0.0]))
    assert found.converged.all()
    assert found.x[0, 1] < 1e-6
    assert found.x[0, 0] == np.float64(found.x[0, 0]) and abs(found.x[0, 0] - 1) < 1e-6


def test_a_saddle_is_left_along_its_negative_curvature() -> None:
    # f = x⁴ − x², started at its stationary point x = 0: the minimum x = 1/√2
    def evaluate(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:, 0] ** 4 - x[:, 0] ** 2, 4 * x**3 - 2 * x

    found = batch_newton(evaluate, np.zeros((1, 1)), np.array([0.0]))
    assert found.converged.all()
    np.testing.assert_allclose(found.x, [[2**-0.5]], rtol=1e-8)


def test_problems_without_a_minimum_fail() -> None:
    def evaluate(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = np.where(rows == 0, -x[:, 0], (x[:, 0] - 1) ** 2)
        f = np.where(rows == 2, np.inf, f)
        g = np.where(rows == 0, -1.0, 2 * (x[:, 0] - 1))[:, None]
        return f, g

    found = batch_newton(evaluate, np.zeros((3, 1)), np.array([-np.inf]))
    assert found.converged.tolist() == [False, True, False]


def test_each_problem_is_solved_as_if_alone() -> None:
    centers = np.random.default_rng(5).uniform(0.5, 3.0, size=(9, 3))
    evaluate = _quadratics(centers, seed=6)
    start = np.full((9, 3), 1.0)
    lower = np.array([0.0, -np.inf, 0.0])
    together = batch_newton(evaluate, start, lower)
    for i in (0, 4, 8):

        def alone(x: np.ndarray, rows: np.ndarray, i: int = i) -> tuple[np.ndarray, np.ndarray]:
            return evaluate(x, np.full(len(rows), i))

        single = batch_newton(alone, start[i : i + 1], lower)
        np.testing.assert_array_equal(single.x[0], together.x[i])
        assert single.f[0] == together.f[i]
