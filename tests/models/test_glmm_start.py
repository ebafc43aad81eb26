"""glmer's ``start=`` (lme4's ``start = list(theta =, fixef =)``), checked."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError

FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def fitted() -> mm.GeneralizedLinearMixedModel:
    return mm.glmer(FORMULA, mm.datasets.load("cbpp"), family="binomial")


@pytest.mark.parametrize("kind", ["theta", "both", "fixef", "array"])
def test_a_start_at_the_optimum_gives_the_same_fit(
    fitted: mm.GeneralizedLinearMixedModel, kind: str
) -> None:
    theta, beta = fitted.theta, fitted.beta
    start = {
        "theta": {"theta": theta * 1.3},
        "both": {"theta": theta, "fixef": beta},
        "fixef": {"fixef": beta},
        "array": theta * 0.7,
    }[kind]
    again = mm.glmer(FORMULA, mm.datasets.load("cbpp"), family="binomial", start=start)
    assert again.objective == pytest.approx(fitted.objective, rel=1e-8)
    np.testing.assert_allclose(again.beta, beta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(again.theta, theta, rtol=1e-4)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ({"theta": [1.0, 2.0]}, "1 values of θ"),
        ({"theta": [-1.0]}, "below the lower bounds"),
        ({"fixef": [0.0, 1.0]}, "4 finite numbers"),
        ({"fixef": [0.0, np.nan, 1.0, 1.0]}, "4 finite numbers"),
        ({"fixef": "abc"}, "must be numbers"),
        ({"beta": [0.0]}, "'theta' and/or 'fixef'"),
        ({}, "empty mapping"),
        ("x", "must be numbers"),
    ],
)
def test_a_bad_start_is_refused(start: object, message: str) -> None:
    with pytest.raises(ModelSpecificationError, match=message):
        mm.glmer(FORMULA, mm.datasets.load("cbpp"), family="binomial", start=start)
