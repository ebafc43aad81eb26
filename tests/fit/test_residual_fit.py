"""The local check that skips a restart of the residual-structure optimization."""

from __future__ import annotations

import numpy as np

from mixedmodels.fit.residual import CHECK_MAX_PARAMS, settled

H = np.array([[4.0, 1.0], [1.0, 3.0]])
CENTER = np.array([0.7, -0.2])


def _quadratic(x: np.ndarray) -> float:
    d = x - CENTER
    return 1000.0 + 0.5 * float(d @ H @ d)


def test_a_minimum_is_settled_with_n_n_plus_1_values() -> None:
    lower = np.full(2, -np.inf)
    ok, used = settled(_quadratic, CENTER, _quadratic(CENTER), lower)
    assert ok and used == 2 * 3


def test_a_point_short_of_the_minimum_is_not() -> None:
    lower = np.full(2, -np.inf)
    x = CENTER + np.array([1e-3, 0.0])  # a gain of 2e-6 ≫ 1e-10 · 1000
    assert settled(_quadratic, x, _quadratic(x), lower) == (False, 6)


def test_a_flat_ridge_is_not() -> None:
    def ridge(x: np.ndarray) -> float:  # nearly flat along x0, the minimum far along it
        return 50.0 + 1e3 * (x[1] - 0.1 * x[0]) ** 2 + 1e-6 * (x[0] - 30.0) ** 2

    x = np.array([0.0, 0.0])
    ok, _ = settled(ridge, x, ridge(x), np.full(2, -np.inf))
    assert not ok  # the Newton step is far beyond the differences' reach


def test_a_lower_value_nearby_is_not() -> None:
    def kink(x: np.ndarray) -> float:  # a minimum that is not smooth
        return 10.0 + float(np.sum(np.abs(x - 1e-4)))

    x = np.zeros(2)
    assert settled(kink, x, kink(x), np.full(2, -np.inf))[0] is False


def test_no_check_near_a_bound_or_with_many_parameters() -> None:
    lower = np.array([0.0, -np.inf])
    x = np.array([1e-5, 0.1])
    assert settled(_quadratic, x, _quadratic(x), lower) == (False, 0)
    n = CHECK_MAX_PARAMS + 1
    assert settled(lambda y: float(y @ y), np.ones(n), float(n), np.full(n, -np.inf)) == (
        False,
        0,
    )
    assert settled(_quadratic, CENTER, np.inf, np.full(2, -np.inf)) == (False, 0)
