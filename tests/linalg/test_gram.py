"""Weighted Gram products: dense panels, the method chosen by the cost model, fits by each."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
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


def test_fit_by_the_scatter_equals_fit_by_dense_panels(monkeypatch: pytest.MonkeyPatch) -> None:
    data = mm.datasets.simulate_crossed(5000, (2000, 60), seed=3)  # not a "small" block
    formula = "y ~ x1 + (1 | g1) + (1 | g2)"
    fits = {}
    for method, expensive in [("dense", "SCATTER_PAIR_SECONDS"), ("scatter", "DENSE_FLOP_SECONDS")]:
        with monkeypatch.context() as patch:
            patch.setattr(gram, expensive, 1.0)
            patch.setattr(gram, "SPARSE_PRODUCT_SECONDS", 1.0)
            model = mm.LinearMixedModel(formula, data)
            kind = gram.DensePanels if method == "dense" else gram.ScatterGram
            assert isinstance(model.L.gram[(1, 1)], kind)
            fits[method] = model.fit()
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
