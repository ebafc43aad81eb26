"""The exact gradient of the Laplace objective with respect to (θ, β).

With ``P(u) = Σ dev_i(η) + ‖u‖²``, ``ũ`` its minimizer, ``M = Λ'Z'WZΛ + I`` at the Fisher
weights and ``F = aic(μ̃) + ‖ũ‖² + log|M|``, the total derivative along a parameter ``φ`` is::

    dF/dφ = c d1ᵀ dη + 2 ũᵀ dũ + Σ_i h_i w'_i dη_i  [+ 2 Σ_i w_i (ZE_k M⁻¹Λ'Z')_ii  for θ_k]

where ``d1 = ∂dev/∂η``, ``c`` scales it to ``∂aic/∂η`` (1 except for Gamma and inverse
Gaussian), ``h_i = (ZΛM⁻¹Λ'Z')_ii``, ``w' = ∂w/∂η``, ``E_k = ∂Λ/∂θ_k``, and the modes move with
``dũ = −H⁻¹ ∂²P/∂u∂φ / 2`` for ``H`` the observed-information version of ``M`` (the same
matrix for canonical links), so that ``dη = ∂η/∂φ + ZΛ dũ``. Only the blocks of ``M⁻¹`` at
observed level pairs are needed (:mod:`mixedmodels.linalg.selected_inverse`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.objective.laplace import LaplaceEngine, second_derivatives
from mixedmodels.spec.random import RandomEffectsTerm
from mixedmodels.spec.structure_derivatives import template_jacobian

__all__ = ["entry_jacobian", "laplace_gradient", "theta_directions"]

Array = FloatArray


def theta_directions(
    terms: Sequence[RandomEffectsTerm], modes: list[Array], d1: Array, q: int
) -> tuple[Array, Array, list[tuple[int, int, int]]]:
    """``∂η/∂T_ab = Z e_a e_bᵀ u`` and ``e_b e_aᵀZ'd1`` for every free template entry.

    The entries are each θ of a term whose θ are entries of ``T`` (lme4's terms), and the whole
    lower triangle of a structured term (:func:`entry_jacobian` turns them into its θ).

    Parameters
    ----------
    terms
        The random-effects terms.
    modes
        ``u`` per term, ``(levels, k)``.
    d1
        ``∂dev/∂η`` per observation.
    q
        Total number of random effects.

    Returns
    -------
    v, e1, where
        ``v`` is ``(n, m)``, ``e1`` is ``(q, m)`` for ``m`` entries; ``where[k] = (term, a, b)``
        for the template entry ``T[a, b]`` of column ``k``.
    """
    entries = [_entries(term) for term in terms]
    m = sum(len(rows) for rows, _ in entries)
    v = np.empty((len(d1), m))
    e1 = np.zeros((q, m))
    where: list[tuple[int, int, int]] = []
    k = start = 0
    for r, (term, u, (rows, cols)) in enumerate(zip(terms, modes, entries, strict=True)):
        for a, b in zip(rows, cols, strict=True):
            v[:, k] = term.z[:, a] * u[term.refs, b]
            sums = np.bincount(term.refs, weights=term.z[:, a] * d1, minlength=term.nlevels)
            e1[start + np.arange(term.nlevels) * term.k + b, k] = sums
            where.append((r, int(a), int(b)))
            k += 1
        start += term.q
    return v, e1, where


def _entries(term: RandomEffectsTerm) -> tuple[np.ndarray, np.ndarray]:
    """The template entries a term's θ move: its θ's own, or the whole lower triangle."""
    if term.structure.linear:
        return term.theta_index()
    cols, rows = np.triu_indices(term.k)
    return rows, cols


def entry_jacobian(terms: Sequence[RandomEffectsTerm], theta: Array) -> Array | None:
    """``∂(template entries)/∂θ`` (block diagonal), or ``None`` when every θ is an entry."""
    if all(term.structure.linear for term in terms):
        return None
    blocks: list[Array] = []
    at = 0
    for term in terms:
        part = theta[at : at + term.ntheta]
        at += term.ntheta
        if term.structure.linear:
            blocks.append(np.eye(term.ntheta))
            continue
        rows, cols = _entries(term)
        blocks.append(template_jacobian(term.structure, part)[:, rows, cols].T)
    return np.asarray(scipy.linalg.block_diag(*blocks))


def laplace_gradient(engine: LaplaceEngine, *, with_beta: bool = False) -> Array:
    """``∂F/∂(θ, β)`` (or, ``with_beta``, ``dF/dθ`` with β̂(θ) from PIRLS) at the current modes.

    Parameters
    ----------
    engine
        An engine on which ``fit_modes`` has just run with the same ``with_beta``.
    with_beta
        glmer's first stage: β moves with θ as part of the penalized least-squares solution.

    Returns
    -------
    numpy.ndarray
        The gradient, θ first then (unless ``with_beta``) β.
    """
    d = engine.data
    wk = engine.wk
    assert wk is not None
    terms = d.terms
    observed, dw = second_derivatives(d, wk)
    v, e1, where = theta_directions(terms, engine.split(engine.u), wk.d1, d.q)
    J = entry_jacobian(terms, engine.theta)
    if J is not None:  # structured terms: from template entries to their θ
        v, e1 = v @ J, e1 @ J
    ntheta = v.shape[1]
    if with_beta:
        Gu = engine.random_part_t(observed[:, None] * v) + 0.5 * e1
        Gb = d.X.T @ (observed[:, None] * v)
        D, Db = engine.solve_joint(Gu, Gb, observed)
        D, Db = -D, -Db
        engine.sensitivity1 = (engine.theta.copy(), engine.u.copy(), engine.beta.copy(), D, Db)
        deta = v + engine.random_part_multi(D) + d.X @ Db
    else:
        E0 = np.column_stack([v, d.X])
        G = engine.random_part_t(observed[:, None] * E0)
        G[:, :ntheta] += 0.5 * e1
        D = -engine.solve_observed(G, observed)
        engine.sensitivity = (np.concatenate([engine.theta, engine.beta]), engine.u.copy(), D)
        deta = E0 + engine.random_part_multi(D)
    rho = engine.leverages()
    zeta = engine.zeta()
    h = sum(np.einsum("ia,ia->i", z, r) for z, r in zip(zeta, rho, strict=True))
    c = d.family.aic_factor(d.y, wk.mu, d.weights, float(np.sum(wk.dev)))
    grad = c * (wk.d1 @ deta) + 2.0 * (engine.u @ D) + (dw * h) @ deta
    traces = engine.logdet_traces(rho, where)
    grad[:ntheta] += traces if J is None else traces @ J
    return np.asarray(grad, dtype=float)
