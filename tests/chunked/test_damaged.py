"""Damaged, inconsistent and changing Parquet data sets (issue 14 §2): our error, naming the file.

Every file's footer is read before the pass; the columns a model uses must be in every file
with one kind of type; files that change during the fit (or before ``fitted()``) are refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError

dd = pytest.importorskip("dask.dataframe")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FORMULA = "y ~ x + (1 | g)"


def simulated(n: int = 400, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 20, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=20)[g] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g], "k": g % 4})


def written(frame: pd.DataFrame, directory: Path, n: int = 4) -> list[Path]:
    """The frame as ``n`` Parquet files."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), n)):
        path = directory / f"part-{i}.parquet"
        frame.iloc[rows].reset_index(drop=True).to_parquet(path)
        paths.append(path)
    return paths


# ---- 1. one schema across all files -----------------------------------------------------------
def test_a_column_missing_from_some_files_is_named_with_the_files(tmp_path: Path) -> None:
    paths = written(simulated(), tmp_path)
    pd.read_parquet(paths[2]).drop(columns="x").to_parquet(paths[2])
    with pytest.raises(DataError, match=r"'x' is missing from 1 of the 4.*part-2\.parquet"):
        mm.lmer(FORMULA, str(tmp_path))
    mm.lmer("y ~ 1 + (1 | g)", str(tmp_path))  # a column the model does not use: no matter


@pytest.mark.parametrize("odd", [0, 2])  # the first file (whose schema Dask would take) or not
def test_numbers_stored_as_text_in_one_file_are_refused(tmp_path: Path, odd: int) -> None:
    paths = written(simulated(), tmp_path)
    frame = pd.read_parquet(paths[odd])
    frame.assign(x=frame["x"].astype(str)).to_parquet(paths[odd])
    with pytest.raises(DataError, match=rf"'x' has different types.*part-{odd}\.parquet"):
        mm.lmer(FORMULA, str(tmp_path))


def test_an_integer_column_stored_as_float_in_some_files_is_read_as_float(tmp_path: Path) -> None:
    frame = simulated().assign(z=lambda f: np.arange(len(f)) % 7)
    paths = written(frame, tmp_path)
    odd = pd.read_parquet(paths[1])
    odd.assign(z=odd["z"].astype("float64")).to_parquet(paths[1])
    formula = "y ~ x + z + (1 | g)"
    chunked = mm.lmer(formula, str(tmp_path), check_convergence=True)
    memory = mm.lmer(formula, frame.astype({"z": "float64"}), check_convergence=True)
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-8)
    assert chunked.objective == pytest.approx(memory.objective, rel=1e-10)


def test_a_grouping_factor_of_text_and_numbers_is_refused(tmp_path: Path) -> None:
    paths = written(simulated(), tmp_path)
    frame = pd.read_parquet(paths[3])
    frame.assign(g=frame["k"]).to_parquet(paths[3])
    with pytest.raises(DataError, match=r"'g' has different types.*int64 in .*part-3"):
        mm.lmer(FORMULA, [str(p) for p in paths])


# ---- 2. damaged files ------------------------------------------------------------------------
def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "footer":  # the footer's bytes overwritten, the framing kept
        length = int.from_bytes(data[-8:-4], "little")
        start = len(data) - 8 - length
        path.write_bytes(data[:start] + bytes(255 - b for b in data[start:-8]) + data[-8:])
    elif how == "csv":
        path.write_text("y,x,g\n1.0,2.0,a\n")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("empty", r"is empty \(0 bytes\)"),
        ("truncated", "truncated"),
        ("footer", "footer is damaged"),
        ("csv", "not a Parquet file.*text"),
    ],
)
def test_a_damaged_file_is_named_with_what_is_wrong(tmp_path: Path, how: str, message: str) -> None:
    paths = written(simulated(), tmp_path)
    damage(paths[1], how)
    with pytest.raises(DataError, match=rf"part-1\.parquet.*{message}|{message}.*part-1\.parquet"):
        mm.lmer(FORMULA, str(tmp_path))


def test_damage_inside_a_page_is_named_when_the_pass_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "part.parquet"
    simulated().to_parquet(path, compression="snappy", write_page_checksum=True)
    data = bytearray(path.read_bytes())
    data[200:260] = bytes(60)  # inside the first column's data pages
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"part\.parquet"):
        mm.lmer(FORMULA, str(path))


def test_every_file_empty_is_refused(tmp_path: Path) -> None:
    written(simulated().iloc[:0], tmp_path, n=2)
    with pytest.raises(DataError, match=r"have no rows: .*part-0\.parquet"):
        mm.lmer(FORMULA, str(tmp_path))


