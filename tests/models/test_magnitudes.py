"""Extreme scales (issue 14 §3): fitted as the rescaled model, or refused with the reason."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.spec.fixed import estimable_columns

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def unscaled(sleep: pd.DataFrame) -> mm.LinearMixedModel:
    return mm.lmer(FORMULA, sleep)


def _scaled(data: pd.DataFrame, y: float = 1.0, x: float = 1.0) -> pd.DataFrame:
    out = data.copy()
    out["Reaction"] = out["Reaction"] * y
    out["Days"] = out["Days"] * x
    return out


def _fit_quietly(data: pd.DataFrame, **kwargs: object) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning of any kind: the fit is as good as unscaled
        return mm.lmer(FORMULA, data, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("y", "x"),
    [(1e100, 1.0), (1e-100, 1.0), (1e140, 1.0), (1e-140, 1.0), (1.0, 1e100), (1.0, 1e-100)]
    + [(1.0, 1e140), (1.0, 1e-140), (1.0, 1e8), (1e100, 1e-100), (1e-120, 1e120)],
)
def test_representable_scales_fit_as_the_rescaled_model(
    sleep: pd.DataFrame, unscaled: mm.LinearMixedModel, y: float, x: float
) -> None:
    """y·c gives β·c, σ·c, the same θ; x·c gives β_x / c, the slope's θ / c (REML + 2 log c)."""
    model = _fit_quietly(_scaled(sleep, y, x))
    dof = unscaled.nobs - unscaled.n_fixed
    shift = 2 * dof * math.log(y) + 2 * math.log(x)
    assert model.objective == pytest.approx(unscaled.objective + shift, rel=1e-9, abs=1e-8)
    np.testing.assert_allclose(model.theta, unscaled.theta / np.array([1, x, x]), rtol=1e-5)
    np.testing.assert_allclose(model.beta, unscaled.beta * y / np.array([1, x]), rtol=1e-6)
    assert model.sigma == pytest.approx(unscaled.sigma * y, rel=1e-6)
    assert not model.is_singular


@pytest.mark.parametrize("y", [1e300, 1e-300, 1e160, 1e-160, 1e200])
def test_response_beyond_double_precision_squares_is_refused(sleep: pd.DataFrame, y: float) -> None:
    with pytest.raises(mm.DataError, match=r"response 'Reaction'.*(overflow|underflow).*rescale"):
        mm.lmer(FORMULA, _scaled(sleep, y=y))


@pytest.mark.parametrize("x", [1e300, 1e-300, 1e160, 1e-160])
def test_predictor_beyond_double_precision_squares_is_refused(
    sleep: pd.DataFrame, x: float
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", mm.RankDeficiencyWarning)  # not dropped as dependent
        with pytest.raises(mm.DataError, match=r"column 'Days'.*(overflow|underflow).*rescale"):
            mm.lmer(FORMULA, _scaled(sleep, x=x))


def test_random_slope_alone_beyond_range_is_refused(sleep: pd.DataFrame) -> None:
    data = sleep.assign(z=sleep["Days"] * 1e200)
    with pytest.raises(mm.DataError, match=r"'z' of the random-effects term \(0 \+ z \| Subject\)"):
        mm.lmer("Reaction ~ Days + (0 + z | Subject)", data)


@pytest.mark.parametrize("weights", ["huge", "mixed", "tiny"])
def test_weights_beyond_double_precision_are_refused(sleep: pd.DataFrame, weights: str) -> None:
    w = {
        "huge": np.full(len(sleep), 1e300),
        "mixed": np.where(np.arange(len(sleep)) % 2 == 0, 1e300, 1.0),
        "tiny": np.full(len(sleep), 1e-310),
    }[weights]
    with pytest.raises(mm.DataError, match=r"with the weights.*rescale it or the weights"):
        mm.lmer(FORMULA, sleep.assign(w=w), weights="w")


def test_mixed_extremes_refused_on_the_first_column(sleep: pd.DataFrame) -> None:
    with pytest.raises(mm.DataError, match="response 'Reaction'"):
        mm.lmer(FORMULA, _scaled(sleep, y=1e200, x=1e-200))


def test_refit_with_a_response_beyond_range_is_refused(sleep: pd.DataFrame) -> None:
    model = mm.lmer(FORMULA, sleep)
    with pytest.raises(mm.DataError, match="overflow"):
        model.refit(sleep["Reaction"].to_numpy() * 1e300)


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e300, 1e-300])
def test_rank_check_is_independent_of_column_scale(scale: float) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    X = np.column_stack([np.ones(50), x * scale, rng.normal(size=50)])
    assert estimable_columns(X) == [0, 1, 2]
    dependent = np.column_stack([X, 2.0 * X[:, 1]])
    assert estimable_columns(dependent) == [0, 1, 2]
