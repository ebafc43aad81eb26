"""With the default settings, chunked fits equal in-memory fits to 1e-8 (issue 14 §2).

Beyond 10,000 rows the in-memory fit used to skip the derivatives at the optimum, hence the
Newton polish that the chunked fit always ran: θ then differed by about 1e-6 (BOBYQA's own
precision, reached along paths that differ with the order of summation).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

dd = pytest.importorskip("dask.dataframe")


def simulated(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 60, n), rng.integers(0, 20, n)
    x = rng.normal(size=n)
    slope = 0.4 * rng.normal(size=60)[g] * x
    y = 1 + 0.5 * x + rng.normal(size=60)[g] + slope + 0.7 * rng.normal(size=20)[h]
    return pd.DataFrame({"y": y + rng.normal(size=n), "x": x, "g": [f"g{i}" for i in g], "h": h})


@pytest.mark.parametrize(
    ("formula", "reml"),
    [
        ("y ~ x + (x | g) + (1 | h)", True),
        ("y ~ x + (x || g) + (1 | h)", False),
    ],
)
def test_default_fits_agree_beyond_the_check_threshold(formula: str, reml: bool) -> None:
    frame = simulated(12_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        memory = mm.lmer(formula, frame, reml=reml)
        chunked = mm.lmer(formula, dd.from_pandas(frame, npartitions=5), reml=reml)
    assert isinstance(chunked, mm.ChunkedLinearMixedModel)
    np.testing.assert_allclose(chunked.theta, memory.theta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-8, atol=1e-10)
    assert chunked.sigma == pytest.approx(memory.sigma, rel=1e-8)
    assert chunked.objective == pytest.approx(memory.objective, rel=1e-10)


def test_in_memory_default_warns_only_up_to_the_threshold() -> None:
    frame = simulated(12_000)
    model = mm.lmer("y ~ x + (1 | g)", frame)
    assert model.convergence is None  # no check reported beyond 10,000 rows, as lme4
    assert mm.lmer("y ~ x + (1 | g)", frame, check_convergence=True).convergence is not None
