"""The blocked Cholesky factor ``L`` of ``Λ'AΛ + I`` (MixedModels.jl's ``updateL!``).

For a given θ, with ``Λ_j = I ⊗ T_j`` per term and block rows ordered as in
:mod:`mixedmodels.linalg.crossprod`::

    L_jj = chol(Λ_j'A_jjΛ_j + I − Σ_{k<j} L_jk L_jkᵀ)
    L_ij = (Λ_i'A_ijΛ_j − Σ_{k<j} L_ik L_jkᵀ) L_jj⁻ᵀ                 (i > j)

The first term's diagonal block stays block-diagonal, so its column of ``L`` keeps the
sparsity of ``A``; the second term's block stays block-diagonal when the first term is nested
in it; other diagonal blocks become dense (they have few levels). The ``[X y]`` block row is
dense and its last diagonal entry is ``r(θ)``, the square root of the penalized residual sum of
squares.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.blocksolve import upper_solve
from mixedmodels.linalg.crossprod import BlockSparse, CrossProducts
from mixedmodels.linalg.gram import DensePanels, GramProduct, gram_product, numba_installed
from mixedmodels.linalg.kernels import (
    chol_blockdiag,
    chol_lower,
    chol_psd,
    rdiv_blockdiag,
    rdiv_blocks,
    rdiv_lower_t,
    scale_blockdiag,
    segment_outer,
    solve_lower_t,
)
from mixedmodels.linalg.single import CriterionDerivatives, OneTerm, entries_are_theta
from mixedmodels.linalg.threads import THREADS_FROM, threads_for
from mixedmodels.linalg.trailing import TrailingBlocks
from mixedmodels.spec.random import RandomEffectsTerm, term_templates
from mixedmodels.spec.structure_derivatives import template_jacobian

__all__ = ["BlockedCholesky"]

Array = FloatArray
TRAILING_MAX_Q = 64  # trailing terms profiled out have at most this many random effects
NESTED_MIN_Q = 500  # ... when a leading dense diagonal block has at least this many rows
COMPILED_COLUMNS = 1_000_000  # first-column blocks with this many entries scale compiled


class BlockedCholesky:
    """Storage and update of the blocked Cholesky factor for one model.

    Parameters
    ----------
    terms
        Random-effects terms in storage order (most levels first).
    A
        The stored blocks of ``[Z X y]'[Z X y]``.
    """

    def __init__(self, terms: Sequence[RandomEffectsTerm], A: CrossProducts) -> None:
        self.terms = list(terms)
        self.A = A
        m = len(self.terms)
        self.blockdiag = [j == 0 or (j == 1 and _is_nested(A.sparse[1])) for j in range(m)]
        # block rows of the first-column blocks, needed only where a nested term's diagonal
        # block is block-diagonal (an array as long as the block is large)
        self._rows = [
            s.row_of_block() if s is not None and nested else None
            for s, nested in zip(A.sparse, self.blockdiag, strict=True)
        ]
        self.diag: list[Array] = [np.empty(0)] * m
        self.sparse: list[BlockSparse | None] = [None] * m
        self.dense: list[list[Array | None]] = [[None] * m for _ in range(m)]
        self.xz: list[Array] = [np.empty(0)] * m
        self.xx: Array = np.empty((0, 0))
        self.logdet_z = 0.0
        self.theta: Array = np.empty(0)  # θ of the current factor
        self.shift: float = 0.0  # the response is stored as y − shift
        self._lenient = False  # an indefinite [X y] block is NaN, not an error (update)
        self.intercept: int | None = None
        self.beta_shift: Array | None = None  # ... or as y − X·beta_shift
        self.gram = _gram_products(self.terms, A, self.blockdiag)
        # small blocks of the first column are also kept dense: BLAS beats sparse overhead
        self._scatter = [_scatter_index(s) if _is_small(s) else None for s in A.sparse]
        self.first_dense: list[Array | None] = [None] * m
        self._buffers: dict[int, Array] = {}  # dense diagonal blocks, reused across updates
        self._columns: dict[int, Array] = {}  # L_i0 of scalar terms, owned and rewritten
        self._one_term = OneTerm.of(A)

    def thread_limit(self) -> int:
        """BLAS threads for updates, from the size of the largest dense block (never a clock)."""
        dense = [t.q for t, bd in zip(self.terms, self.blockdiag, strict=True) if not bd]
        largest = max(dense, default=0)
        if any(isinstance(g, DensePanels) for g in self.gram.values()):
            largest = max(largest, THREADS_FROM)  # the rank-k updates of dense panels are large
        return threads_for(largest)

    def set_blocks(self, A: CrossProducts, *, same_z: bool = False) -> None:
        """Use new stored blocks of the same structure (new response or new weights).

        Parameters
        ----------
        A
            Blocks with the same terms and sparsity pattern.
        same_z
            True when only the response changed (``Z`` and the weights are as before), so the
            Gram products, which hold the entries of ``A``'s first block column, remain valid.
        """
        self.A = A
        self._one_term = OneTerm.of(A)
        if not same_z:
            self.gram = {key: _with_values(g, A, key) for key, g in self.gram.items()}

    def spawn(self) -> BlockedCholesky:
        """A factor of the same blocks that owns its values: updating one leaves the other.

        The structure (stored blocks, Gram products, scatter indices) is shared: nothing changes
        it in place. An update replaces the factor's arrays (or rewrites those it allocated
        itself since the last spawn), so the new factor starts at this one's θ and values
        without copying them; only the reused workspaces are its own.
        """
        new = copy.copy(self)
        new.diag, new.sparse, new.xz = list(self.diag), list(self.sparse), list(self.xz)
        new.dense, new.first_dense = [list(row) for row in self.dense], list(self.first_dense)
        new._buffers, new._columns = {}, {}
        self._columns = {}  # both now read L_i0's arrays: neither may rewrite them
        return new

    # ---- the update -------------------------------------------------------------------
    def update(self, theta: Array, *, lenient_xx: bool = False) -> None:
        """Recompute ``L`` for covariance parameters ``theta`` (lme4's order).

        With ``lenient_xx``, an ``[X y]`` block that the subtraction left indefinite (digits
        lost to huge weights) becomes NaN instead of an error, for the caller to replace.
        """
        self.theta = np.array(theta, dtype=np.float64)
        self._lenient = lenient_xx
        if self._one_term is not None:  # one small term: closed form (linalg/single.py)
            self._closed_form(self._one_term, self._template_entries(self.theta))
            return
        templates = self.templates(theta)
        self._factor_columns(templates, len(self.terms))
        self._xx_block()

    @property
    def closed_form(self) -> bool:
        """True when :meth:`update` uses the closed form of one small term (linalg/single.py)."""
        return self._one_term is not None

    def derivatives(self) -> CriterionDerivatives | None:
        """The criterion's pieces differentiated along θ at the factor's θ, when in closed form.

        ``None`` unless :attr:`closed_form` (one small term); structured terms' template
        entries are carried to θ by the chain rule.
        """
        if self._one_term is None:
            return None
        entries = self._template_entries(self.theta)
        found = self._one_term.derivatives(entries, self.xx)
        if entries is self.theta:
            return found
        J = scipy.linalg.block_diag(*self._entry_jacobians())  # (θ, entries)
        return CriterionDerivatives(J @ found.logdet_z, J @ found.logdet_x, J @ found.log_r2)

    def _entry_jacobians(self) -> list[Array]:
        """Per term, ``∂(lower-triangle template entries)/∂θ`` as ``(ntheta, entries)``."""
        blocks, at = [], 0
        for term in self.terms:
            part = self.theta[at : at + term.ntheta]
            at += term.ntheta
            cols, rows = np.triu_indices(term.k)
            blocks.append(template_jacobian(term.structure, part)[:, rows, cols])
        return blocks

    def factor_leading(self, theta: Array) -> None:
        """Only the first term's block column of ``L`` at ``theta`` (and its log-determinant).

        The rest is left for :meth:`set_trailing` (an orthogonal factorization of the Schur
        complement that the first term leaves).
        """
        self.theta = np.array(theta, dtype=np.float64)
        self._factor_columns(self.templates(theta), 1)

    def set_trailing(self, R: Array) -> None:
        """The blocks of ``L`` after the first term's column, from an upper-triangular ``R``.

        ``RᵀR`` is the Schur complement of the first term's diagonal block in
        ``Λ'[Z X y]'[Z X y]Λ + diag(I, 0)``, rows and columns ordered as the remaining terms'
        random effects and then ``[X y]`` (a nested second term's diagonal block, block-diagonal
        in exact arithmetic, keeps its level blocks). Row signs are made positive on the
        diagonal, and ``log|R_TT|²`` is added to ``logdet_z``.
        """
        R = R * np.where(np.diagonal(R) < 0, -1.0, 1.0)[:, None]
        lower = R.T
        m = len(self.terms)
        off = np.concatenate([[0], np.cumsum([t.q for t in self.terms[1:]])]).astype(int)
        qt = int(off[-1])
        for a, j in enumerate(range(1, m)):
            cols = slice(off[a], off[a + 1])
            self.diag[j] = _diagonal_block(lower[cols, cols], self.terms[j], self.blockdiag[j])
            for b, i in enumerate(range(j + 1, m), start=a + 1):
                self.dense[i][j] = np.ascontiguousarray(lower[off[b] : off[b + 1], cols])
            self.xz[j] = np.ascontiguousarray(lower[qt:, cols])
        self.xx = np.ascontiguousarray(lower[qt:, qt:])
        self.logdet_z += 2.0 * float(np.sum(np.log(np.diagonal(R)[:qt])))

    def _factor_columns(self, T: list[Array], stop: int) -> None:
        """The block columns of ``L`` of the terms before ``stop`` (and their log-determinant)."""
        m = len(self.terms)
        self.logdet_z = 0.0
        for j in range(stop):
            self._diagonal(j, T)
            for i in range(j + 1, m):
                self._off_diagonal(i, j, T)
            self._xz_block(j, T)

    def trailing_start(self) -> int | None:
        """First of the small last terms worth profiling out, or ``None``.

        Worth it when a leading term's diagonal block is dense and large (its factorization
        dominates an evaluation) and the terms after it have few levels in all
        (:mod:`mixedmodels.linalg.trailing`).
        """
        m = len(self.terms)
        large = [
            j
            for j, (term, nested) in enumerate(zip(self.terms, self.blockdiag, strict=True))
            if not nested and term.q >= NESTED_MIN_Q
        ]
        if not large:
            return None
        start = large[-1] + 1
        while start < m and sum(t.q for t in self.terms[start:]) > TRAILING_MAX_Q:
            start += 1
        return start if start < m else None

    def trailing_blocks(self, theta: Array, start: int) -> TrailingBlocks:
        """Factor the terms before ``start`` at ``theta``; the rest as a small problem.

        The entries of ``theta`` for the terms from ``start`` on are ignored. Leaves the factor
        incomplete: :meth:`update` must run before the factor is used otherwise.
        """
        T = self.templates(theta)
        m = len(self.terms)
        for i in range(start, m):
            T[i] = np.eye(self.terms[i].k)
        self.theta = np.full(len(theta), np.nan)  # matches no θ: the factor is partial
        self._factor_columns(T, start)
        offsets = np.cumsum([0] + [t.q for t in self.terms[start:]])
        zz = np.zeros((offsets[-1], offsets[-1]))
        for a, i in enumerate(range(start, m)):
            for b, j in enumerate(range(start, i + 1)):
                block = self._raw_block(i, j)
                for k in range(start):
                    self._subtract_product(block, i, k, j, T)
                zz[offsets[a] : offsets[a + 1], offsets[b] : offsets[b + 1]] = block
        zz = np.tril(zz) + np.tril(zz, -1).T  # diagonal blocks' lower triangles are exact
        xz = [self.A.xz[i].reshape(self.A.xx.shape[0], -1) for i in range(start, m)]
        for a, i in enumerate(range(start, m)):
            xz[a] = xz[a] - sum(self._xz_product(k, i) for k in range(start))
        xx = self.A.xx - sum(self.xz[k] @ self.xz[k].T for k in range(start))
        return TrailingBlocks(self.terms[start:], zz, np.hstack(xz), xx, self.logdet_z)

    def _raw_block(self, i: int, j: int) -> Array:
        """A new dense copy of ``A_ij`` for random-effects terms ``i ≥ j > 0``."""
        if i == j:
            block = np.zeros((self.terms[i].q, self.terms[i].q))
            _fill_blockdiag(block, self.A.diag[i])
            return block
        dense = self.A.dense[i][j]
        assert dense is not None
        return np.array(dense, dtype=np.float64)

    def _closed_form(self, one: OneTerm, theta: Array) -> None:
        """The factor of one term of one or two columns (or two scalar terms on one factor)."""
        if not one.pair:
            self.diag[0], self.logdet_z, self.xz[0], schur = one.factor(theta)
            self.xx = self._chol_xx(schur)
            return
        L, self.logdet_z, row, schur = one.factor(theta)
        self.diag[0], self.diag[1] = L[:, :1, :1].copy(), L[:, 1:, 1:].copy()
        self._set_first_column(1, L[:, 1:, :1].copy())
        self.xz[0], self.xz[1] = (
            np.ascontiguousarray(row[:, 0::2]),
            np.ascontiguousarray(row[:, 1::2]),
        )
        self.xx = self._chol_xx(schur)

    def _template_entries(self, theta: Array) -> Array:
        """The lower-triangle entries of the templates, by column (θ itself for lme4's terms)."""
        if entries_are_theta(self.terms):
            return theta
        parts = []
        for term, T in zip(self.terms, self.templates(theta), strict=True):
            cols, rows = np.triu_indices(term.k)
            parts.append(T[rows, cols])
        return np.concatenate(parts)

    def templates(self, theta: Array) -> list[Array]:
        """The ``k×k`` template of each term for this θ."""
        return term_templates(self.terms, theta)

    def _diagonal(self, j: int, T: list[Array]) -> None:
        """Factor the diagonal block of term ``j``."""
        D = scale_blockdiag(self.A.diag[j], T[j])
        if self.blockdiag[j]:
            lower, rows = self.sparse[j], self._rows[j]
            if lower is not None and rows is not None:
                D = D - segment_outer(lower.data, rows, D.shape[0])
            self.diag[j], logdet = chol_blockdiag(D)
            self.logdet_z += logdet
            return
        dense = self._workspace(j)
        _fill_blockdiag(dense, D)
        for k in range(j):
            self._subtract_product(dense, j, k, j, T)
        self.diag[j] = chol_lower(dense)  # reads the lower triangle only; a new array
        self.logdet_z += 2.0 * float(np.sum(np.log(np.diagonal(self.diag[j]))))

    def _workspace(self, j: int) -> Array:
        """A zeroed ``q_j × q_j`` array, allocated once and reused by every update."""
        q = self.terms[j].q
        buffer = self._buffers.get(j)
        if buffer is None:
            buffer = self._buffers[j] = np.zeros((q, q))
        else:
            buffer.fill(0.0)
        return buffer

    def _off_diagonal(self, i: int, j: int, T: list[Array]) -> None:
        """Block ``L_ij`` between two random-effects terms."""
        if j == 0:
            blocks = self.A.sparse[i]
            assert blocks is not None
            if blocks.data.shape[1:] == (1, 1):  # scalar terms: one array, rewritten
                data = self._scalar_column(i, blocks, float(T[i][0, 0] * T[0][0, 0]))
            else:
                scaled = T[i].T @ blocks.data @ T[0]
                data = rdiv_blocks(scaled, blocks.indices, self.diag[0])
            self._set_first_column(i, data)
            return
        dense_ij = self.A.dense[i][j]
        assert dense_ij is not None
        B = _scale_dense(dense_ij, T[i], T[j])
        for k in range(j):
            self._subtract_product(B, i, k, j, T)
        self.dense[i][j] = self._rdiv(B, j)

    def _scalar_column(self, i: int, blocks: BlockSparse, scale: float) -> Array:
        """``scale · A_i0 / L_00`` for scalar terms, in an array the factor owns (rewritten)."""
        data = self._columns.get(i)
        if data is None:
            data = self._columns[i] = np.empty(len(blocks.indices))
        if len(data) >= COMPILED_COLUMNS and numba_installed():
            from mixedmodels.linalg.column_kernels import divide_by_columns

            values, diagonal = blocks.data.reshape(-1), self.diag[0].reshape(-1)
            divide_by_columns(values, blocks.indices, diagonal, scale, data)
        else:
            np.take(self.diag[0].reshape(-1), blocks.indices, out=data)
            np.divide(blocks.data.reshape(-1), data, out=data)
            data *= scale
        return data.reshape(-1, 1, 1)

    def _set_first_column(self, i: int, data: Array) -> None:
        """Store ``L_i0`` (the stored blocks of ``A_i0`` with new values), dense too if small."""
        blocks = self.A.sparse[i]
        assert blocks is not None
        self.sparse[i] = blocks.with_data(data)
        scatter = self._scatter[i]
        if scatter is not None:  # the dense copy the products of the update read
            dense = np.zeros(blocks.shape)
            dense.reshape(-1)[scatter] = data.reshape(-1)
            self.first_dense[i] = dense

    def _xz_block(self, j: int, T: list[Array]) -> None:
        """Block of the ``[X y]`` row in the column of term ``j``."""
        scaled = self.A.xz[j] @ T[j]
        B = scaled.reshape(scaled.shape[0], -1)
        for k in range(j):
            B -= self._xz_product(k, j)
        self.xz[j] = self._rdiv(B, j)

    def _xx_block(self) -> None:
        """Factor the ``[X y]`` diagonal block."""
        D = self.A.xx.copy()
        for xz in self.xz:
            D -= xz @ xz.T
        self.xx = self._chol_xx(D)

    def _chol_xx(self, D: Array) -> Array:
        """``chol_psd(D)``; NaN for an indefinite ``D`` when the update is lenient."""
        try:
            return chol_psd(D)
        except np.linalg.LinAlgError:
            if not self._lenient:
                raise
            return np.full_like(D, np.nan)

    # ---- products of stored blocks ----------------------------------------------------
    def _subtract_product(self, target: Array, i: int, k: int, j: int, T: list[Array]) -> None:
        """``target -= L_ik L_jkᵀ`` for random-effects rows ``i ≥ j > k`` (dense target).

        For ``i == j`` only the lower triangle of ``target`` is guaranteed to be updated.
        """
        if k == 0 and self._scatter[i] is not None and self._scatter[j] is not None:
            left_s, right_s = self.first_dense[i], self.first_dense[j]
            assert left_s is not None and right_s is not None
            target -= left_s @ right_s.T
            return
        if k == 0:
            gram = self.gram.get((i, j))
            if gram is not None:
                w = 1.0 / self.diag[0].reshape(-1) ** 2
                scale = float(T[i][0, 0] * T[j][0, 0] * T[0][0, 0] ** 2)
                gram.subtract_from(target, w, scale)
                return
            left, right = self.sparse[i], self.sparse[j]
            assert left is not None and right is not None
            left_small, right_small = self.first_dense[i], self.first_dense[j]
            if left_small is not None:  # few rows: a sparse-times-dense product
                target -= np.asarray(right.to_scipy() @ left_small.T).T
            elif right_small is not None:
                target -= np.asarray(left.to_scipy() @ right_small.T)
            else:
                target -= (left.to_scipy() @ right.to_scipy().T).toarray()
            return
        left_d, right_d = self.dense[i][k], self.dense[j][k]
        assert left_d is not None and right_d is not None
        target -= left_d @ right_d.T

    def _xz_product(self, k: int, j: int) -> Array:
        """Dense ``L_xk L_jkᵀ`` for the ``[X y]`` row."""
        if k == 0:
            small = self.first_dense[j]
            if small is not None:
                return self.xz[0] @ small.T
            right = self.sparse[j]
            assert right is not None
            return np.asarray(right.to_scipy() @ self.xz[0].T).T
        right_d = self.dense[j][k]
        assert right_d is not None
        return self.xz[k] @ right_d.T

    def _rdiv(self, B: Array, j: int) -> Array:
        """``B L_jj⁻ᵀ`` for a dense ``B`` with ``q_j`` columns."""
        if self.blockdiag[j]:
            term = self.terms[j]
            out = rdiv_blockdiag(B.reshape(B.shape[0], term.nlevels, term.k), self.diag[j])
            return out.reshape(B.shape[0], -1)
        return rdiv_lower_t(B, self.diag[j])

    # ---- solutions ------------------------------------------------------------------------
    def pwrss(self) -> float:
        """Penalized weighted residual sum of squares ``r²(θ)``."""
        return float(self.xx[-1, -1] ** 2)

    def logdet_x(self) -> float:
        """``log|R_X|²``, the fixed-effects part of the log-determinant (for REML)."""
        return 2.0 * sum(math.log(v) for v in np.diagonal(self.xx)[:-1].tolist())

    def set_response_shift(self, shift: float | Array, intercept: int | None = None) -> None:
        """Record that the stored response is ``y − shift`` (:func:`.shift.response_shift`).

        ``shift`` is a number subtracted from every response (then ``intercept`` is the
        intercept's column, or ``None`` when there is none and nothing was subtracted), or
        coefficients ``β₀`` when the stored response is ``y − Xβ₀``
        (:func:`mixedmodels.linalg.shift.coefficient_shift`). :meth:`fixed_effects` then adds
        the shift back, and :meth:`spherical_modes` takes the caller's β on the original scale.
        """
        if np.ndim(shift) == 1:
            self.shift, self.intercept = 0.0, None
            self.beta_shift = np.array(shift, dtype=float)
            return
        self.shift = float(np.asarray(shift)) if intercept is not None else 0.0
        self.intercept, self.beta_shift = intercept, None

    def fixed_effects(self) -> Array:
        """β̂ by back-substitution in ``R_X``, on the scale of the original response."""
        p = self.xx.shape[0] - 1
        if p == 0:
            return np.empty(0)
        beta = solve_lower_t(self.xx[:p, :p], self.xx[p, :p])
        if self.intercept is not None:
            beta[self.intercept] += self.shift
        if self.beta_shift is not None:
            beta += self.beta_shift
        return beta

    def spherical_modes(self, beta: Array) -> list[Array]:
        """Conditional modes ``ũ`` of the spherical random effects, one array per term."""
        p = self.xx.shape[0] - 1
        if self.intercept is not None:
            beta = beta.copy()
            beta[self.intercept] -= self.shift
        if self.beta_shift is not None:
            beta = beta - self.beta_shift
        rhs = np.concatenate([xz[p] - xz[:p].T @ beta for xz in self.xz])
        u = upper_solve(self, rhs)
        return np.split(u, np.cumsum([t.q for t in self.terms])[:-1])


def _gram_products(
    terms: Sequence[RandomEffectsTerm], A: CrossProducts, blockdiag: list[bool]
) -> dict[tuple[int, int], GramProduct]:
    """Methods for ``A_i0 diag(w) A_j0ᵀ`` between scalar terms after a scalar first term.

    For each pair ``i ≥ j ≥ 1`` of scalar terms whose first-column blocks are not small (held
    dense) and whose diagonal blocks are dense, the cheapest method of :func:`.gram_product`
    (SciPy's product where it gives none).
    """
    products: dict[tuple[int, int], GramProduct] = {}
    if not terms or terms[0].k != 1:
        return products
    eligible = [
        i
        for i in range(1, len(terms))
        if terms[i].k == 1 and not blockdiag[i] and A.sparse[i] is not None
    ]
    for i in eligible:
        for j in eligible:
            left, right = A.sparse[i], A.sparse[j]
            if j > i or left is None or right is None or _is_small(left) or _is_small(right):
                continue  # small blocks are multiplied densely (_subtract_product)
            other = None if i == j else right.to_scipy()  # the first term's counts: w's
            found = gram_product(left.to_scipy(), other, A.diag[0].reshape(-1))
            if found is not None:
                products[(i, j)] = found
    return products


def _with_values(product: GramProduct, A: CrossProducts, key: tuple[int, int]) -> GramProduct:
    """A Gram product of the same pattern with the new blocks' values."""
    left, right = A.sparse[key[0]], A.sparse[key[1]]
    assert left is not None and right is not None
    if isinstance(product, DensePanels):
        return product.with_values(left.data)
    return product.with_values(left.data, right.data)


SMALL_DENSE = 100_000  # entries up to which a first-column block is also held dense


def _is_small(blocks: BlockSparse | None) -> bool:
    """True for a block small enough to multiply densely."""
    return blocks is not None and blocks.shape[0] * blocks.shape[1] <= SMALL_DENSE


def _scatter_index(blocks: BlockSparse | None) -> NDArray[np.intp]:
    """Flat positions in the dense matrix of every stored scalar of a block-sparse matrix."""
    assert blocks is not None
    r, c = blocks.data.shape[1:]
    block_rows = blocks.row_of_block()[:, None, None] * r + np.arange(r)[None, :, None]
    block_cols = blocks.indices[:, None, None] * c + np.arange(c)[None, None, :]
    return (block_rows * blocks.shape[1] + block_cols).reshape(-1).astype(np.intp)


def _is_nested(blocks: BlockSparse | None) -> bool:
    """True when every block column has at most one block (term 0 nested in term 1)."""
    if blocks is None:
        return False
    counts = np.bincount(blocks.indices, minlength=1)
    return bool(counts.max(initial=0) <= 1)


def _diagonal_block(block: Array, term: RandomEffectsTerm, blockdiag: bool) -> Array:
    """A term's dense diagonal block of ``L``, or its level blocks ``(l, k, k)`` if nested."""
    if not blockdiag:
        return np.ascontiguousarray(block)
    idx, four = np.arange(term.nlevels), block.reshape(term.nlevels, term.k, term.nlevels, term.k)
    return np.ascontiguousarray(four[idx, :, idx, :])


def _fill_blockdiag(dense: Array, blocks: Array) -> None:
    """Write ``(l, k, k)`` diagonal blocks into the diagonal of a zeroed dense matrix."""
    nlev, k, _ = blocks.shape
    if k == 1:
        dense.flat[:: nlev + 1] = blocks.reshape(-1)
        return
    dense.reshape(nlev, k, nlev, k)[np.arange(nlev), :, np.arange(nlev), :] = blocks


def _scale_dense(A: Array, Ti: Array, Tj: Array) -> Array:
    """``Λ_iᵀ A Λ_j`` for a dense block between two terms."""
    ki, kj = Ti.shape[0], Tj.shape[0]
    if ki == kj == 1:
        return A * (Ti[0, 0] * Tj[0, 0])
    li, lj = A.shape[0] // ki, A.shape[1] // kj
    A4 = A.reshape(li, ki, lj, kj)
    return np.einsum("ab,xayc,cd->xbyd", Ti, A4, Tj).reshape(A.shape)
