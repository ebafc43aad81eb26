"""What to subtract from the response before its cross-products are formed.

The last pivot of the blocked Cholesky factor is ``r² = y'y − …``: it loses to cancellation
as many digits as ``y'y`` exceeds ``r²``. Centring ``y`` (:func:`response_shift`) removes the
mean; when the fixed effects explain nearly all of the rest (a predictor on a large scale with
a steep slope, say), ``y'y`` after centring can still be 1e9 times ``r²`` and the objective is
then noisy at 1e-5, enough to stop BOBYQA far from the optimum. Subtracting the least-squares
fit ``Xβ₀`` instead leaves ``y'y`` the residual sum of squares, of the order of ``r²``; the
stored coefficients are ``β − β₀`` and the shift is added back to the estimates.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray

__all__ = ["coefficient_shift", "response_shift"]

Array = FloatArray
CANCELLATION_LIMIT = 1.0  # subtract Xβ₀ whenever its residuals are smaller than y − mean


def coefficient_shift(
    X: Array, y: Array, weights: Array | None
) -> tuple[float | Array, int | None]:
    """The shift of the stored response: a mean (with the intercept's column) or ``β₀``.

    Parameters
    ----------
    X, y
        Fixed-effects model matrix and response (offset already subtracted).
    weights
        Prior weights, or ``None``.

    Returns
    -------
    tuple
        ``(shift, intercept)`` as :func:`response_shift`
        returns them when ``X`` is an intercept alone (or empty); otherwise ``(β₀, None)``
        with ``β₀`` the weighted least-squares coefficients, unless they fail or leave a
        residual sum of squares no smaller than the centred one.
    """
    shift, intercept = response_shift(X, y, weights)
    if X.shape[1] == 0 or X.shape[1] == (intercept is not None) or X.shape[0] <= X.shape[1]:
        return shift, intercept
    sqrtw = None if weights is None else np.sqrt(weights)
    centred = y - shift if intercept is not None else y
    Xw = X if sqrtw is None else X * sqrtw[:, None]
    yw = centred if sqrtw is None else centred * sqrtw
    with np.errstate(all="ignore"):
        beta0 = scipy.linalg.lstsq(Xw, yw, lapack_driver="gelsy", check_finite=False)[0]
        residual = yw - Xw @ beta0
        before, after = float(yw @ yw), float(residual @ residual)
    if (
        not (np.all(np.isfinite(beta0)) and np.isfinite(after))
        or after >= CANCELLATION_LIMIT * before
    ):
        return shift, intercept
    if intercept is not None:
        beta0[intercept] += shift
    return beta0, None


def response_shift(X: Array, y: Array, weights: Array | None) -> tuple[float, int | None]:
    """A constant to subtract from ``y`` before forming cross-products, and the intercept.

    When ``X`` has an intercept column, subtracting the (weighted) mean of ``y`` changes only
    the intercept estimate, but keeps ``y'y`` from dwarfing the residual sum of squares: the
    last pivot of the Cholesky factor is ``r² = y'y − …`` and would otherwise lose digits to
    cancellation when the mean is large next to the residual SD.
    """
    ones = [j for j in range(X.shape[1]) if np.all(X[:, j] == 1.0)]
    if not ones or y.size == 0:
        return 0.0, None
    shift = float(np.average(y, weights=weights))
    return (shift if np.isfinite(shift) else 0.0), ones[0]
