"""Hat values, Cook's distances and group-deletion refits of GLMMs, against lme4 1.1-31.

The references are written by ``tests/data/r/glmm_influence.R`` (tight glmer tolerances, also
for the refits of ``influence``) to ``tests/results/data/glmm_influence.json``. lme4 defines,
for a glmer fit (facts the R script checks):

* ``hatvalues``: ``aᵢ vᵢᵀ M⁻¹ vᵢ`` with ``M`` the penalized weighted least-squares system in
  ``(u, β)`` at the working weights and ``aᵢ`` the prior weights (trials for ``cbind``);
* ``cooks.distance``: ``(rᵢ/(1 − hᵢ))² hᵢ / (σ̂² rank X)`` with Pearson residuals;
* ``influence(m, groups)``: refits without each level; ``cooks.distance`` of it is
  ``(G − p)/(G p) Δβᵀ vcov(m)⁻¹ Δβ``, ``dfbeta`` is ``β̂₍₋g₎ − β̂`` and ``dfbetas`` divides
  that by each refit's own standard errors.

At R's estimates the hat values and Cook's distances agree to ~1e-5 (lme4's factor holds the
weights of its last PIRLS iteration, ~1e-7 from the mode's, and ``1/(1 − h)²`` amplifies that
where ``h`` is near 1); from our own fits, which reach the optimum to ~1e-6, to ~1e-3 there.
The refits agree at the optimizers' tolerance; their ``vcov`` differ from lme4's
finite-difference ones by ~1e-4.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.errors import DataError, NotSupportedError, UnknownColumnError
from mixedmodels.models.base import MixedModelBase
from mixedmodels.models.generalized import GeneralizedLinearMixedModel
from mixedmodels.models.glmm_influence import GlmmInfluence
from mixedmodels.objective.leverage import penalized_leverages
from mixedmodels.results.influence import GroupInfluence
from mixedmodels.spec.families import Binomial, Gamma, Poisson

ROOT = Path(__file__).resolve().parents[1]
REFERENCE: dict[str, dict[str, Any]] = json.loads(
    (ROOT / "results" / "data" / "glmm_influence.json").read_text()
)
FAMILIES = {"binomial": Binomial, "poisson": Poisson, "Gamma": Gamma}
WITH_GROUPS = [name for name, ref in REFERENCE.items() if "influence" in ref]
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def frame(name: str) -> pd.DataFrame:
    if name == "cbpp":
        return mm.datasets.load("cbpp")
    if name == "grouse":
        data = mm.datasets.load("grouseticks")
        for column in ("YEAR", "BROOD", "LOCATION"):
            data[column] = data[column].astype(str)
        return data
    if name == "sim":
        return pd.read_csv(ROOT / "inference" / "data" / "glmm_slope_sim.csv")
    data = pd.read_csv(ROOT / "data" / "parity" / "gamma_sim.csv")
    data["g"] = data["g"].astype(str)
    return data


def fit(name: str) -> GeneralizedLinearMixedModel:
    ref = REFERENCE[name]
    family = FAMILIES[ref["family"]](link=ref["link"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.glmer(ref["formula"], frame(ref["data"]), family=family)


def at_r_estimates(name: str) -> GeneralizedLinearMixedModel:
    """The model with lme4's θ̂ and β̂ (results then read the modes there)."""
    theta = np.atleast_1d(np.asarray(REFERENCE[name]["theta"], dtype=float))
    beta = np.asarray(REFERENCE[name]["fixef"], dtype=float)
    return fit(name).at_params(np.concatenate([theta, beta]))  # type: ignore[return-value]


def snapshot(model: GeneralizedLinearMixedModel) -> dict[str, Any]:
    e = model.engine
    state = {"engine": (e.theta.copy(), e.beta.copy(), e.u.copy(), e.eta.copy())}
    return copy.deepcopy(
        state
        | {
            "theta": model.theta,
            "beta": model.beta,
            "objective": model.objective,
            "vcov": model.vcov,
            "fitted": model.fitted(),
            "summary": model.summary(),
        }
    )


