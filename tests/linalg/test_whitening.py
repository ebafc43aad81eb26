"""Whitening by block-diagonal residual covariances against dense matrices."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from mixedmodels.linalg.whitening import helmert_whiten, residual_factor
from mixedmodels.spec.residual_groups import GroupLayout


def _layout() -> tuple[GroupLayout, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    codes = np.repeat(np.arange(5), [3, 1, 4, 3, 4])
    rng.shuffle(codes)
    times = rng.permutation(len(codes)).astype(float)
    return GroupLayout.of(codes, times), codes, times


def _dense(codes: np.ndarray, times: np.ndarray, phi: float, sd: np.ndarray) -> np.ndarray:
    same = codes[:, None] == codes[None, :]
    R = np.where(same, phi ** np.abs(times[:, None] - times[None, :]), 0.0)
    return sd[:, None] * R * sd[None, :]


def test_layout_stacks_groups_by_size_in_time_order() -> None:
    layout, codes, times = _layout()
    assert [b.size for b in layout.buckets] == [1, 3, 4]
    seen = np.concatenate([b.rows.ravel() for b in layout.buckets])
    assert sorted(seen.tolist()) == list(range(len(codes)))
    for b in layout.buckets:
        assert np.all(codes[b.rows] == codes[b.rows][:, :1])
        assert np.all(np.diff(times[b.rows], axis=1) > 0)
    plain = GroupLayout.of(np.array([1, 0, 1, 0]))
    assert plain.buckets[0].rows.tolist() == [[1, 3], [0, 2]]  # the rows' order within groups
    assert GroupLayout.singletons(3).max_size == 1


def test_whitening_and_logdet_match_the_dense_covariance() -> None:
    layout, codes, times = _layout()
    rng = np.random.default_rng(8)
    sd = rng.uniform(0.5, 2.0, len(codes))
    phi = 0.8
    correlations = [np.power(phi, b.lags()) for b in layout.buckets]
    factor = residual_factor(layout, correlations, sd)
    V = _dense(codes, times, phi, sd)
    M = rng.normal(size=(len(codes), 3))
    W = factor.whiten(M)
    # Mᵀ V⁻¹ M from the whitened rows, and log|V|
    np.testing.assert_allclose(W.T @ W, M.T @ np.linalg.solve(V, M), rtol=1e-10)
    assert np.isclose(factor.logdet(), np.linalg.slogdet(V)[1], rtol=1e-12)
    np.testing.assert_allclose(factor.whiten(M[:, 0]), W[:, 0])
    # each group's rows whitened by the lower Cholesky factor in time order
    bucket, C = layout.buckets[2], factor.factors[2]
    rows = bucket.rows[0]
    L = np.linalg.cholesky(V[np.ix_(rows, rows)])
    np.testing.assert_allclose(C[0], L, rtol=1e-12)
    np.testing.assert_allclose(W[rows], scipy.linalg.solve_triangular(L, M[rows], lower=True))


def test_identity_correlation_divides_by_the_multipliers() -> None:
    layout = GroupLayout.singletons(4)
    sd = np.array([1.0, 2.0, 4.0, 0.5])
    factor = residual_factor(layout, [None] * len(layout.buckets), sd)
    np.testing.assert_allclose(factor.whiten(np.ones(4)), 1.0 / sd)
    assert np.isclose(factor.logdet(), 2.0 * np.sum(np.log(sd)))


def test_helmert_factor_whitens_compound_symmetry() -> None:
    layout, codes, _ = _layout()
    rho = 0.35
    same = codes[:, None] == codes[None, :]
    R = np.where(same, rho, 0.0) + np.eye(len(codes)) * (1.0 - rho)
    F = np.column_stack([helmert_whiten(layout, rho, e) for e in np.eye(len(codes))])
    np.testing.assert_allclose(F @ R @ F.T, np.eye(len(codes)), atol=1e-12)
