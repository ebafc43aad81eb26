"""Every public method on every kind of model: a result, or one clear ``NotSupportedError``.

The kinds are an LMM, a binomial and a Poisson GLMM, an LMM fitted from chunks, and an LMM and
a GLMM with structured covariances (``ar1``, homogeneous ``cs``), and an LMM with a residual
AR(1) (nlme's ``corAR1``). A cell may
not fail any other way (no ``AttributeError``, ``TypeError`` or a bare ``NotImplementedError``),
and a refusal says why and what to use instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import NotSupportedError

pytest.importorskip("dask")
pytest.importorskip("matplotlib")
import dask.dataframe as dd  # noqa: E402

Call = Callable[[Any], Any]
METHODS: dict[str, Call] = {
    "summary": lambda m: m.summary(),
    "repr_html": lambda m: m._repr_html_(),
    "fixef": lambda m: m.fixef,
    "vcov": lambda m: m.vcov,
    "coef_table": lambda m: m.coef_table,
    "varcorr": lambda m: m.varcorr,
    "ranef": lambda m: m.ranef,
    "ranef_var": lambda m: m.ranef_var,
    "criteria": lambda m: (m.loglik, m.aic, m.bic, m.deviance, m.objective, m.sigma),
    "is_singular": lambda m: m.is_singular,
    "ngroups": lambda m: m.ngroups,
    "tidy": lambda m: m.tidy(),
    "to_json": lambda m: m.to_json(),
    "confint_wald": lambda m: m.confint("wald"),
    "anova": lambda m: m.anova(),
    "contrast": lambda m: m.contrast(np.eye(len(m.fixef))[1:2]),
    "predict": lambda m: m.predict(),
    "fitted": lambda m: m.fitted(),
    "residuals": lambda m: m.residuals(),
    "simulate": lambda m: m.simulate(2, seed=1),
    "refit": lambda m: m.refit(),
    "hat_values": lambda m: m.hat_values(),
    "cooks_distance": lambda m: m.cooks_distance(),
    "prediction_intervals": lambda m: m.prediction_intervals(),
    "confint_profile": lambda m: m.confint("profile"),
    "confint_bootstrap": lambda m: m.confint("bootstrap", nsim=4, seed=1, n_jobs=1, progress=False),
    "profile": lambda m: m.profile(),
    "bootstrap": lambda m: m.bootstrap(4, seed=1, n_jobs=1, progress=False),
    "anova_type1": lambda m: m.anova(type=1),
    "anova_type2": lambda m: m.anova(type=2),
    "anova_type3": lambda m: m.anova(type=3),
    "influence": lambda m: m.influence(m.terms[0].group),
    "cooks_by_group": lambda m: m.cooks_distance(m.terms[0].group),
    "residuals_pearson": lambda m: m.residuals(type="pearson"),
    "residuals_deviance": lambda m: m.residuals(type="deviance"),
    "likelihood_ratio": lambda m: mm.anova(m, m.refit()),
    "plot_diagnostics": lambda m: _closed(m.plot_diagnostics()),
    "plot_caterpillar": lambda m: _closed(m.plot_caterpillar()),
    "plot_qq": lambda m: _closed(m.plot_qq()),
}


def _closed(figure: Any) -> Any:
    """Close a figure (or the figures of a dict) after it was drawn."""
    import matplotlib.pyplot as plt

    for one in figure.values() if isinstance(figure, dict) else [figure]:
        plt.close(one)
    return figure


def _frames() -> dict[str, tuple[str, pd.DataFrame, dict[str, Any]]]:
    sleep = mm.datasets.load("sleepstudy")
    cbpp = mm.datasets.load("cbpp")
    grouse = mm.datasets.load("grouseticks")
    panel = pd.read_csv(Path(__file__).parent / "data" / "covstruct_panel.csv")
    panel["ftime"] = panel["time"].astype(str)
    panel = panel[panel["subject"] <= "s16"]  # 16 subjects: small enough for every method
    return {
        "lmm": ("Reaction ~ Days + (Days | Subject)", sleep, {}),
        "binomial": (
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            cbpp,
            {"family": "binomial"},
        ),
        "poisson": ("TICKS ~ YEAR + (1 | BROOD)", grouse, {"family": "poisson"}),
        "chunked": ("Reaction ~ Days + (Days | Subject)", sleep, {"chunked": True}),
        "lmm_ar1": ("y ~ time + x + ar1(0 + ftime | subject)", panel, {}),
        "lmm_resid_ar1": (
            "y ~ time + x + (1 | subject)",
            panel,
            {"correlation": mm.cor_ar1(time="time", group="subject")},
        ),
        "poisson_cs": (
            "count ~ time + cs(0 + ftime | subject, hom = TRUE)",
            panel,
            {"family": "poisson"},
        ),
    }


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        for kind, (formula, frame, options) in _frames().items():
            if options.get("chunked"):
                out[kind] = mm.lmer(formula, dd.from_pandas(frame, npartitions=2))
            elif "family" in options:
                out[kind] = mm.glmer(formula, frame, family=options["family"])
            elif "correlation" in options:
                out[kind] = mm.lmer(formula, frame, correlation=options["correlation"])
            else:
                out[kind] = mm.lmer(formula, frame)
    return out


KINDS = ["lmm", "binomial", "poisson", "chunked", "lmm_ar1", "poisson_cs", "lmm_resid_ar1"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_gives_a_result_or_one_clear_refusal(
    models: dict[str, Any], kind: str, method: str
) -> None:
    model = models[kind]
    before = _state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        try:
            result = METHODS[method](model)
        except NotSupportedError as error:
            message = str(error)
            assert len(message) > 40 and ("use" in message or "available" in message), message
            result = message
    assert result is not None
    after = _state(model)
    for name, value in before.items():  # a result or a refusal leaves the model as it was
        assert np.array_equal(value, after[name]), f"{method} changed {name} of {kind}"


def _state(model: Any) -> dict[str, Any]:
    """What a model reports, copied: its estimates, criteria and summary."""
    return {
        "theta": np.array(model.theta, dtype=float),
        "beta": np.array(model.beta, dtype=float),
        "objective": np.array(model.objective),
        "sigma": np.array(model.sigma),
        "vcov": model.vcov.to_numpy().copy(),
        "summary": np.array(model.summary()),
    }