def assert_same(after: dict[str, Any], before: dict[str, Any]) -> None:
    assert after.keys() == before.keys()
    for key, value in before.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(after[key], value)
        elif isinstance(value, tuple):
            for a, b in zip(after[key], value, strict=True):
                np.testing.assert_array_equal(a, b)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value)
        else:
            assert after[key] == value, key


@pytest.fixture(scope="module")
def fits() -> dict[str, GeneralizedLinearMixedModel]:
    return {name: fit(name) for name in REFERENCE}


class Influences(dict[str, GroupInfluence]):
    """The refits of each reference model, made when a test first asks for them."""

    def __init__(self, fits: dict[str, GeneralizedLinearMixedModel]) -> None:
        super().__init__()
        self.fits = fits

    def __missing__(self, name: str) -> GroupInfluence:
        self[name] = self.fits[name].influence(REFERENCE[name]["influence"]["groups"])
        return self[name]


@pytest.fixture(scope="module")
def influences(fits: dict[str, GeneralizedLinearMixedModel]) -> Influences:
    return Influences(fits)


# ---- per observation ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(REFERENCE))
def test_hat_values_and_cooks_distance_at_r_estimates(name: str) -> None:
    ref = REFERENCE[name]
    assert ref["hat_check"]["prior"] < 1e-12  # lme4's hatvalues use the prior weights
    model = at_r_estimates(name)
    np.testing.assert_allclose(model.residuals("pearson"), ref["pearson"], rtol=1e-5, atol=1e-6)
    assert model.sigma == pytest.approx(ref["sigma"], rel=1e-6)
    np.testing.assert_allclose(model.hat_values(), ref["hat"], rtol=2e-6)
    np.testing.assert_allclose(model.cooks_distance(), ref["cooks"], rtol=1e-4)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_hat_values_and_cooks_distance_of_our_fit(
    name: str, fits: dict[str, GeneralizedLinearMixedModel]
) -> None:
    ref = REFERENCE[name]
    model = fits[name]
    np.testing.assert_allclose(model.theta, ref["theta"], rtol=1e-4)
    hat = model.hat_values()
    assert hat.shape == (model.nobs,)
    np.testing.assert_allclose(hat, ref["hat"], rtol=1e-4)
    cooks = model.cooks_distance()
    assert isinstance(cooks, np.ndarray) and cooks.shape == (model.nobs,)
    np.testing.assert_allclose(cooks, ref["cooks"], rtol=1e-3, atol=1e-8 * max(ref["cooks"]))


@pytest.mark.parametrize(
    ("name", "nagq"), [("cbpp", 0), ("cbpp", 1), ("cbpp", 5), ("slope", 0), ("slope", 1)]
)
def test_leverages_are_those_of_the_dense_penalized_system(name: str, nagq: int) -> None:
    """``vᵢᵀ M⁻¹ vᵢ`` from the factor equals the dense computation at the engine's weights."""
    ref = REFERENCE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.glmer(ref["formula"], frame(ref["data"]), nagq=nagq)
    model._require_fit()
    ZL = np.hstack(
        [_z_lambda(model.nobs, t, T) for t, T in zip(model.terms, model.templates(), strict=True)]
    )
    V = np.hstack([ZL, model.fixed.X])
    w = model.engine.wk.w  # type: ignore[union-attr]
    q = ZL.shape[1]
    M = V.T @ (w[:, None] * V) + np.diag(np.r_[np.ones(q), np.zeros(model.n_fixed)])
    dense = np.einsum("ij,ji->i", V, np.linalg.solve(M, V.T))
    np.testing.assert_allclose(penalized_leverages(model.engine), dense, rtol=1e-7)
    np.testing.assert_allclose(model.hat_values(), model.data.weights * dense, rtol=1e-7)


