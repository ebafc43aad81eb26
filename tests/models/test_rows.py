"""``needs_rows``: what needs the rows refuses, in one place, on a model without them."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import NotSupportedError


@pytest.fixture(scope="module")
def without_rows() -> mm.LinearMixedModel:
    """A fitted in-memory model that says it has no rows (as a chunked one)."""
    model = copy.copy(mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy")))
    model.has_rows = False
    return model


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda m: m.simulate(1), "simulate"),
        (lambda m: m.bootstrap(5), "the parametric bootstrap"),
        (lambda m: m.refit(np.ones(m.nobs)), "refit with a new response"),
        (lambda m: m.hat_values(), "hat_values"),
        (lambda m: m.cooks_distance(), "cooks_distance"),
        (lambda m: m.influence("Subject"), "influence"),
        (lambda m: m.prediction_intervals(), "prediction intervals of the fitted rows"),
        (lambda m: m.confint("boot"), "confint(method='bootstrap')"),
        (lambda m: m.coef_test("kenward-roger"), "Kenward-Roger df"),
        (lambda m: m.anova(type="III"), "anova of type 2 or 3"),
        (lambda m: m.fit_to_rows(np.ones(m.nobs, dtype=bool)), "fit_to_rows"),
        (lambda m: m.plot_qq(), "plot_qq"),
    ],
)
def test_what_needs_rows_is_refused_by_name(without_rows, call, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotSupportedError, match=f"^{named.replace('(', '.').replace(')', '.')}"):
        call(without_rows)


def test_what_needs_only_the_blocks_still_works(without_rows) -> None:  # type: ignore[no-untyped-def]
    full = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    assert without_rows.anova(type=1).equals(full.anova(type=1))
    assert without_rows.coef_test("satterthwaite").equals(full.coef_test("satterthwaite"))
    assert without_rows.confint("wald").equals(full.confint("wald"))
    assert without_rows.refit().objective == full.objective
