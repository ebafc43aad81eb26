"""The crossed-data generator: reproducible, independent of chunks and files, and correct."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.datasets import simulate as sim


def test_reproducible_and_shaped() -> None:
    a = mm.datasets.simulate_crossed(5000, (200, 30), seed=7)
    b = mm.datasets.simulate_crossed(5000, (200, 30), seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["y", "x1", "x2", "x3", "g1", "g2"]
    assert a["g1"].nunique() <= 200 and a["g2"].nunique() == 30


def test_parquet_files_hold_the_same_rows(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sim, "CHUNK_ROWS", 700)  # several chunks, split across files
    frame = mm.datasets.simulate_crossed(3000, (100, 20), seed=3)
    paths = mm.datasets.simulate_crossed(3000, (100, 20), seed=3, path=tmp_path, n_files=7)
    assert len(paths) == 7 and all(p.exists() for p in paths)
    back = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    pd.testing.assert_frame_equal(back, frame)
    sizes = [len(pd.read_parquet(p)) for p in paths]
    assert max(sizes) - min(sizes) <= 1


def test_the_model_fitted_to_it_recovers_the_parameters() -> None:
    frame = mm.datasets.simulate_crossed(20000, (400, 50), seed=11, sd=(1.0, 0.5, 1.0))
    model = mm.lmer("y ~ x1 + x2 + x3 + (1 | g1) + (1 | g2)", frame)
    np.testing.assert_allclose(model.fixef[["x1", "x2", "x3"]], [0.5, -0.3, 0.2], atol=0.03)
    sds = model.varcorr.set_index("group")["sd_cor"]
    assert sds["g1"] == pytest.approx(1.0, rel=0.15)
    assert sds["g2"] == pytest.approx(0.5, rel=0.3)
    assert sds["Residual"] == pytest.approx(1.0, rel=0.03)


def test_bad_arguments() -> None:
    with pytest.raises(mm.DataError, match="n_rows"):
        mm.datasets.simulate_crossed(0)
    with pytest.raises(mm.DataError, match="n_files"):
        mm.datasets.simulate_crossed(10, (5, 3), n_files=20, path="unused")
