"""Results are values: reading a result never changes a model, and ``refit`` returns a new one.

Each query method runs on a freshly fitted model between two deep snapshots of everything the
model reports (and of its factor or engine); the snapshots must be identical, bit for bit, and
equal to the snapshot of another fit of the same model that nothing else was asked of.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.inference.lrt import compare_models

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)"


# ---- deep snapshots and exact comparison ----------------------------------------------------
def same(a: Any, b: Any, where: str = "") -> None:
    """Assert ``a`` and ``b`` are equal exactly (arrays bit for bit, NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, pd.DataFrame | pd.Series):
        assert a.equals(b), f"{where}: frames differ"
        assert list(a.index) == list(b.index), f"{where}: index differs"
        return
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype, f"{where}: shape or dtype differs"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{where}: values differ"
        return
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys differ"
        for key in a:
            same(a[key], b[key], f"{where}.{key}")
        return
    if isinstance(a, list | tuple):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
        return
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        same(vars(a), vars(b), f"{where}<{type(a).__name__}>")
        return
    if isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), f"{where}: nan vs {b}"
        return
    assert a == b, f"{where}: {a!r} vs {b!r}"


def lmm_snapshot(m: mm.LinearMixedModel) -> dict[str, Any]:
    """Everything a fitted linear mixed model reports, its factor's θ read first."""
    snap: dict[str, Any] = {"factor_theta": m.L.theta.copy(), "factor_xx": m.L.xx.copy()}
    snap |= {
        "theta": m.theta,
        "beta": m.beta,
        "fixef": m.fixef,
        "objective": m.objective,
        "deviance": m.deviance,
        "loglik": m.loglik,
        "aic": m.aic,
        "bic": m.bic,
        "sigma": m.sigma,
        "reml": m.reml,
        "nobs": m.nobs,
        "is_singular": m.is_singular,
        "varcorr": m.varcorr,
        "ranef": m.ranef,
        "ranef_var": m.ranef_var,
        "vcov": m.vcov,
        "coef_table": m.coef_table,
        "summary": m.summary(),
        "optsum": m.optsum,
        "convergence": m.convergence,
        "ddf": m.ddf,
        "data_name": m.data_name,
        "y": m.y,
        "fixed_y": m.fixed.y,
        "stored": (m.A.xx, m.A.xz),
    }
    if not isinstance(m, mm.ChunkedLinearMixedModel):
        snap |= {
            "fitted": m.fitted(),
            "residuals": m.residuals(),
            "pearson": m.residuals("pearson", scaled=True),
        }
    return copy.deepcopy(snap)


def glmm_snapshot(g: mm.GeneralizedLinearMixedModel) -> dict[str, Any]:
    """Everything a fitted GLMM reports, its engine's state read first."""
    e = g.engine
    snap: dict[str, Any] = {"engine": (e.theta.copy(), e.beta.copy(), e.u.copy(), e.eta.copy())}
    snap |= {
        "theta": g.theta,
        "beta": g.beta,
        "fixef": g.fixef,
        "objective": g.objective,
        "deviance": g.deviance,
        "loglik": g.loglik,
        "aic": g.aic,
        "sigma": g.sigma,
        "varcorr": g.varcorr,
        "ranef": g.ranef,
        "ranef_var": g.ranef_var,
        "vcov": g.vcov,
        "coef_table": g.coef_table,
        "summary": g.summary(),
        "fitted": g.fitted(),
        "residuals": g.residuals(),
        "pearson": g.residuals("pearson"),
        "link": g.predict(),
        "optsum": g.optsum,
        "convergence": g.convergence,
    }
    return copy.deepcopy(snap)


# ---- the models -----------------------------------------------------------------------------
def fit_sleep(reml: bool = True) -> mm.LinearMixedModel:
    return mm.lmer(SLEEP, mm.datasets.load("sleepstudy"), reml=reml)


def fit_cbpp() -> mm.GeneralizedLinearMixedModel:
    return mm.glmer(CBPP, mm.datasets.load("cbpp"), family="binomial")


def fit_grouse() -> mm.GeneralizedLinearMixedModel:
    return mm.glmer(GROUSE, grouse(), family="poisson")


def grouse() -> pd.DataFrame:
    frame = mm.datasets.load("grouseticks")
    return frame.assign(YEAR=frame["YEAR"].astype(str))


def new_sleep() -> pd.DataFrame:
    return pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["308", "309", "new"]})


def other_sleep_model(m: Any) -> Any:
    return mm.lmer("Reaction ~ 1 + (Days | Subject)", mm.datasets.load("sleepstudy"))


