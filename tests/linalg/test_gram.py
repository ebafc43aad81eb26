"""Weighted Gram products: dense panels, the method chosen by the cost model, fits by each."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.linalg import gram


def random_block(rows: int, cols: int, density: float, seed: int = 0) -> sp.csr_array:
    return sp.csr_array(sp.random(rows, cols, density=density, random_state=seed, format="csr"))


def test_dense_panels_equal_the_dense_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gram, "PANEL", 7)  # several panels, the last one short
    A = random_block(30, 50, 0.2)
    w = np.random.default_rng(1).uniform(0.1, 2.0, 50)
    target = np.random.default_rng(2).normal(size=(30, 30))
    expected = target - 0.7 * (A.toarray() * w) @ A.toarray().T
    gram.DensePanels.of(A).subtract_from(target, w, 0.7)
    lower = np.tril_indices(30)
    np.testing.assert_allclose(target[lower], expected[lower], rtol=1e-12, atol=1e-12)


def test_dense_panels_with_new_values() -> None:
    A = random_block(12, 40, 0.3, seed=3)
    B = A.copy()
    B.data = np.random.default_rng(4).uniform(0.5, 2.0, A.nnz)
    w = np.random.default_rng(5).uniform(0.1, 2.0, 40)
    first, second = np.zeros((12, 12)), np.zeros((12, 12))
    gram.DensePanels.of(A).with_values(B.data).subtract_from(first, w, 1.0)
    gram.DensePanels.of(B).subtract_from(second, w, 1.0)
    np.testing.assert_array_equal(first, second)


def pattern(rows: int, cols: int, per_column: int, seed: int = 0) -> sp.csr_array:
    """``per_column`` distinct rows in every column (a crossed design's block, cheaply)."""
    rng = np.random.default_rng(seed)
    r = np.argsort(rng.random((cols, rows)), axis=1)[:, :per_column].reshape(-1)
    c = np.repeat(np.arange(cols), per_column)
    return sp.csr_array((np.ones(r.size), (r, c)), shape=(rows, cols))


@pytest.mark.parametrize(
    ("shape", "per_column", "method"),
    [
        ((632, 1000), 92, "scatter"),  # 10⁵ rows of the crossed benchmark
        ((2000, 2000), 97, "scatter"),  # 10⁶ rows (a fifth of the columns)
        ((60, 2000), 3, "dense"),  # just above SMALL_DENSE: not worth starting Numba
        ((300, 1000), 240, "dense"),  # 80% full
        ((2000, 1000), 360, "scatter"),  # 18%, as 2·10⁷ rows on 50,000 × 2,000 levels
        ((2000, 1000), 700, "dense"),  # 35%
    ],
)
def test_cost_model_picks_the_cheapest_method(shape, per_column: int, method: str) -> None:
    costs = gram.product_costs(pattern(*shape, per_column))
    assert min(costs, key=lambda name: costs[name]) == method


def test_without_numba_the_scatter_is_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gram, "numba_installed", lambda: False)
    costs = gram.product_costs(pattern(632, 1000, 92))
    assert "scatter" not in costs and min(costs, key=lambda name: costs[name]) == "dense"
    assert gram.gram_product(pattern(20, 3000, 1), pattern(30, 3000, 1)) is None  # SciPy's


def test_off_diagonal_products_have_no_dense_panels() -> None:
    costs = gram.product_costs(pattern(60, 2000, 30), pattern(50, 2000, 25))
    assert "dense" not in costs and costs["scatter"] < costs["sparse"]


def fit_by(monkeypatch: pytest.MonkeyPatch, data: pd.DataFrame, kind: type, **costs: float) -> Any:
    """The crossed model fitted with the cost constants ``costs``, which must choose ``kind``."""
    with monkeypatch.context() as patch:
        for name, value in costs.items():
            patch.setattr(gram, name, value)
        model = mm.LinearMixedModel("y ~ x1 + (1 | g1) + (1 | g2)", data)
        assert isinstance(model.L.gram[(1, 1)], kind)
        return model.fit()


