"""The selected inverse against the dense inverse, on small random problems.

For :mod:`dense_systems`' terms and both systems (with and without the fixed effects), every
block the selected inverse holds, every pair of levels of the later terms with the first (stored
or not), the blocks at the observations' level pairs and the quadratic forms of rows; by the
dense and the sparse products of the first term's column, in one chunk or many.
"""

from __future__ import annotations

import numpy as np
import pytest
from dense_systems import FORMULAS, dense_system, factor, model_at, offsets

from mixedmodels.linalg import selected_inverse as module
from mixedmodels.linalg.crossprod import term_matrix
from mixedmodels.linalg.selected_inverse import (
    RowBlocks,
    SelectedInverse,
    selected_inverse,
    selected_inverse_cost,
)
from mixedmodels.linalg.weighted_blocks import WeightedBlocks
from mixedmodels.models import LinearMixedModel


def _blocks(S: np.ndarray, formula: str, r: int, s: int) -> np.ndarray:
    """``S_rs`` of the dense inverse as ``(levels_r, k_r, levels_s, k_s)``."""
    terms, start = model_at(formula)[0].terms, offsets(formula)
    tr, ts = terms[r], terms[s]
    D = S[start[r] : start[r + 1], start[s] : start[s + 1]]
    return D.reshape(tr.nlevels, tr.k, ts.nlevels, ts.k)


def _check(si: SelectedInverse, formula: str, fixed: bool) -> None:
    S = np.linalg.inv(dense_system(formula, fixed))
    terms = model_at(formula)[0].terms
    for j, term in enumerate(terms):
        idx = np.arange(term.nlevels)
        np.testing.assert_allclose(
            si.diagonal_blocks(j), _blocks(S, formula, j, j)[idx, :, idx, :], atol=1e-10
        )
    for r in range(1, len(terms)):
        for s in range(r + 1):
            if s == r and si.L.blockdiag[r]:
                continue  # a nested term: only its diagonal blocks are held
            gr, gs = (
                g.ravel()
                for g in np.meshgrid(np.arange(terms[r].nlevels), np.arange(terms[s].nlevels))
            )
            expected = _blocks(S, formula, r, s)[gr, :, gs, :]
            np.testing.assert_allclose(si.pair_blocks(r, s, gr, gs), expected, atol=1e-10)
    if fixed:
        m, q = len(terms), offsets(formula)[-1]
        np.testing.assert_allclose(si.dense[(m, m)], S[q:, q:], atol=1e-10)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("fixed", [False, True])
def test_every_held_block_and_level_pair(formula: str, fixed: bool) -> None:
    si = selected_inverse(factor(formula), fixed=fixed)
    assert si.fixed == fixed
    _check(si, formula, fixed)


@pytest.mark.parametrize("formula", FORMULAS)
def test_sparse_products_in_chunks_equal_the_dense_ones(
    formula: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without dense copies of the first column (large blocks), in chunks of a few levels."""
    L = factor(formula).spawn()
    L.first_dense = [None] * len(L.terms)
    monkeypatch.setattr(module, "CHUNK", 8)
    for fixed in (False, True):
        _check(selected_inverse(L, fixed=fixed), formula, fixed)


@pytest.mark.parametrize("formula", FORMULAS)
def test_blocks_at_the_observations(formula: str) -> None:
    """By the positions of the observations' level pairs in the pattern, and as quadratic forms."""
    model, theta = model_at(formula)
    si = selected_inverse(model.L, fixed=True)
    S = np.linalg.inv(dense_system(formula, True))
    positions = WeightedBlocks(model.terms, model.fixed.X).block_of_row
    first = model.terms[0]
    for r in range(1, len(model.terms)):
        expected = _blocks(S, formula, r, 0)[model.terms[r].refs, :, first.refs, :]
        np.testing.assert_allclose(si.first_column_at(r, positions[r]), expected, atol=1e-10)
    rows = RowBlocks()
    for j, (term, T) in enumerate(zip(model.terms, model.L.templates(theta), strict=True)):
        rows.add(j, term.refs, term.z @ T)
    rows.add(len(model.terms), np.zeros(model.nobs, dtype=np.intp), model.fixed.X)
    ZL = np.hstack([_dense_rows(model, j, theta) for j in range(len(model.terms))])
    V = np.hstack([ZL, model.fixed.X])
    np.testing.assert_allclose(
        si.quadratic_forms(rows), np.einsum("ij,jk,ik->i", V, S, V), rtol=1e-9, atol=1e-12
    )


def _dense_rows(model: LinearMixedModel, j: int, theta: np.ndarray) -> np.ndarray:
    """``Z_j Λ_j`` densely."""
    term, T = model.terms[j], model.L.templates(theta)[j]
    return term_matrix(term, None).toarray() @ np.kron(np.eye(term.nlevels), T)


def test_cost_counts_the_later_terms() -> None:
    L = factor("y ~ x + (1 | g) + (x | h) + (1 | k)")
    q0, qT = L.terms[0].q, L.terms[1].q + L.terms[2].q
    assert selected_inverse_cost(L) == qT**2 * q0 + qT**3
