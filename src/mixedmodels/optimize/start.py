"""Starting values for θ from moment estimates of the variance components.

Each column ``a`` of each term ``j`` is treated as a scalar random effect with variance
``σ²_ja`` (correlations set to zero). For the OLS residuals ``e = M y``, with
``M = I − X(XᵀX)⁻¹Xᵀ``, the expected squared level sums are linear in the variances
(Henderson's method 3 in its simplest form)::

    E ‖Z_cᵀ e‖²  =  Σ_d σ²_d ‖Z_cᵀ M Z_d‖²_F + σ² tr(Z_cᵀ M Z_c)
    E ‖e‖²       =  Σ_d σ²_d tr(Z_dᵀ M Z_d) + (n − p) σ²

and every coefficient comes from the stored blocks of ``A``. BOBYQA started there, with a trust
region scaled to the start, needs a third fewer evaluations than from lme4's start (θ = 1 on the
diagonal, 0 elsewhere), which remains the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.crossprod import CrossProducts
from mixedmodels.optimize.scaling import ThetaScaling
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["initial_step", "moment_start"]

Array = FloatArray
FLOOR = 0.05  # a start of exactly 0 would sit on the bound
STEP_FRACTION = 0.1  # BOBYQA's initial radius, as a fraction of the start


def moment_start(
    terms: Sequence[RandomEffectsTerm],
    A: CrossProducts,
    nobs: int,
    scaling: ThetaScaling | None = None,
) -> Array | None:
    """Moment-based starting θ (diagonal templates), or ``None`` when the estimate fails.

    Everything comes from the stored blocks: with ``β`` the least-squares fit of the last
    column of ``A`` on the others, ``Z_cᵀe = Z_cᵀy − Z_cᵀXβ`` and ``eᵀe = yᵀy − yᵀXβ``, so
    the start needs no pass over the rows (and is the same in memory and from chunks).

    Parameters
    ----------
    terms
        The random-effects terms, in storage order.
    A
        The stored blocks of ``[Z X y]'[Z X y]``.
    nobs
        Number of observations.
    scaling
        The optimizer's rescaling of θ: the start is kept within ``[0.05, 1000]`` in the
        rescaled parameters (in θ itself without one).
    """
    with np.errstate(all="ignore"):  # overflow (columns of an extreme size) gives None
        return _moment_start(terms, A, nobs, scaling)


def _moment_start(
    terms: Sequence[RandomEffectsTerm],
    A: CrossProducts,
    nobs: int,
    scaling: ThetaScaling | None,
) -> Array | None:
    """The body of :func:`moment_start`."""
    if not all(t.structure.linear for t in terms):
        return None  # a structure's columns share parameters: lme4's start
    columns = [(j, a) for j, term in enumerate(terms) for a in range(term.k)]
    p, m = A.xx.shape[0] - 1, len(columns)
    if m > 50 or not np.all(np.isfinite(A.xx)):
        return None
    C = np.linalg.pinv(A.xx[:p, :p]) if p else np.zeros((0, 0))
    beta = C @ A.xx[:p, p]
    B = {(j, a): A.xz[j][:p, :, a] for j, a in columns}  # X'Z_c, p × levels
    M = np.zeros((m + 1, m + 1))
    rhs = np.zeros(m + 1)
    for r, (j, a) in enumerate(columns):
        sums = A.xz[j][p, :, a] - beta @ B[(j, a)]  # Z_c'e
        rhs[r] = float(sums @ sums)
        for s, other in enumerate(columns):
            M[r, s] = _projected_frobenius2(_block(A, terms, (j, a), other), B, C, (j, a), other)
        trace = float(np.sum(A.diag[j][:, a, a]) - np.sum(C * (B[(j, a)] @ B[(j, a)].T)))
        M[r, m] = M[m, r] = trace
    rhs[m] = float(A.xx[p, p] - A.xx[p, :p] @ beta)
    M[m, m] = nobs - p
    if not (np.all(np.isfinite(M)) and np.all(np.isfinite(rhs))):
        return None  # fourth powers of columns of an extreme size overflow
    solution = np.linalg.lstsq(M, rhs, rcond=None)[0]
    sigma2 = solution[m]
    if not np.isfinite(sigma2) or sigma2 <= 1e-8 * max(float(A.xx[p, p]) / nobs, 1e-300):
        return None
    sd = np.sqrt(np.maximum(solution[:m], 0.0) / sigma2)
    if scaling is None or scaling.identity:
        return _diagonal_theta(terms, np.clip(sd, FLOOR, 1e3))
    phi = scaling.to_phi(_diagonal_theta(terms, sd))
    diagonal = np.concatenate([np.equal(*t.theta_index()) for t in terms])
    phi[diagonal] = np.clip(phi[diagonal], FLOOR, 1e3)
    return scaling.to_theta(phi)


def initial_step(start: Array, terms: Sequence[RandomEffectsTerm]) -> Array:
    """BOBYQA's initial trust-region radius per θ, scaled to the start.

    A tenth of the start for diagonal entries; for an off-diagonal entry a tenth of the
    geometric mean of the two diagonal entries it couples; at least :data:`FLOOR`. Over the
    reference cases and simulated models this takes 11% fewer evaluations than a quarter
    (InstEval: 34 instead of 49) and reaches the same optima (to 2e-10).
    """
    steps, at = [], 0
    for term in terms:
        part = start[at : at + term.ntheta]
        at += term.ntheta
        if not term.structure.linear:  # SDs by their size, the correlations' φ by 1
            n_sd = term.structure.n_sd
            steps.append(
                STEP_FRACTION * np.concatenate([np.abs(part[:n_sd]), np.ones(len(part) - n_sd)])
            )
            continue
        T = term.template(part)
        rows, cols = term.theta_index()
        diag = np.abs(np.diag(T))
        steps.append(STEP_FRACTION * np.sqrt(diag[rows] * diag[cols]))
    return np.maximum(np.concatenate(steps), FLOOR)


def _diagonal_theta(terms: Sequence[RandomEffectsTerm], sd: Array) -> Array:
    """θ with the given relative SDs on the template diagonals and zeros elsewhere."""
    parts, at = [], 0
    for term in terms:
        rows, cols = term.theta_index()
        part = np.zeros(term.ntheta)
        part[rows == cols] = sd[at : at + term.k]
        parts.append(part)
        at += term.k
    return np.concatenate(parts)


def _block(
    A: CrossProducts,
    terms: Sequence[RandomEffectsTerm],
    left: tuple[int, int],
    right: tuple[int, int],
) -> Any:
    """``Z_leftᵀ Z_right`` for two columns: a vector (diagonal), sparse or dense matrix."""
    (j, a), (k, b) = left, right
    if j == k:
        return A.diag[j][:, a, b]
    i, lo = max(j, k), min(j, k)
    ai, alo = (a, b) if i == j else (b, a)
    if lo == 0:
        blocks = A.sparse[i]
        assert blocks is not None
        shape = (terms[i].nlevels, terms[0].nlevels)
        block: Any = sp.csr_array((blocks.data[:, ai, alo], blocks.indices, blocks.indptr), shape)
    else:
        dense = A.dense[i][lo]
        assert dense is not None
        ti, tlo = terms[i], terms[lo]
        block = dense.reshape(ti.nlevels, ti.k, tlo.nlevels, tlo.k)[:, ai, :, alo]
    return block if i == j else block.T


def _projected_frobenius2(
    block: Any,
    B: dict[tuple[int, int], Array],
    C: Array,
    left: tuple[int, int],
    right: tuple[int, int],
) -> float:
    """``‖Z_lᵀ M Z_r‖²_F = ‖A_lr‖² − 2 tr(C B_l A_lr B_rᵀ) + tr(C B_l B_lᵀ C B_r B_rᵀ)``."""
    Bl, Br = B[left], B[right]
    if isinstance(block, np.ndarray) and block.ndim == 1:
        norm2 = float(block @ block)
        AB: NDArray[Any] = block[:, None] * Br.T
    else:
        values = block.data if sp.issparse(block) else block
        norm2 = float(np.sum(np.asarray(values) ** 2))
        AB = np.asarray(block @ Br.T)
    cross = float(np.sum(C * (Bl @ AB)))
    quad = float(np.sum((C @ Bl @ Bl.T) * (Br @ Br.T @ C).T))
    return norm2 - 2.0 * cross + quad
