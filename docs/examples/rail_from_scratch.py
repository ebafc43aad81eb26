"""The Rail ML fit from scratch with NumPy: dense Z, the marginal likelihood, scipy.optimize.

This is the computation of the article we started from, written as plainly as possible. The
package computes the same numbers without ever forming Z or V (see "How a fit works").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar


def profiled_deviance(theta: float, y: np.ndarray, X: np.ndarray, Z: np.ndarray) -> float:
    """-2 log-likelihood at relative SD ``theta``, with β and σ² at their optimum for it.

    The marginal covariance is ``σ² V`` with ``V = I + θ² ZZ'``; β̂ is the GLS estimate and
    ``σ̂² = r²/n`` with ``r² = (y − Xβ̂)' V⁻¹ (y − Xβ̂)``.
    """
    n = len(y)
    V = np.eye(n) + theta**2 * Z @ Z.T
    C = np.linalg.cholesky(V)  # V = CC'
    Xs, ys = np.linalg.solve(C, X), np.linalg.solve(C, y)  # "whitened" X and y
    beta = np.linalg.lstsq(Xs, ys, rcond=None)[0]
    r2 = float(np.sum((ys - Xs @ beta) ** 2))
    logdet_v = 2.0 * float(np.sum(np.log(np.diag(C))))
    return logdet_v + n * (1.0 + np.log(2.0 * np.pi * r2 / n))


def fit_rail(rail: pd.DataFrame) -> dict[str, float]:
    """Fit ``travel ~ 1 + (1 | Rail)`` by maximum likelihood; return the estimates."""
    y = rail["travel"].to_numpy(dtype=float)
    X = np.ones((len(y), 1))
    levels = sorted(rail["Rail"].astype(str).unique())
    Z = (rail["Rail"].astype(str).to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)
    best = minimize_scalar(
        profiled_deviance,
        bounds=(0.0, 50.0),
        method="bounded",
        args=(y, X, Z),
        options={"xatol": 1e-10},
    )
    theta = float(best.x)
    V = np.eye(len(y)) + theta**2 * Z @ Z.T
    Vinv_X = np.linalg.solve(V, X)
    beta = float(np.linalg.solve(X.T @ Vinv_X, Vinv_X.T @ y)[0])
    resid = y - X[:, 0] * beta
    sigma2 = float(resid @ np.linalg.solve(V, resid)) / len(y)
    return {
        "loglik": -0.5 * float(best.fun),
        "theta": theta,
        "intercept": beta,
        "sigma": float(np.sqrt(sigma2)),
        "rail_variance": sigma2 * theta**2,
    }


if __name__ == "__main__":
    import mixedmodels as mm

    for name, value in fit_rail(mm.datasets.load("Rail")).items():
        print(f"{name:>14} {value:12.6f}")
