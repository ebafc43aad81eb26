"""Confidence and prediction intervals against their definition, computed densely.

lme4 has no prediction intervals, so the reference is the definition (see
``mixedmodels.results.intervals``): with ``M = [Λ'Z'WZΛ + I, Λ'Z'WX; X'WZΛ, X'WX]`` and
``v = [Λ'z at the row's levels (included terms); x]``,

    se_fit² = σ² vᵀM⁻¹v (+ σ² z'TT'z for a new level of an included term)
    se_prediction² = se_fit² + Σ_{excluded terms} σ² z'TT'z + σ²/w,

and at the population level (``re_form="~0"``) ``x'Var(β̂)x + Σ z'Σ_j z + σ²``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

import mixedmodels as mm
from mixedmodels.linalg.crossprod import term_matrix
from mixedmodels.models import LinearMixedModel
from mixedmodels.results.intervals import prediction_intervals

Z975 = 1.959963984540054


def crossed_data(seed: int = 5, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": rng.integers(0, 12, size=n).astype(str),
            "h": rng.integers(0, 5, size=n).astype(str),
            "w": rng.uniform(0.5, 2.0, size=n),
        }
    )
    effects = frame["g"].astype(int) * 0.2 - frame["h"].astype(int) * 0.3
    frame["y"] = 1 + 0.5 * frame["x"] + effects + rng.normal(size=n)
    return frame


@pytest.fixture(scope="module")
def crossed() -> LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer("y ~ x + (x | g) + (1 | h)", crossed_data(), weights="w")


@pytest.fixture(scope="module")
def sleep() -> LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


def dense_inverse(model: LinearMixedModel) -> np.ndarray:
    sw = np.sqrt(model.frame.weights)[:, None]
    Z = np.hstack([term_matrix(t, None).toarray() for t in model.terms])
    ZL = Z @ lambda_matrix(model) * sw
    X = model.fixed.X * sw
    M = np.block([[ZL.T @ ZL + np.eye(ZL.shape[1]), ZL.T @ X], [X.T @ ZL, X.T @ X]])
    return np.linalg.inv(M)


def lambda_matrix(model: LinearMixedModel) -> np.ndarray:
    blocks = [
        np.kron(np.eye(t.nlevels), T) for t, T in zip(model.terms, model.templates(), strict=True)
    ]
    return scipy.linalg.block_diag(*blocks)


def row_vectors(model: LinearMixedModel, frame: pd.DataFrame) -> np.ndarray:
    """Dense ``[Λ'z; x]`` for rows whose levels are all known."""
    parts = []
    for term in model.terms:
        z = np.zeros((len(frame), term.q))
        codes = [term.levels.index(str(v)) for v in frame[term.group]]
        zr = term.model_matrix(frame)
        for c in range(term.k):
            z[np.arange(len(frame)), np.array(codes) * term.k + c] = zr[:, c]
        parts.append(z)
    Zl = np.hstack(parts) @ lambda_matrix(model)
    X = np.column_stack([np.ones(len(frame)), frame["x"].to_numpy()])
    return np.hstack([Zl, X])


def test_fitted_rows_match_dense(crossed: LinearMixedModel) -> None:
    table = prediction_intervals(crossed)
    data = crossed_data()
    V = row_vectors(crossed, data)
    quad = np.einsum("ij,jk,ik->i", V, dense_inverse(crossed), V)
    sigma2 = crossed.sigma**2
    np.testing.assert_allclose(table["se_fit"] ** 2, sigma2 * quad, rtol=1e-9)
    expected = sigma2 * (quad + 1.0 / data["w"].to_numpy())
    np.testing.assert_allclose(table["se_prediction"] ** 2, expected, rtol=1e-9)
    np.testing.assert_allclose(table["fit"], crossed.fitted(), rtol=1e-12)
    np.testing.assert_allclose(table["upper"] - table["fit"], Z975 * table["se_prediction"])


def test_unseen_combinations_of_levels(crossed: LinearMixedModel) -> None:
    data = crossed_data()
    seen = set(zip(data["g"], data["h"], strict=True))
    unseen = [(g, h) for g in map(str, range(12)) for h in map(str, range(5)) if (g, h) not in seen]
    assert unseen  # pairs off the pattern of L
    new = pd.DataFrame({"g": [g for g, _ in unseen], "h": [h for _, h in unseen]})
    new["x"] = np.linspace(-1, 1, len(new))
    table = prediction_intervals(crossed, new, interval="confidence", weights=np.full(len(new), 2))
    V = row_vectors(crossed, new)
    quad = np.einsum("ij,jk,ik->i", V, dense_inverse(crossed), V)
    np.testing.assert_allclose(table["se_fit"] ** 2, crossed.sigma**2 * quad, rtol=1e-9)
    np.testing.assert_allclose(
        table["se_prediction"] ** 2, crossed.sigma**2 * (quad + 0.5), rtol=1e-9
    )
    np.testing.assert_allclose(table["upper"] - table["fit"], Z975 * table["se_fit"])


def test_population_level(sleep: LinearMixedModel) -> None:
    new = pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["308", "999", "372"]})
    table = prediction_intervals(sleep, new, re_form="~0")
    X = np.column_stack([np.ones(3), new["Days"]])
    var_beta = np.einsum("ij,jk,ik->i", X, sleep.vcov.to_numpy(), X)
    T = sleep.templates()[0]
    Sigma = sleep.sigma**2 * T @ T.T
    var_b = np.einsum("ij,jk,ik->i", X, Sigma, X)  # z = (1, Days)
    np.testing.assert_allclose(table["se_fit"] ** 2, var_beta, rtol=1e-9)
    expected = var_beta + var_b + sleep.sigma**2
    np.testing.assert_allclose(table["se_prediction"] ** 2, expected, rtol=1e-9)
    np.testing.assert_allclose(table["fit"], sleep.predict(new, re_form="~0"))


