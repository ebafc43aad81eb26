"""The closed form of one small term (:mod:`mixedmodels.linalg.single`) for many responses.

A parametric bootstrap refits one model to hundreds of simulated responses: the diagonal blocks
``A_g`` and the ``X`` rows of ``A`` are the model's own, only the response row differs. Each
replicate's criterion and gradient at its own θ are the formulas of
:class:`~mixedmodels.linalg.single.OneTerm`, here evaluated for ``m`` replicates at once on
``(m, levels)`` arrays, so that the cost of a NumPy call is shared by the replicates instead of
paid by each of them (for sleepstudy's 18 levels an evaluation is ~40 calls on a few hundred
numbers either way). Every replicate's numbers depend on its own inputs only: elementwise
formulas, sums along the levels of its own row, and factorizations and solves of its own
``(p + 1)²`` matrix.

Per level, with the template ``T = [[t₀, 0], [t₁, t₂]]`` (``t₁ = 0`` for a pair of scalar
terms, a scalar term ``d = t²a + 1``)::

    D = TᵀA_gT + I,   L_g = chol(D),   the [X y] row  [x₀ x₁] = A_xz T L_g⁻ᵀ,
    S = A_xx − Σ_g [x₀ x₁][x₀ x₁]ᵀ = R Rᵀ,
    log|L_Z|² = Σ_g log|D|,   log|R_X|² = 2 Σ_{i<p} log R_ii,   r² = R_pp²,

and along the template entry ``T[a, b]``, with ``F = TD⁻¹``, ``K = I − FTᵀA_g`` and
``Q = R⁻¹A_xz`` (its rows ``Q_r``)::

    ∂ log|L_Z|² = 2 Σ_g (FᵀA_g)[b, a],
    ∂ log|R_X|² = −2 Σ_g Σ_{r<p} (FᵀQ_rQ_rᵀK)[b, a],   ∂ log r² = −2 Σ_g (FᵀQ_pQ_pᵀK)[b, a].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.single import OneTerm

__all__ = ["BatchPieces", "OneTermBatch"]

Array = FloatArray
Rows = NDArray[np.intp]
Mask = NDArray[np.bool_]
_ENTRY_AT = np.array([0, 1, 3])  # [b, a] of T[0, 0], T[1, 0], T[1, 1] in a flat 2 × 2
_PAIR_AT = np.array([0, 3])  # ... of T[0, 0], T[1, 1]


@dataclass(frozen=True)
class BatchPieces:
    """The criterion's pieces and their derivatives for ``m`` replicates.

    Attributes
    ----------
    ok
        ``(m,)``: the factor exists (every pivot positive); the other rows are meaningless.
    logdet_z, logdet_x, r2
        ``(m,)``: ``log|L_Z|²``, ``log|R_X|²`` and ``r²``.
    d_logdet_z, d_logdet_x, d_log_r2
        ``(m, entries)``: their derivatives along the template entries.
    """

    ok: Mask
    logdet_z: Array
    logdet_x: Array
    r2: Array
    d_logdet_z: Array
    d_logdet_x: Array
    d_log_r2: Array


class OneTermBatch:
    """One small term's closed form for the responses of many replicates.

    Parameters
    ----------
    one
        The model's closed form (its ``X`` rows and ``A_xx[:p, :p]`` are shared).
    yz
        Per column of the term (``one.xz``'s order), the response rows ``A_yz``, ``(m, levels)``.
    xy, yy
        ``A_xy`` ``(m, p)`` and ``A_yy`` ``(m,)`` of the replicates.
    """

    def __init__(self, one: OneTerm, yz: Sequence[Array], xy: Array, yy: Array) -> None:
        self.one = one
        m, p = xy.shape
        levels = one.diag[0].shape[0]
        self.columns = [
            np.concatenate([np.broadcast_to(x[:p], (m, p, levels)), y[:, None, :]], axis=1)
            for x, y in zip(one.xz, yz, strict=True)
        ]  # A_xz of each replicate, (m, p + 1, levels) per column
        xx = np.empty((m, p + 1, p + 1))
        xx[:] = one.xx
        xx[:, :p, p] = xy
        xx[:, p, :p] = xy
        xx[:, p, p] = yy
        self.xx = xx

    def evaluate(self, entries: Array, rows: Rows) -> BatchPieces:
        """The pieces at template entries ``entries`` ``(len(rows), e)`` for replicates ``rows``.

        ``entries`` are ordered as :meth:`OneTerm.factor <mixedmodels.linalg.single.OneTerm.
        factor>` takes them (θ for lme4's terms).
        """
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if len(self.columns) == 1:
                return self._scalar(entries[:, 0], rows)
            return self._two_columns(entries, rows)

    def _two_columns(self, entries: Array, rows: Rows) -> BatchPieces:
        """A term of two columns (or a pair of scalar terms on one factor)."""
        pair = self.one.pair
        t0 = entries[:, :1]
        t1 = np.zeros_like(t0) if pair else entries[:, 1:2]
        t2 = entries[:, 1:2] if pair else entries[:, 2:3]
        a00, a10, a11 = self.one.diag
        d00 = (t0 * t0) * a00 + (2.0 * t0 * t1) * a10 + (t1 * t1) * a11 + 1.0
        d10 = (t2 * t0) * a10 + (t2 * t1) * a11
        d11 = (t2 * t2) * a11 + 1.0
        l00 = np.sqrt(d00)
        l10 = d10 / l00
        pivot = d11 - l10 * l10
        ok = np.all(d00 > 0.0, axis=1) & np.all(pivot > 0.0, axis=1)
        l11 = np.sqrt(pivot)
        x0, x1 = (c[rows] for c in self.columns)
        first = (t0[:, :, None] * x0 + t1[:, :, None] * x1) / l00[:, None, :]
        second = (t2[:, :, None] * x1 - first * l10[:, None, :]) / l11[:, None, :]
        schur = self.xx[rows] - first @ first.swapaxes(1, 2) - second @ second.swapaxes(1, 2)
        R, ok = _cholesky(schur, ok)
        logdet_z = np.log(d00 * pivot).sum(axis=1)
        Q = _forward(R, np.stack([x0, x1]))  # (2, m, p + 1, levels): Q's two columns
        d_z, d_x, d_y = _derivatives(Q, (t0, t1, t2), (d00, d10, d11), self.one.diag, pair)
        logdet_x, r2 = _r_pieces(R)
        return BatchPieces(ok, logdet_z, logdet_x, r2, d_z, d_x, d_y)

    def _scalar(self, t: Array, rows: Rows) -> BatchPieces:
        """A scalar term: ``d = t²a + 1``, the row ``t A_xz / √d``, ``F = t/d``, ``K = 1/d``."""
        a = self.one.diag[0]
        d = (t * t)[:, None] * a + 1.0
        ok = np.all(d > 0.0, axis=1)
        x = self.columns[0][rows]
        row = x * (t[:, None] / np.sqrt(d))[:, None, :]
        R, ok = _cholesky(self.xx[rows] - row @ row.swapaxes(1, 2), ok)
        Q = _forward(R, x)
        sums = np.einsum("mrl,mrl,ml->mr", Q, Q, t[:, None] / (d * d))
        d_z = 2.0 * np.sum(a * (t[:, None] / d), axis=1)
        logdet_x, r2 = _r_pieces(R)
        p = R.shape[1] - 1
        return BatchPieces(
            ok,
            np.log(d).sum(axis=1),
            logdet_x,
            r2,
            d_z[:, None],
            -2.0 * sums[:, :p].sum(axis=1, keepdims=True),
            -2.0 * sums[:, p:],
        )


def _cholesky(S: Array, ok: Mask) -> tuple[Array, Mask]:
    """Lower Cholesky factors of the ``S[i]`` (the identity, and ``ok`` false, where none)."""
    S = np.where(ok[:, None, None], S, np.eye(S.shape[1]))
    try:
        return np.linalg.cholesky(S), ok
    except np.linalg.LinAlgError:
        pass
    ok = ok.copy()
    R = np.empty_like(S)
    for i, matrix in enumerate(S):
        try:
            R[i] = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            R[i], ok[i] = np.eye(S.shape[1]), False
    return R, ok


def _r_pieces(R: Array) -> tuple[Array, Array]:
    """``log|R_X|²`` and ``r²`` of lower factors ``R`` of ``[X y]``'s Schur complement."""
    pivots = np.diagonal(R, axis1=1, axis2=2)
    return 2.0 * np.log(pivots[:, :-1]).sum(axis=1), pivots[:, -1] ** 2


def _derivatives(
    Q: Array,
    t: tuple[Array, Array, Array],
    d: tuple[Array, Array, Array],
    gram: tuple[Array, ...],
    pair: bool,
) -> tuple[Array, Array, Array]:
    """``∂ log|L_Z|²``, ``∂ log|R_X|²`` and ``∂ log r²`` along the entries, ``(m, e)`` each.

    ``Q`` is ``R⁻¹A_xz`` per column of the term, ``(2, m, p + 1, levels)``; ``t``, ``d`` and
    ``gram`` as for :func:`_f_and_k`.
    """
    p = Q.shape[2] - 1
    # per level QᵀQ over the X rows and over the y row, both sets at once (2, m, levels)
    c00, c01, c11 = (
        np.stack([np.einsum("mrl,mrl->ml", u[:, :p], v[:, :p]), u[:, p] * v[:, p]])
        for u, v in ((Q[0], Q[0]), (Q[0], Q[1]), (Q[1], Q[1]))
    )
    (f00, f01, f10, f11), (k00, k01, k10, k11) = _f_and_k(t, d, gram)
    m00, m01 = c00 * k00 + c01 * k10, c00 * k01 + c01 * k11  # M = C K
    m10, m11 = c01 * k00 + c11 * k10, c01 * k01 + c11 * k11
    n00, n01, n11 = f00 * m00 + f10 * m10, f00 * m01 + f10 * m11, f01 * m01 + f11 * m11
    a00, a10, a11 = gram
    z00 = f00 * a00 + f10 * a10  # FᵀA_g
    z11 = f01 * a10 + f11 * a11
    if pair:
        N, Z = [n00, n11], [z00, z11]
    else:
        N, Z = [n00, n01, n11], [z00, f00 * a10 + f10 * a11, z11]
    d_x, d_y = np.stack([n.sum(axis=-1) for n in N], axis=-1)  # per set (m, entries)
    d_z = np.stack([z.sum(axis=-1) for z in Z], axis=-1)
    return 2.0 * d_z, -2.0 * d_x, -2.0 * d_y


def _f_and_k(
    t: tuple[Array, Array, Array], d: tuple[Array, Array, Array], gram: tuple[Array, ...]
) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """Per replicate and level the entries of ``F = TD⁻¹`` and ``K = I − FTᵀA_g``.

    ``t`` are the template entries ``t₀, t₁, t₂`` ``(m, 1)``, ``d`` the entries ``d₀₀, d₁₀,
    d₁₁`` of ``D`` and ``gram`` those of ``A_g`` ``(levels,)``; the results are ``(m, levels)``
    each, in the order ``00, 01, 10, 11``.
    """
    t0, t1, t2 = t
    d00, d10, d11 = d
    a00, a10, a11 = gram
    det = d00 * d11 - d10 * d10
    i00, i10, i11 = d11 / det, -d10 / det, d00 / det
    f00, f01 = t0 * i00, t0 * i10
    f10, f11 = t1 * i00 + t2 * i10, t1 * i10 + t2 * i11
    p00, p01 = f00 * t0, f00 * t1 + f01 * t2  # P = F Tᵀ
    p10, p11 = f10 * t0, f10 * t1 + f11 * t2
    K = (
        1.0 - (p00 * a00 + p01 * a10),
        -(p00 * a10 + p01 * a11),
        -(p10 * a00 + p11 * a10),
        1.0 - (p10 * a10 + p11 * a11),
    )
    return (f00, f01, f10, f11), K


def _forward(R: Array, X: Array) -> Array:
    """``R⁻¹X`` per replicate by forward substitution, row by row in a fixed order.

    ``R`` is ``(m, r, r)`` lower triangular and ``X`` ``(..., m, r, levels)``.
    """
    Q = np.empty_like(X)
    for r in range(X.shape[-2]):
        acc = X[..., r, :]
        for s in range(r):
            acc = acc - R[:, r, s, None] * Q[..., s, :]
        Q[..., r, :] = acc / R[:, r, r, None]
    return Q
