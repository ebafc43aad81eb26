"""The compiled sweep gives the NumPy path's partial blocks, or declines the chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

pytest.importorskip("dask.dataframe")
pytest.importorskip("numba")

from mixedmodels.chunked import blocks, cells, files, fused  # noqa: E402
from tests.chunked.test_model import assert_same, fit_both, write_chunks  # noqa: E402


def crossed(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "g1": rng.integers(0, 120, n),
            "g2": rng.integers(0, 15, n),
            "g3": rng.integers(0, 12, n),
            "x1": rng.normal(size=n),
            "x2": rng.uniform(size=n),
        }
    )
    effects = [rng.normal(size=120), rng.normal(size=15), 2 * rng.normal(size=12)]
    frame["y"] = 5 + frame["x1"] - frame["x2"] + rng.normal(size=n)
    for column, effect in zip(("g1", "g2", "g3"), effects, strict=True):
        frame["y"] += effect[frame[column]]
        frame[column] = "level " + frame[column].astype(str)  # text: read dictionary-encoded
    return frame


def chunk_and_encoder(formula: str, directory: Path) -> tuple[pd.DataFrame, Any]:
    """The first file's rows as the pass reads them, and the model's encoder."""
    model = mm.ChunkedLinearMixedModel(formula, str(directory), progress=False)
    plan = model.encoder.plan
    path = sorted(directory.glob("*.parquet"))[0]
    return files.read_group(path, 0, plan.read_columns, list(plan.dictionary)), model


def assert_same_blocks(a: blocks.PartialBlocks, b: blocks.PartialBlocks) -> None:
    assert a.levels.keys() == b.levels.keys()
    for key in a.levels:
        pd.testing.assert_frame_equal(a.levels[key], b.levels[key])
    for x, y in zip(a.sums.diag, b.sums.diag, strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.sums.xz, b.sums.xz, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a.sums.xx, b.sums.xx, rtol=1e-12, atol=1e-8)
    assert a.sums.pairs.keys() == b.sums.pairs.keys()
    for key, block in a.sums.pairs.items():
        other = b.sums.pairs[key]
        assert block.dtype == other.dtype and block.shape == other.shape
        np.testing.assert_array_equal(block.indptr, other.indptr)
        np.testing.assert_array_equal(block.indices, other.indices)
        np.testing.assert_array_equal(block.data, other.data)
    np.testing.assert_allclose(a.Rx, b.Rx, rtol=1e-10, atol=1e-10)
    for x, y in zip(a.Rz, b.Rz, strict=True):
        np.testing.assert_allclose(x, y)
    assert (a.nobs, a.n_dropped, a.weighted) == (b.nobs, b.n_dropped, b.weighted)
    assert a.shift == pytest.approx(b.shift, rel=1e-14)
    assert a.y_min == pytest.approx(b.y_min, rel=1e-14)  # the NumPy path restores y - shift + shift
    assert a.y_max == pytest.approx(b.y_max, rel=1e-14)
    assert a.y_sum == pytest.approx(b.y_sum, rel=1e-12)
    assert a.y_sq == pytest.approx(b.y_sq, rel=1e-12)


FORMULAS = [
    "y ~ x1 + x2 + (1|g1) + (1|g2)",
    "y ~ 0 + x1 + x2 + (1|g1) + (1|g2)",
    "y ~ x1 + (1|g1) + (1|g2) + (1|g3)",
    "y ~ 1 + (1|g2)",
    "y ~ x2 + x1 + 1 + (1|g3) + (1|g1)",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_compiled_sweep_equals_the_numpy_path(
    formula: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk, model = chunk_and_encoder(formula, write_chunks(crossed(), tmp_path, n=3))
    compiled = fused.fused_chunk_blocks(chunk, model.encoder)
    assert compiled is not None
    monkeypatch.setattr(fused, "AVAILABLE", False)
    monkeypatch.setattr(cells, "AVAILABLE", False)
    assert fused.fused_chunk_blocks(chunk, model.encoder) is None
    assert_same_blocks(compiled, blocks.chunk_blocks(chunk, model.encoder))


def test_unused_categories_are_dropped_as_by_the_numpy_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    formula = "y ~ x1 + (1|g1) + (1|g2)"
    chunk, model = chunk_and_encoder(formula, write_chunks(crossed(), tmp_path, n=3))
    for column in ("g1", "g2"):  # categories no row uses, first and last
        values = chunk[column].cat.categories.tolist()
        chunk[column] = chunk[column].cat.set_categories(["aaa", *values, "zzz"])
    compiled = fused.fused_chunk_blocks(chunk, model.encoder)
    assert compiled is not None and len(compiled.levels[("g1",)]) == chunk["g1"].nunique()
    monkeypatch.setattr(fused, "AVAILABLE", False)
    monkeypatch.setattr(cells, "AVAILABLE", False)
    assert_same_blocks(compiled, blocks.chunk_blocks(chunk, model.encoder))


@pytest.mark.parametrize(
    ("change", "formula"),
    [
        (lambda c: c.assign(x1=c["x1"].where(c.index != 5)), None),  # a missing value
        (lambda c: c.assign(y=c["y"].where(c.index != 5, np.inf)), None),  # not finite
        (lambda c: c.assign(g1=c["g1"].where(c.index != 5)), None),  # a missing level
        (lambda c: c.assign(x2=2 * c["x1"]), None),  # collinear: the QR decides
        (lambda c: c.assign(g1=c["g1"].astype(object)), None),  # Python objects
        (lambda c: c, "y ~ x1 + (x1|g1) + (1|g2)"),  # a random slope
        (lambda c: c, "y ~ x1 + (1|g1:g2)"),  # an interaction of factors
    ],
)
def test_the_sweep_declines_other_chunks(change: Any, formula: str | None, tmp_path: Path) -> None:
    formula = formula or "y ~ x1 + x2 + (1|g1) + (1|g2)"
    chunk, model = chunk_and_encoder(formula, write_chunks(crossed(), tmp_path, n=3))
    assert fused.fused_chunk_blocks(change(chunk), model.encoder) is None


def test_weights_take_the_numpy_path(tmp_path: Path) -> None:
    frame = crossed().assign(w=1.5)
    chunk, model = chunk_and_encoder_with_weights(frame, tmp_path)
    assert fused.fused_chunk_blocks(chunk, model.encoder) is None


def chunk_and_encoder_with_weights(frame: pd.DataFrame, directory: Path) -> tuple[Any, Any]:
    write_chunks(frame, directory, n=3)
    model = mm.ChunkedLinearMixedModel(
        "y ~ x1 + (1|g1)", str(directory), weights="w", progress=False
    )
    plan = model.encoder.plan
    path = sorted(directory.glob("*.parquet"))[0]
    return files.read_group(path, 0, plan.read_columns, list(plan.dictionary)), model


def test_fit_from_files_equals_memory_with_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = crossed(6000, seed=4)
    frame.loc[4500, "x1"] = np.nan  # the file with this row takes the NumPy path
    directory = write_chunks(frame, tmp_path, n=7)
    taken = []
    sweep = fused.fused_chunk_blocks

    def counted(chunk: pd.DataFrame, encoder: Any) -> Any:
        found = sweep(chunk, encoder)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(blocks, "fused_chunk_blocks", counted)
    memory, chunked = fit_both("y ~ x1 + x2 + (1|g1) + (1|g2) + (1|g3)", frame, str(directory))
    assert sorted(taken) == [False] + [True] * 6
    assert_same(memory, chunked)
    assert chunked.nobs == len(frame) - 1


def test_runs_of_sorted_keys_make_the_csr_of_counts() -> None:
    rng = np.random.default_rng(3)
    rows, cols = rng.integers(2, 7, 500), rng.integers(0, 9, 500)  # rows 0, 1, 7, 8 empty
    keys = np.sort((rows * 9 + cols).astype(np.int32))
    compiled = cells._runs(keys, 9, 9)
    plain = cells._numpy_runs(keys, 9, 9)  # the path without Numba
    dense = np.zeros((9, 9), np.int64)
    np.add.at(dense, (rows, cols), 1)
    for indptr, indices, data in (compiled, plain):
        found = np.zeros((9, 9), np.int64)
        found[np.repeat(np.arange(9), np.diff(indptr)), indices] = data
        np.testing.assert_array_equal(found, dense)
        assert np.all(np.diff(indices)[np.diff(np.repeat(np.arange(9), np.diff(indptr))) == 0] > 0)
    for a, b in zip(compiled, plain, strict=True):
        np.testing.assert_array_equal(a, b)


def test_columns_reach_the_kernels_as_one_type(tmp_path: Path) -> None:
    # Arrow may hand some columns over read-only (e.g. in dask.distributed workers): mixed with
    # writable ones the tuple of columns would not compile, so all are passed read-only
    frame = crossed().assign(x2=lambda f: (10 * f["x2"]).round().astype(np.int64))
    chunk, model = chunk_and_encoder("y ~ x1 + x2 + (1|g1)", write_chunks(frame, tmp_path, 3))
    assert chunk["x2"].dtype == np.int64  # converted to a new, writable float array
    layout = fused._layout(chunk, model.encoder)
    assert layout is not None
    assert not any(column.flags.writeable for column in layout[1])
    assert fused.fused_chunk_blocks(chunk, model.encoder) is not None


@pytest.mark.parametrize("kind", ["text", "integers", "categorical"])
def test_dask_frames_with_text_or_integer_factors(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dd = pytest.importorskip("dask.dataframe")
    frame = crossed()
    if kind == "integers":
        frame["g1"] = frame["g1"].str.slice(6).astype(np.int64)
    elif kind == "categorical":
        frame["g1"] = frame["g1"].astype("category")
    formula = "y ~ x1 + (1|g1) + (1|g2)"
    model = mm.ChunkedLinearMixedModel(formula, dd.from_pandas(frame, npartitions=3))
    chunk = frame.iloc[:1000].copy()
    compiled = fused.fused_chunk_blocks(chunk, model.encoder)
    assert compiled is not None
    monkeypatch.setattr(fused, "AVAILABLE", False)
    monkeypatch.setattr(cells, "AVAILABLE", False)
    assert_same_blocks(compiled, blocks.chunk_blocks(chunk, model.encoder))
