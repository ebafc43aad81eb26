"""The selected inverse of the blocked factor against a dense inverse on small designs.

For scalar, vector, crossed, nested and partially crossed terms, with and without prior
weights, every block the selected inverse stores (and every pair of levels, including pairs that
never occur together in the data) must equal the dense ``(Λ'Z'WZΛ + I, ...)⁻¹``.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

import mixedmodels as mm
from mixedmodels.linalg.blocksolve import inverse_columns
from mixedmodels.linalg.crossprod import term_matrix
from mixedmodels.linalg.selected_inverse import selected_inverse
from mixedmodels.models import LinearMixedModel
from mixedmodels.results.residuals import fitted_rows, hat_values

CASES = [
    ("y ~ x + (1 | g) + (1 | h)", None),
    ("y ~ x + (x | g) + (1 | h)", "w"),
    ("y ~ x + (1 | outer/g)", None),
    ("y ~ x + (x | outer/g) + (1 | h)", "w"),
    ("y ~ x + (1 | g) + (x | h) + (1 | outer)", None),
    ("y ~ 1 + (x || g)", None),
    ("y ~ 0 + x + (1 | g) + (1 | h)", "w"),
]


def make_data(seed: int, n: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": rng.integers(0, 15, size=n).astype(str),
            "h": rng.integers(0, 6, size=n).astype(str),
            "w": rng.uniform(0.5, 2.0, size=n),
        }
    )
    frame["outer"] = (frame["g"].astype(int) // 5).astype(str)
    effects = frame["g"].astype(int) * 0.3 + frame["h"].astype(int) * 0.2
    frame["y"] = 1 + frame["x"] + rng.normal(size=n) + effects
    return frame


@functools.cache
def fit(formula: str, weights: str | None, seed: int = 3) -> LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.lmer(formula, make_data(seed), weights=weights, check_convergence=False)
    model._require_fit()
    return model


def dense_inverse(model: LinearMixedModel, fixed: bool = True) -> np.ndarray:
    """``(Λ'Z'WZΛ + I, Λ'Z'WX; X'WZΛ, X'WX)⁻¹`` built densely."""
    sw = np.sqrt(model.frame.weights)[:, None]
    Z = np.hstack([term_matrix(t, None).toarray() for t in model.terms])
    blocks = [
        np.kron(np.eye(t.nlevels), T) for t, T in zip(model.terms, model.templates(), strict=True)
    ]
    ZL = Z @ scipy.linalg.block_diag(*blocks) * sw
    X = model.fixed.X * sw if fixed else np.zeros((model.nobs, 0))
    M = np.block([[ZL.T @ ZL + np.eye(ZL.shape[1]), ZL.T @ X], [X.T @ ZL, X.T @ X]])
    return np.linalg.inv(M)


def offsets(model: LinearMixedModel) -> list[int]:
    return list(np.cumsum([0] + [t.q for t in model.terms]))


@pytest.mark.parametrize(("formula", "weights"), CASES)
def test_hat_values_match_dense(formula: str, weights: str | None) -> None:
    model = fit(formula, weights)
    inverse = dense_inverse(model)
    sw = np.sqrt(model.frame.weights)[:, None]
    Z = np.hstack([term_matrix(t, None).toarray() for t in model.terms])
    blocks = [
        np.kron(np.eye(t.nlevels), T) for t, T in zip(model.terms, model.templates(), strict=True)
    ]
    V = np.hstack([Z @ scipy.linalg.block_diag(*blocks), model.fixed.X]) * sw
    expected = np.einsum("ij,jk,ik->i", V, inverse, V)
    np.testing.assert_allclose(hat_values(model), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("formula", "weights"), CASES)
def test_diagonal_blocks_match_dense(formula: str, weights: str | None) -> None:
    model = fit(formula, weights)
    for fixed in (True, False):
        inverse = dense_inverse(model, fixed)
        selected = selected_inverse(model.L, fixed=fixed)
        for j, (term, start) in enumerate(zip(model.terms, offsets(model), strict=False)):
            blocks = selected.diagonal_blocks(j)
            for g in range(term.nlevels):
                rows = slice(start + g * term.k, start + (g + 1) * term.k)
                np.testing.assert_allclose(blocks[g], inverse[rows, rows], atol=1e-10)


@pytest.mark.parametrize(("formula", "weights"), CASES)
def test_every_level_pair(formula: str, weights: str | None) -> None:
    """All pairs (a ≥ 1, first term), stored or not, and the fixed-effects blocks."""
    model = fit(formula, weights)
    inverse = dense_inverse(model)
    selected = selected_inverse(model.L)
    t0, starts = model.terms[0], offsets(model)
    for a in range(1, len(model.terms)):
        ta = model.terms[a]
        ga, g0 = np.meshgrid(np.arange(ta.nlevels), np.arange(t0.nlevels), indexing="ij")
        got = selected.pair_blocks(a, 0, ga.ravel(), g0.ravel())
        D = inverse[starts[a] : starts[a + 1], : t0.q].reshape(ta.nlevels, ta.k, t0.nlevels, t0.k)
        np.testing.assert_allclose(got, D[ga.ravel(), :, g0.ravel(), :], atol=1e-10)
    m, p = len(model.terms), model.n_fixed
    if p:
        levels = np.arange(t0.nlevels)
        got = selected.pair_blocks(m, 0, np.zeros_like(levels), levels)
        F = inverse[starts[-1] :, : t0.q].reshape(p, t0.nlevels, t0.k).transpose(1, 0, 2)
        np.testing.assert_allclose(got, F, atol=1e-10)
        np.testing.assert_allclose(selected.dense[(m, m)], inverse[starts[-1] :, starts[-1] :])


def test_inverse_columns_match_dense() -> None:
    model = fit("y ~ x + (x | g) + (1 | h) + (1 | outer)", "w")
    inverse = dense_inverse(model)
    levels = np.array([0, 4, 7])
    k0 = model.terms[0].k
    cols = np.concatenate([np.arange(g * k0, (g + 1) * k0) for g in levels])
    got = np.vstack(inverse_columns(model.L, levels))
    np.testing.assert_allclose(got, inverse[:, cols], atol=1e-10)


def test_conditional_variances_without_fixed_effects_match_ranef_var() -> None:
    model = fit("y ~ x + (x | g) + (1 | h)", "w")
    selected = selected_inverse(model.L, fixed=False)
    for j, (term, T) in enumerate(zip(model.terms, model.templates(), strict=True)):
        expected = model.ranef_var[term.name]
        got = model.sigma**2 * (T @ selected.diagonal_blocks(j) @ T.T)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_rows_of_a_subset_of_terms() -> None:
    model = fit("y ~ x + (1 | g) + (1 | h)", None)
    selected = selected_inverse(model.L)
    rows = fitted_rows(model, model.terms[1:], selected)
    assert sorted(rows.levels) == [1, 2]
    assert np.all(selected.quadratic_forms(rows) > 0)
