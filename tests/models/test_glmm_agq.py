"""Adaptive Gauss–Hermite quadrature fits against lme4 1.1-31 (``glmer(..., nAGQ = k)``).

``data/glmm_agq.csv`` and ``data/glmm_agq.json`` were made by ``data/r/glmm_agq.R``: a
binomial model with a quadratic term, a Bernoulli model and a Poisson model with a covariate
in the thousands, and a probit model, fitted with nAGQ ∈ {3, 7, 11, 25}, and the quadratic
model with nAGQ = 100 (the newest lme4's limit; lme4 1.1-31's deviance function given
``GHrule(100)``). lme4 takes the
standard errors from ``deriv12`` (central differences of 1e-4 in the raw θ and β) of the
quadrature deviance; where a covariate is in the thousands that step spans several standard
errors of its coefficient, and ``se_accurate`` holds lme4's standard errors of the same model
with the covariate in thousands (transformed back), which our default reproduces.
``vcov_method = "lme4"`` reproduces lme4's raw-scale values.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mixedmodels.errors import ModelSpecificationError
from mixedmodels.glmm_api import glmer
from mixedmodels.models.generalized import GeneralizedLinearMixedModel
from mixedmodels.spec.family_names import get_family

DATA = Path(__file__).resolve().parent / "data"
REF: dict[str, dict[str, Any]] = json.loads((DATA / "glmm_agq.json").read_text())


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(DATA / "glmm_agq.csv")


@pytest.fixture(scope="module")
def fits(frame: pd.DataFrame) -> dict[str, GeneralizedLinearMixedModel]:
    out = {}
    for name, ref in REF.items():
        family = get_family(ref["family"], ref["link"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[name] = glmer(ref["formula"], frame, family=family, nagq=ref["nagq"])
    return out


@pytest.mark.parametrize("name", sorted(REF))
def test_quadrature_fit_matches_lme4(fits: dict[str, Any], name: str) -> None:
    model, ref = fits[name], REF[name]
    assert model.nagq == ref["nagq"]
    # lme4's PIRLS stops at a relative change of 1e-7: its objective is a little noisy
    assert model.objective <= ref["objective"] + 1e-6
    assert model.objective == pytest.approx(ref["objective"], rel=1e-6)
    np.testing.assert_allclose(model.theta, ref["theta"], rtol=1e-4)
    np.testing.assert_allclose(model.fixef.to_numpy(), ref["fixef"], rtol=1e-4, atol=1e-8)
    if "deviance_lme4" in ref:
        assert model.deviance == pytest.approx(ref["deviance_lme4"], rel=1e-5)


@pytest.mark.parametrize("name", sorted(REF))
def test_quadrature_standard_errors_match_lme4(fits: dict[str, Any], name: str) -> None:
    se = fits[name].coef_table["std_error"].to_numpy()
    np.testing.assert_allclose(se, REF[name]["se_accurate"], rtol=1e-3)


def test_well_scaled_quadrature_standard_errors_are_lme4s_to_1e5(fits: dict[str, Any]) -> None:
    for name in ("quadratic_agq7", "quadratic_agq25", "quadratic_agq100", "probit_agq25"):
        se = fits[name].coef_table["std_error"].to_numpy()
        np.testing.assert_allclose(se, REF[name]["se"], rtol=1e-4)


@pytest.mark.parametrize("name", ["large_scale_agq3", "poisson_agq11"])
def test_lme4_vcov_method_reproduces_deriv12(fits: dict[str, Any], name: str) -> None:
    model = fits[name]
    accurate = model.coef_table["std_error"].to_numpy()
    model.vcov_method = "lme4"
    try:
        se = model.coef_table["std_error"].to_numpy()
    finally:
        model.vcov_method = "sdreport"
    np.testing.assert_allclose(se, REF[name]["se"], rtol=1e-3)
    assert np.max(np.abs(accurate / se - 1)) > 4e-3  # the raw-scale step is visibly off


def test_quadrature_hessian_is_that_of_the_deviance(fits: dict[str, Any]) -> None:
    model = fits["quadratic_agq7"]
    H = model.hessian.to_numpy()
    np.testing.assert_allclose(H, REF["quadratic_agq7"]["hessian"], rtol=2e-3, atol=0.05)
    p = model.n_fixed
    cov = 2.0 * np.linalg.solve(H, np.eye(len(H)))[-p:, -p:]
    np.testing.assert_allclose(cov, model.vcov.to_numpy(), rtol=1e-6)


def test_nagq_beyond_lmes_limit_is_refused(frame: pd.DataFrame) -> None:
    for bad in (101, -1, 2.5, "7", True):
        with pytest.raises(ModelSpecificationError, match="from 0 to 100"):
            glmer("yp ~ w + (1 | g)", frame, nagq=bad)  # type: ignore[arg-type]
