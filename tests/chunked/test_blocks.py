"""Kernels of the pass over the chunks, against brute force."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")

from mixedmodels.chunked import blocks  # noqa: E402
from mixedmodels.chunked.encoding import local_levels, sorted_levels  # noqa: E402


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("shape", [(300, 40), (70_000, 40_000)])  # 32- and 64-bit cell keys
def test_pair_counts_equal_a_dense_count(
    shape: tuple[int, int], compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mixedmodels.chunked import cells

    if compiled and not cells.AVAILABLE:
        pytest.skip("Numba is not installed")
    monkeypatch.setattr(cells, "AVAILABLE", compiled)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, shape[0], 5000).astype(np.intp)
    cols = rng.integers(0, shape[1], 5000).astype(np.intp)
    rows[:50], cols[:50] = rows[0], cols[0]  # one cell with many rows
    counts = blocks._pair_counts(rows, cols, shape)
    assert counts.dtype == np.int32
    found = counts.tocoo()
    expected = pd.Series(1, index=pd.MultiIndex.from_arrays([rows, cols])).groupby(level=[0, 1])
    expected = expected.sum()
    index = pd.MultiIndex.from_arrays([found.row.astype(np.int64), found.col.astype(np.int64)])
    got = pd.Series(found.data.astype(np.int64), index=index)
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


def test_intercept_level_sums_are_the_counts_and_plain_sums() -> None:
    rng = np.random.default_rng(1)
    refs = rng.integers(0, 30, 1000).astype(np.intp)
    xy = np.asfortranarray(np.column_stack([np.ones(1000), rng.normal(size=(1000, 3))]))
    counts = np.bincount(refs, minlength=30).astype(np.float64)
    full = blocks._intercept_sums(refs, xy, 30, counts, None)
    short = blocks._intercept_sums(refs, xy, 30, counts, 0)
    np.testing.assert_allclose(short, full, rtol=1e-12)
    for c in range(4):
        np.testing.assert_allclose(full[c], np.bincount(refs, weights=xy[:, c], minlength=30))


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["b10", "a", "é", "b2", "zz"], dtype="str"),
        pd.Series([3, 1, 20, 2]),
        pd.Series([0.5, -1.0, 2.0]),
    ],
)
def test_levels_order_depends_only_on_the_set(values: pd.Series) -> None:
    one = sorted_levels(pd.DataFrame({"g": values}))[1]
    other = sorted_levels(pd.DataFrame({"g": values.iloc[::-1].reset_index(drop=True)}))[1]
    pd.testing.assert_frame_equal(one, other)


def test_local_levels_of_two_columns_agree_across_chunks() -> None:
    frame = pd.DataFrame({"a": ["x", "y", "x", "z"], "b": [1, 2, 2, 1]})
    codes, levels = local_levels(frame, ("a", "b"))
    codes2, levels2 = local_levels(frame.iloc[::-1].reset_index(drop=True), ("a", "b"))
    pd.testing.assert_frame_equal(levels, levels2)
    np.testing.assert_array_equal(codes, codes2[::-1])


def test_counts_widen_before_a_merge_could_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    g = rng.integers(0, 20, 200).astype(np.intp)
    h = rng.integers(0, 5, 200).astype(np.intp)
    pair = blocks._pair_counts(h, g, (5, 20))  # Z_hᵀZ_g: term 1 (h) by term 0 (g)
    sums = blocks.BlockSums(
        [np.ones((20, 1, 1)), np.ones((5, 1, 1))],
        {(1, 0): pair},
        [np.zeros((2, 20, 1)), np.zeros((2, 5, 1))],
        np.eye(2),
    )
    assert sums.widened().pairs[(1, 0)].dtype == np.int64
    np.testing.assert_array_equal(sums.widened().pairs[(1, 0)].toarray(), pair.toarray())
    big = (sums + sums).pairs[(1, 0)]
    assert big.dtype == np.int32
    np.testing.assert_array_equal(big.toarray(), 2 * pair.toarray())
    partial = replace(_partial(sums), nobs=2**30 + 1)
    merged = blocks.merge_blocks(partial, partial, _encoder_stub())
    assert merged.sums.pairs[(1, 0)].dtype == np.int64  # 2³¹ + 2 rows: counts widened
    np.testing.assert_array_equal(merged.sums.pairs[(1, 0)].toarray(), 2 * pair.toarray())


def _partial(sums: blocks.BlockSums) -> blocks.PartialBlocks:
    levels = {
        ("g",): pd.DataFrame({"g": [f"l{i:02d}" for i in range(20)]}),
        ("h",): pd.DataFrame({"h": [f"m{i}" for i in range(5)]}),
    }
    return blocks.PartialBlocks(
        sums=sums,
        levels=levels,
        nobs=200,
        n_dropped=0,
        shift=0.0,
        log_weights=0.0,
        weighted=False,
        Rx=np.eye(1),
        Rz=[np.eye(1), np.eye(1)],
        category_counts={},
        y_sum=0.0,
        y_sq=1.0,
        y_min=0.0,
        y_max=1.0,
    )


class _Spec:
    def __init__(self, factors: tuple[str, ...]) -> None:
        self.factors = factors


class _Template:
    def __init__(self, factor: str) -> None:
        self.spec, self.k = _Spec((factor,)), 1


class _encoder_stub:  # noqa: N801 - the two attributes merge_blocks reads
    intercept = None
    templates = [_Template("g"), _Template("h")]