LMM_QUERIES: dict[str, Callable[[Any], Any]] = {
    "profile": lambda m: m.profile(which=[".sig01", "Days"]),
    "confint_profile": lambda m: m.confint("profile", which=[".sig02", ".sigma", "(Intercept)"]),
    "confint_wald": lambda m: m.confint("wald"),
    "confint_bootstrap": lambda m: m.confint("bootstrap", nsim=4, seed=1, n_jobs=1),
    "bootstrap": lambda m: m.bootstrap(4, seed=1, n_jobs=1, progress=False),
    "simulate": lambda m: m.simulate(3, seed=2),
    "simulate_conditional": lambda m: m.simulate(2, seed=2, re_form=None),
    "all_fit": lambda m: m.all_fit(("bobyqa", "nelder_mead")),
    "anova": lambda m: m.anova(),
    "anova_type1_kr": lambda m: m.anova(type=1, ddf="kenward-roger"),
    "anova_models": lambda m: mm.anova(other_sleep_model(m), m),
    "compare_models_no_refit": lambda m: compare_models(other_sleep_model(m), m, refit=False),
    "coef_test_kr": lambda m: m.coef_test("kenward-roger"),
    "contrast": lambda m: m.contrast([[0.0, 1.0]]),
    "predict": lambda m: m.predict(),
    "predict_new": lambda m: m.predict(new_sleep(), allow_new_levels=True),
    "predict_population": lambda m: m.predict(re_form="~0"),
    "prediction_intervals": lambda m: m.prediction_intervals(),
    "influence": lambda m: m.influence("Subject"),
    "cooks_distance": lambda m: m.cooks_distance(),
    "hat_values": lambda m: m.hat_values(),
    "residuals": lambda m: [m.residuals(t) for t in ("response", "pearson", "deviance")],
    "summary": lambda m: (m.summary(), m._repr_html_()),
    "tidy": lambda m: m.tidy(conf_int=True),
    "to_json": lambda m: m.to_json(),
    "refit_new_response": lambda m: m.refit(m.simulate(1, seed=4)[:, 0]),
    "refit_ml": lambda m: m.refit(reml=not m.reml),
    "refit_same": lambda m: m.refit(),
    "plots": lambda m: _plots(m),
}


def _plots(m: Any) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m.plot_diagnostics()  # the residual, Q-Q and caterpillar panels
    plt.close("all")


# ---- linear mixed models --------------------------------------------------------------------
@pytest.fixture(scope="module")
def sleep_reference() -> dict[str, Any]:
    """The snapshot of a fit that nothing else was asked of."""
    return lmm_snapshot(fit_sleep())


@pytest.mark.parametrize("query", list(LMM_QUERIES))
def test_lmm_query_leaves_the_model_unchanged(query: str, sleep_reference: dict[str, Any]) -> None:
    model = fit_sleep()
    before = lmm_snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LMM_QUERIES[query](model)
    same(lmm_snapshot(model), before, query)
    same(before, sleep_reference, "a fresh fit")


def test_objective_at_elsewhere_leaves_the_results_unchanged() -> None:
    """The optimizer's primitive moves the working factor; results are read at θ̂ all the same."""
    model = fit_sleep()
    before = lmm_snapshot(model)
    model.objective_at(np.array([0.5, 0.1, 0.3]))
    after = lmm_snapshot(model)
    for key in ("factor_theta", "factor_xx"):
        del before[key], after[key]
    same(after, before, "objective_at")
    np.testing.assert_array_equal(model.L.theta, model.theta)


