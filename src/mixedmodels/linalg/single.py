"""The factor of a model with one random-effects term of one or two columns, in closed form.

``Reaction ~ Days + (Days | Subject)`` and ``y ~ 1 + (1 | g)`` are the most common models, and
small: for their tens of levels the cost of an evaluation is the number of NumPy calls, not
arithmetic. With one term, ``L`` has three blocks — the term's ``2×2`` (or scalar) diagonal
blocks, the ``[X y]`` row and ``R`` — and each is a few whole-array formulas in the entries of
``A`` and of the template ``T = [[t₀, 0], [t₁, t₂]]``::

    D = TᵀA_gT + I:  d₀₀ = t₀²a₀₀ + 2t₀t₁a₁₀ + t₁²a₁₁ + 1,  d₁₀ = t₂(t₀a₁₀ + t₁a₁₁),
                     d₁₁ = t₂²a₁₁ + 1
    L_g = chol(D):   l₀₀ = √d₀₀,  l₁₀ = d₁₀ / l₀₀,  l₁₁ = √(d₁₁ − l₁₀²)
    [X y] row:       B = A_xz T,  X₀ = B₀ / l₀₀,  X₁ = (B₁ − X₀ l₁₀) / l₁₁
    R = chol(A_xx − X Xᵀ)

(about 20 NumPy calls instead of 60 through the general blocked update; the same numbers to
rounding, checked in ``tests/linalg/test_single.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import CrossProducts
from mixedmodels.linalg.kernels import rdiv_lower_t

if TYPE_CHECKING:
    from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["CriterionDerivatives", "OneTerm", "entries_are_theta"]

Array = FloatArray
_EYE = np.eye(2)[:, :, None]
_ENTRY_AT = np.array([0, 1, 3])  # [b, a] of T[0, 0], T[1, 0], T[1, 1] in a flat 2 × 2
_PAIR_AT = np.array([0, 3])  # ... of T[0, 0], T[1, 1]


def entries_are_theta(terms: Sequence[RandomEffectsTerm]) -> bool:
    """True when θ is the templates' lower-triangle entries themselves (lme4's terms)."""
    return all(term.structure.linear and not term.structured for term in terms)


@dataclass(frozen=True)
class CriterionDerivatives:
    """Derivatives of the pieces of the profiled criterion along each template entry.

    Attributes
    ----------
    logdet_z
        ``∂ log|L_Z|²``.
    logdet_x
        ``∂ log|R_X|²``.
    log_r2
        ``∂ log r²``.
    """

    logdet_z: Array
    logdet_x: Array
    log_r2: Array


@dataclass(frozen=True)
class OneTerm:
    """The entries of ``A`` the closed form reads, as contiguous arrays.

    Attributes
    ----------
    diag
        ``a₀₀`` (and ``a₁₀``, ``a₁₁`` for two columns), one value per level.
    xz
        ``A_xz`` per column of the term, ``(p + 1, levels)`` each.
    xx
        ``A_xx``.
    pair
        True for two scalar terms on one factor, stored as two terms.
    """

    diag: tuple[Array, ...]
    xz: tuple[Array, ...]
    xx: Array
    pair: bool = False

    @classmethod
    def of(cls, A: CrossProducts) -> OneTerm | None:
        """The closed form's inputs, or ``None`` unless ``A`` has one term of one or two columns.

        Two scalar terms on the same levels (``(x || g)``: ``(1 | g) + (0 + x | g)``) are one
        term of two columns with a diagonal template (``pair``).
        """
        if len(A.diag) == 2:
            return cls._pair(A)
        if len(A.diag) != 1 or A.diag[0].shape[1] > 2:
            return None
        D, B = A.diag[0], A.xz[0]
        entries = [(0, 0)] if D.shape[1] == 1 else [(0, 0), (1, 0), (1, 1)]
        diag = tuple(D[:, i, j].copy() for i, j in entries)
        xz = tuple(np.ascontiguousarray(B[:, :, c]) for c in range(D.shape[1]))
        return cls(diag, xz, A.xx)

    @classmethod
    def _pair(cls, A: CrossProducts) -> OneTerm | None:
        """Two scalar terms whose cross block has exactly one entry per level, on its diagonal."""
        cross = A.sparse[1]
        levels = A.diag[0].shape[0]
        same_levels = (
            cross is not None
            and A.diag[0].shape[1:] == A.diag[1].shape[1:] == (1, 1)
            and A.diag[1].shape[0] == levels
            and cross.data.shape == (levels, 1, 1)
            and np.array_equal(cross.indptr, np.arange(levels + 1))
            and np.array_equal(cross.indices, np.arange(levels))
        )
        if not same_levels:
            return None
        assert cross is not None
        diag = (A.diag[0][:, 0, 0].copy(), cross.data[:, 0, 0].copy(), A.diag[1][:, 0, 0].copy())
        xz = (np.ascontiguousarray(A.xz[0][:, :, 0]), np.ascontiguousarray(A.xz[1][:, :, 0]))
        return cls(diag, xz, A.xx, pair=True)

    def factor(self, theta: Array) -> tuple[Array, float, Array, Array]:
        """The factor's pieces for covariance parameters ``theta`` (lme4's order).

        That is ``L_g`` ``(levels, k, k)``, ``log|L_Z|²``, the ``[X y]`` row
        ``(p + 1, levels·k)`` and the Schur complement ``A_xx − X Xᵀ`` (to factor). The
        template is ``[[θ₀, 0], [θ₁, θ₂]]``, or ``diag(θ₀, θ₁)`` for a pair of scalar terms.

        Raises
        ------
        numpy.linalg.LinAlgError
            When a diagonal block is not positive definite.
        """
        if len(self.diag) == 1:
            return self._scalar(float(theta[0]))
        if self.pair:
            t0, t1, t2 = float(theta[0]), 0.0, float(theta[1])
        else:
            t0, t1, t2 = (float(t) for t in theta)
        a00, a10, a11 = self.diag
        d00 = (t0 * t0) * a00 + (2.0 * t0 * t1) * a10 + (t1 * t1) * a11 + 1.0
        d10 = (t2 * t0) * a10 + (t2 * t1) * a11
        levels = len(a00)
        L = np.zeros((levels, 4))
        l00 = np.sqrt(d00, out=L[:, 0])
        l10 = np.divide(d10, l00, out=L[:, 2])
        pivot = (t2 * t2) * a11 + 1.0 - l10 * l10
        if not min(d00.min(), pivot.min()) > 0:
            raise np.linalg.LinAlgError("a diagonal block is not positive definite")
        l11 = np.sqrt(pivot, out=L[:, 3])
        x0, x1 = self.xz
        X = np.empty((x0.shape[0], levels, 2))
        first = np.divide(t0 * x0 + t1 * x1, l00, out=X[:, :, 0])
        np.divide(t2 * x1 - first * l10, l11, out=X[:, :, 1])
        row = X.reshape(x0.shape[0], 2 * levels)
        logdet = float(np.log(d00 * pivot).sum())
        return L.reshape(levels, 2, 2), logdet, row, self.xx - row @ row.T

    def _scalar(self, t: float) -> tuple[Array, float, Array, Array]:
        """The same for a scalar term: ``d = t²a + 1``, ``X = t A_xz / √d``."""
        d = (t * t) * self.diag[0] + 1.0
        if not d.min() > 0:
            raise np.linalg.LinAlgError("a diagonal block is not positive definite")
        root = np.sqrt(d)
        row = self.xz[0] * (t / root)
        return root.reshape(-1, 1, 1), float(np.log(d).sum()), row, self.xx - row @ row.T

    def derivatives(self, entries: Array, R: Array) -> CriterionDerivatives:
        """The criterion's pieces differentiated along the template entries, in closed form.

        ``entries`` are the template's free entries as :meth:`factor` takes them and ``R`` the
        factor of the Schur complement there. Per level, with ``D = TᵀA_gT + I``,
        ``F = TD⁻¹``, ``K = I − FTᵀA_g`` and ``Q = R⁻¹A_xz`` (its last row ``q``), along the
        entry ``T[a, b]``::

            ∂ log|D|    = 2 (FᵀA_g)[b, a]
            ∂ log|R_X|² = −2 Σ_rows (FᵀQ_r)[b] (Q_rᵀK)[a]     (the rows of Q but the last)
            ∂ log r²    = −2 (Fᵀq)[b] (qᵀK)[a]

        summed over the levels (from ``∂(TD⁻¹Tᵀ) = K E Fᵀ + F EᵀKᵀ`` for ``E = e_a e_bᵀ``
        and the Schur complement ``A_xx − Σ A_xz T D⁻¹ Tᵀ A_zx``).
        """
        if len(self.diag) == 1:
            return self._scalar_derivatives(float(entries[0]), R)
        if self.pair:
            t0, t1, t2 = float(entries[0]), 0.0, float(entries[1])
        else:
            t0, t1, t2 = (float(t) for t in entries)
        # the levels' D, D⁻¹, F = TD⁻¹ and P = FTᵀ as rows of (entries, levels) arrays: each a
        # fixed linear map of the one before (T is the same for every level)
        D = np.array([[t0 * t0, 2 * t0 * t1, t1 * t1], [0, t2 * t0, t2 * t1], [0, 0, t2 * t2]])
        D = D @ self.diag_rows
        D[0] += 1.0
        D[2] += 1.0
        inverse = D[::-1] / (D[0] * D[2] - D[1] * D[1])  # [i00, −i10, i11]
        inverse[1] *= -1.0
        to_f = np.array([[t0, 0, 0], [0, t0, 0], [t1, t2, 0], [0, t1, t2]])
        to_p = np.array([[t0, 0, 0, 0], [t1, t2, 0, 0], [0, 0, t0, 0], [0, 0, t1, t2]])
        levels = inverse.shape[1]
        F = (to_f @ inverse).reshape(2, 2, levels)
        P = ((to_p @ to_f) @ inverse).reshape(2, 2, levels)
        K = _EYE - np.einsum("del,eal->dal", P, self.gram)
        Q = rdiv_lower_t(self.stacked.T, R).T.reshape(-1, 2, levels)  # [row, column, level]
        C = np.empty((2, 2, 2, levels))  # per level QᵀQ over the X rows, and over the y row
        np.einsum("rcl,rdl->cdl", Q[:-1], Q[:-1], out=C[0])
        np.multiply(Q[-1][:, None, :], Q[-1][None, :, :], out=C[1])
        N = np.einsum("cbl,scdl,dal->sba", F, C, K).reshape(2, 4)
        ldz = 2.0 * np.einsum("cbl,cal->ba", F, self.gram).reshape(4)
        # the entry T[a, b] reads [b, a] of each sum: flat positions 2b + a
        at = _PAIR_AT if self.pair else _ENTRY_AT
        return CriterionDerivatives(ldz[at], -2.0 * N[0, at], -2.0 * N[1, at])

    @cached_property
    def diag_rows(self) -> Array:
        """``a₀₀, a₁₀, a₁₁`` of every level as the rows of one array."""
        return np.stack(self.diag)

    @cached_property
    def gram(self) -> Array:
        """The levels' ``2 × 2`` blocks of ``A_g`` as ``(2, 2, levels)``."""
        a00, a10, a11 = self.diag
        return np.stack([np.stack([a00, a10]), np.stack([a10, a11])])

    @cached_property
    def stacked(self) -> Array:
        """``A_xz`` with the term's columns side by side, ``(p + 1, k·levels)``."""
        return np.hstack(self.xz)

    def _scalar_derivatives(self, t: float, R: Array) -> CriterionDerivatives:
        """The same for a scalar term: ``F = t/d``, ``K = 1/d``."""
        d = (t * t) * self.diag[0] + 1.0
        Q = rdiv_lower_t(self.xz[0].T, R).T
        sums = np.einsum("rl,rl,l->r", Q, Q, t / (d * d))
        ldz = 2.0 * float(np.sum(self.diag[0] * (t / d)))
        return CriterionDerivatives(
            np.array([ldz]), np.array([-2.0 * sums[:-1].sum()]), np.array([-2.0 * sums[-1]])
        )
