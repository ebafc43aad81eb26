"""The bidiagonal AR(1) whitening against the general factorization and dense matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linalg.markov_whitening import markov_factor
from mixedmodels.linalg.whitening import residual_factor
from mixedmodels.models.residual import ResidualMixedModel
from mixedmodels.spec.residual_groups import GroupLayout


def _layout(seed: int, integer: bool) -> tuple[GroupLayout, np.ndarray, np.ndarray]:
    """Groups of sizes 1 to 6, rows shuffled, times with gaps (integer or real)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=9)
    codes = np.repeat(np.arange(sizes.size), sizes)
    times = np.concatenate([np.sort(rng.choice(12, size=m, replace=False)) for m in sizes])
    times = times.astype(float) if integer else times + rng.uniform(0.0, 0.9, times.size)
    order = rng.permutation(codes.size)
    return GroupLayout.of(codes[order], times[order]), codes[order], times[order]


@pytest.mark.parametrize("phi", [0.0, 0.3, -0.7, 0.97, 0.999])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_factor_is_the_cholesky_factors(seed: int, phi: float) -> None:
    integer = phi <= 0.0 or seed != 3  # real times only with φ > 0 (continuous AR(1))
    layout, codes, times = _layout(seed, integer)
    rng = np.random.default_rng(seed + 10)
    sd = None if seed == 1 else rng.uniform(0.5, 2.0, codes.size)
    with np.errstate(under="ignore"):
        general = residual_factor(layout, [np.power(phi, b.lags()) for b in layout.buckets], sd)
    fast = markov_factor(layout.chain, phi, sd)
    M = rng.normal(size=(codes.size, 3))
    np.testing.assert_allclose(fast.whiten(M), general.whiten(M), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fast.whiten(M[:, 1]), fast.whiten(M)[:, 1], rtol=0, atol=0)
    assert fast.logdet() == pytest.approx(general.logdet(), rel=1e-12, abs=1e-12)
    # the whitened rows have the inverse covariance as their cross-product
    same = codes[:, None] == codes[None, :]
    with np.errstate(under="ignore"):
        R = np.where(same, np.power(phi, np.abs(times[:, None] - times[None, :])), 0.0)
    s = np.ones(codes.size) if sd is None else sd
    V = s[:, None] * R * s[None, :]
    W = fast.whiten(M)
    np.testing.assert_allclose(W.T @ W, M.T @ np.linalg.solve(V, M), rtol=1e-7)
    assert fast.logdet() == pytest.approx(np.linalg.slogdet(V)[1], rel=1e-9, abs=1e-9)


def test_a_unit_correlation_is_refused() -> None:
    layout, _, _ = _layout(4, True)
    with pytest.raises(np.linalg.LinAlgError):
        markov_factor(layout.chain, 1.0, None)
    with pytest.raises(np.linalg.LinAlgError):
        markov_factor(layout.chain, -1.0, None)


def test_chain_orders_rows_by_group_then_time() -> None:
    layout, codes, times = _layout(5, True)
    chain = layout.chain
    assert chain.order is not None
    assert sorted(chain.order.tolist()) == list(range(codes.size))
    c, t = codes[chain.order], times[chain.order]
    new = np.r_[True, c[1:] != c[:-1]]
    assert np.unique(c[new]).size == np.unique(codes).size  # each group contiguous
    assert np.all(np.diff(t)[~new[1:]] > 0)
    first = chain.gap_index == chain.gaps.size
    np.testing.assert_array_equal(first, new)
    np.testing.assert_array_equal(chain.gaps[chain.gap_index[~new]], np.diff(t)[~new[1:]])
    assert chain.links == codes.size - np.unique(codes).size
    # rows already in that order: no permutation
    assert GroupLayout.of(np.repeat([0, 1], 3), np.tile([1.0, 2.0, 4.0], 2)).chain.order is None
    assert GroupLayout.singletons(4).chain.links == 0


def _panel(seed: int) -> pd.DataFrame:
    """Subjects with unequal numbers of visits (gaps), rows in no order."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(12):
        visits = np.sort(rng.choice(9, size=int(rng.integers(2, 8)), replace=False))
        b = rng.normal(0.0, 1.0)
        for t in visits:
            x = rng.uniform(1.0, 3.0)
            y = 1.0 + 0.3 * t + 0.5 * x + b + rng.normal(0.0, 0.8)
            rows.append({"s": f"s{s:02d}", "t": int(t), "tr": t + 0.25 * x, "x": x, "y": y})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


CASES = [
    ("y ~ t + (1 | s)", mm.cor_ar1("t", "s"), None),
    ("y ~ t + x + (t | s)", mm.cor_ar1("t", "s"), mm.var_power("x")),
    ("y ~ t + (1 | s)", mm.cor_ar1(None, "s"), mm.var_exp("x")),
    ("y ~ tr + (1 | s)", mm.cor_car1("tr", "s"), mm.var_power("x")),
    ("y ~ t + x + (1 | s)", None, mm.var_power("x")),
]


@pytest.mark.parametrize("seed", [21, 22])
@pytest.mark.parametrize(("formula", "cor", "var"), CASES)
def test_criterion_is_the_general_paths(seed: int, formula: str, cor: object, var: object) -> None:
    model = ResidualMixedModel(formula, _panel(seed), correlation=cor, variance=var)  # type: ignore[arg-type]
    fast = model.residual_objective
    general = model.residual_objective
    general.markov = False
    rng = np.random.default_rng(seed)
    for _ in range(4):
        theta = np.abs(rng.normal(0.8, 0.3, fast.n_theta))
        x = np.concatenate([theta, rng.normal(0.0, 0.6, model.structure.n_params)])
        assert fast(x) == pytest.approx(general(x), rel=1e-12)
