"""``start=`` for lmer: θ checked (length, finite, bounds) and used as the optimizer's start."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.mark.parametrize("start", [[1.0, 0.0, 1.0], [0.5, 0.1, 0.0], {"theta": (2, 0, 0.3)}])
def test_start_is_used_and_reaches_the_optimum(sleep: pd.DataFrame, start: Any) -> None:
    reference = mm.lmer(FORMULA, sleep)
    m = mm.lmer(FORMULA, sleep, start=start)
    theta = start["theta"] if isinstance(start, dict) else start
    np.testing.assert_array_equal(m.optsum.initial, np.asarray(theta, dtype=float))
    assert m.objective == pytest.approx(reference.objective, abs=1e-7)
    np.testing.assert_allclose(m.theta, reference.theta, atol=1e-4)


def test_start_at_the_optimum_and_for_crossed_terms() -> None:
    penicillin = mm.datasets.load("Penicillin")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    reference = mm.lmer(formula, penicillin)
    m = mm.LinearMixedModel(formula, penicillin).fit(start=reference.theta)
    assert m.objective == pytest.approx(reference.objective, abs=1e-8)
    assert m.optsum.feval < reference.optsum.feval


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ([1.0, 0.0], "must have 3 values of θ \\(3 for \\(Days \\| Subject\\)\\), not 2"),
        ([[1.0, 0.0, 1.0]], "must have 3 values"),
        ([1.0, 0.0, 1.0, 1.0], "not 4"),
        ([np.nan, 0.0, 1.0], "non-finite"),
        ([1.0, np.inf, 1.0], "non-finite"),
        ([-1.0, 0.0, 1.0], "below the lower bounds.*θ\\[0\\] = -1"),
        ([1.0, -5.0, -0.1], "θ\\[2\\] = -0.1"),
        ("abc", "must be numbers"),
        ([True, False, True], "must be numbers"),
        ([1 + 0j, 0, 1], "must be numbers"),
        ({"theta": [1, 0, 1], "fixef": [250, 10]}, "only 'theta'.*'fixef'"),
        ({"beta": [1]}, "only 'theta'"),
    ],
)
def test_bad_start_gets_our_error(sleep: pd.DataFrame, start: Any, message: str) -> None:
    with pytest.raises(ModelSpecificationError, match=message):
        mm.lmer(FORMULA, sleep, start=start)


def test_a_single_theta_may_be_a_number(sleep: pd.DataFrame) -> None:
    formula = "Reaction ~ Days + (1 | Subject)"
    m = mm.lmer(formula, sleep, start=0.5)
    np.testing.assert_array_equal(m.optsum.initial, [0.5])
    assert m.objective == pytest.approx(mm.lmer(formula, sleep).objective, abs=1e-7)
