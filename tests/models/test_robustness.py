"""Hard fits finish with the right flags and no crash."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


def base(seed: int, groups: list[int]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(groups)), groups)
    x = rng.normal(size=g.size)
    effects = rng.normal(size=len(groups))
    y = 2 + x + effects[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def quiet_fit(formula: str, data: pd.DataFrame, **kwargs: object) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        return mm.lmer(formula, data, **kwargs)  # type: ignore[arg-type]


def test_highly_unbalanced_groups() -> None:
    data = base(1, [500] + [2] * 40)
    model = mm.lmer("y ~ x + (1 | g)", data)
    assert np.isfinite(model.objective) and not model.is_singular
    assert model.convergence is not None and model.convergence.ok


def test_groups_of_size_one() -> None:
    data = base(2, [1] * 30 + [6] * 20)
    model = quiet_fit("y ~ x + (1 | g)", data)
    assert np.isfinite(model.objective)
    assert model.ranef["g"].shape == (50, 1)


def test_perfectly_collinear_random_slopes_are_flagged_singular() -> None:
    data = base(3, [8] * 25)
    data["x2"] = 2.0 * data["x"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = mm.lmer("y ~ x + (1 + x + x2 | g)", data)
    kinds = {w.category for w in caught}
    assert mm.RankDeficiencyWarning in kinds and mm.SingularFitWarning in kinds
    assert any("x2 on the others" in str(w.message) for w in caught)
    assert model.is_singular
    assert np.all(np.isfinite(model.fixef))


def test_no_between_group_variance_is_a_singular_fit() -> None:
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"y": rng.normal(size=200), "g": np.repeat(np.arange(20), 10).astype(str)})
    model = quiet_fit("y ~ 1 + (1 | g)", data)
    assert model.theta[0] < 1e-4 and model.is_singular
    vc = model.varcorr
    assert vc["sd_cor"].iloc[0] == pytest.approx(0.0, abs=1e-3)


def test_near_singular_fit_is_not_flagged() -> None:
    data = base(5, [10] * 30)
    model = mm.lmer("y ~ x + (1 | g)", data)
    assert not model.is_singular


@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_extreme_response_scales(scale: float) -> None:
    data = base(6, [10] * 30)
    reference = mm.lmer("y ~ x + (1 | g)", data)
    scaled = mm.lmer("y ~ x + (1 | g)", data.assign(y=data["y"] * scale))
    assert scaled.sigma == pytest.approx(reference.sigma * scale, rel=1e-5)
    np.testing.assert_allclose(scaled.theta, reference.theta, rtol=1e-4)
    assert scaled.is_singular == reference.is_singular


def test_huge_mean_next_to_small_noise() -> None:
    data = base(7, [10] * 30)
    reference = mm.lmer("y ~ x + (1 | g)", data)
    shifted = mm.lmer("y ~ x + (1 | g)", data.assign(y=data["y"] + 1e9))
    assert shifted.sigma == pytest.approx(reference.sigma, rel=1e-5)
    assert shifted.fixef["x"] == pytest.approx(reference.fixef["x"], rel=1e-5)
