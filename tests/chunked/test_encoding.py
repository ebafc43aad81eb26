"""The chunked path evaluates formula pieces through the same checked evaluator."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 300
    g = rng.integers(0, 15, n)
    data = pd.DataFrame({"x.1": rng.uniform(1, 3, n), "g β": [f"s{i}" for i in g]})
    data["y"] = data["x.1"] ** 2 + rng.normal(size=15)[g] + rng.normal(size=n)
    return data


def test_chunked_fits_refuse_code_and_read_r_idioms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    memory = frame()
    data = dd.from_pandas(memory, npartitions=3)
    for formula in [
        "y ~ I(__import__('os').system('touch MARKER')) + (1 | `g β`)",
        "y ~ x.1 + {open('MARKER', 'w')} + (1 | `g β`)",
        "y ~ x.1 + offset(np.save('MARKER', x.1)) + (1 | `g β`)",
    ]:
        with pytest.raises(mm.FormulaError):
            mm.lmer(formula, data)
    assert not (tmp_path / "MARKER").exists()
    formula = "y ~ x.1 + I(x.1^2) + cube(x.1) + (1 | Q('g β'))"
    functions = {"cube": lambda v: v**3}
    chunked = mm.lmer(formula, data, functions=functions)
    assert isinstance(chunked, mm.ChunkedLinearMixedModel)
    reference = mm.lmer(formula, memory, functions=functions)
    assert chunked.objective == pytest.approx(reference.objective, rel=1e-9)
    assert list(chunked.fixef.index) == ["(Intercept)", "x.1", "I(`x.1` ** 2)", "cube(`x.1`)"]
