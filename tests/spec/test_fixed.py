"""The fixed part: the triangular factor that decides the estimable columns."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from mixedmodels.spec.fixed import triangular_factor


def test_the_triangular_factor_is_scipys_to_the_bit() -> None:
    rng = np.random.default_rng(0)
    for n, p in [(180, 2), (5, 3), (3, 5), (50, 1), (200, 40)]:
        X = rng.normal(size=(n, p))
        X[:, -1] = 3.0 * X[:, 0]
        expected = scipy.linalg.qr(X, mode="r", check_finite=False)[0]
        assert triangular_factor(X).tobytes() == expected.tobytes()
        assert triangular_factor(np.asfortranarray(X)).tobytes() == expected.tobytes()
