"""The last, small random-effects terms as a small problem of their own.

When the first terms of a model are large (InstEval's 2,972 students and 1,128 lecturers) and the
last ones small (its 14 departments), each evaluation of the objective is dominated by the
factorization of the large blocks, which do not depend on the small terms' θ. With the large
terms' θ fixed, Gaussian elimination of their blocks from ``Λ'AΛ + I`` leaves a Schur complement
of the size of the small terms plus ``[X y]``; and because each ``Λ_i`` multiplies the rows of
term ``i`` from the left, that complement is computed once with the small terms' templates set to
the identity::

    L_ik = Λ_iᵀ K_ik                      (k leading, i trailing; K from the identity template)
    L_TT = chol(Λ_Tᵀ S_TT Λ_T + I),       S_TT = A_TT − Σ_k K_Tk K_Tkᵀ
    L_xT = S_xT Λ_T L_TT⁻ᵀ,               S_xT = A_xT − Σ_k L_xk K_Tkᵀ
    R    = chol(S_xx − L_xT L_xTᵀ),       S_xx = A_xx − Σ_k L_xk L_xkᵀ

The objective as a function of the small terms' θ then costs microseconds, so the optimizer can
profile them out for each θ of the large terms (:mod:`mixedmodels.optimize.nested`): a third
fewer factorizations of the large blocks on InstEval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg.lapack import dtrtrs

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.kernels import chol_lower, chol_psd
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["TrailingBlocks", "TrailingFactor"]

Array = FloatArray


@dataclass(frozen=True)
class TrailingFactor:
    """The factor of the whole model for one θ of the trailing terms.

    Attributes
    ----------
    logdet_z
        ``log|L_Z|²`` over all terms (leading and trailing).
    xx
        Cholesky factor ``[R_X r]`` of the ``[X y]`` block.
    """

    logdet_z: float
    xx: Array

    def pwrss(self) -> float:
        """Penalized weighted residual sum of squares ``r²(θ)``."""
        return float(self.xx[-1, -1] ** 2)

    def logdet_x(self) -> float:
        """``log|R_X|²`` (for REML)."""
        return 2.0 * sum(math.log(v) for v in np.diagonal(self.xx)[:-1].tolist())


@dataclass(frozen=True)
class TrailingBlocks:
    """The Schur complement of the leading terms' blocks, for the trailing terms and ``[X y]``.

    Attributes
    ----------
    terms
        The trailing random-effects terms.
    zz, xz, xx
        ``S_TT`` (symmetric), ``S_xT`` and ``S_xx`` of the module docstring.
    logdet_lead
        ``log|L|²`` of the leading terms' diagonal blocks.
    """

    terms: Sequence[RandomEffectsTerm]
    zz: Array
    xz: Array
    xx: Array
    logdet_lead: float

    def factor(self, theta: Array) -> TrailingFactor:
        """The factor for the trailing terms' ``theta``.

        Raises
        ------
        numpy.linalg.LinAlgError
            When a block is not positive definite (a θ the optimizer should avoid).
        """
        scale = self.relative_scale(theta)
        if scale is not None:  # scalar terms: Λ_T is diagonal
            M, xz = self.zz * np.outer(scale, scale), self.xz * scale
        else:
            Lam = self.relative_factor(theta)
            M, xz = Lam.T @ self.zz @ Lam, self.xz @ Lam
        M.flat[:: M.shape[0] + 1] += 1.0
        L = chol_lower(M)
        right, info = dtrtrs(L, xz.T, lower=1)  # L⁻¹ (S_xT Λ_T)ᵀ
        if info != 0:
            raise np.linalg.LinAlgError("singular trailing block")
        xx = chol_psd(self.xx - right.T @ right)
        logdet = self.logdet_lead + 2.0 * float(np.sum(np.log(np.diagonal(L))))
        return TrailingFactor(logdet, xx)

    def relative_scale(self, theta: Array) -> Array | None:
        """The diagonal of ``Λ_T`` when every trailing term is scalar, else ``None``."""
        if any(term.k != 1 for term in self.terms):
            return None
        levels = [term.nlevels for term in self.terms]
        return np.repeat(np.asarray(theta, dtype=float), levels)

    def relative_factor(self, theta: Array) -> Array:
        """``Λ_T``: block diagonal, ``I ⊗ T_i`` per trailing term."""
        parts, start = [], 0
        for term in self.terms:
            T = term.template(theta[start : start + term.ntheta])
            parts.append(np.kron(np.eye(term.nlevels), T))
            start += term.ntheta
        return scipy.linalg.block_diag(*parts)
