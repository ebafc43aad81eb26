"""The fixed-effects block of PIRLS's factor, kept accurate when the working weights are huge.

The blocked Cholesky factor of ``[Λ'Z'WZΛ + I, Λ'Z'WX; X'WZΛ, X'WX]`` gets the ``X`` block
``R_X R_Xᵀ = X'WX − CᵀC`` (``C = L_Z⁻¹Λ'Z'WX``) by a subtraction. When ``W`` is huge (Poisson
counts of 1e13: ``X'WX`` ~ 1e15 for an intercept whose Schur complement is ~ 40) the subtraction
keeps almost no digits, and the complement can even come out indefinite. The same matrix is the
minimum of a penalized least-squares problem,

    R_X R_Xᵀ = (X − ZΛB)'W(X − ZΛB) + BᵀB,    B = (Λ'Z'WZΛ + I)⁻¹Λ'Z'WX,

a sum of two positive semi-definite parts without cancellation, in which an error in ``B``
enters only at second order. It costs a solve with ``p`` right-hand sides and a pass over the
observations, so it replaces the subtraction only where that has lost digits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.blocksolve import lower_solve, upper_solve

__all__ = ["fixed_factor", "increments", "schur_by_sums"]

Array = FloatArray
LOST = 1e-8  # a complement's diagonal below this fraction of X'WX's has lost ≥ 8 digits


def fixed_factor(
    L: BlockedCholesky, X: Array, weights: Array, random_part_multi: Callable[[Array], Array]
) -> Array:
    """``R_X``, the lower Cholesky factor of the Schur complement of ``X'WX`` in ``L``.

    Parameters
    ----------
    L
        A factor just updated with blocks built from ``weights``.
    X
        The fixed-effects model matrix.
    weights
        The weights ``W`` of the factor's blocks.
    random_part_multi
        ``V ↦ ZΛV`` at the factor's θ.

    Returns
    -------
    numpy.ndarray
        ``L``'s own block unless the subtraction lost digits, else the factor of
        :func:`schur_by_sums`.
    """
    p = X.shape[1]
    RX = L.xx[:p, :p]
    if p == 0:
        return RX
    complement = np.sum(RX * RX, axis=1)
    if np.all(np.isfinite(complement)) and np.all(complement > LOST * np.diagonal(L.A.xx)[:p]):
        return RX
    S = schur_by_sums(L, X, weights, random_part_multi)
    return np.asarray(scipy.linalg.cholesky(S, lower=True, check_finite=False))


def schur_by_sums(
    L: BlockedCholesky, X: Array, weights: Array, random_part_multi: Callable[[Array], Array]
) -> Array:
    """``(X − ZΛB)'W(X − ZΛB) + BᵀB`` with ``B = L_Z⁻ᵀL_Z⁻¹Λ'Z'WX`` (the module docstring)."""
    p = X.shape[1]
    C = np.vstack([xz[:p].T for xz in L.xz])  # L_Z⁻¹Λ'Z'WX, (q, p)
    B = upper_solve(L, C)
    R = X - random_part_multi(B)
    return np.asarray(R.T @ (weights[:, None] * R) + B.T @ B)


def increments(L: BlockedCholesky, RX: Array | None, u: Array) -> tuple[Array, Array]:
    """The PIRLS (or Newton) step ``(δu, δβ)`` from a factor of the working residuals.

    ``L`` holds the blocks of ``[Z X r]'W[Z X r]`` with ``r = z − η`` the working residual, so
    that ``Λ'Z'Wr − u`` and ``X'Wr`` are −½ the gradient of the penalized deviance, formed from
    ``y − μ`` directly. Solving for the step rather than for the new ``(u, β)`` makes the
    solve's rounding relative to the step, which goes to zero, instead of to ``η``: with working
    weights of 1e13 an error of 1e-7 in ``η`` already adds ~1 to every deviance residual.

    Parameters
    ----------
    L
        The factor at the current weights.
    RX
        :func:`fixed_factor`'s ``R_X`` to update β too, or ``None`` (β fixed).
    u
        The current spherical random effects.
    """
    p = L.xx.shape[0] - 1
    a = np.concatenate([xz[p] for xz in L.xz]) - lower_solve(L, u[:, None])[:, 0]
    if RX is None or p == 0:
        return upper_solve(L, a[:, None])[:, 0], np.zeros(p)
    C = np.vstack([xz[:p].T for xz in L.xz])
    rhs = L.A.xx[:p, p] - C.T @ a
    db = scipy.linalg.cho_solve((RX, True), rhs, check_finite=False)
    return upper_solve(L, (a - C @ db)[:, None])[:, 0], db