def test_some_empty_files_are_harmless(tmp_path: Path) -> None:
    frame = simulated()
    written(frame, tmp_path / "d", n=3)
    frame.iloc[:0].to_parquet(tmp_path / "d" / "part-9.parquet")
    chunked = mm.lmer(FORMULA, str(tmp_path / "d"))
    assert chunked.objective == pytest.approx(mm.lmer(FORMULA, frame).objective, rel=1e-10)


def test_a_csv_path_is_read_into_memory(tmp_path: Path) -> None:
    frame = simulated()
    frame.to_csv(tmp_path / "schools.csv", index=False)
    model = mm.lmer(FORMULA, str(tmp_path / "schools.csv"))
    assert not isinstance(model, mm.ChunkedLinearMixedModel)
    assert model.objective == pytest.approx(mm.lmer(FORMULA, frame).objective, rel=1e-12)
    with pytest.raises(DataError, match="no CSV file found at"):
        mm.lmer(FORMULA, str(tmp_path / "missing.csv"))


# ---- 4. the data must not change under a fit -------------------------------------------------
class RewriteAfterFirstRead:
    """A Dask callback that changes a file as soon as the first task of the pass finished."""

    def __init__(self, path: Path, how: str) -> None:
        self.path, self.how, self.done = path, how, False

    def __call__(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if self.done or not isinstance(result, pd.DataFrame) or len(result) < 10:
            return
        self.done = True
        if self.how == "delete":
            self.path.unlink()
            return
        frame = pd.read_parquet(self.path)
        frame.assign(y=frame["y"] + 1.0).to_parquet(self.path)
        stat = os.stat(self.path)  # the same modification time: only the footer tells
        os.utime(self.path, ns=(stat.st_atime_ns, self.mtime_ns))

    def watch(self) -> Any:
        from dask.callbacks import Callback

        self.mtime_ns = os.stat(self.path).st_mtime_ns
        return Callback(posttask=self)


@pytest.mark.parametrize("how", ["rewrite", "delete"])
@pytest.mark.parametrize("which", [0, 3])
def test_a_file_changed_during_the_pass_is_named(tmp_path: Path, how: str, which: int) -> None:
    paths = written(simulated(), tmp_path)
    hook = RewriteAfterFirstRead(paths[which], how)
    with (
        hook.watch(),
        pytest.raises(DataError, match=rf"part-{which}\.parquet.*(rewritten|deleted)"),
    ):
        mm.lmer(FORMULA, str(tmp_path))
    assert hook.done


def test_a_file_changed_after_the_fit_is_refused_by_fitted_and_residuals(tmp_path: Path) -> None:
    paths = written(simulated(), tmp_path)
    model = mm.lmer(FORMULA, str(tmp_path))
    fitted = model.fitted()  # lazy: checked again when computed
    frame = pd.read_parquet(paths[2])
    frame.assign(y=frame["y"] * 2).iloc[:-1].to_parquet(paths[2])
    for use in (model.fitted, model.residuals):
        with pytest.raises(DataError, match=r"changed since the fit.*part-2\.parquet"):
            use()
    with pytest.raises(DataError, match=r"part-2\.parquet' was rewritten since the fit began"):
        fitted.compute()


def test_an_unchanged_data_set_passes_every_check(tmp_path: Path) -> None:
    frame = simulated()
    written(frame, tmp_path)
    model = mm.lmer(FORMULA, str(tmp_path))
    np.testing.assert_allclose(
        model.fitted().compute().to_numpy(), mm.lmer(FORMULA, frame).fitted(), rtol=1e-8
    )


def test_a_dask_partition_of_numbers_as_text_is_refused() -> None:
    frame = simulated()
    parts = [frame.iloc[:200], frame.iloc[200:].assign(x=lambda f: f["x"].astype(str))]
    data = dd.from_map(lambda i: parts[i], range(2), meta=frame.iloc[:0])
    with pytest.raises(DataError, match=r"'x' is numeric in the data's schema but of type"):
        mm.lmer(FORMULA, data)


def test_a_csv_path_is_read_into_memory_by_glmer(tmp_path: Path) -> None:
    cbpp = mm.datasets.load("cbpp")
    cbpp.to_csv(tmp_path / "cbpp.csv", index=False)
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    model = mm.glmer(formula, str(tmp_path / "cbpp.csv"), family="binomial")
    read = pd.read_csv(tmp_path / "cbpp.csv")  # the types a CSV gives (period as numbers)
    assert model.objective == pytest.approx(mm.glmer(formula, read).objective, rel=1e-12)
