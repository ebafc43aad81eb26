"""Reading Parquet row groups: dictionary-encoded text as pandas categoricals, unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pq = pytest.importorskip("pyarrow.parquet")

from mixedmodels.chunked import files, sources  # noqa: E402


def written(tmp_path: Path, levels: int, n: int = 3000) -> Path:
    rng = np.random.default_rng(levels)
    labels = np.array([f"level {i}" for i in rng.permutation(levels)], dtype=object)
    g = labels[rng.integers(0, levels, n)]
    g[::17] = None  # missing values
    h = labels[rng.integers(0, min(levels, 5), n)]
    frame = pd.DataFrame({"y": rng.normal(size=n), "g": g, "h": h})
    path = tmp_path / "part.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize(("levels", "codes"), [(3, "int8"), (300, "int16"), (40_000, "int32")])
def test_dictionary_columns_read_as_the_checked_conversion(
    tmp_path: Path, levels: int, codes: str
) -> None:
    path = written(tmp_path, levels, n=200_000 if levels > 1000 else 3000)
    fast = files.read_group(path, 0, ["y", "g", "h"], ["g", "h"])
    table = pq.ParquetFile(path, read_dictionary=["g", "h"]).read_row_group(0)
    checked = table.to_pandas()
    assert list(fast.columns) == ["y", "g", "h"]
    for name in ("g", "h"):
        assert isinstance(fast[name].dtype, pd.CategoricalDtype)
        pd.testing.assert_series_equal(
            fast[name].astype(object), checked[name].astype(object), check_names=False
        )
        assert fast[name].isna().sum() == checked[name].isna().sum()
    assert fast["g"].isna().sum() == len(range(0, len(fast), 17))
    assert fast["g"].cat.codes.dtype == codes
    pd.testing.assert_series_equal(fast["y"], checked["y"])


def test_without_pandas_internals_the_checked_conversion_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = written(tmp_path, 30)
    monkeypatch.delattr(pd.CategoricalDtype, "_from_fastpath")
    frame = files.read_group(path, 0, ["g", "y"], ["g"])
    expected = pq.read_table(path).to_pandas()["g"]
    pd.testing.assert_series_equal(frame["g"].astype(object), expected.astype(object))


def test_only_dictionary_columns(tmp_path: Path) -> None:
    path = written(tmp_path, 30)
    frame = files.read_group(path, 0, ["g"], ["g"])
    assert len(frame) == 3000 and list(frame.columns) == ["g"]


def test_first_rows_of_the_first_file(tmp_path: Path) -> None:
    path = written(tmp_path, 30)
    head = files.ParquetFiles.survey([str(path)]).head(["y", "g"], ["g"], 100).compute()
    expected = pq.read_table(path).to_pandas().head(100)
    assert list(head.columns) == ["y", "g"] and len(head) == 100
    pd.testing.assert_series_equal(head["y"], expected["y"])
    pd.testing.assert_series_equal(head["g"].astype(object), expected["g"].astype(object))
    assert sources.parquet_files(pd.DataFrame()) is None


def test_no_complete_row_among_the_first_rows(tmp_path: Path) -> None:
    import mixedmodels as mm
    from mixedmodels.chunked import reading

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "g": [f"g{i}" for i in rng.integers(0, 20, 4000)],
            "x": rng.normal(size=4000),
        }
    )
    frame["y"] = frame["x"] + rng.normal(size=4000)
    frame.loc[: reading.HEAD_ROWS + 10, "x"] = np.nan  # the first rows read are incomplete
    frame.to_parquet(tmp_path / "part.parquet")
    chunked = mm.lmer("y ~ x + (1|g)", str(tmp_path / "part.parquet"))
    memory = mm.lmer("y ~ x + (1|g)", frame)
    assert chunked.nobs == memory.nobs
    assert chunked.objective == pytest.approx(memory.objective, rel=1e-9)
