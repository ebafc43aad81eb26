"""Blocked triangular solves with the Cholesky factor ``L`` of the penalized system.

The blocks are those of :class:`~mixedmodels.linalg.BlockedCholesky` without the ``y`` row: the
random-effects terms ``0 … m−1`` and, when asked for, the fixed effects as block ``m`` (``R_X``
on the diagonal, ``L_X·`` the rows of ``[X y]`` without ``y``). The first term's diagonal block
and a nested second term's are block-diagonal, ``(levels, k, k)``; the first term's column holds
block-sparse ``L_i0`` (also dense when small, as the factor keeps it); the rest is dense.

:class:`FactorBlocks` is the one view of those blocks: products with the sub-diagonal blocks and
the solve with a diagonal block. :func:`forward` and :func:`backward` are the one forward and
backward substitution with it, for ``L_Z`` alone (:func:`lower_solve`, :func:`upper_solve`) or
for the whole system in ``(u, β)`` (:func:`inverse_columns`).

The module reads the factor through :class:`BlockedFactor`, so the factor itself can solve with
it (:meth:`~mixedmodels.linalg.BlockedCholesky.spherical_modes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Any, Protocol

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import BlockSparse
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = [
    "BlockedFactor",
    "FactorBlocks",
    "backward",
    "forward",
    "inverse_columns",
    "lower_solve",
    "upper_solve",
]

Array = FloatArray
IntArray = NDArray[np.intp]


class BlockedFactor(Protocol):
    """What the solves read of a blocked factor (:class:`~mixedmodels.linalg.BlockedCholesky`)."""

    @property
    def terms(self) -> Sequence[RandomEffectsTerm]:
        """The random-effects terms in storage order."""

    @property
    def blockdiag(self) -> Sequence[bool]:
        """Whether each term's diagonal block is block-diagonal, ``(levels, k, k)``."""

    @property
    def diag(self) -> Sequence[Array]:
        """The diagonal blocks ``L_jj``."""

    @property
    def sparse(self) -> Sequence[BlockSparse | None]:
        """The first term's column ``L_i0`` (block-sparse; ``None`` for ``i = 0``)."""

    @property
    def first_dense(self) -> Sequence[Array | None]:
        """``L_i0`` as a dense array where it is small, else ``None``."""

    @property
    def dense(self) -> Sequence[Sequence[Array | None]]:
        """The dense blocks ``L_ij``, ``i > j ≥ 1``."""

    @property
    def xz(self) -> Sequence[Array]:
        """The ``[X y]`` row's blocks ``L_{[Xy]j}``, ``(p + 1, q_j)``."""

    @property
    def xx(self) -> Array:
        """The ``[X y]`` diagonal block."""


class FactorBlocks:
    """The blocks of ``L`` without the ``y`` row; block ``m`` is the fixed effects if ``fixed``.

    Parameters
    ----------
    L
        The factor.
    fixed
        Include the fixed effects (the system in ``(u, β)``); otherwise only ``L_Z``.
    """

    def __init__(self, L: BlockedFactor, *, fixed: bool) -> None:
        self.L = L
        self.m = len(L.terms)
        self.p = L.xx.shape[0] - 1 if fixed else 0
        self.nb = self.m + (1 if self.p else 0)
        sizes = [t.q for t in L.terms] + ([self.p] if self.p else [])
        self.offsets = [0, *accumulate(sizes)]

    def size(self, j: int) -> int:
        """Rows of block ``j``."""
        return self.offsets[j + 1] - self.offsets[j]

    def width(self, j: int) -> int:
        """Columns per level of block ``j`` (``k_j``; ``p`` for the fixed effects)."""
        return self.p if j == self.m else self.L.terms[j].k

    def is_blockdiag(self, j: int) -> bool:
        """Whether ``L_jj`` is held as ``(levels, k, k)`` diagonal blocks."""
        return j < self.m and self.L.blockdiag[j]

    def diag(self, j: int) -> Array:
        """``L_jj`` (dense lower-triangular, or ``(levels, k, k)`` when block-diagonal)."""
        return self.L.xx[: self.p, : self.p] if j == self.m else self.L.diag[j]

    def lower(self, i: int, j: int) -> Any:
        """``L_ij`` for ``i > j``: a SciPy sparse matrix for ``j = 0`` and a term ``i``."""
        if i == self.m:
            return self.L.xz[j][: self.p]
        if j == 0:
            block = self.L.sparse[i]
            assert block is not None
            return block.to_scipy()
        dense = self.L.dense[i][j]
        assert dense is not None
        return dense

    def times(self, i: int, j: int, B: Array, *, transpose: bool) -> Array:
        """``L_ij B`` (or ``L_ijᵀ B``) for ``i > j``: dense products where ``L_i0`` is small."""
        if i == self.m:
            xz = self.L.xz[j][: self.p]
            return xz.T @ B if transpose else xz @ B
        if j == 0:
            small = self.L.first_dense[i]
            if small is not None:
                return small.T @ B if transpose else small @ B
            mat = self.lower(i, 0)
            return np.asarray((mat.T @ B) if transpose else (mat @ B))
        dense = self.lower(i, j)
        return dense.T @ B if transpose else dense @ B

    def solve_diag(self, j: int, B: Array, *, transpose: bool) -> Array:
        """``L_jj⁻¹ B`` (or ``L_jj⁻ᵀ B``) for a dense ``B`` with ``q_j`` rows."""
        D = self.diag(j)
        if not self.is_blockdiag(j):
            trans = "T" if transpose else "N"
            return scipy.linalg.solve_triangular(D, B, lower=True, trans=trans, check_finite=False)
        term = self.L.terms[j]
        if term.k == 1:
            return B / D[:, 0, 0].reshape((-1,) + (1,) * (B.ndim - 1))
        blocks = D.transpose(0, 2, 1) if transpose else D
        rhs = B.reshape(term.nlevels, term.k, -1)
        return np.linalg.solve(blocks, rhs).reshape(B.shape)


