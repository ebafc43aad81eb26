"""``start=`` for lmer: θ checked (length, finite, bounds) and used as the optimizer's start."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.objective.lmm import LmmObjective
from mixedmodels.optimize.start import initial_step

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


def test_start_at_the_optimum_and_for_crossed_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started at θ̂, BOBYQA stays within its first trust region and is cheaper than from afar.

    The count of evaluations from θ̂ itself (2p + 1 interpolation points, then the shrinking of
    the trust region, 17 to 24 under different BLAS kernels) is not compared with the default
    fit's: the moment start of this balanced design is θ̂ to 1e-8, and the two counts differ by
    the rounding of the kernel. lme4's start (1, 1) is far, and takes twice as many.
    """
    penicillin = mm.datasets.load("Penicillin")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    reference = mm.lmer(formula, penicillin)
    m = mm.LinearMixedModel(formula, penicillin)
    seen: list[np.ndarray] = []
    evaluate = LmmObjective.__call__

    def recorded(self: LmmObjective, theta: np.ndarray) -> float:
        seen.append(np.array(theta))
        return evaluate(self, theta)

    monkeypatch.setattr(LmmObjective, "__call__", recorded)
    m.fit(start=reference.theta)
    monkeypatch.undo()
    np.testing.assert_array_equal(m.optsum.initial, reference.theta)
    assert m.objective == pytest.approx(reference.objective, abs=1e-8)
    radius = initial_step(reference.theta, m.terms)
    assert len(seen) >= m.optsum.feval >= 2 * len(radius) + 1  # (seen: and the check's)
    assert np.all(np.abs(np.array(seen) - reference.theta) <= radius * (1 + 1e-12))
    far = mm.LinearMixedModel(formula, penicillin).fit(start=[1.0, 1.0])
    assert far.objective == pytest.approx(reference.objective, abs=1e-8)
    assert m.optsum.feval < far.optsum.feval


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
