"""Every public method on every kind of model: a result, or one clear ``NotSupportedError``.

The kinds are an LMM, a binomial and a Poisson GLMM, and an LMM fitted from chunks. A cell may
not fail any other way (no ``AttributeError``, ``TypeError`` or a bare ``NotImplementedError``),
and a refusal says why and what to use instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import NotSupportedError

pytest.importorskip("dask")
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
    "bootstrap": lambda m: m.bootstrap(3, seed=1, n_jobs=1, progress=False),
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
}


def _frames() -> dict[str, tuple[str, pd.DataFrame, dict[str, Any]]]:
    sleep = mm.datasets.load("sleepstudy")
    cbpp = mm.datasets.load("cbpp")
    grouse = mm.datasets.load("grouseticks")
    return {
        "lmm": ("Reaction ~ Days + (Days | Subject)", sleep, {}),
        "binomial": (
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            cbpp,
            {"family": "binomial"},
        ),
        "poisson": ("TICKS ~ YEAR + (1 | BROOD)", grouse, {"family": "poisson"}),
        "chunked": ("Reaction ~ Days + (Days | Subject)", sleep, {"chunked": True}),
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
            else:
                out[kind] = mm.lmer(formula, frame)
    return out


@pytest.mark.parametrize("kind", ["lmm", "binomial", "poisson", "chunked"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_gives_a_result_or_one_clear_refusal(
    models: dict[str, Any], kind: str, method: str
) -> None:
    model = models[kind]
    before = model.objective
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        try:
            result = METHODS[method](model)
        except NotSupportedError as error:
            message = str(error)
            assert len(message) > 40 and ("use" in message or "available" in message), message
            return
    assert result is not None
    assert model.objective == before
