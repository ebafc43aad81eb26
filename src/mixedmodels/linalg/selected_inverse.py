"""Entries of ``(LLᵀ)⁻¹`` on the pattern of the blocked factor ``L`` (Takahashi's recursion).

``L`` is the blocked Cholesky factor of the penalized system in ``(u, β)`` (the ``y`` row
dropped), so ``σ² (LLᵀ)⁻¹`` is the conditional covariance of the spherical random effects and
the fixed effects given the data. Hat values, prediction intervals and conditional variances
need only small pieces of it: for an observation, the blocks at the levels the row belongs to.
Those pairs of levels are non-zero blocks of ``A = [Z X]'[Z X]``, hence of ``L``, and the
selected inverse ``S`` on the pattern of ``L`` follows from ``S L = L⁻ᵀ`` column block by
column block, last to first::

    S_ij = −(Σ_{k>j} S_ik L_kj) L_jj⁻¹                      (i > j)
    S_jj = L_jj⁻ᵀ L_jj⁻¹ − (Σ_{k>j} S_kjᵀ L_kj) L_jj⁻¹

Blocks between the terms after the first (and the fixed effects) are dense, as in ``L``; the
first term's column keeps the sparsity of ``L``: only its diagonal blocks and the stored blocks
of ``L_i0`` are computed (by dense products where the factor keeps ``L_i0`` dense, small, and by
sparse ones otherwise). The cost is that of one factorization; ``Z`` and the whole inverse are
never formed. A pair of levels that never occur together in the data (new data) is read from
full columns of the inverse (:func:`~mixedmodels.linalg.blocksolve.inverse_columns`).

Without the fixed effects, ``S = (L_Z L_Zᵀ)⁻¹ = M⁻¹`` for ``M = Λ'Z'WZΛ + I``: the conditional
variances of the random effects and the leverages of the Laplace objective's gradient. This is
the one selected inverse of the package: hat values, prediction intervals, conditional variances
and the GLMM gradient all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.blocksolve import BlockedFactor, FactorBlocks, inverse_columns
from mixedmodels.linalg.crossprod import BlockSparse

__all__ = ["RowBlocks", "SelectedInverse", "selected_inverse", "selected_inverse_cost"]

Array = FloatArray
IntArray = NDArray[np.intp]
CHUNK = 4_000_000  # entries of a dense intermediate per chunk
ROW_CHUNK = 20_000  # rows per chunk of the quadratic forms


@dataclass
class RowBlocks:
    """One row vector ``v`` per observation, given block by block.

    Attributes
    ----------
    levels
        For each block (term index, or ``m`` for the fixed effects), the level of each row;
        ``-1`` for no contribution (the fixed-effects block uses level 0).
    values
        For each block, the ``(n, k)`` entries of ``v`` at that level.
    """

    levels: dict[int, IntArray] = field(default_factory=dict)
    values: dict[int, Array] = field(default_factory=dict)

    def add(self, block: int, levels: IntArray, values: Array) -> None:
        """Set the entries of one block; rows with level ``-1`` contribute nothing."""
        missing = levels < 0
        self.levels[block] = np.where(missing, 0, levels).astype(np.intp)
        self.values[block] = np.where(missing[:, None], 0.0, values)


@dataclass
class SelectedInverse:
    """``(LLᵀ)⁻¹`` on the pattern of ``L``.

    Attributes
    ----------
    L
        The factor it was computed from.
    fixed
        Whether the fixed effects are included (block ``m``, the number of terms).
    first_diag
        Diagonal ``k×k`` blocks of the first term, ``(levels, k, k)``.
    first_col
        Blocks of the first term's column on the pattern of ``L_i0`` (index ``i ≥ 1``).
    fixed_first
        The fixed-effects rows of the first term's column, ``(p, q_0)``.
    dense
        Blocks ``(i, j)``, ``i ≥ j ≥ 1``: dense, or ``(levels, k, k)`` diagonal blocks for a
        block-diagonal ``L_jj``.
    """

    L: BlockedFactor
    fixed: bool
    first_diag: Array
    first_col: dict[int, BlockSparse]
    fixed_first: Array
    dense: dict[tuple[int, int], Array]
    _keys: dict[int, NDArray[np.int64]] = field(default_factory=dict)

    @property
    def nterms(self) -> int:
        """Number of random-effects terms ``m`` (the fixed-effects block has index ``m``)."""
        return len(self.L.terms)

    def diagonal_blocks(self, j: int) -> Array:
        """Diagonal ``k×k`` blocks ``(levels, k, k)`` of term ``j``."""
        if j == 0:
            return self.first_diag
        block = self.dense[(j, j)]
        if block.ndim == 3:
            return block
        term = self.L.terms[j]
        B4 = block.reshape(term.nlevels, term.k, term.nlevels, term.k)
        idx = np.arange(term.nlevels)
        return B4[idx, :, idx, :]

    def quadratic_forms(self, rows: RowBlocks) -> Array:
        """``vᵢᵀ S vᵢ`` for every row ``i``."""
        n = len(next(iter(rows.levels.values())))
        out = np.empty(n)
        for start in range(0, n, ROW_CHUNK):
            part = slice(start, min(start + ROW_CHUNK, n))
            chunk = RowBlocks(
                {a: g[part] for a, g in rows.levels.items()},
                {a: v[part] for a, v in rows.values.items()},
            )
            out[part] = self._quadratic_chunk(chunk)
        return out

    def _quadratic_chunk(self, rows: RowBlocks) -> Array:
        blocks = sorted(rows.levels)
        total = np.zeros(len(rows.levels[blocks[0]]))
        for ia, a in enumerate(blocks):
            for b in blocks[: ia + 1]:
                S_ab = self.pair_blocks(a, b, rows.levels[a], rows.levels[b])
                form = np.einsum("na,nab,nb->n", rows.values[a], S_ab, rows.values[b])
                total += form if a == b else 2.0 * form
        return total

    def pair_blocks(self, a: int, b: int, ga: IntArray, gb: IntArray) -> Array:
        """Blocks ``S_ab`` at levels ``(ga[i], gb[i])`` for blocks ``a ≥ b``, ``(n, k_a, k_b)``."""
        m = self.nterms
        if a == b == m:
            return np.broadcast_to(self.dense[(m, m)], (len(ga), *self.dense[(m, m)].shape))
        if b == 0:
            if a == 0:
                return self.first_diag[gb]
            if a == m:
                k0 = self.L.terms[0].k
                F = self.fixed_first.reshape(self.fixed_first.shape[0], -1, k0)
                return F[:, gb, :].transpose(1, 0, 2)
            return self._first_pattern(a, ga, gb)
        block = self.dense[(a, b)]
        if block.ndim == 3:  # block-diagonal: only equal levels are stored
            if not np.array_equal(ga, gb):
                raise AssertionError("off-diagonal block of a block-diagonal term")
            return block[ga]
        ka, kb = self._width(a), self._width(b)
        if ka == kb == 1:
            return block[ga if a < m else 0, gb].reshape(-1, 1, 1)
        B4 = block.reshape(block.shape[0] // ka, ka, block.shape[1] // kb, kb)
        return B4[ga if a < m else 0, :, gb, :]

    def first_column_at(self, a: int, positions: IntArray) -> Array:
        """Blocks ``S_a0`` at given stored blocks of ``L_a0``'s pattern, ``(n, k_a, k_0)``.

        For the level pairs of observations, whose positions in the pattern are known from its
        construction (:class:`~mixedmodels.linalg.weighted_blocks.WeightedBlocks`): no search.
        """
        return self.first_col[a].data[positions]

    def _width(self, a: int) -> int:
        return self.L.xx.shape[0] - 1 if a == self.nterms else self.L.terms[a].k

    def _first_pattern(self, a: int, ga: IntArray, g0: IntArray) -> Array:
        """Blocks ``S_a0`` at ``(ga, g0)``: stored ones, the others from full columns."""
        pattern = self.first_col[a]
        if a not in self._keys:
            self._keys[a] = pattern.row_of_block().astype(np.int64) * self.L.terms[0].nlevels
            self._keys[a] += pattern.indices
        keys = self._keys[a]
        want = ga.astype(np.int64) * self.L.terms[0].nlevels + g0
        pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        found = keys[pos] == want if len(keys) else np.zeros(len(want), dtype=bool)
        out = np.empty((len(want), *pattern.data.shape[1:]))
        out[found] = pattern.data[pos[found]]
        if not found.all():
            out[~found] = self._from_columns(a, ga[~found], g0[~found])
        return out

    def _from_columns(self, a: int, ga: IntArray, g0: IntArray) -> Array:
        """Blocks ``S_a0`` at level pairs off the pattern, from full inverse columns."""
        levels, where = np.unique(g0, return_inverse=True)
        k0, ka = self.L.terms[0].k, self.L.terms[a].k
        cols = inverse_columns(self.L, levels, fixed=self.fixed)[a]  # (q_a, len(levels)·k0)
        C4 = cols.reshape(-1, ka, len(levels), k0)
        return C4[ga, :, where, :]


# ---- construction -------------------------------------------------------------------------
def selected_inverse(L: BlockedFactor, *, fixed: bool = True) -> SelectedInverse:
    """Compute ``(LLᵀ)⁻¹`` on the pattern of ``L``.

    Parameters
    ----------
    L
        The blocked factor (at the estimates).
    fixed
        Include the fixed effects (the inverse of the whole system in ``(u, β)``); without
        them the result is ``(L_Z L_Zᵀ)⁻¹``, the inverse for β held at β̂ (lme4's ``condVar``,
        and the Laplace objective's ``M⁻¹``).

    Returns
    -------
    SelectedInverse
        The selected entries.
    """
    blocks = _Blocks(L, fixed)
    dense: dict[tuple[int, int], Array] = {}
    for j in reversed(range(1, blocks.nb)):
        _dense_column(blocks, dense, j)
    first_col = {i: _first_column_blocks(blocks, dense, i) for i in range(1, blocks.m)}
    fixed_first = _fixed_first_column(blocks, dense) if blocks.p else np.zeros((0, L.terms[0].q))
    first_diag = _first_diagonal(blocks, first_col, fixed_first)
    return SelectedInverse(L, blocks.p > 0, first_diag, first_col, fixed_first, dense)


def selected_inverse_cost(L: BlockedFactor) -> float:
    """Floating-point operations :func:`selected_inverse` needs, at most (about).

    ``q_T² q_0 + q_T³`` for ``q_T`` random effects after the first term's ``q_0``: the dense
    recursion over the later terms, and their products with a first column that could be dense.
    """
    q0 = L.terms[0].q
    qT = sum(t.q for t in L.terms[1:])
    return float(qT) ** 2 * q0 + float(qT) ** 3


class _Blocks(FactorBlocks):
    """The factor's blocks with the inverses of the block-diagonal ones, for the recursion."""

    def __init__(self, L: BlockedFactor, fixed: bool) -> None:
        super().__init__(L, fixed=fixed)
        self.inv_blocks: dict[int, Array] = {0: _block_inverses(L.diag[0])}
        if self.m > 1 and L.blockdiag[1]:
            self.inv_blocks[1] = _block_inverses(L.diag[1])

    def times_inverse(self, B: Array, j: int) -> Array:
        """``B L_jj⁻¹`` for a dense ``B`` with ``q_j`` columns."""
        if self.is_blockdiag(j):
            inv = self.inv_blocks[j]
            B3 = B.reshape(B.shape[0], inv.shape[0], inv.shape[1])
            return np.einsum("rga,gab->rgb", B3, inv).reshape(B.shape)
        D = self.diag(j)
        return scipy.linalg.solve_triangular(D, B.T, lower=True, trans="T", check_finite=False).T


def _block_inverses(D: Array) -> Array:
    """The inverses of the ``(levels, k, k)`` diagonal blocks (``1/d`` for ``k = 1``)."""
    return 1.0 / D if D.shape[1] == 1 else np.linalg.inv(D)


def _get(dense: Mapping[tuple[int, int], Array], i: int, k: int) -> Array:
    """Dense ``S_ik`` from the stored lower blocks (``S_ki = S_ikᵀ``)."""
    return dense[(i, k)] if i >= k else dense[(k, i)].T


def _dense_column(blocks: _Blocks, dense: dict[tuple[int, int], Array], j: int) -> None:
    """Blocks ``S_ij`` for ``i ≥ j ≥ 1`` from the later columns."""
    later = range(j + 1, blocks.nb)
    for i in later:
        acc = np.zeros((blocks.size(i), blocks.size(j)))
        for k in later:
            acc += _get(dense, i, k) @ blocks.lower(k, j)
        dense[(i, j)] = -blocks.times_inverse(acc, j)
    if blocks.is_blockdiag(j):
        inv = blocks.inv_blocks[j]
        nlev, kj = inv.shape[0], inv.shape[1]
        acc3 = np.einsum("gca,gcb->gab", inv, inv)
        for k in later:
            S3 = dense[(k, j)].reshape(-1, nlev, kj)
            L3 = np.asarray(blocks.lower(k, j)).reshape(-1, nlev, kj)
            acc3 -= np.einsum("rga,rgb->gab", S3, L3) @ inv
        dense[(j, j)] = 0.5 * (acc3 + acc3.transpose(0, 2, 1))
        return
    D = blocks.diag(j)
    S = scipy.linalg.cho_solve((D, True), np.eye(D.shape[0]), check_finite=False)
    if later:  # the last block's S_jj is L_jj⁻ᵀ L_jj⁻¹ alone
        acc = np.zeros_like(S)
        for k in later:
            acc += dense[(k, j)].T @ blocks.lower(k, j)
        S = S - blocks.times_inverse(acc, j)
    dense[(j, j)] = 0.5 * (S + S.T)


def _first_column_blocks(
    blocks: _Blocks, dense: Mapping[tuple[int, int], Array], i: int
) -> BlockSparse:
    """``S_i0`` on the stored pattern of ``L_i0``.

    ``Y = Σ_k S_ik L_k0`` (``k ≥ 1``, and the fixed effects), of which the pattern's blocks are
    kept: formed densely when the factor holds every ``L_k0`` dense (small), else by sparse
    products over chunks of the first term's levels.
    """
    pattern = blocks.L.sparse[i]
    assert pattern is not None
    t0, ti = blocks.L.terms[0], blocks.L.terms[i]
    cols = pattern.indices.astype(np.intp)
    if all(blocks.L.first_dense[k] is not None for k in range(1, blocks.m)):
        Y = _first_column_dense(blocks, dense, i)
        rows = pattern.row_of_block()
        if ti.k == t0.k == 1:
            out = Y[rows, cols].reshape(-1, 1, 1)
        else:
            out = Y.reshape(ti.nlevels, ti.k, t0.nlevels, t0.k)[rows, :, cols, :]
    else:
        out = _first_column_sparse(blocks, dense, i)
    inv0 = blocks.inv_blocks[0][cols]
    if out.shape[1:] == (1, 1):
        return pattern.with_data(-(out * inv0))
    return pattern.with_data(-np.einsum("bia,bac->bic", out, inv0))


def _first_column_dense(blocks: _Blocks, dense: Mapping[tuple[int, int], Array], i: int) -> Array:
    """``Σ_k S_ik L_k0`` as a dense ``q_i × q_0`` array, from the dense copies of ``L_k0``."""
    Y = np.zeros((blocks.size(i), blocks.size(0)))
    for k in range(1, blocks.m):
        L_k0 = blocks.L.first_dense[k]
        assert L_k0 is not None
        S_ik = _get(dense, i, k)
        if S_ik.ndim == 3:  # the block-diagonal S_ii of a nested second term
            L3 = L_k0.reshape(S_ik.shape[0], S_ik.shape[2], -1)
            Y += np.einsum("gab,gbc->gac", S_ik, L3).reshape(Y.shape)
        else:
            Y += S_ik @ L_k0
    if blocks.p:
        Y += _get(dense, i, blocks.m) @ blocks.lower(blocks.m, 0)
    return Y


def _first_column_sparse(blocks: _Blocks, dense: Mapping[tuple[int, int], Array], i: int) -> Array:
    """The pattern's blocks of ``Σ_k S_ik L_k0`` by sparse products, chunk by chunk."""
    pattern = blocks.L.sparse[i]
    assert pattern is not None
    t0, ti = blocks.L.terms[0], blocks.L.terms[i]
    k0 = t0.k
    cols = pattern.indices.astype(np.intp)
    rows = pattern.row_of_block()
    out = np.empty_like(pattern.data)
    csc = {k: sp.csc_array(blocks.lower(k, 0)) for k in range(1, blocks.m)}
    for lo, hi, sel in _chunks(cols, t0.nlevels, max(1, CHUNK // max(ti.q * k0, 1))):
        part = slice(lo * k0, hi * k0)
        whole = hi - lo == t0.nlevels
        Y = _times_sparse(_operator(dense, i, 1), csc[1] if whole else csc[1][:, part])
        for k in range(2, blocks.m):
            Y += _times_sparse(_operator(dense, i, k), csc[k] if whole else csc[k][:, part])
        if blocks.p:
            Y += _get(dense, i, blocks.m) @ blocks.lower(blocks.m, 0)[:, part]
        Y4 = Y.reshape(ti.nlevels, ti.k, hi - lo, k0)
        out[sel] = Y4[rows[sel], :, cols[sel] - lo, :]
    return out


def _chunks(cols: IntArray, nlevels: int, width: int) -> list[tuple[int, int, slice | IntArray]]:
    """Chunks ``[lo, hi)`` of ``width`` first-term levels, and the blocks in each."""
    if width >= nlevels:
        return [(0, nlevels, slice(None))]
    order = np.argsort(cols, kind="stable")
    bounds = np.searchsorted(cols[order], np.arange(nlevels + 1))
    return [
        (lo, min(lo + width, nlevels), order[bounds[lo] : bounds[min(lo + width, nlevels)]])
        for lo in range(0, nlevels, width)
    ]


def _operator(dense: Mapping[tuple[int, int], Array], i: int, k: int) -> Any:
    """``S_ik`` as a matrix: dense, or sparse block-diagonal for a block-diagonal term."""
    block = _get(dense, i, k)
    if block.ndim == 2:
        return block
    nlev, kk = block.shape[0], block.shape[1]
    index = np.arange(nlev + 1, dtype=np.int32)
    return sp.bsr_array((block, index[:-1], index), shape=(nlev * kk, nlev * kk))


def _times_sparse(left: Any, right: sp.csc_array) -> Array:
    """Dense ``left @ right`` for a dense or sparse ``left`` and a sparse ``right``."""
    if sp.issparse(left):
        return np.asarray((left @ right).toarray())
    return np.asarray((right.T @ left.T).T)


def _fixed_first_column(blocks: _Blocks, dense: Mapping[tuple[int, int], Array]) -> Array:
    """The fixed-effects rows ``S_X0`` of the first term's column, ``(p, q_0)``."""
    m = blocks.m
    Y = _get(dense, m, m) @ blocks.lower(m, 0)
    for k in range(1, m):
        Y += _times_sparse(_get(dense, m, k), sp.csc_array(blocks.lower(k, 0)))
    inv0 = blocks.inv_blocks[0]
    Y3 = Y.reshape(blocks.p, inv0.shape[0], inv0.shape[1])
    return -np.einsum("pga,gab->pgb", Y3, inv0).reshape(Y.shape)


def _first_diagonal(blocks: _Blocks, first_col: Mapping[int, BlockSparse], fixed0: Array) -> Array:
    """Diagonal blocks ``S_00`` of the first term."""
    inv0 = blocks.inv_blocks[0]
    nlev, k0 = inv0.shape[0], inv0.shape[1]
    acc = np.zeros((nlev, k0, k0))
    for i, S_i0 in first_col.items():
        L_i0 = blocks.L.sparse[i]
        assert L_i0 is not None
        if S_i0.data.shape[1:] == (1, 1):  # scalar blocks: one product each
            products = (S_i0.data * L_i0.data).reshape(-1, 1, 1)
        else:
            products = np.einsum("bia,bic->bac", S_i0.data, L_i0.data)
        for a in range(k0):
            for c in range(k0):
                acc[:, a, c] += np.bincount(S_i0.indices, products[:, a, c], minlength=nlev)
    if blocks.p:
        F3 = fixed0.reshape(blocks.p, nlev, k0)
        L3 = blocks.lower(blocks.m, 0).reshape(blocks.p, nlev, k0)
        acc += np.einsum("pga,pgc->gac", F3, L3)
    S = np.einsum("gca,gcb->gab", inv0, inv0) - acc @ inv0
    return 0.5 * (S + S.transpose(0, 2, 1))
