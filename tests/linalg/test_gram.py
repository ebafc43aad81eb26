"""Weighted Gram products: the precomputed map, dense panels and the choice between them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.linalg import gram


def random_block(rows: int, cols: int, density: float, seed: int = 0) -> sp.csc_array:
    return sp.csc_array(sp.random(rows, cols, density=density, random_state=seed, format="csc"))


@pytest.mark.parametrize("maker", [gram.gram_map, lambda A: gram.DensePanels(A)])
def test_products_equal_the_dense_formula(maker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gram, "PANEL", 7)  # several panels, the last one short
    A = random_block(30, 50, 0.2)
    w = np.random.default_rng(1).uniform(0.1, 2.0, 50)
    target = np.random.default_rng(2).normal(size=(30, 30))
    target = target + target.T
    expected = target - 0.7 * (A.toarray() * w) @ A.toarray().T
    found = maker(A)
    assert found is not None
    found.subtract_from(target, w, 0.7)
    lower = np.tril_indices(30)
    np.testing.assert_allclose(target[lower], expected[lower], rtol=1e-12, atol=1e-12)


def test_dense_panels_are_chosen_only_for_dense_blocks() -> None:
    assert gram.dense_panels(random_block(2000, 50_000, 0.0005)) is None
    assert isinstance(gram.dense_panels(random_block(200, 5_000, 0.2)), gram.DensePanels)


def test_fit_with_dense_panels_equals_fit_with_the_map(monkeypatch: pytest.MonkeyPatch) -> None:
    data = mm.datasets.simulate_crossed(6000, (2000, 60), seed=3)  # not a "small" block
    formula = "y ~ x1 + (1 | g1) + (1 | g2)"
    default = mm.lmer(formula, data)
    monkeypatch.setattr(gram, "MAX_TRIPLES", 0)
    monkeypatch.setattr(gram, "DENSE_FLOP_SECONDS", 0.0)
    model = mm.LinearMixedModel(formula, data)
    assert isinstance(model.L.gram[(1, 1)], gram.DensePanels)
    model.fit()
    assert model.objective == pytest.approx(default.objective, rel=1e-12)
    np.testing.assert_allclose(model.theta, default.theta, rtol=1e-7)
