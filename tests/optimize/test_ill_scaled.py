"""Ill-scaled linear mixed models reach lme4's optimum (issue 13, item 5).

Four groups and a predictor from 1 to 10,000: the REML and ML surfaces are flat, BOBYQA on the
raw θ used to stop up to 2.5% above the optimum. The references (``data/ill_scaled.json``,
made by ``data/ill_scaled.R`` from the data in ``data/ill_scaled.csv``) are the best of several
lme4 fits of each model, refined with tight tolerances.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

DATA = Path(__file__).parent / "data"
FITS: list[dict[str, Any]] = json.loads((DATA / "ill_scaled.json").read_text())["fits"]
FRAMES = pd.read_csv(DATA / "ill_scaled.csv")


def _fit(case: int, formula: str, reml: bool) -> mm.LinearMixedModel:
    data = FRAMES[FRAMES["case"] == case].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, data, reml=reml)


def _sd_tolerances(model: mm.LinearMixedModel, table: pd.DataFrame) -> np.ndarray:
    """Absolute tolerance per VarCorr row: 1e-4 of σ in the units of the column, 1e-4 for ρ."""
    x = model.fixed.X[:, list(model.fixed.names).index("x")]
    rms = {"(Intercept)": 1.0, "x": float(np.sqrt(np.mean(x**2)))}
    atol = []
    for term1, term2 in zip(table["term1"], table["term2"], strict=True):
        if isinstance(term2, str):
            atol.append(1e-4)  # a correlation
        elif isinstance(term1, str):
            atol.append(1e-4 * model.sigma / rms[term1])
        else:
            atol.append(0.0)  # the residual SD: relative only
    return np.array(atol)


def _undetermined(table: pd.DataFrame, expected: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Mask of the correlations between effects whose reference SD is within tolerance of 0.

    At such an optimum (case 104 by ML: every random-effects variance is 0) the objective does
    not depend on the correlation, and lme4's value is the direction its θ happened to
    approach 0 from: any correlation is as good, and none (NaN, for an SD of exactly 0) too.
    """
    zero = {
        (group, term)
        for group, term, other, sd, atol in zip(
            table["group"], table["term1"], table["term2"], expected, allowed, strict=True
        )
        if isinstance(term, str) and not isinstance(other, str) and abs(sd) <= atol
    }
    return np.array(
        [
            isinstance(other, str) and ((group, term) in zero or (group, other) in zero)
            for group, term, other in zip(
                table["group"], table["term1"], table["term2"], strict=True
            )
        ]
    )


@pytest.mark.parametrize(
    "ref", FITS, ids=[f"{r['case']}-{r['formula']}-{'REML' if r['reml'] else 'ML'}" for r in FITS]
)
def test_ill_scaled_fit_reaches_lme4s_optimum(ref: dict[str, Any]) -> None:
    model = _fit(ref["case"], ref["formula"], ref["reml"])
    assert model.objective <= ref["objective"] + 1e-8 * abs(ref["objective"])
    np.testing.assert_allclose(model.beta, ref["beta"], rtol=1e-4)
    assert model.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    table = model.varcorr
    expected = np.array(ref["sdcor"], dtype=float)
    got = table["sd_cor"].to_numpy(dtype=float)
    allowed = 1e-4 * np.abs(expected) + _sd_tolerances(model, table)
    undetermined = _undetermined(table, expected, allowed)
    both_nan = np.isnan(got) & (np.isnan(expected) | undetermined)
    error = np.where(both_nan, 0.0, np.abs(got - expected))
    allowed = np.where(undetermined, 2.0, allowed)  # any ρ in [-1, 1], or none (an SD of 0)
    assert np.all(error <= np.where(np.isnan(allowed), 0.0, allowed)), (got, expected)


def test_ill_scaled_fit_is_below_a_fine_grid_of_theta() -> None:
    """``(1|g) + (0+x|g)``: no point of a fine grid around the optimum is lower."""
    model = _fit(103, "y ~ x + (1|g) + (0+x|g)", True)
    t1, t2 = model.theta
    grid1 = t1 * np.linspace(0.9, 1.1, 41)
    grid2 = t2 * np.linspace(0.9, 1.1, 41)
    best = min(model.objective_at(np.array([a, b])) for a in grid1 for b in grid2)
    model.objective_at(model.theta)
    assert model.objective <= best + 1e-10 * abs(best)


def test_ill_scaled_scalar_fit_is_below_a_fine_grid_of_theta() -> None:
    """``(1|g)``: the optimum is below every point of a grid of 2,001 θ over [0, 3θ̂]."""
    model = _fit(102, "y ~ x + (1|g)", True)
    best = min(model.objective_at(np.array([t])) for t in np.linspace(0, 3, 2001) * model.theta[0])
    model.objective_at(model.theta)
    assert model.objective <= best + 1e-12 * abs(best)
