"""Observation-level random effects in GLMMs (lme4's ``allow.n = TRUE`` in ``glFormula``).

``data/glmm_obs_level.json`` was made by ``data/r/glmm_obs_level.R`` (lme4 1.1-31 and
glmmTMB 1.1.5): Poisson models of grouseticks with ``(1 | INDEX)``, one level per row. lme4's
PIRLS stops early, so its objective is up to 4e-4 above the converged one (glmmTMB's, which
ours matches to 1e-8); standard errors are glmmTMB's.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.glmm_api import glmer

DATA = Path(__file__).resolve().parent / "data"
REF: dict[str, dict[str, Any]] = json.loads((DATA / "glmm_obs_level.json").read_text())


@pytest.fixture(scope="module")
def grouse() -> pd.DataFrame:
    return mm.datasets.load("grouseticks")


@pytest.mark.parametrize("name", sorted(REF))
def test_observation_level_effect_matches_lme4(grouse: pd.DataFrame, name: str) -> None:
    ref = REF[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.ConvergenceWarning)  # HEIGHT uncentred, as lme4
        model = glmer(ref["formula"], grouse, family="poisson")
    assert model.ngroups["INDEX"] == model.nobs == ref["nobs"] == 403
    assert model.objective == pytest.approx(ref["objective_tmb"], abs=1e-6)
    assert ref["objective"] - 1e-3 < model.objective <= ref["objective"]
    np.testing.assert_allclose(model.theta, np.atleast_1d(ref["theta"]), rtol=1e-4)
    np.testing.assert_allclose(model.fixef.to_numpy(), ref["fixef"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.coef_table["std_error"], ref["se_tmb"], rtol=1e-3)
    vc = model.varcorr
    assert list(vc["group"]) == list(np.atleast_1d(ref["varcorr_group"]))
    np.testing.assert_allclose(vc["variance"], np.atleast_1d(ref["varcorr_variance"]), rtol=2e-4)
    assert model.deviance == pytest.approx(ref["deviance_lme4"], rel=1e-4)


def test_lmer_still_refuses_an_observation_level_effect(grouse: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="grouping factor 'INDEX' \\(403\\)"):
        mm.lmer("TICKS ~ YEAR + (1 | INDEX)", grouse)


def test_glmer_refuses_more_random_effects_than_observations(grouse: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="\\(403\\) < number of random effects"):
        glmer("TICKS ~ YEAR + (1 + cHEIGHT | INDEX)", grouse, family="poisson")
