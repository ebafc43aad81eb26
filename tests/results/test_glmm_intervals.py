"""Confidence intervals of GLMM predictions, against dense computations on small fits.

lme4 has no intervals for ``predict``: the references are the definitions, computed densely
here. For the fitted rows with all terms, ``se_link² = vᵢᵀ M⁻¹ vᵢ`` with ``M`` the penalized
weighted least-squares system in ``(u, β)`` at the working weights of the converged PIRLS and
``vᵢ = [Λᵀzᵢ; xᵢ]``; at the population level ``se_link² = xᵢᵀ vcov xᵢ``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scipy.stats
from scipy import special

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.models.generalized import GeneralizedLinearMixedModel
from mixedmodels.objective.laplace import BlockedEngine
from mixedmodels.objective.laplace_scalar import ScalarEngine

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"


def _grouse() -> pd.DataFrame:
    return mm.datasets.load("grouseticks")


@pytest.fixture(scope="module")
def fits() -> dict[str, GeneralizedLinearMixedModel]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return {
            "cbpp": mm.glmer(CBPP, mm.datasets.load("cbpp"), family="binomial"),
            "grouse": mm.glmer(GROUSE, _grouse(), family="poisson"),
        }


def _z_lambda(n: int, term: Any, T: np.ndarray) -> np.ndarray:
    """One term's ``ZΛ``, dense: row ``i`` holds ``zᵢT`` at its level's ``k`` columns."""
    rows = np.repeat(np.arange(n), term.k)
    cols = (term.refs[:, None] * term.k + np.arange(term.k)).ravel()
    return sp.csr_array(((term.z @ T).ravel(), (rows, cols)), shape=(n, term.q)).toarray()


def _dense_variances(model: GeneralizedLinearMixedModel) -> np.ndarray:
    """``vᵢᵀ M⁻¹ vᵢ`` with ``M`` built and inverted densely."""
    ZL = np.hstack(
        [_z_lambda(model.nobs, t, T) for t, T in zip(model.terms, model.templates(), strict=True)]
    )
    V = np.hstack([ZL, model.fixed.X])
    w = model.engine.wk.w  # type: ignore[union-attr]
    q = ZL.shape[1]
    M = V.T @ (w[:, None] * V) + np.diag(np.r_[np.ones(q), np.zeros(model.n_fixed)])
    return np.einsum("ij,jk,ik->i", V, np.linalg.inv(M), V)


def test_the_two_engines_are_covered(fits: dict[str, GeneralizedLinearMixedModel]) -> None:
    assert isinstance(fits["cbpp"].engine, ScalarEngine)
    assert isinstance(fits["grouse"].engine, BlockedEngine)


@pytest.mark.parametrize("name", ["cbpp", "grouse"])
def test_fitted_rows_with_all_terms_against_the_dense_system(
    name: str, fits: dict[str, GeneralizedLinearMixedModel]
) -> None:
    model = fits[name]
    out = model.prediction_intervals()
    assert list(out.columns) == ["fit", "fit_link", "se_link", "lower", "upper"]
    np.testing.assert_allclose(out["se_link"] ** 2, _dense_variances(model), rtol=1e-8)
    np.testing.assert_array_equal(out["fit"], model.predict(type="response"))
    np.testing.assert_array_equal(out["fit_link"], model.predict(type="link"))
    z = scipy.stats.norm.ppf(0.975)
    inverse = model.family.link.inverse
    eta, se = out["fit_link"].to_numpy(), out["se_link"].to_numpy()
    np.testing.assert_allclose(out["lower"], inverse(eta - z * se), rtol=1e-12)
    np.testing.assert_allclose(out["upper"], inverse(eta + z * se), rtol=1e-12)


@pytest.mark.parametrize("name", ["cbpp", "grouse"])
@pytest.mark.parametrize("re_form", ["~0", "NA"])
def test_population_level_against_x_vcov_x(
    name: str, re_form: str, fits: dict[str, GeneralizedLinearMixedModel]
) -> None:
    model = fits[name]
    X, V = model.fixed.X, model.vcov.to_numpy()
    expected = np.sqrt(np.diag(X @ V @ X.T))
    fitted_rows = model.prediction_intervals(re_form=re_form, level=0.9)
    np.testing.assert_allclose(fitted_rows["se_link"], expected, rtol=1e-10)
    data = mm.datasets.load("cbpp") if name == "cbpp" else _grouse()
    new = model.prediction_intervals(data.iloc[::-1], re_form=re_form, level=0.9)
    np.testing.assert_allclose(new["se_link"], expected[::-1], rtol=1e-10)
    assert list(new.index) == list(data.index[::-1])
    np.testing.assert_array_equal(
        new["fit"], model.predict(data.iloc[::-1], re_form=re_form, type="response")
    )
    z = scipy.stats.norm.ppf(0.95)
    eta = new["fit_link"].to_numpy()
    np.testing.assert_allclose(
        new["upper"], model.family.link.inverse(eta + z * expected[::-1]), rtol=1e-12
    )


def test_limits_are_ordered_and_in_the_range_of_the_mean(
    fits: dict[str, GeneralizedLinearMixedModel],
) -> None:
    for name, re_form in [("cbpp", None), ("cbpp", "~0"), ("grouse", None), ("grouse", "~0")]:
        out = fits[name].prediction_intervals(re_form=re_form, level=0.99)
        assert np.all(out["lower"] < out["fit"]) and np.all(out["fit"] < out["upper"])
        assert np.all(out["lower"] > 0)
        if name == "cbpp":
            assert np.all(out["upper"] < 1)
    wide = fits["cbpp"].prediction_intervals(level=0.99)
    narrow = fits["cbpp"].prediction_intervals(level=0.5)
    assert np.all(wide["lower"] < narrow["lower"]) and np.all(narrow["upper"] < wide["upper"])
    np.testing.assert_allclose(special.logit(narrow["fit"]), narrow["fit_link"], rtol=1e-10)


def test_the_model_is_unchanged(fits: dict[str, GeneralizedLinearMixedModel]) -> None:
    for model in fits.values():
        before = (model.theta.copy(), model.beta.copy(), model.objective, model.summary())
        model.prediction_intervals()
        model.prediction_intervals(re_form="~0")
        after = (model.theta, model.beta, model.objective, model.summary())
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])
        assert before[2] == after[2] and before[3] == after[3]


def test_excluded_rows_are_missing() -> None:
    data = mm.datasets.load("cbpp")
    data.loc[[3, 20], "incidence"] = np.nan
    omitted = mm.glmer(CBPP, data, family="binomial")
    excluded = mm.glmer(CBPP, data, family="binomial", na_action="exclude")
    out = excluded.prediction_intervals()
    assert out.shape == (56, 5)
    assert out.loc[[3, 20]].isna().all().all()
    np.testing.assert_array_equal(
        out.drop(index=[3, 20])["se_link"], omitted.prediction_intervals()["se_link"]
    )


def test_refusals(fits: dict[str, GeneralizedLinearMixedModel]) -> None:
    model = fits["cbpp"]
    data = mm.datasets.load("cbpp")
    with pytest.raises(NotSupportedError, match="no normal-theory prediction.*simulate"):
        model.prediction_intervals(interval="prediction")
    with pytest.raises(NotSupportedError, match="re_form='~0' for new data"):
        model.prediction_intervals(data)
    with pytest.raises(NotSupportedError, match="fitted rows with all terms"):
        model.prediction_intervals(re_form="~(1 | herd)")
    with pytest.raises(ModelSpecificationError, match="interval"):
        model.prediction_intervals(interval="tolerance")
    with pytest.raises(ModelSpecificationError, match="level"):
        model.prediction_intervals(level=1.5)
