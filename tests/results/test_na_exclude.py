"""``na_action="exclude"`` (R's ``na.exclude``): results per row of the caller's data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.results.residuals import RESIDUAL_TYPES

FORMULA = "Reaction ~ Days + (Days | Subject)"
DROPPED = [0, 5, 77]


@pytest.fixture()
def sleep() -> pd.DataFrame:
    frame = mm.datasets.load("sleepstudy")
    frame.loc[[0, 5], "Reaction"] = np.nan
    frame.loc[77, "Days"] = np.nan
    return frame


def _padded(values: np.ndarray, n: int, dropped: list[int]) -> np.ndarray:
    out = np.full(n, np.nan)
    out[np.setdiff1d(np.arange(n), dropped)] = values
    return out


def test_lmm_results_have_one_value_per_row(sleep: pd.DataFrame) -> None:
    omitted = mm.lmer(FORMULA, sleep)
    excluded = mm.lmer(FORMULA, sleep, na_action="exclude")
    assert excluded.nobs == omitted.nobs == 177
    assert excluded.objective == omitted.objective
    n = len(sleep)
    np.testing.assert_array_equal(excluded.fitted(), _padded(omitted.fitted(), n, DROPPED))
    np.testing.assert_array_equal(excluded.predict(), _padded(omitted.predict(), n, DROPPED))
    for kind in RESIDUAL_TYPES:
        for scaled in (False, True):
            np.testing.assert_array_equal(
                excluded.residuals(kind, scaled=scaled),
                _padded(omitted.residuals(kind, scaled=scaled), n, DROPPED),
            )
    assert excluded.predict(sleep.head(4)).shape == (4,)  # new data: as they are
    assert "3 observations deleted due to missingness" in excluded.summary()
    excluded.hat_values()  # internal results keep one value per observation used
    assert excluded.prediction_intervals().shape[0] == 177


def test_exclude_pads_within_the_subset(sleep: pd.DataFrame) -> None:
    m = mm.lmer(FORMULA, sleep, na_action="exclude", subset="Days != 9")
    selected = sleep["Days"] != 9
    assert m.fitted().shape == (int(selected.sum()),)  # R: rows outside a subset are not kept
    positions = np.flatnonzero(selected.to_numpy())
    dropped_in_subset = [int(np.flatnonzero(positions == r)[0]) for r in DROPPED]
    assert np.flatnonzero(np.isnan(m.fitted())).tolist() == dropped_in_subset


def test_glmm_results_have_one_value_per_row() -> None:
    cbpp = mm.datasets.load("cbpp")
    cbpp.loc[[3, 10], "size"] = np.nan
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    omitted = mm.glmer(formula, cbpp)
    excluded = mm.glmer(formula, cbpp, na_action="exclude")
    n, dropped = len(cbpp), [3, 10]
    np.testing.assert_array_equal(excluded.fitted(), _padded(omitted.fitted(), n, dropped))
    for kind in ("link", "response"):
        np.testing.assert_array_equal(
            excluded.predict(type=kind), _padded(omitted.predict(type=kind), n, dropped)
        )
    for kind in ("deviance", "pearson", "response", "working"):
        np.testing.assert_array_equal(
            excluded.residuals(kind), _padded(omitted.residuals(kind), n, dropped)
        )
    assert "Scaled residuals" in excluded.summary()


def test_omit_and_fail_are_unchanged_and_others_refused(sleep: pd.DataFrame) -> None:
    assert mm.lmer(FORMULA, sleep).fitted().shape == (177,)
    with pytest.raises(mm.errors.DataError, match="3 rows have missing values"):
        mm.lmer(FORMULA, sleep, na_action="fail")
    for bad in ("drop", "na.exclude", None, 1):
        with pytest.raises(mm.errors.DataError, match="'omit', 'exclude', 'fail'"):
            mm.lmer(FORMULA, sleep, na_action=bad)
        with pytest.raises(mm.errors.DataError, match="'omit', 'exclude', 'fail'"):
            mm.glmer("I(Reaction > 300) ~ Days + (1 | Subject)", sleep, na_action=bad)
