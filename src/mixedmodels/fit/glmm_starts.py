"""Where glmer's two stages start, for objectives whose θ scale is far from 1.

Families with a scale (Gaussian with a link, Gamma, inverse Gaussian) put lme4's Laplace
objective together from parts on two scales: PIRLS and the log-determinant take the random
effects at unit scale, ``aic`` takes the dispersion ``dev / n``. With a Gaussian response on
the scale of hundreds (``μ' ≈ μ`` for the log link) the working weights are ~10⁴–10⁵, θ matters
around 10⁻³, and the objective need not be unimodal in θ: for ``gaussian(link = "inverse")``
on Orthodont it falls from 729 at θ = 1 to 446 at θ = 0.003, rises to 501 at θ = 0.001 and
falls again to 481 at θ = 0. lme4's derivative-free search walks down from θ = 1 into the first
basin; a Newton step from θ = 1 overshoots to the boundary. Two safeguards:

- :func:`ladder_start`: stage 1 starts from the best of ``s θ₀`` over a geometric ladder of
  ``s`` (families with a scale only);
- :func:`inside_start`: stage 2 moves a θ that stage 1 left at (or near) zero inside — an even
  objective is stationary on the boundary — but no further than where the objective is still
  within :data:`INSIDE_TOL` of its value at the start.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from mixedmodels._typing import FloatArray

__all__ = ["inside_start", "ladder_start"]

Array = FloatArray
LADDER = 10.0 ** -np.arange(0.0, 4.01, 0.5)  # 1, 10^-0.5, ..., 10^-4
BOUNDARY_START = 1e-2  # where stage 2 starts a standard deviation that stage 1 left at zero
INSIDE_TOL = 0.1  # largest rise of the objective that moving inside may cost
INSIDE_FLOOR = 1e-6  # the smallest value moved to


def ladder_start(objective: Callable[[Array], float], theta0: Array) -> Array:
    """The best start ``s θ₀`` of stage 1 over the ladder ``s = 1, 10^-½, ..., 10⁻⁴``.

    Parameters
    ----------
    objective
        Stage 1's objective (β inside PIRLS); evaluated from ``s = 1`` downwards, so that each
        PIRLS starts from the modes of the previous rung.
    theta0
        The default start (lme4's: 1 on the diagonals, 0 off them).

    Returns
    -------
    numpy.ndarray
        ``theta0`` scaled by the rung with the lowest finite objective (``theta0`` if none).
    """
    best, best_value = theta0, math.inf
    for s in LADDER:
        value = objective(s * theta0)
        if math.isfinite(value) and value < best_value:
            best, best_value = s * theta0, value
    return np.array(best, dtype=float)


def inside_start(
    objective: Callable[[Array], float], x0: Array, bounded: npt.NDArray[np.bool_]
) -> Array:
    """``x0`` with its bounded components below :data:`BOUNDARY_START` moved inside.

    Each is moved to ``BOUNDARY_START``, or to a tenth, a hundredth, ... of it while that
    raises the objective by more than :data:`INSIDE_TOL` over its value at ``x0``; a
    component already above the value reached stays where it is.

    Parameters
    ----------
    objective
        Stage 2's objective in ``(θ, β)``.
    x0
        Stage 1's result.
    bounded
        Which components have the lower bound 0 (the diagonals of the templates).
    """
    low = bounded & (x0 < BOUNDARY_START)
    if not np.any(low):
        return x0.copy()
    f0 = objective(x0)
    value = BOUNDARY_START
    while True:
        inside = x0.copy()
        inside[low] = np.maximum(x0[low], value)
        rise = objective(inside) - f0
        if not math.isfinite(f0) or (math.isfinite(rise) and rise <= INSIDE_TOL):
            return inside
        if value / 10.0 < INSIDE_FLOOR:
            return inside
        value /= 10.0
