"""The blocked triangular solves against dense Cholesky factors and inverses.

On small random problems (:mod:`dense_systems`): ``L_Z⁻¹V`` and ``L_Z⁻ᵀV``, the same with the
fixed effects, full columns of the inverse, each diagonal-block solve, and the conditional modes
the factor solves for with them.
"""

from __future__ import annotations

import numpy as np
import pytest
from dense_systems import FORMULAS, dense_system, factor, model_at, random_part

from mixedmodels.linalg.blocksolve import (
    FactorBlocks,
    backward,
    forward,
    inverse_columns,
    lower_solve,
    upper_solve,
)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("fixed", [False, True])
def test_forward_and_backward_solve_with_the_dense_factor(formula: str, fixed: bool) -> None:
    L = factor(formula)
    M = dense_system(formula, fixed)
    chol = np.linalg.cholesky(M)
    V = np.random.default_rng(1).standard_normal((M.shape[0], 3))
    blocks = FactorBlocks(L, fixed=fixed)
    assert blocks.offsets[-1] == M.shape[0]
    np.testing.assert_allclose(forward(blocks, V), np.linalg.solve(chol, V), atol=1e-10)
    np.testing.assert_allclose(backward(blocks, V), np.linalg.solve(chol.T, V), atol=1e-10)
    if not fixed:  # the random-effects part, for matrices and vectors
        np.testing.assert_allclose(lower_solve(L, V), np.linalg.solve(chol, V), atol=1e-10)
        np.testing.assert_allclose(upper_solve(L, V[:, 0]), np.linalg.solve(chol.T, V[:, 0]))


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("fixed", [False, True])
def test_diagonal_block_solves(formula: str, fixed: bool) -> None:
    L = factor(formula)
    chol = np.linalg.cholesky(dense_system(formula, fixed))
    blocks = FactorBlocks(L, fixed=fixed)
    rng = np.random.default_rng(2)
    for j in range(blocks.nb):
        part = slice(blocks.offsets[j], blocks.offsets[j + 1])
        D = chol[part, part]
        B = rng.standard_normal((blocks.size(j), 2))
        np.testing.assert_allclose(blocks.solve_diag(j, B, transpose=False), np.linalg.solve(D, B))
        np.testing.assert_allclose(blocks.solve_diag(j, B, transpose=True), np.linalg.solve(D.T, B))


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("fixed", [False, True])
def test_inverse_columns(formula: str, fixed: bool) -> None:
    inverse = np.linalg.inv(dense_system(formula, fixed))
    L = factor(formula)
    k0 = L.terms[0].k
    levels = np.array([0, 5, 11])
    columns = np.concatenate([np.arange(g * k0, (g + 1) * k0) for g in levels])
    got = inverse_columns(L, levels, fixed=fixed)
    assert len(got) == len(L.terms) + int(fixed)
    np.testing.assert_allclose(np.vstack(got), inverse[:, columns], atol=1e-10)


@pytest.mark.parametrize("formula", FORMULAS)
def test_conditional_modes_solve_the_penalized_system(formula: str) -> None:
    """``ũ = (Λ'Z'WZΛ + I)⁻¹ Λ'Z'W(y − Xβ)`` for any β."""
    model, _ = model_at(formula)
    beta = np.random.default_rng(3).normal(size=model.n_fixed)
    ZL = random_part(formula)
    w = model.frame.weights
    expected = np.linalg.solve(
        dense_system(formula, False), ZL.T @ (w * (model.y - model.fixed.X @ beta))
    )
    got = model.L.spherical_modes(beta)
    assert [len(u) for u in got] == [t.q for t in model.terms]
    np.testing.assert_allclose(np.concatenate(got), expected, atol=1e-10)
