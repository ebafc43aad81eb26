"""The from-scratch NumPy Rail fit of the documentation agrees with the engine to 1e-6."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import mixedmodels as mm

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rail_from_scratch.py"


def load_example():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("rail_from_scratch", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_from_scratch_fit_agrees_with_the_engine() -> None:
    rail = mm.datasets.load("Rail")
    scratch = load_example().fit_rail(rail)
    model = mm.lmer("travel ~ 1 + (1 | Rail)", rail, reml=False)
    assert scratch["loglik"] == pytest.approx(model.loglik, rel=1e-6)
    assert scratch["theta"] == pytest.approx(model.theta[0], rel=1e-6)
    assert scratch["intercept"] == pytest.approx(model.fixef["(Intercept)"], rel=1e-6)
    assert scratch["sigma"] == pytest.approx(model.sigma, rel=1e-6)
    assert scratch["rail_variance"] == pytest.approx(model.varcorr["variance"].iloc[0], rel=1e-6)


def test_profiled_deviance_equals_the_engine_objective_at_any_theta() -> None:
    import numpy as np

    rail = mm.datasets.load("Rail")
    model = mm.LinearMixedModel("travel ~ 1 + (1 | Rail)", rail, reml=False)
    example = load_example()
    y = rail["travel"].to_numpy(dtype=float)
    Z = (
        rail["Rail"].astype(str).to_numpy()[:, None] == np.array([str(i) for i in range(1, 7)])
    ).astype(float)
    for theta in (0.1, 1.0, 5.6, 20.0):
        expected = example.profiled_deviance(theta, y, np.ones((18, 1)), Z)
        assert model.objective_at(np.array([theta])) == pytest.approx(expected, rel=1e-10)