def test_new_levels(sleep: LinearMixedModel) -> None:
    new = pd.DataFrame({"Days": [2.0, 7.0], "Subject": ["999", "999"]})
    with pytest.raises(mm.DataError, match="new level"):
        prediction_intervals(sleep, new)
    table = prediction_intervals(sleep, new, allow_new_levels=True)
    population = prediction_intervals(sleep, new, re_form="~0")
    np.testing.assert_allclose(table["fit"], population["fit"])
    np.testing.assert_allclose(table["se_prediction"], population["se_prediction"], rtol=1e-12)
    # the target includes the new subject's unknown effect
    assert np.all(table["se_fit"] > population["se_fit"])


def test_subset_of_terms() -> None:
    model = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    new = pd.DataFrame({"plate": ["a", "b"], "sample": ["A", "B"]})
    full = prediction_intervals(model, new)
    plate = prediction_intervals(model, new, re_form="~(1 | plate)")
    var_sample = model.varcorr.set_index("group").loc["sample", "variance"]
    assert np.all(plate["se_prediction"] > full["se_prediction"])
    extra = plate["se_prediction"] ** 2 - plate["se_fit"] ** 2 - model.sigma**2
    np.testing.assert_allclose(extra, var_sample, rtol=1e-9)


def test_missing_rows_and_index(sleep: LinearMixedModel) -> None:
    new = pd.DataFrame({"Days": [1.0, np.nan, 3.0], "Subject": ["308", "309", None]})
    new.index = [10, 20, 30]
    table = prediction_intervals(sleep, new)
    assert list(table.index) == [10, 20, 30]
    assert table.iloc[0].notna().all()
    assert table.iloc[1:].isna().all().all()


def test_confidence_is_narrower_and_level(sleep: LinearMixedModel) -> None:
    pred = prediction_intervals(sleep)
    conf = prediction_intervals(sleep, interval="confidence")
    assert np.all(conf["upper"] - conf["lower"] < pred["upper"] - pred["lower"])
    narrow = prediction_intervals(sleep, level=0.5)
    assert np.all(narrow["upper"] - narrow["lower"] < pred["upper"] - pred["lower"])


def test_errors(sleep: LinearMixedModel) -> None:
    new = pd.DataFrame({"Days": [1.0], "Subject": ["308"]})
    with pytest.raises(mm.ModelSpecificationError, match="interval"):
        prediction_intervals(sleep, interval="tolerance")
    with pytest.raises(mm.ModelSpecificationError, match="level"):
        prediction_intervals(sleep, level=1.5)
    with pytest.raises(mm.DataError, match="weights"):
        prediction_intervals(sleep, new, weights=[-1.0])
    with pytest.raises(mm.UnknownColumnError):
        prediction_intervals(sleep, new, weights="w")


def test_model_without_fixed_effects() -> None:
    model = mm.lmer("travel ~ 0 + (1 | Rail)", mm.datasets.load("Rail"))
    table = prediction_intervals(model, pd.DataFrame({"Rail": ["1", "2"]}))
    b_var = model.ranef_var["Rail"][:2, 0, 0]  # no β: the conditional variance of the mode
    np.testing.assert_allclose(table["se_fit"] ** 2, b_var, rtol=1e-9)
