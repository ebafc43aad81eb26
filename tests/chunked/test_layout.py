"""Hive-partitioned data sets and Dask DataFrames with empty partitions fit like any other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.chunked.layout import discover
from mixedmodels.errors import DataError

dd = pytest.importorskip("dask.dataframe")
ds = pytest.importorskip("pyarrow.dataset")


def simulated(n: int = 500, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g, s = rng.integers(0, 12, n), rng.integers(0, 9, n)
    x = rng.normal(size=n)
    y = 2 + x + rng.normal(size=12)[g] + 0.5 * rng.normal(size=9)[s] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"school {i}" for i in g], "s": s + 1})


def hive(frame: pd.DataFrame, root: Path, keys: list[str]) -> Path:
    """``root/key=value/.../part.parquet`` files, the keys not stored in the files."""
    for values, part in frame.groupby(keys):
        directory = root.joinpath(*(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
        directory.mkdir(parents=True)
        part.drop(columns=keys).to_parquet(directory / "part.parquet")
    (root / "_SUCCESS").write_text("")  # side files are skipped
    return root


def assert_equal_fits(chunked: mm.LinearMixedModel, memory: mm.LinearMixedModel) -> None:
    assert isinstance(chunked, mm.ChunkedLinearMixedModel)
    assert chunked.nobs == memory.nobs
    np.testing.assert_allclose(chunked.theta, memory.theta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-8)
    assert chunked.sigma == pytest.approx(memory.sigma, rel=1e-8)
    assert chunked.objective == pytest.approx(memory.objective, rel=1e-10)
    for group, modes in memory.ranef.items():
        assert list(chunked.ranef[group].index) == list(modes.index)


@pytest.mark.parametrize("keys", [["g"], ["s"], ["g", "s"]])
def test_hive_partitions_are_columns(tmp_path: Path, keys: list[str]) -> None:
    frame = simulated()
    root = hive(frame, tmp_path / "data", keys)
    formula = "y ~ x + (1 | g) + (1 | s)"
    memory = mm.lmer(formula, frame)
    assert_equal_fits(mm.lmer(formula, str(root)), memory)
    dataset = ds.dataset(str(root), format="parquet", partitioning="hive")
    assert_equal_fits(mm.lmer(formula, dataset), memory)


def test_hive_keys_are_typed_as_pyarrow_infers_them(tmp_path: Path) -> None:
    root = hive(simulated(), tmp_path / "data", ["s", "g"])
    paths, keys = discover(str(root))
    assert len(paths) == len(keys) > 9
    assert all(isinstance(k["s"], int) and isinstance(k["g"], str) for k in keys)
    assert {k["g"] for k in keys} >= {"school 0", "school 11"}


def test_partitions_with_different_keys_are_refused(tmp_path: Path) -> None:
    frame = simulated()
    hive(frame.iloc[:200], tmp_path / "data", ["g"])
    hive(frame.iloc[200:], tmp_path / "data" / "more", ["s"])
    with pytest.raises(DataError, match="do not all have the same keys"):
        mm.lmer("y ~ x + (1 | g)", str(tmp_path / "data"))


def test_dask_frames_with_empty_partitions(tmp_path: Path) -> None:
    frame = simulated()
    formula = "y ~ x + (1 | g) + (1 | s)"
    memory = mm.lmer(formula, frame)
    parts = [frame.iloc[:0], frame.iloc[:150], frame.iloc[:0], frame.iloc[150:], frame.iloc[:0]]
    data = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts])
    assert_equal_fits(mm.lmer(formula, data), memory)
    filtered = dd.from_pandas(frame, npartitions=6)
    only = filtered[filtered["s"] <= 3]  # most partitions of some factor levels empty
    assert_equal_fits(mm.lmer(formula, only), mm.lmer(formula, frame[frame["s"] <= 3]))
    first_empty = dd.from_pandas(frame.sort_values("s"), npartitions=5, sort=False)
    nothing_first = first_empty[first_empty["s"] > 2]  # the first partition is empty
    assert_equal_fits(mm.lmer(formula, nothing_first), mm.lmer(formula, frame[frame["s"] > 2]))
