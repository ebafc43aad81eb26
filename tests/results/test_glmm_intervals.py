"""Confidence intervals of GLMM predictions, against dense computations on small fits.

lme4 has no intervals for ``predict``: the references are the definitions, computed densely
here. For the fitted rows with all terms, ``se_link² = vᵢᵀ M⁻¹ vᵢ`` with ``M`` the penalized
weighted least-squares system in ``(u, β)`` at the working weights of the converged PIRLS and
``vᵢ = [Λᵀzᵢ; xᵢ]``; at the population level ``se_link² = xᵢᵀ vcov xᵢ``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scipy.stats
from scipy import special

import mixedmodels as mm
from mixedmodels.errors import DataError, ModelSpecificationError, NotSupportedError
from mixedmodels.models.generalized import GeneralizedLinearMixedModel
from mixedmodels.objective.laplace import BlockedEngine
from mixedmodels.objective.laplace_scalar import ScalarEngine
from mixedmodels.spec.families import Gamma

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"


def _grouse() -> pd.DataFrame:
    data = mm.datasets.load("grouseticks")
    for column in ("YEAR", "BROOD", "LOCATION"):
        data[column] = data[column].astype(str)
    return data


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


def _dense_inverse(model: GeneralizedLinearMixedModel) -> np.ndarray:
    """``M⁻¹``, with ``M`` built from the fitted rows and inverted densely."""
    ZL = np.hstack(
        [_z_lambda(model.nobs, t, T) for t, T in zip(model.terms, model.templates(), strict=True)]
    )
    V = np.hstack([ZL, model.fixed.X])
    w = model.engine.wk.w  # type: ignore[union-attr]
    q = ZL.shape[1]
    M = V.T @ (w[:, None] * V) + np.diag(np.r_[np.ones(q), np.zeros(model.n_fixed)])
    return np.linalg.inv(M)


def _dense_variances(model: GeneralizedLinearMixedModel) -> np.ndarray:
    """``vᵢᵀ M⁻¹ vᵢ`` for the fitted rows and all terms."""
    ZL = np.hstack(
        [_z_lambda(model.nobs, t, T) for t, T in zip(model.terms, model.templates(), strict=True)]
    )
    V = np.hstack([ZL, model.fixed.X])
    return np.einsum("ij,jk,ik->i", V, _dense_inverse(model), V)


def _dense_new_rows(
    model: GeneralizedLinearMixedModel, rows: pd.DataFrame, included: set[str]
) -> np.ndarray:
    """``vᵀ M⁻¹ v`` (plus ``θ²`` at new levels) for new rows of a model of ``(1 | g)`` terms."""
    blocks, marginal = [], np.zeros(len(rows))
    for term, T in zip(model.terms, model.templates(), strict=True):
        assert term.k == 1 and term.spec.lhs == "1"
        block = np.zeros((len(rows), term.q))
        if term.group in included:
            position = {str(label): i for i, label in enumerate(term.levels)}
            where = np.array([position.get(str(v), -1) for v in rows[term.group]])
            known = where >= 0
            block[np.flatnonzero(known), where[known]] = T[0, 0]
            marginal += np.where(known, 0.0, T[0, 0] ** 2)
        blocks.append(block)
    X = model.fixed.X[rows.index.to_numpy()]  # rows of the fitted data, relabelled
    V = np.hstack([*blocks, X])
    return np.einsum("ij,jk,ik->i", V, _dense_inverse(model), V) + marginal


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


def test_new_data_and_some_terms_against_the_dense_system(
    fits: dict[str, GeneralizedLinearMixedModel],
) -> None:
    model = fits["grouse"]
    data = _grouse()
    rng = np.random.default_rng(1)
    new = data.copy()
    new["LOCATION"] = rng.permutation(new["LOCATION"].to_numpy())  # pairs never seen together
    new.loc[::7, "BROOD"] = "unseen"
    for re_form, included in [
        (None, {"BROOD", "LOCATION"}),
        ("~(1 | BROOD)", {"BROOD"}),
        ("~(1 | LOCATION)", {"LOCATION"}),
    ]:
        out = model.prediction_intervals(new, re_form=re_form, allow_new_levels=True)
        expected = _dense_new_rows(model, new, included)
        np.testing.assert_allclose(out["se_link"] ** 2, expected, rtol=1e-8)
        np.testing.assert_array_equal(
            out["fit_link"], model.predict(new, re_form=re_form, allow_new_levels=True)
        )
        fitted_rows = model.prediction_intervals(re_form=re_form)
        np.testing.assert_allclose(
            fitted_rows["se_link"] ** 2, _dense_new_rows(model, data, included), rtol=1e-8
        )


def test_the_fitted_data_as_new_data(fits: dict[str, GeneralizedLinearMixedModel]) -> None:
    model = fits["cbpp"]
    data = mm.datasets.load("cbpp").iloc[::-1]
    out = model.prediction_intervals(data)
    np.testing.assert_allclose(out["se_link"] ** 2, _dense_variances(model)[::-1], rtol=1e-8)
    np.testing.assert_allclose(out["fit"], model.fitted()[::-1], rtol=1e-12)


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


def test_new_levels_and_refusals(fits: dict[str, GeneralizedLinearMixedModel]) -> None:
    model = fits["cbpp"]
    data = mm.datasets.load("cbpp")
    with pytest.raises(NotSupportedError, match="no normal-theory prediction.*simulate"):
        model.prediction_intervals(interval="prediction")
    new = data.assign(herd="unseen")
    with pytest.raises(DataError, match="herd"):
        model.prediction_intervals(new)
    allowed = model.prediction_intervals(new, allow_new_levels=True)
    population = model.prediction_intervals(new, re_form="~0")
    theta2 = float(model.theta[0]) ** 2
    expected = _dense_new_rows(model, data.assign(herd="unseen"), {"herd"})
    np.testing.assert_allclose(allowed["se_link"] ** 2, expected, rtol=1e-8)
    assert np.all(allowed["se_link"] ** 2 > population["se_link"] ** 2 + 0.9 * theta2)
    with pytest.raises(ModelSpecificationError, match="interval"):
        model.prediction_intervals(interval="tolerance")
    with pytest.raises(ModelSpecificationError, match="level"):
        model.prediction_intervals(level=1.5)


def test_a_random_slope_and_a_decreasing_link() -> None:
    """``(1 + x | g)`` through the general path; Gamma's inverse link turns the limits round."""
    root = Path(__file__).resolve().parents[1]
    sim = pd.read_csv(root / "inference" / "data" / "glmm_slope_sim.csv")
    gamma = pd.read_csv(root / "data" / "parity" / "gamma_sim.csv")
    gamma["g"] = gamma["g"].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        slope = mm.glmer("y ~ x + A + (1 + x | g)", sim, family="binomial")
        inverse = mm.glmer("y ~ x + (1 | g)", gamma, family=Gamma())
    assert isinstance(slope.engine, BlockedEngine)
    out = slope.prediction_intervals(sim)  # new data: penalized_quadratic_forms
    np.testing.assert_allclose(out["se_link"] ** 2, _dense_variances(slope), rtol=1e-8)
    np.testing.assert_allclose(out["se_link"], slope.prediction_intervals()["se_link"], rtol=1e-10)
    z = scipy.stats.norm.ppf(0.975)
    for re_form in (None, "~0"):
        limits = inverse.prediction_intervals(re_form=re_form)
        assert np.all(limits["lower"] < limits["fit"]) and np.all(limits["fit"] < limits["upper"])
        assert np.all(limits["lower"] > 0)
        eta, se = limits["fit_link"].to_numpy(), limits["se_link"].to_numpy()
        crossing = eta - z * se <= 0  # past η = 0: no upper limit for the mean
        np.testing.assert_array_equal(np.isinf(limits["upper"]), crossing)
        np.testing.assert_allclose(limits["lower"], 1.0 / (eta + z * se), rtol=1e-12)
        ok = ~crossing
        np.testing.assert_allclose(limits["upper"][ok], 1.0 / (eta - z * se)[ok], rtol=1e-12)
    assert np.isinf(inverse.prediction_intervals()["upper"]).any()
    np.testing.assert_allclose(
        inverse.prediction_intervals()["se_link"] ** 2, _dense_variances(inverse), rtol=1e-8
    )