def test_fit_by_the_scatter_equals_fit_by_dense_panels(monkeypatch: pytest.MonkeyPatch) -> None:
    data = mm.datasets.simulate_crossed(5000, (2000, 60), seed=3)  # not a "small" block
    no_sparse = {"SPARSE_PRODUCT_SECONDS": 1.0}  # SciPy's product priced out
    fits = {
        "dense": fit_by(monkeypatch, data, gram.DensePanels, SCATTER_PAIR_SECONDS=1.0, **no_sparse),
        "scatter": fit_by(monkeypatch, data, gram.ScatterGram, DENSE_FLOP_SECONDS=1.0, **no_sparse),
    }
    assert fits["scatter"].objective == pytest.approx(fits["dense"].objective, rel=1e-12)
    np.testing.assert_allclose(fits["scatter"].theta, fits["dense"].theta, rtol=1e-7)


def test_small_fits_do_not_import_numba() -> None:
    code = (
        "import sys, mixedmodels as mm\n"
        "data = mm.datasets.simulate_crossed(6000, (2000, 60), seed=3)\n"
        "mm.lmer('y ~ x1 + (1 | g1) + (1 | g2)', data)\n"
        "assert 'numba' not in sys.modules, 'numba was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def counted_block(rows: int, counts: np.ndarray, seed: int = 0) -> sp.csr_array:
    """A crossed design's block ``A_10``: each column's count of rows spread over the rows."""
    rng = np.random.default_rng(seed)
    r = np.concatenate([rng.integers(0, rows, int(c)) for c in counts])
    c = np.repeat(np.arange(len(counts)), counts.astype(int))
    return sp.csr_array(sp.coo_array((np.ones(r.size), (r, c)), shape=(rows, len(counts))))


def lower_of(product: gram.GramProduct | gram.ScatterGram, n: int, w: np.ndarray) -> np.ndarray:
    target = np.zeros((n, n))
    product.subtract_from(target, w, 0.7)
    return target[np.tril_indices(n)]


@pytest.mark.parametrize("theta", [0.0, 1e-3, 0.5, 2.0, 1e4])
def test_moments_equal_the_scatter_for_every_theta(theta: float) -> None:
    counts = np.random.default_rng(1).integers(330, 471, 900).astype(float)
    C = counted_block(300, counts)
    degree = gram.moment_degree(counts)
    assert degree is not None and degree + 1 < len(np.unique(counts))  # an expansion
    moments = gram.ChebyshevGram.of(C, counts, degree)
    w = 1.0 / (theta**2 * counts + 1.0)
    assert moments.coefficients(w) is not None
    exact = lower_of(gram.ScatterGram.of(C, None), 300, w)
    found = lower_of(moments, 300, w)
    assert np.max(np.abs(found - exact)) <= 1e-14 * np.max(np.abs(exact))


def test_few_counts_give_one_exact_moment_per_group() -> None:
    counts = np.random.default_rng(2).choice([1.0, 2.0, 5.0, 40.0], 700)
    C = counted_block(140, counts, seed=2)
    moments = gram.ChebyshevGram.of(C, counts, gram.moment_degree(counts) or 0)
    np.testing.assert_array_equal(moments.basis, np.eye(4))
    w = 1.0 / (0.3 * counts + 1.0)
    exact = lower_of(gram.ScatterGram.of(C, None), 140, w)
    np.testing.assert_allclose(lower_of(moments, 140, w), exact, rtol=1e-13, atol=1e-13)


def test_weights_that_are_not_a_function_of_the_counts_take_the_exact_scatter() -> None:
    counts = np.random.default_rng(3).integers(80, 120, 500).astype(float)
    C = counted_block(200, counts, seed=3)
    moments = gram.ChebyshevGram.of(C, counts, gram.moment_degree(counts) or 0)
    w = np.random.default_rng(4).uniform(0.5, 1.0, 500)
    assert moments.coefficients(w) is None
    np.testing.assert_array_equal(
        lower_of(moments, 200, w), lower_of(gram.ScatterGram.of(C, None), 200, w)
    )


def test_wide_ranges_of_counts_have_no_expansion() -> None:
    counts = np.arange(1.0, 3000.0)  # 1 to 2,999 rows a level: ρ near 1, every count distinct
    assert gram.chebyshev_degree(counts) is None and gram.moment_degree(counts) is None
    assert gram.chebyshev_degree(np.array([0.0, 1.0])) is None  # a zero weight sum


@pytest.mark.parametrize(
    ("shape", "per_column", "method"),
    [
        ((2000, 5000), 360, "chebyshev"),  # as 2·10⁷ rows on 50,000 × 2,000 levels
        ((632, 1000), 92, "scatter"),  # 10⁵ rows of the crossed benchmark
        ((2000, 10000), 97, "scatter"),  # 10⁶ rows
    ],
)
def test_cost_model_with_counts(shape: tuple[int, int], per_column: int, method: str) -> None:
    counts = np.random.default_rng(5).integers(per_column - 30, per_column + 30, shape[1])
    costs = gram.product_costs(pattern(*shape, per_column), None, counts.astype(float))
    assert min(costs, key=lambda name: costs[name]) == method


def test_fit_by_moments_equals_fit_by_the_scatter(monkeypatch: pytest.MonkeyPatch) -> None:
    data = mm.datasets.simulate_crossed(60_000, (300, 400), seed=4)  # 200 rows a level
    fits = {
        "chebyshev": fit_by(
            monkeypatch, data, gram.ChebyshevGram, DENSE_FLOP_SECONDS=1.0, SCATTER_PAIR_SECONDS=1e-6
        ),
        "scatter": fit_by(
            monkeypatch, data, gram.ScatterGram, DENSE_FLOP_SECONDS=1.0, MOMENT_ENTRY_SECONDS=1.0
        ),
    }
    assert fits["chebyshev"].objective == pytest.approx(fits["scatter"].objective, rel=1e-13)
    np.testing.assert_allclose(fits["chebyshev"].theta, fits["scatter"].theta, rtol=1e-7)


@pytest.mark.parametrize("threads", [2, 3])
def test_moments_on_threads_keep_the_bits(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = np.random.default_rng(6).integers(40, 60, 400).astype(float)
    C = counted_block(700, counts, seed=6)  # 6 row tiles, 21 lower tiles
    w = 1.0 / (0.8 * counts + 1.0)
    degree = gram.moment_degree(counts) or 0
    one = gram.ChebyshevGram.of(C, counts, degree)
    single = lower_of(one, 700, w)
    monkeypatch.setattr(gram, "PARALLEL_TILES", 0)
    monkeypatch.setattr(gram, "threads_for", lambda rows: threads)
    many = gram.ChebyshevGram.of(C, counts, degree)
    np.testing.assert_array_equal(many.moments, one.moments)
    np.testing.assert_array_equal(lower_of(many, 700, w), single)


def test_new_weights_turn_moments_into_the_scatter() -> None:
    counts = np.random.default_rng(7).integers(90, 110, 300).astype(float)
    C = counted_block(150, counts, seed=7)
    moments = gram.ChebyshevGram.of(C, counts, gram.moment_degree(counts) or 0)
    data = np.random.default_rng(8).uniform(0.5, 2.0, C.nnz)
    other = sp.csr_array((data, C.indices, C.indptr), shape=C.shape)
    w = np.random.default_rng(9).uniform(0.5, 1.0, 300)
    moved = moments.with_values(data, data)
    assert isinstance(moved, gram.ScatterGram)
    np.testing.assert_array_equal(
        lower_of(moved, 150, w), lower_of(gram.ScatterGram.of(other, None), 150, w)
    )
