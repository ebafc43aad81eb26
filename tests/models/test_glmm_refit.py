"""``refit`` of a GLMM: a new model (lme4's ``refit``), the original left as it was."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp() -> mm.GeneralizedLinearMixedModel:
    return mm.glmer(CBPP, mm.datasets.load("cbpp"), family="binomial")


def test_refit_of_the_same_response_is_the_same_fit(cbpp: mm.GeneralizedLinearMixedModel) -> None:
    again = cbpp.refit()
    assert again is not cbpp
    assert again.objective == pytest.approx(cbpp.objective, rel=1e-10)
    np.testing.assert_allclose(again.params, cbpp.params, rtol=1e-5, atol=1e-7)


def test_refit_to_a_simulated_response_equals_a_fresh_fit(
    cbpp: mm.GeneralizedLinearMixedModel,
) -> None:
    before = cbpp.params.copy(), cbpp.objective
    y = cbpp.simulate(1, seed=3)[:, 0]  # successes of each cbind row
    frame = mm.datasets.load("cbpp").assign(incidence=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        refitted = cbpp.refit(y)
        fresh = mm.glmer(CBPP, frame, family="binomial")
    assert refitted.objective == pytest.approx(fresh.objective, rel=1e-8)
    np.testing.assert_allclose(refitted.fixef, fresh.fixef, rtol=1e-4, atol=1e-6)
    assert np.array_equal(cbpp.params, before[0]) and cbpp.objective == before[1]


def test_a_bad_response_is_refused(cbpp: mm.GeneralizedLinearMixedModel) -> None:
    with pytest.raises(mm.DataError):
        cbpp.refit(np.full(cbpp.nobs, 1e6))  # more successes than trials
    with pytest.raises(mm.DataError):
        cbpp.refit(np.ones(3))
    poisson = mm.glmer(
        "TICKS ~ YEAR + (1 | BROOD)", mm.datasets.load("grouseticks"), family="poisson"
    )
    with pytest.raises(mm.DataError, match="negative"):
        poisson.refit(-np.ones(poisson.nobs))