def test_refit_returns_a_new_model_and_leaves_the_original_identical() -> None:
    model = fit_sleep()
    before = lmm_snapshot(model)
    y = model.simulate(1, seed=11)[:, 0]
    refitted = model.refit(y)
    assert refitted is not model
    same(lmm_snapshot(model), before, "original")
    assert refitted.L is not model.L and refitted.A is not model.A
    # the immutable parts are shared, the response parts are new
    assert refitted.terms is model.terms and refitted.frame is model.frame
    assert refitted.fixed.X is model.fixed.X and refitted.A.diag is model.A.diag
    frame = mm.datasets.load("sleepstudy").assign(Reaction=y)
    fresh = mm.lmer(SLEEP, frame)
    assert refitted.objective == pytest.approx(fresh.objective, rel=1e-10)
    np.testing.assert_allclose(refitted.theta, fresh.theta, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(refitted.beta, fresh.beta, rtol=1e-8)
    assert refitted.sigma == pytest.approx(fresh.sigma, rel=1e-8)
    np.testing.assert_allclose(refitted.vcov, fresh.vcov, rtol=1e-7)
    np.testing.assert_allclose(refitted.fitted(), fresh.fitted(), rtol=1e-9)


def weighted_sleep() -> pd.DataFrame:
    frame = mm.datasets.load("sleepstudy")
    rng = np.random.default_rng(1)
    return frame.assign(w=rng.uniform(0.5, 2.0, len(frame)), o=rng.normal(0.0, 5.0, len(frame)))


@pytest.mark.parametrize(
    ("formula", "data", "options"),
    [
        (SLEEP, weighted_sleep, {"weights": "w", "offset": "o"}),
        (SLEEP, weighted_sleep, {"reml": False}),
        ("diameter ~ 1 + (1 | plate) + (1 | sample)", lambda: mm.datasets.load("Penicillin"), {}),
    ],
    ids=["weights-offset", "ml", "crossed"],
)
def test_refit_equals_a_fresh_fit_on_the_new_response(
    formula: str, data: Callable[[], pd.DataFrame], options: dict[str, Any]
) -> None:
    model = mm.lmer(formula, data(), **options)
    before = lmm_snapshot(model)
    y = model.simulate(1, seed=3)[:, 0]
    refitted = model.refit(y)
    same(lmm_snapshot(model), before, "original")
    response = formula.split("~")[0].strip()
    fresh = mm.lmer(formula, data().assign(**{response: y}), **options)
    assert refitted.reml == fresh.reml
    assert refitted.objective == pytest.approx(fresh.objective, rel=1e-10)
    np.testing.assert_allclose(refitted.theta, fresh.theta, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(refitted.beta, fresh.beta, rtol=1e-8)
    np.testing.assert_allclose(refitted.fitted(), fresh.fitted(), rtol=1e-9)
    pd.testing.assert_frame_equal(refitted.varcorr, fresh.varcorr, rtol=1e-7)


def test_refit_by_ml_equals_a_fresh_ml_fit_and_keeps_the_reml_fit() -> None:
    model = fit_sleep()
    before = lmm_snapshot(model)
    ml = model.refit(reml=False)
    same(lmm_snapshot(model), before, "original")
    assert model.reml and not ml.reml
    fresh = fit_sleep(reml=False)
    assert ml.objective == pytest.approx(fresh.objective, rel=1e-12)
    np.testing.assert_allclose(ml.theta, fresh.theta, rtol=1e-8, atol=1e-8)


def test_refitting_a_refit_leaves_both_unchanged() -> None:
    model = fit_sleep()
    first = model.refit(model.simulate(1, seed=5)[:, 0])
    before = lmm_snapshot(first)
    second = first.refit(model.simulate(1, seed=6)[:, 0])
    same(lmm_snapshot(first), before, "first refit")
    assert second.objective != first.objective


def test_refit_of_an_unfitted_model_returns_a_new_fitted_model() -> None:
    model = mm.LinearMixedModel(SLEEP, mm.datasets.load("sleepstudy"))
    refitted = model.refit()
    assert model.optsum is None and refitted.optsum is not None
    assert refitted.objective == pytest.approx(fit_sleep().objective, rel=1e-12)


# ---- refit's response -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sleep_model() -> mm.LinearMixedModel:
    return fit_sleep()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (lambda n: np.array(["1.5"] * n), "real numbers, not <U3 values"),
        (lambda n: ["a"] * n, "real numbers"),
        (lambda n: np.array([1.0] * (n - 1) + ["x"], dtype=object), "position 179 is 'x'"),
        (lambda n: np.ones(n) + 1j, "complex"),
        (lambda n: np.ones((n, 2)), r"shape \(180, 2\)"),
        (lambda n: np.ones((2, n)), r"shape \(2, 180\)"),
        (lambda n: np.float64(3.0), r"shape \(\)"),
        (lambda n: np.ones(n - 1), "180 finite numbers, one per observation used: got 179"),
        (lambda n: np.r_[np.ones(n - 1), np.nan], "position 179: nan"),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], "position 0: inf"),
        (lambda n: pd.Series([1.0] * (n - 1) + [None], dtype="Float64"), "missing or infinite"),
        (lambda n: pd.Series(["a", "b"] * (n // 2), dtype="category"), "real numbers"),
        (lambda n: pd.date_range("2020", periods=n).to_numpy(), "real numbers"),
    ],
)
def test_refit_refuses_a_response_of_the_wrong_type(
    value: Any, match: str, sleep_model: mm.LinearMixedModel
) -> None:
    model = sleep_model
    before = lmm_snapshot(model)
    with pytest.raises(mm.DataError, match=match):
        model.refit(value(model.nobs))
    same(lmm_snapshot(model), before, "after a refused refit")


@pytest.mark.parametrize("options", [{"reml": "maybe"}, {"check_convergence": 1}])
def test_refit_refuses_flags_that_are_not_booleans(
    options: dict[str, Any], sleep_model: mm.LinearMixedModel
) -> None:
    name = next(iter(options))
    with pytest.raises(mm.ModelSpecificationError, match=f"{name} must be True, False or None"):
        sleep_model.refit(**options)


def test_refit_takes_a_single_column_a_series_and_integers_without_changing_them() -> None:
    model = fit_sleep()
    column = model.simulate(1, seed=7)
    kept = column.copy()
    a = model.refit(column)
    b = model.refit(pd.Series(column[:, 0], index=np.arange(model.nobs) + 100))
    c = model.refit(np.round(column[:, 0]).astype(np.int64))
    np.testing.assert_array_equal(column, kept)
    assert a.objective == b.objective
    assert c.objective == pytest.approx(a.objective, rel=1e-3)


# ---- generalized linear mixed models --------------------------------------------------------
GLMM_QUERIES: dict[str, Callable[[Any], Any]] = {
    "vcov": lambda g: g.vcov,
    "hessian": lambda g: g.hessian,
    "simulate": lambda g: g.simulate(3, seed=2),
    "bootstrap": lambda g: g.bootstrap(4, seed=1, n_jobs=1, progress=False),
    "confint_bootstrap": lambda g: g.confint("bootstrap", nsim=4, seed=1, n_jobs=1),
    "predict_response": lambda g: g.predict(type="response"),
    "predict_population": lambda g: g.predict(re_form="~0"),
    "predict_new": lambda g: g.predict(g.frame.data.head(6), type="response"),
    "residuals": lambda g: [g.residuals(t) for t in ("deviance", "pearson", "response")],
    "summary": lambda g: (g.summary(), g._repr_html_()),
    "ranef_var": lambda g: g.ranef_var,
    "anova_models": lambda g: mm.anova(
        mm.glmer(g.formula.replace("period", "1"), g.frame.data, family="binomial"), g
    ),
}


@pytest.fixture(scope="module")
def cbpp_reference() -> dict[str, Any]:
    return glmm_snapshot(fit_cbpp())


@pytest.mark.parametrize("query", list(GLMM_QUERIES))
def test_glmm_query_leaves_the_model_unchanged(query: str, cbpp_reference: dict[str, Any]) -> None:
    model = fit_cbpp()
    # the engine and the modes before any result is computed: nothing may move them
    state = copy.deepcopy((model.engine.u, model.engine.beta, model.ranef))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GLMM_QUERIES[query](model)
    same(copy.deepcopy((model.engine.u, model.engine.beta, model.ranef)), state, query)
    before = glmm_snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GLMM_QUERIES[query](model)
    same(glmm_snapshot(model), before, query)
    same(before, cbpp_reference, "a fresh fit")


def test_glmm_hessian_does_not_move_the_modes_of_a_blocked_engine() -> None:
    model = fit_grouse()
    state = copy.deepcopy((model.engine.u, model.engine.L.xx, model.ranef, model.fitted()))
    first = model.vcov
    same(copy.deepcopy((model.engine.u, model.engine.L.xx, model.ranef, model.fitted())), state)
    snap = glmm_snapshot(model)
    assert model.hessian.shape[0] > 0
    same(glmm_snapshot(model), snap, "after hessian")
    same(glmm_snapshot(fit_grouse()), snap, "a fresh fit")
    same(first, model.vcov)


# ---- a model fitted from Parquet chunks -----------------------------------------------------
CHUNKED_QUERIES: dict[str, Callable[[Any], Any]] = {
    "profile": lambda m: m.profile(which=["Days"]),
    "confint_wald": lambda m: m.confint("wald"),
    "anova_type1": lambda m: m.anova(type=1),
    "all_fit": lambda m: m.all_fit(("bobyqa",)),
    "predict_new": lambda m: m.predict(new_sleep(), allow_new_levels=True),
    "refit_ml": lambda m: m.refit(reml=False),
    "summary_json": lambda m: (m.summary(), m.to_json()),
}


@pytest.fixture(scope="module")
def sleep_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pyarrow")
    pytest.importorskip("dask")
    folder = tmp_path_factory.mktemp("sleep")
    frame = mm.datasets.load("sleepstudy")
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def chunked_sleep(sleep_parquet: Path) -> mm.ChunkedLinearMixedModel:
    model = mm.lmer(SLEEP, str(sleep_parquet), progress=False)
    assert isinstance(model, mm.ChunkedLinearMixedModel)
    return model


@pytest.mark.parametrize("query", list(CHUNKED_QUERIES))
def test_chunked_query_leaves_the_model_unchanged(
    query: str, chunked_sleep: mm.ChunkedLinearMixedModel
) -> None:
    model = chunked_sleep
    before = lmm_snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = CHUNKED_QUERIES[query](model)
    same(lmm_snapshot(model), before, query)
    if query == "refit_ml":
        assert isinstance(out, mm.ChunkedLinearMixedModel) and not out.reml
        # the refit's residual quantiles are its own, not those the model's summary kept
        probs = (0.0, 0.25, 0.5, 0.75, 1.0)
        pearson = out.residuals("pearson", scaled=True).compute().to_numpy()
        np.testing.assert_allclose(
            out.scaled_residual_quantiles(probs), np.quantile(pearson, probs), rtol=1e-12
        )
