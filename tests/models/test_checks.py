"""Models with as many fixed effects as observations, or more (issue 14 §3)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


def _wide(n: int, p: int) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"y": rng.normal(size=n), "g": np.repeat(["a", "b", "c"], n // 3)})
    for j in range(p):
        data[f"x{j}"] = rng.normal(size=n)
    return "y ~ " + " + ".join(f"x{j}" for j in range(p)) + " + (1|g)", data


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("p", [11, 12, 14])  # 12, 13 and 15 columns for 12 rows
def test_as_many_fixed_effects_as_rows_is_refused_with_the_counts(reml: bool, p: int) -> None:
    formula, data = _wide(12, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.RankDeficiencyWarning)
        with pytest.raises(mm.ModelSpecificationError, match=r"12 estimable fixed effects.*12 obs"):
            mm.lmer(formula, data, reml=reml)


def test_one_fixed_effect_fewer_than_rows_still_fits() -> None:
    formula, data = _wide(12, 10)  # p = 11, n − p = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.lmer(formula, data)
    assert np.isfinite(model.objective) and model.n_fixed == 11


def test_factor_of_a_continuous_column_is_refused_not_a_foreign_error() -> None:
    rng = np.random.default_rng(5)
    data = pd.DataFrame(
        {"y": rng.normal(size=300), "x": rng.normal(size=300), "g": np.repeat(np.arange(30), 10)}
    )
    data["g"] = data["g"].astype(str)
    with pytest.raises(mm.ModelSpecificationError, match=r"300 estimable fixed effects.*C\(\)"):
        mm.lmer("y ~ C(x) + (1|g)", data)