def forward(blocks: FactorBlocks, V: Array) -> Array:
    """``L⁻¹ V`` by forward substitution over the blocks (``V`` stacked as the blocks)."""
    off = blocks.offsets
    out = np.empty_like(V)
    for j in range(blocks.nb):
        t = V[off[j] : off[j + 1]].copy()
        for k in range(j):
            t -= blocks.times(j, k, out[off[k] : off[k + 1]], transpose=False)
        out[off[j] : off[j + 1]] = blocks.solve_diag(j, t, transpose=False)
    return out


def backward(blocks: FactorBlocks, V: Array) -> Array:
    """``L⁻ᵀ V`` by backward substitution over the blocks (``V`` stacked as the blocks)."""
    off = blocks.offsets
    out = np.empty_like(V)
    for j in reversed(range(blocks.nb)):
        t = V[off[j] : off[j + 1]].copy()
        for i in range(j + 1, blocks.nb):
            t -= blocks.times(i, j, out[off[i] : off[i + 1]], transpose=True)
        out[off[j] : off[j + 1]] = blocks.solve_diag(j, t, transpose=True)
    return out


def lower_solve(L: BlockedFactor, V: Array) -> Array:
    """``L_Z⁻¹ V`` for ``V`` of shape ``(q, r)`` (or ``(q,)``)."""
    return forward(FactorBlocks(L, fixed=False), V)


def upper_solve(L: BlockedFactor, V: Array) -> Array:
    """``L_Z⁻ᵀ V`` for ``V`` of shape ``(q, r)`` (or ``(q,)``)."""
    return backward(FactorBlocks(L, fixed=False), V)


def inverse_columns(L: BlockedFactor, levels: IntArray, *, fixed: bool = True) -> list[Array]:
    """Columns of ``(LLᵀ)⁻¹`` for some levels of the first term, one array per block.

    Parameters
    ----------
    L
        The blocked factor.
    levels
        Levels of the first term; each gives ``k_0`` columns.
    fixed
        Include the fixed-effects block (returned last).

    Returns
    -------
    list of numpy.ndarray
        Block ``j`` is ``(q_j, len(levels)·k_0)``.
    """
    blocks = FactorBlocks(L, fixed=fixed)
    k0 = L.terms[0].k
    ncol = len(levels) * k0
    rhs = np.zeros((blocks.offsets[-1], ncol))
    rows = (np.repeat(levels, k0) * k0 + np.tile(np.arange(k0), len(levels))).astype(np.intp)
    rhs[rows, np.arange(ncol)] = 1.0
    x = backward(blocks, forward(blocks, rhs))
    off = blocks.offsets
    return [x[off[j] : off[j + 1]] for j in range(blocks.nb)]