def _z_lambda(n: int, term: Any, T: np.ndarray) -> np.ndarray:
    """One term's ``ZΛ``, dense: row ``i`` holds ``zᵢT`` at its level's ``k`` columns."""
    rows = np.repeat(np.arange(n), term.k)
    cols = (term.refs[:, None] * term.k + np.arange(term.k)).ravel()
    return sp.csr_array(((term.z @ T).ravel(), (rows, cols)), shape=(n, term.q)).toarray()


def test_excluded_rows_give_one_value_per_observation_used() -> None:
    data = mm.datasets.load("cbpp")
    data.loc[[3, 20], "incidence"] = np.nan
    omitted = mm.glmer(CBPP, data)
    excluded = mm.glmer(CBPP, data, na_action="exclude")
    assert excluded.residuals("pearson").shape == (56,)
    np.testing.assert_array_equal(excluded.hat_values(), omitted.hat_values())
    np.testing.assert_array_equal(excluded.cooks_distance(), omitted.cooks_distance())
    assert omitted.hat_values().shape == (54,)


# ---- deleting groups --------------------------------------------------------------------------
@pytest.mark.parametrize("name", WITH_GROUPS)
def test_influence_of_groups(name: str, influences: Influences) -> None:
    ref = REFERENCE[name]["influence"]
    result = influences[name]
    levels = ref["levels"]
    assert sorted(result.fixef_deleted.index) == sorted(levels)
    assert result.group == ref["groups"] and result.converged.all() and all(ref["converged"])

    def close(mine: pd.DataFrame | pd.Series, theirs: Any, rtol: float) -> None:
        theirs = np.asarray(theirs, dtype=float)
        scale = np.max(np.abs(theirs))
        np.testing.assert_allclose(mine.loc[levels], theirs, rtol=rtol, atol=1e-4 * scale)

    close(result.fixef_deleted, ref["fixef_deleted"], 1e-3)
    close(result.dfbeta, ref["dfbeta"], 1e-3)
    close(result.dfbetas_lme4, ref["dfbetas"], 1e-3)
    close(result.cooks_distance_lme4, ref["cooks_distance"], 1e-3)
    G, p = result.fixef_deleted.shape
    np.testing.assert_allclose(
        result.cooks_distance, result.cooks_distance_lme4 * G / (G - p), rtol=1e-14
    )
    np.testing.assert_allclose(result.dfbetas, result.dfbeta / np.sqrt(np.diag(result.vcov)))


def test_cooks_distance_of_a_group_is_that_of_influence(
    fits: dict[str, GeneralizedLinearMixedModel], influences: Influences
) -> None:
    series = fits["cbpp"].cooks_distance("herd")
    assert isinstance(series, pd.Series)
    pd.testing.assert_series_equal(series, influences["cbpp"].cooks_distance)


def test_a_refit_is_the_fit_of_the_other_rows_with_weights_and_offset() -> None:
    data = mm.datasets.load("cbpp")
    data["prop"] = data["incidence"] / data["size"]
    data["off"] = 0.1 * (data.index % 3)
    formula = "prop ~ period + (1 | herd)"
    model = mm.glmer(formula, data, weights="size", offset="off")
    halves = np.where(data["herd"].astype(int) <= 7, "first", "second")
    result = model.influence(halves)
    assert list(result.fixef_deleted.index) == ["first", "second"]
    rows = halves == "second"
    second = mm.glmer(formula, data[rows].reset_index(drop=True), weights="size", offset="off")
    np.testing.assert_allclose(result.fixef_deleted.loc["first"], second.fixef, rtol=1e-5)
    np.testing.assert_allclose(result.theta_deleted.loc["first"], second.theta, rtol=1e-5)
    refit = model.fit_to_rows(rows)
    assert refit is not model and refit.nobs == second.nobs
    assert refit.objective == pytest.approx(second.objective, rel=1e-9)


