"""Denominator degrees of freedom for the fixed effects of a linear mixed model.

Four methods, named as ``ddf=`` everywhere in :mod:`mixedmodels.inference`:

``"satterthwaite"``
    lmerTest's method. The variance parameters are ``varpar = (θ, σ)``; the deviance as a
    function of them (profiled over β only, REML or ML as the fit) has Hessian ``H`` at the
    estimates and ``A = 2 H⁺`` estimates ``Var(varpar)``. For a contrast ``l``,
    ``df = 2 (l C lᵀ)² / (gᵀ A g)`` with ``C = Var(β̂)`` and ``g = ∂(l C lᵀ)/∂varpar``.
    Only the θ-derivatives are numerical (numDeriv's Richardson extrapolation, as lmerTest);
    the σ-derivatives are exact, since the deviance is ``φ(θ) + r²(θ)/σ² + n' log(2πσ²)``
    and ``C = σ² (R_X R_Xᵀ)⁻¹``. One factor update per evaluation, nothing of size ``n``:
    ``8m + 4m(m−1)`` updates for ``m`` θ's. The Jacobian of ``C`` comes from the same
    evaluations (lmerTest calls ``numDeriv::jacobian`` separately, with smaller steps; both
    are Richardson-extrapolated and agree to about 1e-9).
``"kenward-roger"``
    pbkrtest's ``vcovAdj`` and ``Lb_ddf``: the variance parameters are the elements of each
    term's covariance matrix ``σ²TTᵀ`` and ``σ²``, with ``∂V/∂γ_r = Z E_r Zᵀ`` (and ``I``).
    Everything is computed in the space of the ``q`` random effects by the Woodbury identity
    (``Σ⁻¹ = σ⁻²(I − ZΛC⁻¹ΛᵀZᵀ)``, ``C = ΛᵀZᵀZΛ + I``), with dense ``q × q`` matrices: models
    with more than :data:`KR_MAX_RANDOM_EFFECTS` random effects are refused. REML fits only.
``"residual"``
    ``n − p`` for every contrast.
``"wald"``
    Infinite: z statistics with normal (or χ²) reference distributions.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ConvergenceWarning, ModelSpecificationError
from mixedmodels.fitted import FittedLinearModel
from mixedmodels.objective.lmm import LmmObjective
from mixedmodels.optimize.differences import richardson_derivatives
from mixedmodels.spec.structure_derivatives import covariance_derivatives

__all__ = [
    "KR_MAX_RANDOM_EFFECTS",
    "KRStatistics",
    "KenwardRoger",
    "Satterthwaite",
    "coefficient_table",
    "contrast_df",
    "ddf_method",
    "kenward_roger",
    "kenward_roger_df",
    "kenward_roger_stats",
    "richardson_derivatives",
    "satterthwaite",
    "satterthwaite_df",
    "two_sided_p",
]

Array = FloatArray
KR_MAX_RANDOM_EFFECTS = 5000  # dense q × q matrices for Kenward-Roger (about 200 MB each)
EIGEN_TOL = 1e-8  # lmerTest's tolerance on the eigenvalues of the Hessian
METHOD_LABELS = {
    "satterthwaite": "Satterthwaite",
    "kenward-roger": "Kenward-Roger",
    "residual": "residual",
    "wald": "Wald",
}
_ALIASES = {"kr": "kenward-roger", "kenwardroger": "kenward-roger", "z": "wald"}


def ddf_method(ddf: str) -> str:
    """The canonical name of a df method (``"Kenward-Roger"``, ``"KR"`` → ``"kenward-roger"``)."""
    key = str(ddf).strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key.replace("-", ""), key)
    if key not in METHOD_LABELS:
        choices = ", ".join(repr(k) for k in METHOD_LABELS)
        raise ModelSpecificationError(f"unknown ddf method {ddf!r}; choose one of {choices}")
    return key


# ---- Satterthwaite ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Satterthwaite:
    """lmerTest's ingredients for Satterthwaite's method, at the estimates.

    Attributes
    ----------
    varpar
        ``(θ, σ)``.
    vcov_beta
        ``Var(β̂) = σ² (R_X R_Xᵀ)⁻¹``, ``p × p``.
    hessian
        Hessian of the deviance (REML criterion) in ``varpar``.
    vcov_varpar
        ``A = 2 H⁺`` (pseudo-inverse over eigenvalues above 1e-8, as lmerTest).
    jacobian
        ``∂Var(β̂)/∂varpar_i``, shape ``(len(varpar), p, p)``.
    """

    varpar: Array
    vcov_beta: Array
    hessian: Array
    vcov_varpar: Array
    jacobian: Array


def satterthwaite(model: FittedLinearModel) -> Satterthwaite:
    """Hessian and Jacobians for Satterthwaite's df (lmerTest's ``as_lmerModLmerTest``).

    Parameters
    ----------
    model
        A fitted :class:`~mixedmodels.LinearMixedModel` (REML or ML).

    Returns
    -------
    Satterthwaite
        Computed once per fit (kept by the model's ``cached``).
    """
    return model.cached("satterthwaite", _satterthwaite)


def _satterthwaite(model: FittedLinearModel) -> Satterthwaite:
    theta = np.array(model.theta, dtype=np.float64)
    sigma, p = float(model.sigma), model.n_fixed  # the factor is now at θ̂
    n_resid = model.nobs - p if model.reml else model.nobs
    at_hat = _factor_parts(model, model.L)
    devfun = model.objective_function  # the differences move a factor of their own
    f0, grad, hess = richardson_derivatives(
        lambda t: _profile_parts(model, devfun, t), theta, f0=at_hat
    )
    return satterthwaite_from_derivatives(
        theta, f0, grad, hess, sigma, n_resid, fixed_sigma=model.fixed_sigma is not None
    )


def satterthwaite_from_derivatives(
    x: Array,
    f0: Array,
    grad: Array,
    hess: Array,
    sigma: float,
    n_resid: int,
    *,
    fixed_sigma: bool = False,
) -> Satterthwaite:
    """Satterthwaite's pieces from the derivatives of ``[φ, r², vec (R_X R_Xᵀ)⁻¹]`` in ``x``.

    ``x`` are the variance parameters other than σ (θ, and a residual structure's); σ is added
    as the last one unless it is fixed.
    """
    m, p = x.size, int(round(math.sqrt(f0.size - 2)))
    pwrss, M = f0[1], f0[2:].reshape(p, p)
    H = np.empty((m + 1, m + 1))
    H[:m, :m] = hess[0] + hess[1] / sigma**2
    H[:m, m] = H[m, :m] = -2.0 * grad[1] / sigma**3
    H[m, m] = 6.0 * pwrss / sigma**4 - 2.0 * n_resid / sigma**2
    jac = np.empty((m + 1, p, p))
    jac[:m] = sigma**2 * grad[2:].T.reshape(m, p, p)
    jac[m] = 2.0 * sigma * M
    varpar = np.append(x, sigma)
    if fixed_sigma:  # σ is not a parameter: drop its row
        H, jac, varpar = H[:m, :m], jac[:m], x
    return Satterthwaite(varpar, sigma**2 * M, H, _vcov_varpar(H), jac)


def _profile_parts(model: FittedLinearModel, devfun: LmmObjective, theta: Array) -> Array:
    """``[φ(θ), r²(θ), vec (R_X R_Xᵀ)⁻¹]`` from one evaluation of ``devfun`` (φ: its value)."""
    value = devfun(np.asarray(theta, dtype=np.float64))
    if not math.isfinite(value):
        raise ModelSpecificationError(
            f"the model cannot be evaluated at θ = {np.array2string(theta)} for Satterthwaite's "
            "df (a singular factor); use ddf='residual' or 'wald'"
        )
    return _factor_parts(model, devfun.factor)


def _factor_parts(model: FittedLinearModel, L: Any) -> Array:
    """``[φ, r², vec (R_X R_Xᵀ)⁻¹]`` from the factor ``L``."""
    p = model.n_fixed
    logdet = L.logdet_z + (L.logdet_x() if model.reml else 0.0)
    M = scipy.linalg.cho_solve((L.xx[:p, :p], True), np.eye(p), check_finite=False)
    return np.concatenate([[logdet, L.pwrss()], M.reshape(-1)])


def _vcov_varpar(H: Array) -> Array:
    """``2 H⁺`` over the positive eigenvalues; warn on negative or near-zero ones (lmerTest)."""
    values, vectors = np.linalg.eigh(H)
    negative, zero = values < -EIGEN_TOL, np.abs(values) <= EIGEN_TOL
    for mask, text in ((negative, "negative"), (zero, "close-to-zero")):
        if mask.any():
            shown = " ".join(f"{v:.1e}" for v in values[mask])
            warnings.warn(
                f"the Hessian of the deviance in (θ, σ) has {mask.sum()} {text} eigenvalue(s): "
                f"{shown}; the model may not have converged",
                ConvergenceWarning,
                stacklevel=4,
            )
    pos = values > EIGEN_TOL
    return 2.0 * (vectors[:, pos] / values[pos]) @ vectors[:, pos].T


def satterthwaite_df(info: Satterthwaite, L: Array) -> Array:
    """Satterthwaite's df of each row of ``L`` as a 1-d contrast (lmerTest's ``contest1D``).

    Parameters
    ----------
    info
        From :func:`satterthwaite`.
    L
        Contrasts, one per row (``k × p``; a vector is one row).
    """
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    var_con = np.einsum("ia,ab,ib->i", L, info.vcov_beta, L)
    grad = np.einsum("ia,kab,ib->ik", L, info.jacobian, L)
    denom = np.einsum("ik,kl,il->i", grad, info.vcov_varpar, grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(2.0 * var_con**2 / denom)


# ---- Kenward-Roger ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KenwardRoger:
    """pbkrtest's ``vcovAdj`` result: the adjusted covariance and what ``Lb_ddf`` needs.

    Attributes
    ----------
    vcov_beta
        ``Φ = Var(β̂)`` (unadjusted).
    vcov_adjusted
        ``Φ_A = Φ + 2 Φ U Φ``.
    P
        ``P_r = −Xᵀ Σ⁻¹ (∂Σ/∂γ_r) Σ⁻¹ X`` for each variance parameter, ``(R, p, p)``.
    W
        ``2 I_E⁻¹``, the estimated covariance of the variance parameters, ``R × R``.
    """

    vcov_beta: Array
    vcov_adjusted: Array
    P: Array
    W: Array


def kenward_roger(model: FittedLinearModel) -> KenwardRoger:
    """The Kenward-Roger adjusted covariance of β̂ (pbkrtest's ``vcovAdj``).

    Parameters
    ----------
    model
        A linear mixed model fitted by REML with at most :data:`KR_MAX_RANDOM_EFFECTS` random
        effects. Prior weights enter as the residual covariance ``σ²W⁻¹`` (pbkrtest ignores
        weights).

    Returns
    -------
    KenwardRoger
        Computed once per fit (kept by the model's ``cached``).
    """
    if not model.reml:
        raise ModelSpecificationError("Kenward-Roger's method is only available for REML fits")
    q = sum(t.q for t in model.terms)
    if q > KR_MAX_RANDOM_EFFECTS:
        raise ModelSpecificationError(
            f"Kenward-Roger's method uses dense q × q matrices and is limited to "
            f"KR_MAX_RANDOM_EFFECTS = {KR_MAX_RANDOM_EFFECTS} random effects; this model has "
            f"q = {q}: use ddf='satterthwaite'"
        )
    return model.cached("kenward-roger", _kenward_roger)


@dataclass(frozen=True)
class _Marginal:
    """Quadratic forms of ``[Z X]`` (whitened) in ``Σ⁻¹`` (``M``), ``Σ⁻²`` (``N``), ``Σ⁻³``."""

    Mzz: Array
    Mzx: Array
    Nzx: Array
    Nxx: Array
    Nzz_blocks: list[Array]  # diagonal k × k blocks of ZᵀΣ⁻²Z per term, (l, k, k)
    xs3x: Array  # Xᵀ Σ⁻³ X
    tr_s2: float  # tr Σ⁻²


def _marginal(model: FittedLinearModel) -> _Marginal:
    """The quadratic forms by Woodbury: ``σ²Σ⁻¹ [Z X] = [Z X] K``, ``K = I − [ΛC⁻¹ΛᵀZᵀ[Z X]; 0]``.

    With ``GS = [Z X]ᵀ σ²Σ⁻¹ [Z X]``: ``σ⁴ UᵀΣ⁻²U = GS K`` and ``σ⁶ XᵀΣ⁻³X = K_xᵀ GS K_x``;
    ``σ⁴ tr Σ⁻² = n − q + tr C⁻²``. Peak memory is about five dense ``q × q`` matrices.
    """
    Z, X, Lam = _random_design(model)
    q, solve = Z.shape[1], scipy.linalg.solve_triangular
    ZZ = (Z.T @ Z).toarray()
    ZX = np.asarray(Z.T @ X)
    Hz, Hx = np.asarray(Lam.T @ ZZ), np.asarray(Lam.T @ ZX)  # ΛᵀZᵀ[Z X]
    C = np.asarray(Lam.T @ Hz.T).T + np.eye(q)
    Lc = scipy.linalg.cholesky(C, lower=True, overwrite_a=True, check_finite=False)
    del C
    Wz = solve(Lc, Hz, lower=True, overwrite_b=True, check_finite=False)
    Wx = solve(Lc, Hx, lower=True, check_finite=False)
    GSzz = ZZ - Wz.T @ Wz
    del ZZ
    GSzx, GSxx = ZX - Wz.T @ Wx, X.T @ X - Wx.T @ Wx
    Yz = solve(Lc, Wz, lower=True, trans="T", overwrite_b=True, check_finite=False)  # C⁻¹Hz
    Kzx = -np.asarray(Lam @ solve(Lc, Wx, lower=True, trans="T", check_finite=False))
    Nzx, Nxx = GSzz @ Kzx + GSzx, GSzx.T @ Kzx + GSxx
    blocks = _product_blocks(model, GSzz, Lam, Yz)
    del Yz
    inv_lc = solve(Lc, np.eye(q), lower=True, overwrite_b=True, check_finite=False)
    tr_c2 = float(np.sum((inv_lc.T @ inv_lc) ** 2))
    s2 = float(model.sigma) ** 2
    return _Marginal(
        GSzz / s2,
        GSzx / s2,
        Nzx / s2**2,
        Nxx / s2**2,
        [b / s2**2 for b in blocks],
        (Kzx.T @ Nzx + Nxx) / s2**3,
        (model.nobs - q + tr_c2) / s2**2,
    )


def _random_design(model: FittedLinearModel) -> tuple[sp.csc_array, Array, sp.csr_array]:
    """Whitened ``Z`` (sparse) and ``X``, and the relative covariance factor ``Λ``."""
    from mixedmodels.linalg.crossprod import term_matrix

    sqrtw = np.sqrt(np.asarray(model.frame.weights, dtype=np.float64))
    Z = sp.csc_array(sp.hstack([term_matrix(t, sqrtw) for t in model.terms]))
    X = model.fixed.X * sqrtw[:, None]
    factors = [
        sp.kron(sp.eye(t.nlevels), T) for t, T in zip(model.terms, model.templates(), strict=True)
    ]
    return Z, X, sp.csr_array(sp.block_diag(factors))


def _product_blocks(
    model: FittedLinearModel, GSzz: Array, Lam: sp.csr_array, Yz: Array
) -> list[Array]:
    """Diagonal ``k × k`` blocks of ``GSzz (I − ΛYz)`` for each term, ``(l, k, k)``."""
    out, start = [], 0
    for term in model.terms:
        rows = slice(start, start + term.q)
        nlev, k = term.nlevels, term.k
        own = GSzz[rows, rows].reshape(nlev, k, nlev, k)[np.arange(nlev), :, np.arange(nlev), :]
        left = GSzz[rows].reshape(nlev, k, -1)
        right = np.asarray(Lam @ Yz[:, rows]).reshape(-1, nlev, k).transpose(1, 0, 2)
        out.append(own - np.matmul(left, right))
        start += term.q
    return out


@dataclass(frozen=True)
class _Parameter:
    """One covariance parameter of Kenward–Roger's: its term's rows in Z, ``∂G/∂ψ``.

    ``G`` is the covariance of one level's effects; for lme4's terms ψ is one of its elements
    (pbkrtest's parametrization, ``∂G/∂ψ = E_ab``), for a structured term one of its variances
    or correlations, whose second derivatives ``second`` (by the other parameters' indices) may
    not vanish.
    """

    rows: slice
    k: int
    derivative: Array
    term: int
    second: dict[int, Array]


def _parameters(model: FittedLinearModel) -> list[_Parameter]:
    """The covariance parameters of every term, in θ's order of terms."""
    out: list[_Parameter] = []
    start = 0
    for j, term in enumerate(model.terms):
        block, k = slice(start, start + term.q), term.k
        start += term.q
        if term.structured:
            out += _structure_parameters(model, j, block, len(out))
            continue
        for a, b in zip(*term.theta_index(), strict=True):
            E = np.zeros((k, k))
            E[a, b] = E[b, a] = 1.0
            out.append(_Parameter(block, k, E, j, {}))
    return out


def _structure_parameters(
    model: FittedLinearModel, j: int, block: slice, offset: int
) -> list[_Parameter]:
    """A structured term's variances and correlations (with their second derivatives)."""
    term = model.terms[j]
    at = sum(t.ntheta for t in model.terms[:j])
    natural = term.structure.natural(model.theta[at : at + term.ntheta], float(model.sigma))
    try:
        first, second = covariance_derivatives(term.structure, natural)
    except ValueError:
        raise ModelSpecificationError(
            f"Kenward-Roger's method needs the variances of {term.spec} to be positive; "
            "this fit has a zero SD: use ddf='satterthwaite'"
        ) from None
    m = len(first)
    return [
        _Parameter(
            block,
            term.k,
            first[r],
            j,
            {offset + s: second[r, s] for s in range(m) if np.any(second[r, s] != 0.0)},
        )
        for r in range(m)
    ]


def _times_g(Y: Array, k: int, G: Array) -> Array:
    """``(I_l ⊗ G) Y`` for a symmetric ``k × k`` matrix ``G``."""
    Y3 = Y.reshape(Y.shape[0] // k, k, Y.shape[1])
    return np.einsum("ab,lbm->lam", G, Y3).reshape(Y.shape)


def _kenward_roger(model: FittedLinearModel) -> KenwardRoger:
    """As pbkrtest's ``vcovAdj_internal``, with the ``n × n`` products done in the ``q`` space.

    With structured terms the second derivatives of the covariance enter as in Kenward and
    Roger (1997): ``R_ij = XᵀV⁻¹(∂²V/∂ψ_i∂ψ_j)V⁻¹X`` (zero for lme4's terms).
    """
    mg = _marginal(model)
    Phi, Mzz = model.vcov.to_numpy(), mg.Mzz
    params = _parameters(model)
    R = len(params) + 1
    DX = [_times_g(mg.Mzx[p.rows], p.k, p.derivative) for p in params]  # D_r Zᵀ Σ⁻¹ X
    P = np.array([-mg.Mzx[p.rows].T @ dx for p, dx in zip(params, DX, strict=True)] + [-mg.Nxx])
    Q = np.empty((R, R, *Phi.shape))
    K = np.empty((R, R))
    for r, pr in enumerate(params):
        for s, ps in enumerate(params[r:], start=r):
            Q[r, s] = DX[r].T @ Mzz[pr.rows, ps.rows] @ DX[s]
            left = _times_g(Mzz[pr.rows, ps.rows], pr.k, pr.derivative)
            right = _times_g(Mzz[ps.rows, pr.rows], ps.k, ps.derivative)
            K[r, s] = K[s, r] = np.sum(left * right.T)
        Q[r, -1] = DX[r].T @ mg.Nzx[pr.rows]
        K[r, -1] = K[-1, r] = float(np.einsum("lab,ba->", mg.Nzz_blocks[pr.term], pr.derivative))
    Q[-1, -1], K[-1, -1] = mg.xs3x, mg.tr_s2
    second = np.zeros((R, R, *Phi.shape))
    for r, pr in enumerate(params):
        for s, H in pr.second.items():
            second[r, s] = mg.Mzx[pr.rows].T @ _times_g(mg.Mzx[pr.rows], pr.k, H)
    if model.fixed_sigma is not None:  # σ² is not a parameter
        keep = slice(0, R - 1)
        return _adjust(Phi, P[keep], Q[keep, keep], K[keep, keep], second[keep, keep])
    return _adjust(Phi, P, Q, K, second)


def _adjust(Phi: Array, P: Array, Q: Array, K: Array, second: Array) -> KenwardRoger:
    """The information matrix, ``W`` and ``Φ_A``.

    From ``P``, ``Q`` (upper triangle), the traces ``K`` and the second-derivative terms
    ``R_ij`` (``second``).
    """
    R = P.shape[0]
    info = np.empty((R, R))
    for i in range(R):
        for j in range(i, R):
            info[i, j] = info[j, i] = (
                K[i, j] - 2.0 * np.sum(Phi * Q[i, j]) + np.sum((Phi @ P[i]) * (P[j] @ Phi))
            )
    condition = np.min(np.abs(np.linalg.eigvalsh(info)))
    W = 2.0 * (np.linalg.inv(info) if condition > 1e-10 else np.linalg.pinv(info))
    W = (W + W.T) / 2.0
    U = np.zeros_like(Phi)
    for i in range(R - 1):
        for j in range(i + 1, R):
            U += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j] - 0.25 * second[i, j])
    U = U + U.T
    for i in range(R):
        U += W[i, i] * (Q[i, i] - P[i] @ Phi @ P[i] - 0.25 * second[i, i])
    return KenwardRoger(Phi, Phi + 2.0 * Phi @ U @ Phi, P, W)


@dataclass(frozen=True)
class KRStatistics:
    """pbkrtest's ``.KR_adjust`` quantities for one restriction matrix ``L`` of rank ``q``."""

    q: int
    ddf: float
    a2: float
    f_scaling: float


def kenward_roger_stats(kr: KenwardRoger, L: Array, q: int | None = None) -> KRStatistics:
    """Kenward-Roger's df and F scaling for ``H0: L β = 0`` (pbkrtest's ``Lb_ddf``).

    Parameters
    ----------
    kr
        From :func:`kenward_roger`.
    L
        Restriction matrix, ``k × p`` (a vector is one row).
    q
        Numerator df; ``Lb_ddf`` uses the number of rows, ``KRmodcomp`` the rank.
    """
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    V0 = kr.vcov_beta
    Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
    u = [Theta @ V0 @ P @ V0 for P in kr.P]
    a1 = a2 = 0.0
    for i in range(len(u)):
        for j in range(i, len(u)):
            e = 1.0 if i == j else 2.0
            a1 += e * kr.W[i, j] * np.trace(u[i]) * np.trace(u[j])
            a2 += e * kr.W[i, j] * np.sum(u[i] * u[j].T)
    q = L.shape[0] if q is None else q
    B = (a1 + 6.0 * a2) / (2.0 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    c1, c2, c3 = (np.array([g, q - g, q + 2 - g]) / (3 * q + 2 * (1 - g))).tolist()
    v0 = 1.0 + c1 * B
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    v1, v2 = 1.0 - c2 * B, 1.0 - c3 * B
    ratio = 1.0 if abs(1.0 - a2 / q) < 1e-14 and abs(v1) < 1e-14 else (1.0 - a2 / q) / v1
    rho = ratio**2 * v0 / (q * v2)
    df2 = 4.0 + (q + 2) / (q * rho - 1.0)
    scaling = 1.0 if abs(df2 - 2.0) < 0.01 else df2 * (1.0 - a2 / q) / (df2 - 2.0)
    return KRStatistics(q, float(df2), float(a2), float(scaling))


def kenward_roger_df(kr: KenwardRoger, L: Array) -> float:
    """Kenward-Roger's denominator df for ``L`` (pbkrtest's ``Lb_ddf``)."""
    return kenward_roger_stats(kr, L).ddf


# ---- the coefficient table ----------------------------------------------------------------
def coefficient_table(model: FittedLinearModel, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Estimates, standard errors, df, t (or z) statistics and two-sided p-values.

    As lmerTest's ``summary(m, ddf=...)$coefficients``.

    Parameters
    ----------
    model
        A fitted :class:`~mixedmodels.LinearMixedModel`.
    ddf
        ``"satterthwaite"`` (default), ``"kenward-roger"`` (standard errors from the adjusted
        covariance), ``"residual"`` (``n − p``) or ``"wald"`` (z tests, ``df = inf``).

    Returns
    -------
    pandas.DataFrame
        Columns ``estimate, std_error, df, statistic, p_value``, indexed by coefficient name;
        ``attrs["ddf"]`` is the method and, for Satterthwaite and Kenward-Roger,
        ``attrs["df_method"]`` its name as the summary prints it.
    """
    method = ddf_method(ddf)
    beta = np.asarray(model.beta, dtype=np.float64)
    p = beta.size
    if method == "kenward-roger":
        kr = kenward_roger(model)
        cov = kr.vcov_adjusted
        df = np.array([kenward_roger_df(kr, row) for row in np.eye(p)])
    else:
        cov = model.vcov.to_numpy()
        df = contrast_df(model, np.eye(p), method)
    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    columns = {"estimate": beta, "std_error": se, "df": df, "statistic": stat}
    table = pd.DataFrame(columns, index=list(model.fixed.names))
    table["p_value"] = two_sided_p(stat, df)
    table.attrs["ddf"] = method
    if method in ("satterthwaite", "kenward-roger"):
        table.attrs["df_method"] = METHOD_LABELS[method]
    return table


def contrast_df(model: FittedLinearModel, L: Array, method: str) -> Array:
    """Denominator df of each row of ``L`` as a 1-d contrast, for a non-KR method."""
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    if method == "satterthwaite":
        return satterthwaite_df(satterthwaite(model), L) if L.size else np.empty(0)
    if method == "residual":
        return np.full(L.shape[0], float(model.nobs - model.n_fixed))
    if method == "wald":
        return np.full(L.shape[0], np.inf)
    return np.array([kenward_roger_df(kenward_roger(model), row) for row in L])


def two_sided_p(stat: Array, df: Array) -> Array:
    """``2 P(T > |t|)`` for t with ``df`` degrees of freedom (normal where ``df`` is infinite)."""
    stat, df = np.broadcast_arrays(np.abs(np.asarray(stat, float)), np.asarray(df, float))
    finite = np.isfinite(df)
    out = 2.0 * scipy.stats.norm.sf(stat)
    out[finite] = 2.0 * scipy.stats.t.sf(stat[finite], df[finite])
    return np.asarray(out)
