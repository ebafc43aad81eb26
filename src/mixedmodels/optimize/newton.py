"""Fitting a GLMM in glmer's two stages, and the Hessian of the objective at the optimum.

Stage 1 (glmer's ``nAGQ = 0`` step) optimizes θ with BOBYQA while PIRLS estimates β together
with the modes. Stage 2 optimizes (θ, β) on the Laplace objective. glmer runs Nelder–Mead there
(hundreds of evaluations); here the objective's exact gradient
(:mod:`mixedmodels.objective.laplace_gradient`) drives a projected quasi-Newton method started
from a finite-difference Hessian of that gradient, which reaches the optimum to ~1e-10 in a
handful of iterations. Where no gradient is available (adaptive quadrature, or a selected
inverse too large to form) stage 2 is BOBYQA on the objective values.

The finite-difference Hessians that start the quasi-Newton steps and give the standard errors
are in :mod:`mixedmodels.optimize.differences`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.optimize import OptSummary, bobyqa

__all__ = ["Newton", "derivative_free", "quasi_newton"]

Array = FloatArray
Objective = Callable[[Array], float]
Gradient = Callable[[Array], Array]

MAXIT = 100
ARMIJO = 1e-4
DECREMENT_TOL = 1e-12  # stop when the predicted decrease −gᵀd is below this times max(1, |f|)
BOUND_TOL = 1e-12
MAX_REFRESH = 3  # fresh Hessians to confirm convergence
SCALE_SPAN = 1e10  # a diagonal of the Hessian spanning more orders is scaled first


@dataclass
class Newton:
    """Result of :func:`quasi_newton`.

    Attributes
    ----------
    x, f, g, H
        The optimum, the objective, gradient and Hessian approximation there.
    feval, geval
        Numbers of objective and gradient evaluations.
    converged
        Whether the predicted decrease fell below the tolerance.
    """

    x: Array
    f: float
    g: Array
    H: Array
    feval: int
    geval: int
    converged: bool

    def summary(self, x0: Array, lower: Array) -> OptSummary:
        """As an :class:`~mixedmodels.optimize.OptSummary`."""
        code = "FTOL_REACHED" if self.converged else "MAXEVAL_REACHED"
        settings = {"decrement_tol": DECREMENT_TOL}
        return OptSummary(
            x0, lower, self.x.copy(), self.f, self.feval, code, "newton (exact gradient)", settings
        )


def _descent_direction(H: Array, g: Array) -> Array:
    """``−H⁻¹g`` with ``H`` made positive definite (eigenvalues floored at their magnitude).

    The floor is 1e-10 of the largest eigenvalue. When the diagonal of ``H`` spans more than
    those ten orders (β of a covariate against θ when the weights are huge: Poisson counts of
    1e13), the eigenvalues are taken of ``D⁻¹HD⁻¹`` with ``D² = |diag H|`` instead, so that
    the floor does not swamp the curvature of the small parameters.
    """
    diag = np.abs(np.diag(H))
    positive = diag[diag > 0]
    D = np.ones(len(g))
    if positive.size and float(positive.max()) > SCALE_SPAN * float(positive.min()):
        D = np.sqrt(np.where(diag > 0, diag, float(positive.max())))
    vals, vecs = np.linalg.eigh(0.5 * (H + H.T) / np.outer(D, D))
    top = max(float(np.max(np.abs(vals), initial=0.0)), 1e-300)
    vals = np.maximum(np.abs(vals), 1e-10 * top)
    return -(vecs @ ((vecs.T @ (g / D)) / vals)) / D


def _escape(H: Array, x: Array, lower: Array) -> Array | None:
    """A step along negative curvature, for a stationary point that is not a minimum."""
    vals, vecs = np.linalg.eigh(0.5 * (H + H.T))
    if vals[0] >= 0:
        return None
    v = vecs[:, 0]
    at_bound = x <= lower + BOUND_TOL
    if np.any(v[at_bound] < 0):
        v = -v
    return v * 0.1 * (1.0 + float(np.max(np.abs(x))))


def _free(x: Array, g: Array, lower: Array) -> NDArray[np.bool_]:
    """Coordinates that may move: not on a bound with the gradient pushing outwards."""
    return np.asarray(~((x <= lower + BOUND_TOL) & (g > 0)), dtype=bool)


def quasi_newton(
    f: Objective,
    grad: Gradient,
    x0: Array,
    lower: Array,
    H0: Array,
    start: tuple[float, Array] | None = None,
    tol: float = DECREMENT_TOL,
    refresh: Callable[[Array, Array], Array] | None = None,
) -> Newton:
    """Minimize ``f`` subject to ``x ≥ lower`` from ``x0``, starting with the Hessian ``H0``.

    Projected Newton steps with an Armijo line search; the Hessian approximation is updated
    by BFGS (skipped when the curvature condition fails). ``start`` may give ``f`` and the
    gradient at ``x0`` when they are known. Stops when the predicted decrease ``−gᵀd`` is
    below ``tol`` times ``max(1, |f|)`` — confirmed, when ``refresh(x, g)`` is given, with a
    freshly computed Hessian (BFGS can overstate the curvature along a flat ridge).
    """
    x = np.maximum(np.asarray(x0, dtype=float), lower)
    if start is None or not np.array_equal(x, x0):
        fx, g = f(x), grad(x)
    else:
        fx, g = start
    H = np.array(H0, dtype=float)
    feval, geval, converged, refreshes = 1, 1, False, 0
    tol = tol * max(1.0, abs(fx)) if math.isfinite(fx) else tol
    for _ in range(MAXIT):
        d = _direction(H, g, x, lower)
        if -float(g @ d) < tol:
            free = _free(x, g, lower)
            escape = _escape(H[np.ix_(free, free)], x[free], lower[free])
            if escape is None and refresh is not None and refreshes < MAX_REFRESH:
                refreshes += 1
                H = refresh(x, g)
                d = _direction(H, g, x, lower)
                if -float(g @ d) >= tol:
                    escape = d[free]
                else:
                    escape = _escape(H[np.ix_(free, free)], x[free], lower[free])
            if escape is None or not np.isfinite(fx):
                converged = True
                break
            d[free] = escape
        step, x_new, f_new, feval = _line_search(f, x, fx, g, d, lower, feval)
        if step is None:
            converged = -float(g @ d) < 1e3 * tol
            break
        g_new = grad(x_new)
        geval += 1
        H = _bfgs(H, x_new - x, g_new - g)
        x, fx, g = x_new, f_new, g_new
    return Newton(x, fx, g, H, feval, geval, converged)


def _direction(H: Array, g: Array, x: Array, lower: Array) -> Array:
    """The projected quasi-Newton direction (zero on bound-active coordinates)."""
    free = _free(x, g, lower)
    d = np.zeros_like(x)
    d[free] = _descent_direction(H[np.ix_(free, free)], g[free])
    return d


def _line_search(
    f: Objective, x: Array, fx: float, g: Array, d: Array, lower: Array, feval: int
) -> tuple[float | None, Array, float, int]:
    """Backtracking along ``d`` (projected on the bounds) to an Armijo decrease."""
    alpha = 1.0
    for _ in range(30):
        x_new = np.maximum(x + alpha * d, lower)
        f_new = f(x_new)
        feval += 1
        if math.isfinite(f_new) and f_new <= fx + ARMIJO * float(g @ (x_new - x)):
            return alpha, x_new, f_new, feval
        alpha *= 0.5
    return None, x, fx, feval


def _bfgs(H: Array, s: Array, y: Array) -> Array:
    """The BFGS update of a Hessian approximation."""
    sy = float(s @ y)
    if sy <= 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
        return H
    Hs = H @ s
    return H + np.outer(y, y) / sy - np.outer(Hs, Hs) / float(s @ Hs)


def derivative_free(
    f: Objective, x0: Array, lower: Array, *, initial_step: Array | None = None
) -> OptSummary:
    """Stage 2 without a gradient: BOBYQA on the objective values."""
    return bobyqa(f, x0, lower, initial_step=initial_step, ftol_rel=1e-13)
