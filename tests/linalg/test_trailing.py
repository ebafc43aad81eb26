"""The small last terms as a problem of their own: same objective as the whole factor.

For random θ, the objective computed from the leading terms' factor and the Schur complement
left for the trailing terms must equal the objective of the full blocked update, for scalar and
vector trailing terms, one or two of them, ML and REML, with weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.linalg import cholesky
from mixedmodels.models import LinearMixedModel


def crossed_data(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "g": rng.integers(0, 60, size=n).astype(str),
            "d": rng.integers(0, 25, size=n).astype(str),
            "h": rng.integers(0, 5, size=n).astype(str),
            "k": rng.integers(0, 3, size=n).astype(str),
            "x": rng.normal(size=n),
            "w": rng.uniform(0.5, 2.0, size=n),
        }
    )
    codes = [frame[c].astype(int).to_numpy() for c in ("g", "d", "h")]
    effects = [rng.normal(size=60), rng.normal(size=25), 2 * rng.normal(size=5)]
    frame["y"] = frame["x"] + sum(e[c] for e, c in zip(effects, codes, strict=True))
    frame["y"] += rng.normal(size=n)
    return frame


FORMULAS = [
    ("y ~ x + (1|g) + (1|d) + (1|h)", 2),
    ("y ~ x + (1|g) + (1|d) + (1 + x|h)", 2),
    ("y ~ x + (1|g) + (1|d) + (1|h) + (1|k)", 2),
    ("y ~ x + (1|g) + (1 + x|d) + (1|h)", 2),
]


@pytest.mark.parametrize(("formula", "start"), FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_trailing_objective_equals_full_update(formula: str, start: int, reml: bool) -> None:
    model = LinearMixedModel(formula, crossed_data(3), reml=reml, weights="w")
    rng = np.random.default_rng(7)
    split = sum(t.ntheta for t in model.terms[:start])
    for _ in range(4):
        theta = np.abs(rng.normal(size=len(model.theta))) + 0.1
        theta[model.lower < 0] -= 0.3  # some negative off-diagonals
        objective = model.objective_function
        full = objective(theta)
        blocks = objective.factor.trailing_blocks(theta, start)
        reduced = objective.criterion(blocks.factor(theta[split:]))
        assert reduced == pytest.approx(full, rel=1e-11)


def test_partial_factor_is_refreshed_before_use() -> None:
    model = LinearMixedModel("y ~ x + (1|g) + (1|d) + (1|h)", crossed_data(4))
    model.fit()
    expected_beta, expected_sigma = model.fixef.copy(), model.sigma
    model.L.trailing_blocks(model.theta * 2.0, 2)  # leaves a partial factor behind
    assert np.all(np.isnan(model.L.theta))
    np.testing.assert_allclose(model.fixef, expected_beta, rtol=1e-12)
    assert model.sigma == pytest.approx(expected_sigma, rel=1e-12)


def test_trailing_start(monkeypatch: pytest.MonkeyPatch) -> None:
    data = crossed_data(5)
    model = LinearMixedModel("y ~ x + (1|g) + (1|d) + (1|h) + (1|k)", data)
    assert model.L.trailing_start() is None  # the leading dense block (25 rows) is small
    monkeypatch.setattr(cholesky, "NESTED_MIN_Q", 20)
    assert model.L.trailing_start() == 2  # (1|h) and (1|k) after the 25-row block of d
    monkeypatch.setattr(cholesky, "TRAILING_MAX_Q", 4)
    assert model.L.trailing_start() == 3  # only k's 3 levels fit
    monkeypatch.setattr(cholesky, "TRAILING_MAX_Q", 2)
    assert model.L.trailing_start() is None
    single = LinearMixedModel("y ~ x + (1|g) + (1|d)", data)
    assert single.L.trailing_start() is None  # nothing after the dense block
