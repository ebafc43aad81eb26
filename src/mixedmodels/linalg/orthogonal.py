"""PIRLS's factor by orthogonal elimination, for crossed terms under huge working weights.

With Poisson counts of 1e13 the working weights make ``M = Λ'Z'WZΛ + I`` span fourteen orders:
its entries are ~1e14, yet with crossed terms ``(1|a) + (1|b)`` it has an eigenvalue of about
1 (the direction ``ZΛv = 0`` that adds to every ``a`` effect what it takes from every ``b``
effect, held only by the penalty). The Cholesky factor of a matrix formed in floating point
gets that eigenvalue with an absolute error of about ``ε‖M‖`` ≈ 1e-2, however the entries are
formed: the Laplace objective ``… + log|M|`` and its θ-gradient become noise at the 1e-3 level,
too much for the optimizer and for the Hessian.

The factor of the stacked matrix ``[W^½ZΛ  W^½[X r]; I  0]`` by orthogonal transformations does
not form ``M`` and keeps that eigenvalue to ~1e-9. Here the first term is eliminated level by
level — ``(I + A_gA_gᵀ)^{-½}`` with ``A_g = W_g^½ Z_{0,g} T₀`` applied to the other columns of
the level's rows, a symmetric square root in closed form::

    (I + AAᵀ)^{-½} = I − A f(AᵀA) Aᵀ,   f(λ) = 1 / (s (1 + s)),  s = √(1 + λ)

— and the rows it leaves, stacked on the identity of the later terms, are reduced by Householder
QR in chunks. The first term's column of ``L`` has no cancellation and comes from
:meth:`~mixedmodels.linalg.BlockedCholesky.factor_leading`; ``R`` gives the rest
(:meth:`~mixedmodels.linalg.BlockedCholesky.set_trailing`). The cost is ``O(n q_T²)`` for ``q_T``
random effects after the first term, so it replaces the Cholesky update only where that lost
digits and the later terms are few.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.kernels import scale_blockdiag
from mixedmodels.linalg.selected_inverse import SelectedInverse
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["digits_lost", "logdet_traces", "orthogonal_applicable", "orthogonal_update"]

Array = FloatArray
IntArray = NDArray[np.signedinteger[Any]]
LOST = 1e-8  # a pivot² below this fraction of its diagonal entry has lost ≥ 8 digits
MAX_TRAILING = 2000  # random effects after the first term, at most
MAX_FLOPS = 2e10  # for the QR of the rows the first term leaves (a few seconds)
CHUNK_ENTRIES = 4_000_000  # rows × columns of one chunk of the QR


def orthogonal_applicable(L: BlockedCholesky, nobs: int) -> bool:
    """Whether the factor has later terms, few enough to stack densely.

    Few enough: at most ``MAX_TRAILING`` random effects, and a QR of ``nobs`` rows that costs
    at most ``MAX_FLOPS``.
    """
    if L.closed_form or len(L.terms) < 2:
        return False
    qt = sum(t.q for t in L.terms[1:])
    ncol = qt + L.A.xx.shape[0]
    return qt <= MAX_TRAILING and float(nobs) * ncol * ncol <= MAX_FLOPS


def digits_lost(L: BlockedCholesky, theta: Array) -> bool:
    """Whether a later term's pivot of the updated factor lost more than 8 digits."""
    T = L.templates(theta)
    for j in range(1, len(L.terms)):
        D = scale_blockdiag(L.A.diag[j], T[j])
        reference = np.diagonal(D, axis1=1, axis2=2).reshape(-1)
        Lj = L.diag[j]
        pivots = (np.diagonal(Lj, axis1=1, axis2=2) if L.blockdiag[j] else np.diagonal(Lj)) ** 2
        pivots = pivots.reshape(-1)
        if not np.all(pivots > LOST * reference):
            return True
    return False


