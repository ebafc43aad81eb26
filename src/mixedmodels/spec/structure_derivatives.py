"""Derivatives of a structured term's covariance: of ``T`` in θ, of ``σ²TTᵀ`` in its parameters.

The exact gradient of a GLMM's Laplace deviance is computed in the entries of each template
(:mod:`mixedmodels.objective.laplace_gradient`); for a structure whose θ are not those entries
(``cs``, ``ar1``, ``toep``, a homogeneous ``diag``) the chain rule needs ``∂T/∂θ``
(:func:`template_jacobian`). Kenward–Roger's adjustment needs the first and second derivatives
of the covariance ``G = S R S`` of the effects in its natural covariance parameters (the
variances, then the correlations; :func:`covariance_derivatives`).

``C = chol(R)`` moves as ``dC = C Φ(C⁻¹ dR C⁻ᵀ)``, ``Φ`` taking the lower triangle with half
the diagonal.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.spec.structures import Structure, levinson_jacobian

__all__ = ["covariance_derivatives", "template_jacobian"]


def template_jacobian(structure: Structure, theta: FloatArray) -> FloatArray:
    """``∂T/∂θ_j`` for each parameter of the term, ``(ntheta, k, k)``."""
    s, k = structure, structure.k
    theta = np.asarray(theta, dtype=float)
    out = np.zeros((s.ntheta, k, k))
    if s.linear:
        rows, cols = s.entries
        out[np.arange(s.ntheta), rows, cols] = 1.0
        return out
    C = s.template(np.concatenate([np.ones(s.n_sd), theta[s.n_sd :]]))  # D = I: C itself
    for j, rows in enumerate(s.sd_rows()):
        out[j, rows] = C[rows]
    sd = s.sds(theta)
    for m, dR in enumerate(_correlation_jacobian(s, theta)):
        half = scipy.linalg.solve_triangular(C, dR, lower=True)
        inner = scipy.linalg.solve_triangular(C, half.T, lower=True)  # C⁻¹ dR C⁻ᵀ
        phi = np.tril(inner) - 0.5 * np.diag(np.diag(inner))
        out[s.n_sd + m] = sd[:, None] * (C @ phi)
    return out


def _rho_gradient(structure: Structure, rho: FloatArray) -> list[FloatArray]:
    """``∂R/∂ρ_l`` for each correlation parameter ``ρ_l`` of the structure."""
    k = structure.k
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    if structure.name == "ar1":
        r = float(rho[0])
        return [np.where(lag > 0, lag * r ** np.maximum(lag - 1, 0), 0.0)]
    if structure.name == "cs":
        return [np.where(lag > 0, 1.0, 0.0)]
    return [np.where(lag == ell, 1.0, 0.0) for ell in range(1, k)]


def _rho_hessian(structure: Structure, rho: FloatArray) -> FloatArray:
    """``∂²R/∂ρ_l∂ρ_m``, ``(n_cor, n_cor, k, k)`` (only ``ar1``'s is not zero)."""
    k, n = structure.k, structure.n_cor
    out = np.zeros((n, n, k, k))
    if structure.name == "ar1":
        lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        r = float(rho[0])
        out[0, 0] = np.where(lag > 1, lag * (lag - 1) * r ** np.maximum(lag - 2, 0), 0.0)
    return out


def _correlation_jacobian(structure: Structure, theta: FloatArray) -> list[FloatArray]:
    """``∂R/∂φ_m`` for each unconstrained correlation parameter ``φ_m``."""
    s = structure
    raw = np.asarray(theta[s.n_sd :], dtype=float)
    phi = s.limited(theta)
    inside = np.abs(raw) < s.phi_limit  # beyond the limit the correlation does not move
    rho = s.correlations(theta)
    by_rho = _rho_gradient(s, rho)
    if s.name == "ar1":
        return [by_rho[0] * (1.0 + phi[0] ** 2) ** -1.5 * inside[0]]
    if s.name == "cs":
        a = -1.0 / (s.k - 1.0)
        p = 1.0 / (1.0 + np.exp(-phi[0]))
        return [by_rho[0] * (1.0 - a) * p * (1.0 - p) * inside[0]]
    _, by_kappa = levinson_jacobian(phi / np.sqrt(1.0 + phi**2))
    J = by_kappa * (1.0 + phi**2) ** -1.5 * inside  # ∂ρ_l/∂φ_m
    return [
        sum((J[ell, m] * by_rho[ell] for ell in range(len(rho))), np.zeros((s.k, s.k)))
        for m in range(len(phi))
    ]


def _linear_in_covariances(structure: Structure) -> bool:
    """A homogeneous ``cs`` or ``toep`` is linear in its variance and covariances (per lag)."""
    return structure.homogeneous and structure.name in ("cs", "toep")


def _covariance_basis(structure: Structure) -> FloatArray:
    """``∂G/∂(v, c_1, …)`` of ``G = v I + Σ_l c_l A_l`` (``A_l``: the pairs at lag ``l``)."""
    k = structure.k
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    if structure.name == "cs":
        return np.array([np.eye(k), np.where(lag > 0, 1.0, 0.0)])
    return np.array([np.where(lag == ell, 1.0, 0.0) for ell in range(k)])


def covariance_derivatives(
    structure: Structure, natural: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """First and second derivatives of ``G = S R S`` in its covariance parameters.

    The parameters are the variances, then the correlations; for a homogeneous ``cs`` or
    ``toep`` the variance and the covariances (one per lag), in which ``G`` is linear, as
    SAS's ``CS`` and ``TOEP`` and as the equivalent lme4 terms (``(1 | g) + (1 | g:f)`` for a
    homogeneous ``cs`` with ρ ≥ 0): Kenward–Roger's adjustment is invariant under linear
    reparametrizations only, and so agrees with pbkrtest's there.

    Parameters
    ----------
    structure
        A structured term's structure (not ``us``).
    natural
        Its natural parameters: the SDs (with σ), then the correlations.

    Returns
    -------
    first, second
        ``(m, k, k)`` and ``(m, m, k, k)`` with ``m = n_sd + n_cor``.

    Raises
    ------
    ValueError
        When an SD is zero (the variances' derivatives do not exist there).
    """
    s, k = structure, structure.k
    sd = np.asarray(natural[: s.n_sd], dtype=float)
    if _linear_in_covariances(s):
        first = _covariance_basis(s)
        return first, np.zeros((len(first), *first.shape))
    if np.any(sd <= 0.0):
        raise ValueError("a standard deviation of the term is zero")
    rho = np.asarray(natural[s.n_sd :], dtype=float)
    R = s.correlation_matrix(rho)
    S = np.diag(np.full(k, sd[0]) if s.homogeneous else sd)
    dS, d2S = [], []
    for j, rows in enumerate(s.sd_rows()):
        e = np.zeros((k, k))
        e[rows, rows] = 1.0
        dS.append(e / (2.0 * sd[j]))
        d2S.append(-e / (4.0 * sd[j] ** 3))
    dR, d2R = _rho_gradient(s, rho) if s.n_cor else [], _rho_hessian(s, rho)
    m = s.n_sd + s.n_cor
    first, second = np.zeros((m, k, k)), np.zeros((m, m, k, k))
    for i in range(s.n_sd):
        first[i] = dS[i] @ R @ S + S @ R @ dS[i]
        second[i, i] = d2S[i] @ R @ S + S @ R @ d2S[i]
        for j in range(s.n_sd):
            second[i, j] += dS[i] @ R @ dS[j] + dS[j] @ R @ dS[i]
    for a in range(s.n_cor):
        first[s.n_sd + a] = S @ dR[a] @ S
        for b in range(s.n_cor):
            second[s.n_sd + a, s.n_sd + b] = S @ d2R[a, b] @ S
        for i in range(s.n_sd):
            cross = dS[i] @ dR[a] @ S + S @ dR[a] @ dS[i]
            second[i, s.n_sd + a] = second[s.n_sd + a, i] = cross
    return first, second
