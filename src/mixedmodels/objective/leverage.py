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
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.objective.laplace import LaplaceEngine

__all__ = ["penalized_leverages"]


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
    G = engine.solve_observed(engine.random_part_t(w[:, None] * X), w)  # M_Z⁻¹Λ'Z'WX
    D = X - engine.random_part_multi(G)
    RX = scipy.linalg.cholesky(engine.fixed_precision(), lower=True, check_finite=False)
    E = scipy.linalg.solve_triangular(RX, D.T, lower=True, check_finite=False)
    return random + np.einsum("ki,ki->i", E, E)