def orthogonal_update(
    L: BlockedCholesky,
    X: Array,
    weights: Array,
    resid: Array,
    theta: Array,
) -> None:
    """Update ``L`` for ``theta`` by orthogonal elimination (the module docstring).

    Parameters
    ----------
    L
        The factor, with blocks built from ``weights`` and ``resid``.
    X
        The fixed-effects model matrix.
    weights
        The working weights.
    resid
        The column after ``X`` in the blocks (the working residual).
    theta
        The covariance parameters.
    """
    L.factor_leading(theta)
    terms = L.terms
    T = L.templates(theta)
    root = np.sqrt(weights)
    first = terms[0]
    a = root[:, None] * (first.z @ T[0])  # rows of W^½Z₀Λ₀, (n, k₀)
    G = _square_root_coefficients(first, a)
    order = np.argsort(first.refs, kind="stable")
    qt = sum(t.q for t in terms[1:])
    ncol = qt + X.shape[1] + 1
    R = np.zeros((qt, ncol))
    R[:, :qt] = np.eye(qt)  # the penalty rows of the later terms
    rows = max(64, CHUNK_ENTRIES // ncol)
    for chunk in _chunks(first.refs[order], rows):
        idx = order[chunk]
        Y = _trailing_rows(terms, T, X, resid, root, idx, ncol)
        Y -= _level_correction(a[idx], G, first.refs[idx], Y)
        R = np.asarray(np.linalg.qr(np.vstack([R, Y]), mode="r"))
    L.set_trailing(_square(R, ncol))


def _square_root_coefficients(first: RandomEffectsTerm, a: Array) -> Array:
    """``f(A_gᵀA_g)`` per level of the first term, ``(levels, k₀, k₀)``."""
    k = first.k
    B = np.zeros((first.nlevels, k, k))
    for i in range(k):
        for j in range(i + 1):
            B[:, i, j] = np.bincount(first.refs, weights=a[:, i] * a[:, j], minlength=first.nlevels)
            B[:, j, i] = B[:, i, j]
    if k == 1:
        s = np.sqrt(1.0 + B)
        return np.asarray(1.0 / (s * (1.0 + s)))
    lam, P = np.linalg.eigh(B)
    s = np.sqrt(1.0 + np.maximum(lam, 0.0))
    return np.asarray(np.einsum("gab,gb,gcb->gac", P, 1.0 / (s * (1.0 + s)), P))


def _chunks(sorted_refs: IntArray, rows: int) -> list[slice]:
    """Consecutive slices of whole levels, of at most ``rows`` rows unless one level is longer."""
    n = len(sorted_refs)
    bounds = np.r_[np.flatnonzero(np.r_[True, sorted_refs[1:] != sorted_refs[:-1]]), n]
    out: list[slice] = []
    begin = 0
    while begin < n:
        end = int(bounds[int(np.searchsorted(bounds, begin + rows, side="right")) - 1])
        if end <= begin:  # one level longer than a chunk: that level alone
            end = int(bounds[int(np.searchsorted(bounds, begin, side="right"))])
        out.append(slice(begin, end))
        begin = end
    return out


def _trailing_rows(
    terms: Sequence[RandomEffectsTerm],
    T: list[Array],
    X: Array,
    resid: Array,
    root: Array,
    idx: IntArray,
    ncol: int,
) -> Array:
    """Dense rows ``W^½[Z_TΛ_T  X  r]`` of the observations ``idx``."""
    Y = np.zeros((len(idx), ncol))
    start = 0
    rows = np.arange(len(idx))[:, None]
    for term, Tj in zip(terms[1:], T[1:], strict=True):
        cols = start + term.refs[idx][:, None] * term.k + np.arange(term.k)
        Y[rows, cols] = root[idx, None] * (term.z[idx] @ Tj)
        start += term.q
    Y[:, start:-1] = root[idx, None] * X[idx]
    Y[:, -1] = root[idx] * resid[idx]
    return Y


def _level_correction(a: Array, G: Array, refs: IntArray, Y: Array) -> Array:
    """``A_g f(A_gᵀA_g) A_gᵀ Y_g`` stacked over the levels of the rows (sorted by level)."""
    levels, local = np.unique(refs, return_inverse=True)
    starts = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])
    k = a.shape[1]
    AtY = np.stack([np.add.reduceat(a[:, [c]] * Y, starts, axis=0) for c in range(k)], axis=1)
    H = np.einsum("gab,gbc->gac", G[levels], AtY)  # (levels, k, ncol)
    return np.einsum("ia,iac->ic", a, H[local])


def _square(R: Array, ncol: int) -> Array:
    """``R`` as a square ``ncol × ncol`` upper-triangular matrix (zero rows added)."""
    if R.shape[0] >= ncol:
        return R[:ncol]
    out = np.zeros((ncol, ncol))
    out[: R.shape[0]] = R
    return out


def logdet_traces(
    terms: Sequence[RandomEffectsTerm],
    templates: list[Array],
    si: SelectedInverse,
    where: list[tuple[int, int, int]],
) -> Array | None:
    """``∂ log|M| / ∂θ_k`` at fixed weights, from the diagonal blocks of ``M⁻¹`` only.

    With ``Λ`` invertible, ``Λ'Z'WZ = (M − I)Λ⁻¹``, so for ``E_k = ∂Λ/∂θ_k``::

        2 tr(M⁻¹Λ'Z'WZE_k) = 2 tr(Λ⁻¹E_k) − 2 tr(M⁻¹Λ⁻¹E_k),

    which needs the diagonal blocks of ``M⁻¹`` (``si``, of ``L_Z`` alone: accurate from an
    accurate factor) instead of ``M⁻¹Λ'Z'`` (~1e-13 under weights of 1e13, computed as
    differences of entries ~1). ``where[k] = (term, a, b)`` for θ_k the template entry
    ``T[a, b]``. None when a template is (nearly) singular.
    """
    inverses = []
    for T in templates:
        d = np.abs(np.diagonal(T))
        if not float(d.min()) > 1e-6 * float(d.max()):
            return None
        inverses.append(scipy.linalg.solve_triangular(T, np.eye(len(T)), lower=True))
    blocks = [si.diagonal_blocks(r) for r in range(len(terms))]
    out = np.empty(len(where))
    for k, (r, a, b) in enumerate(where):
        Tinv = inverses[r]
        inner = float(np.sum(blocks[r][:, b, :] @ Tinv[:, a]))
        out[k] = 2.0 * (terms[r].nlevels * Tinv[b, a] - inner)
    return out
