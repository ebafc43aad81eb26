"""Leverages of a GLMM's penalized weighted least squares at the conditional modes.

At convergence PIRLS solves the penalized weighted least-squares system in ``(u, β)``::

    M = [Λ'Z'WZΛ + I   Λ'Z'WX]        W the working weights of the engine's factor
        [X'WZΛ         X'WX  ]

and the hat values of a GLMM (lme4's ``hatvalues``) are ``aᵢ vᵢᵀ M⁻¹ vᵢ`` with
``vᵢ = [Λᵀzᵢ; xᵢ]`` (:func:`mixedmodels.results.glmm.glmm_hat_values` supplies the weights
``aᵢ``); the same ``vᵢᵀ M⁻¹ vᵢ`` is the link-scale variance of the fitted values in
:mod:`mixedmodels.results.glmm_intervals`. By the block elimination of ``M``, with
``M_Z = Λ'Z'WZΛ + I``, ``G = M_Z⁻¹Λ'Z'WX`` (``q × p``) and the Schur complement
``R_X R_Xᵀ = X'WX − X'WZΛ G``::

    vᵢᵀ M⁻¹ vᵢ = ζᵢᵀ M_Z⁻¹ ζᵢ + ‖R_X⁻¹ dᵢ‖²,     ζᵢ = Λᵀzᵢ,   dᵢ = xᵢ − Gᵀζᵢ.

The first part is ``Σ_r ζ_ir · ρ_ir`` with the engine's ``ρ`` (the rows of ``M_Z⁻¹Λ'Z'`` at the
levels of row ``i``, from the selected inverse of the blocked factor, or the diagonal of
``M_Z`` for one scalar term); the second takes ``p`` solves with the factor for ``G``, one
product ``ZΛG`` (``n × p``) and a triangular solve with the Cholesky factor of the engine's
Schur complement. ``Z`` is never formed densely and nothing is inverted.

For other rows ``v = [ζ_j at levels g_j (some terms j); x]`` (new data, some of the terms:
:func:`penalized_quadratic_forms`) the same two parts are taken, ``ζᵀM_Z⁻¹ζ`` from the blocks
of ``M_Z⁻¹`` at the rows' levels and ``Gᵀζ`` from the rows of ``G`` at those levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import NotSupportedError
from mixedmodels.linalg.selected_inverse import RowBlocks
from mixedmodels.objective.laplace import BlockedEngine, LaplaceEngine
from mixedmodels.objective.laplace_scalar import ScalarEngine

__all__ = ["penalized_leverages", "penalized_quadratic_forms"]

IntArray = NDArray[np.intp]


def penalized_leverages(engine: LaplaceEngine) -> FloatArray:
    """``vᵢᵀ M⁻¹ vᵢ`` for every observation, at the engine's current modes and factor.

    Parameters
    ----------
    engine
        An engine whose modes are fitted (the model at its estimates).

    Returns
    -------
    numpy.ndarray
        One value per observation; times the working weights they are the diagonal of the
        penalized least squares' hat matrix, times the prior weights lme4's ``hatvalues``.
    """
    w = engine._current().w
    random = np.zeros(len(w))
    for zeta, rho in zip(engine.zeta(), engine.leverages(), strict=True):
        random += np.einsum("ik,ik->i", zeta, rho)
    X = engine.data.X
    if X.shape[1] == 0:
        return random
    D = X - engine.random_part_multi(_coupling(engine))
    return random + _fixed_forms(engine, D)


def penalized_quadratic_forms(
    engine: LaplaceEngine,
    levels: Sequence[IntArray | None],
    zeta: Sequence[FloatArray | None],
    X: FloatArray,
) -> FloatArray:
    """``vᵀ M⁻¹ v`` for given rows ``v = [ζ_j at levels g_j; x]`` (e.g. of new data).

    Parameters
    ----------
    engine
        An engine whose modes are fitted (the model at its estimates).
    levels
        Per term, each row's level (``-1``: no entry), or ``None`` for a term left out.
    zeta
        Per term, the rows' ``ζ_j = z_j T_j`` ``(n, k_j)`` (``None`` where ``levels`` is).
    X
        The rows' fixed-effects vectors ``(n, p)``.

    Returns
    -------
    numpy.ndarray
        One value per row; :func:`penalized_leverages` for the fitted rows and all terms.
    """
    blocks = RowBlocks()
    for j, (g, values) in enumerate(zip(levels, zeta, strict=True)):
        if g is not None and values is not None:
            blocks.add(j, g, values)
    random = _random_forms(engine, blocks) if blocks.levels else np.zeros(len(X))
    if X.shape[1] == 0:
        return random
    G = _coupling(engine)
    D = np.array(X, dtype=np.float64)
    for j, g in blocks.levels.items():
        term, start = engine.data.terms[j], engine.offsets[j]
        Gj = G[start : start + term.q].reshape(term.nlevels, term.k, -1)
        D -= np.einsum("ik,ikp->ip", blocks.values[j], Gj[g])
    return random + _fixed_forms(engine, D)


def _random_forms(engine: LaplaceEngine, blocks: RowBlocks) -> FloatArray:
    """``ζᵀ M_Z⁻¹ ζ`` per row: one scalar term's diagonal ``M_Z``, or the selected inverse.

    Pairs of levels off the pattern of the blocked factor come from full inverse columns.
    """
    if isinstance(engine, ScalarEngine):
        return np.asarray(blocks.values[0][:, 0] ** 2 / engine.m[blocks.levels[0]])
    if not isinstance(engine, BlockedEngine):
        raise NotSupportedError(f"no quadratic forms of M⁻¹ for a {type(engine).__name__}")
    return engine._selected().quadratic_forms(blocks)


def _coupling(engine: LaplaceEngine) -> FloatArray:
    """``G = M_Z⁻¹Λ'Z'WX`` (``q × p``) at the engine's weights."""
    w = engine._current().w
    return engine.solve_observed(engine.random_part_t(w[:, None] * engine.data.X), w)


def _fixed_forms(engine: LaplaceEngine, D: FloatArray) -> FloatArray:
    """``‖R_X⁻¹ dᵢ‖²`` for the rows ``dᵢ = xᵢ − Gᵀζᵢ`` of ``D``."""
    RX = scipy.linalg.cholesky(engine.fixed_precision(), lower=True, check_finite=False)
    E = scipy.linalg.solve_triangular(RX, D.T, lower=True, check_finite=False)
    return np.asarray(np.einsum("ki,ki->i", E, E))