def test_a_level_that_carries_a_fixed_effect_leaves_it_missing() -> None:
    """Deleting periods 3 and 4 leaves their coefficients inestimable: NaN, as in lme4."""
    data = mm.datasets.load("cbpp")
    model = mm.glmer(CBPP, data)
    late = np.where(data["period"].astype(int) <= 2, "early", "late")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        result = model.influence(late)
    deleted = result.fixef_deleted.loc["late"].to_numpy()
    assert np.isnan(deleted[2:]).all() and np.isfinite(deleted[:2]).all()  # periods 3 and 4
    assert np.isnan(result.se_deleted.loc["late"].to_numpy()[2:]).all()


# ---- the model is left as it was --------------------------------------------------------------
QUERIES = {
    "hat_values": lambda m: m.hat_values(),
    "cooks_distance": lambda m: m.cooks_distance(),
    "cooks_distance_group": lambda m: m.cooks_distance("herd"),
    "influence": lambda m: m.influence("herd"),
    "fit_to_rows": lambda m: m.fit_to_rows(np.arange(m.nobs) % 5 != 0),
}


@pytest.mark.parametrize("query", list(QUERIES))
def test_the_model_is_unchanged(query: str) -> None:
    model = mm.glmer(CBPP, mm.datasets.load("cbpp"))
    before = snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        QUERIES[query](model)
    assert_same(snapshot(model), before)
    assert_same(before, snapshot(mm.glmer(CBPP, mm.datasets.load("cbpp"))))


def test_the_caller_data_are_unchanged() -> None:
    data = mm.datasets.load("cbpp")
    kept = data.copy()
    mm.glmer(CBPP, data).influence("herd")
    pd.testing.assert_frame_equal(data, kept)


def test_the_mixin_overrides_the_refusals_of_the_base() -> None:
    mro = GeneralizedLinearMixedModel.__mro__
    assert mro.index(GlmmInfluence) < mro.index(MixedModelBase)
    for method in ("hat_values", "cooks_distance", "influence"):
        assert getattr(GeneralizedLinearMixedModel, method) is getattr(GlmmInfluence, method)


# ---- errors and refusals ----------------------------------------------------------------------
def test_bad_groups_are_refused_by_name() -> None:
    model = mm.glmer(CBPP, mm.datasets.load("cbpp"))
    with pytest.raises(UnknownColumnError, match="nope"):
        model.influence("nope")
    with pytest.raises(UnknownColumnError, match="nope"):
        model.cooks_distance("nope")
    with pytest.raises(DataError, match="one label per observation used .56."):
        model.influence(["a", "b"])
    with pytest.raises(DataError, match="single level"):
        model.influence(np.zeros(model.nobs))
    with pytest.raises(DataError, match="one entry per observation used"):
        model.fit_to_rows(np.ones(3, dtype=bool))


def test_unfitted_model_is_refused() -> None:
    model = GeneralizedLinearMixedModel(CBPP, mm.datasets.load("cbpp"))
    for call in (model.hat_values, model.cooks_distance, lambda: model.influence("herd")):
        with pytest.raises(mm.ModelSpecificationError, match="not been fitted"):
            call()


def test_glmer_nb_refits_are_refused_but_leverages_given() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.glmer_nb("TICKS ~ YEAR + (1 | LOCATION)", frame("grouse"))
    assert model.hat_values().shape == (model.nobs,)
    assert np.all(np.isfinite(model.cooks_distance()))
    for call in (
        lambda: model.influence("LOCATION"),
        lambda: model.cooks_distance("LOCATION"),
        lambda: model.fit_to_rows(np.ones(model.nobs, dtype=bool)),
    ):
        with pytest.raises(NotSupportedError, match="glmer_nb"):
            call()


def test_the_chunked_lmm_still_refuses() -> None:
    pytest.importorskip("dask")
    import dask.dataframe as dd

    data = dd.from_pandas(mm.datasets.load("sleepstudy"), npartitions=2)
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    for call, named in [
        (lambda: model.hat_values(), "hat_values"),
        (lambda: model.cooks_distance(), "cooks_distance"),
        (lambda: model.influence("Subject"), "influence"),
    ]:
        with pytest.raises(NotSupportedError, match=f"^{named} needs the rows"):
            call()
