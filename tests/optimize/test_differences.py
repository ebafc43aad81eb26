"""The finite differences: formulas against known derivatives and against R's numbers.

``data/differences.json`` comes from ``tests/data/r/differences.R``: lme4's ``deriv12``, R's
``optimHess`` (with an exact gradient, as glmmTMB's ``sdreport``) and numDeriv's ``genD`` with
``numDeriv::hessian``'s defaults (as lmerTest's Satterthwaite df) for a smooth function of three
variables at two points, one with a zero coordinate (numDeriv's absolute step).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixedmodels.optimize.differences import (
    DERIV12_STEP,
    central_difference,
    forward_difference,
    gradient_and_hessian,
    hessian_from_gradient,
    hessian_from_values,
    jacobian,
    numderiv_steps,
    relative_steps,
    richardson_derivatives,
    scaled_hessian,
    scaled_steps,
    second_difference,
)

REF = json.loads((Path(__file__).parent / "data" / "differences.json").read_text())
POINTS = [np.array(case["x"], dtype=float) for case in REF]


def f(x: np.ndarray) -> float:
    return float(np.exp(x[0]) * np.sin(x[1]) + x[0] ** 2 * x[2] ** 3 + np.log(2 + x[1] * x[2]))


def gradient(x: np.ndarray) -> np.ndarray:
    inner = 2 + x[1] * x[2]
    return np.array(
        [
            np.exp(x[0]) * np.sin(x[1]) + 2 * x[0] * x[2] ** 3,
            np.exp(x[0]) * np.cos(x[1]) + x[2] / inner,
            3 * x[0] ** 2 * x[2] ** 2 + x[1] / inner,
        ]
    )


def hessian(x: np.ndarray) -> np.ndarray:
    e, s, c = np.exp(x[0]), np.sin(x[1]), np.cos(x[1])
    inner = 2 + x[1] * x[2]
    return np.array(
        [
            [e * s + 2 * x[2] ** 3, e * c, 6 * x[0] * x[2] ** 2],
            [e * c, -e * s - x[2] ** 2 / inner**2, 2 / inner**2],
            [6 * x[0] * x[2] ** 2, 2 / inner**2, 6 * x[0] ** 2 * x[2] - x[1] ** 2 / inner**2],
        ]
    )


def vector_f(x: np.ndarray) -> np.ndarray:
    return np.array([f(x), x[0] * np.exp(x[1] * x[2])])


def test_the_three_formulas_have_their_orders_of_accuracy() -> None:
    x, d1, d2 = 0.4, np.cos(0.4), -np.sin(0.4)
    errors = []
    for h in (1e-2, 1e-3):
        plus, minus, f0 = np.sin(x + h), np.sin(x - h), np.sin(x)
        errors.append(
            [
                abs(forward_difference(plus, f0, h) - d1),
                abs(central_difference(plus, minus, h) - d1),
                abs(second_difference(plus, f0, minus, h) - d2),
            ]
        )
    ratio = np.array(errors[0]) / np.array(errors[1])
    np.testing.assert_allclose(ratio, [10, 100, 100], rtol=0.05)  # O(h), O(h²), O(h²)


def test_step_rules() -> None:
    x = np.array([0.0, 0.5, -3.0])
    np.testing.assert_allclose(relative_steps(x, 1e-6), [1e-6, 1e-6, 3e-6], rtol=1e-15)
    np.testing.assert_allclose(numderiv_steps(x, 0.1, 1e-4), [1e-4, 0.05, 0.3])
    np.testing.assert_allclose(scaled_steps(None, x, 1e-3), [1e-3, 1e-3, 3e-3])
    H = np.diag([2.0, 8.0, 0.5])  # Hessian of a deviance: variances 2 H⁻¹ = 1, 1/4, 4
    np.testing.assert_allclose(scaled_steps(H, x, 1e-3), [1e-3, 0.5e-3, 2e-3])


@pytest.mark.parametrize("index", range(len(POINTS)))
def test_hessian_from_values_is_lme4s_deriv12(index: int) -> None:
    x, ref = POINTS[index], REF[index]["deriv12"]
    H = hessian_from_values(f, x, np.full(3, DERIV12_STEP))
    # the same formula but for the rounding of deriv12's diagonal: ε |f| / h² ≈ 4e-8
    np.testing.assert_allclose(H, ref["hessian"], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(H, hessian(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("index", range(len(POINTS)))
def test_gradient_and_hessian_of_the_checks(index: int) -> None:
    """lme4's gradient to rounding; the Hessian as deriv12's to its truncation error."""
    x, ref = POINTS[index], REF[index]["deriv12"]
    grad, hess = gradient_and_hessian(f, x, [0, 1, 2], DERIV12_STEP)
    np.testing.assert_allclose(grad, ref["gradient"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hess, ref["hessian"], rtol=1e-6, atol=1e-6)
    grad, hess = gradient_and_hessian(f, x, [2, 0], DERIV12_STEP, value=f(x))
    np.testing.assert_allclose(grad, gradient(x)[[2, 0]], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(hess, hessian(x)[np.ix_([2, 0], [2, 0])], rtol=1e-6, atol=1e-6)


def test_gradient_and_hessian_of_a_quadratic_are_exact() -> None:
    def quadratic(x: np.ndarray) -> float:
        return float((x[0] - 1) ** 2 + 10 * (x[1] - 2) ** 2 + x[0] * x[1])

    x = np.array([0.3, 0.7])
    grad, hess = gradient_and_hessian(quadratic, x, [0, 1], DERIV12_STEP)
    np.testing.assert_allclose(grad, [2 * (0.3 - 1) + 0.7, 20 * (0.7 - 2) + 0.3], rtol=1e-6)
    np.testing.assert_allclose(hess, [[2, 1], [1, 20]], rtol=1e-5)


@pytest.mark.parametrize("index", range(len(POINTS)))
def test_hessian_from_gradient_is_optimhess(index: int) -> None:
    x = POINTS[index]
    H = hessian_from_gradient(gradient, x, np.full(3, 1e-3), central=True)
    np.testing.assert_allclose(H, REF[index]["optimHess"], rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(H, H.T)
    forward = hessian_from_gradient(gradient, x, relative_steps(x, 1e-6), central=False)
    np.testing.assert_allclose(forward, hessian(x), rtol=1e-5, atol=1e-5)


def test_jacobian_columns_and_evaluations() -> None:
    x = POINTS[0]
    seen: list[np.ndarray] = []

    def recorded(z: np.ndarray) -> np.ndarray:
        seen.append(z.copy())
        return gradient(z)

    steps = relative_steps(x, 1e-6)
    g0 = gradient(x)
    J = jacobian(recorded, x, steps, central=False, f0=g0, columns=[2, 0])
    assert J.shape == (3, 2) and len(seen) == 2  # f0 given: one evaluation per column
    np.testing.assert_array_equal(seen[0][:2], x[:2])
    assert seen[0][2] == x[2] + steps[2]
    np.testing.assert_allclose(J, hessian(x)[:, [2, 0]], rtol=1e-5, atol=1e-5)
    seen.clear()
    J = jacobian(recorded, x, np.full(3, 1e-5))
    assert len(seen) == 6 and seen[1][0] < x[0] < seen[0][0]  # x + h e_j, then x − h e_j
    np.testing.assert_allclose(J, hessian(x), rtol=1e-8, atol=1e-8)


def test_hessian_from_values_evaluates_in_a_fixed_order() -> None:
    x = np.array([1.0, 2.0])
    seen: list[tuple[float, ...]] = []

    def recorded(z: np.ndarray) -> float:
        seen.append(tuple(np.round(z - x, 12)))
        return f(np.append(z, 0.5))

    hessian_from_values(recorded, x, np.array([0.1, 0.2]))
    assert seen == [
        (0.0, 0.0),  # f(x)
        (0.1, 0.0),  # along each axis, + then −
        (-0.1, 0.0),
        (0.0, 0.2),
        (0.0, -0.2),
        (0.1, 0.2),  # the pair: ±(h_1 e_1 + h_0 e_0), then ±(h_1 e_1 − h_0 e_0)
        (-0.1, -0.2),
        (-0.1, 0.2),
        (0.1, -0.2),
    ]


def test_scaled_hessian_uses_the_gradient_when_there_is_one() -> None:
    x = POINTS[0]
    approx = hessian(x) + np.diag([5.0, 5.0, 5.0])  # positive definite
    with_gradient = scaled_hessian(f, x, approx, gradient)
    steps = scaled_steps(approx, x, 1e-3)
    np.testing.assert_array_equal(
        with_gradient, hessian_from_gradient(gradient, x, steps, central=True)
    )
    from_values = scaled_hessian(f, x, approx, None)
    np.testing.assert_array_equal(
        from_values, hessian_from_values(f, x, scaled_steps(approx, x, 1e-2))
    )
    np.testing.assert_allclose(from_values, hessian(x), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("index", range(len(POINTS)))
def test_richardson_derivatives_are_numderivs_gend(index: int) -> None:
    x, ref = POINTS[index], REF[index]["genD"]
    value, grad, hess = richardson_derivatives(vector_f, x)
    np.testing.assert_allclose(value, ref["f0"], rtol=1e-14)
    lower = [(i, j) for i in range(3) for j in range(i + 1)]  # genD's order of the Hessian
    ours = np.hstack([grad, np.stack([hess[:, i, j] for i, j in lower], axis=1)])
    np.testing.assert_allclose(ours, ref["D"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hess[0], hessian(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(hess, hess.transpose(0, 2, 1))
