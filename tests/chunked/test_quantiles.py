"""Exact quantiles of Dask arrays by histogram passes, against ``numpy.quantile``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from mixedmodels.chunked.quantiles import exact_quantiles

PROBS = [0.0, 0.25, 0.5, 0.75, 1.0]
MANY_PROBS = [0.0, 1e-9, 0.01, 0.1, 0.25, 1 / 3, 0.5, 0.6, 0.75, 0.9, 0.99, 1 - 1e-12, 1.0]


def uneven(x: np.ndarray, seed: int = 1) -> da.Array:
    """The values in chunks of random, uneven (known) sizes, some of them empty."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, x.size + 1, size=6))
    return da.from_array(x, chunks=(tuple(np.diff(np.r_[0, cuts, x.size]).tolist()),))


def unknown_from_pandas(x: np.ndarray, npartitions: int = 7) -> da.Array:
    """The values as a Dask array of unknown chunk sizes, from a Dask Series."""
    values = dd.from_pandas(pd.Series(x), npartitions=npartitions).to_dask_array()
    assert np.isnan(values.chunks[0]).all()
    return values


def unknown_from_delayed(x: np.ndarray) -> da.Array:
    """The values as a Dask array of unknown chunk sizes, from delayed pieces."""
    pieces = np.array_split(x, [3, 500, 501, 2000])
    parts = [
        da.from_delayed(dask.delayed(np.copy)(p), shape=(np.nan,), dtype=np.float64) for p in pieces
    ]
    return da.concatenate(parts)


def check(x: np.ndarray, probs: list[float], **options: Any) -> None:
    """Each way of chunking gives NumPy's quantiles, bit for bit."""
    expected = np.quantile(x, probs)
    for values in (uneven(x), unknown_from_pandas(x), unknown_from_delayed(x)):
        result = exact_quantiles(values, probs, **options)
        assert result.dtype == np.float64
        assert result.shape == (len(probs),)
        np.testing.assert_array_equal(result, expected)
        np.testing.assert_allclose(result, expected, rtol=1e-15, atol=0)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the calls of ``dask.compute`` (one per pass over the values)."""
    calls: list[int] = []
    compute = dask.compute

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return compute(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", counting)
    yield calls


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_values_match_numpy(seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=5_000)
    check(x, MANY_PROBS, max_collect=1_000)


def test_quartiles_with_default_max_collect() -> None:
    x = np.random.default_rng(3).standard_t(3, size=3_001)
    check(x, PROBS)


def test_heavy_ties() -> None:
    x = np.random.default_rng(4).integers(0, 4, size=4_000).astype(np.float64)
    check(x, MANY_PROBS, max_collect=50)
    check(x, PROBS)


def test_all_values_equal() -> None:
    x = np.full(1_000, 2.5)
    check(x, MANY_PROBS, max_collect=1)
    result = exact_quantiles(uneven(x), PROBS, max_collect=1)
    np.testing.assert_array_equal(result, 2.5)


def test_single_value() -> None:
    check(np.array([-1.75]), PROBS)
    result = exact_quantiles(da.from_array(np.array([3.0])), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(result, [3.0, 3.0, 3.0])


def test_tiny_max_collect_forces_refinement() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(size=3_000), rng.integers(-2, 3, size=1_000) * 0.5])
    rng.shuffle(x)
    check(x, MANY_PROBS, max_collect=1)
    check(x, MANY_PROBS, max_collect=3)


def test_clustered_values_need_several_rounds() -> None:
    # Many tiny values next to a few huge ones: a value bin of [min, max] holds almost all of
    # them, so refinement goes on (by bit pattern after two rounds) until each bin is small.
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(size=2_000) * 1e-200, [1e300, -1e300]])
    x = np.concatenate([x, 2.0 ** -np.arange(1_000.0), np.full(100, 5e-324)])
    rng.shuffle(x)
    check(x, MANY_PROBS, max_collect=2)


def test_extreme_range_and_infinities() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=500) * 1e307, [1.7e308, -1.7e308]])
    check(x, MANY_PROBS, max_collect=5)
    with np.errstate(invalid="ignore"):
        y = np.concatenate([rng.normal(size=200), [np.inf, -np.inf, np.inf]])
        check(y, MANY_PROBS, max_collect=5)


def test_signed_zeros() -> None:
    x = np.array([0.0, -0.0] * 300 + [1.0, -1.0])
    check(x, MANY_PROBS, max_collect=1)


def test_passes(passes: list[int]) -> None:
    x = np.random.default_rng(8).normal(size=200_000)
    values = uneven(x)
    result = exact_quantiles(values, [0.25, 0.5, 0.75], max_collect=1_000)
    np.testing.assert_array_equal(result, np.quantile(x, [0.25, 0.5, 0.75]))
    assert len(passes) == 3  # counts, histogram, collection
    passes.clear()
    exact_quantiles(values, PROBS)
    assert len(passes) == 2  # counts, collection of every value
    passes.clear()
    exact_quantiles(uneven(x[:100]), PROBS, max_collect=10)
    assert len(passes) == 2  # counts, histogram (one value in each needed bin)
    passes.clear()
    exact_quantiles(da.ones(100, chunks=30), PROBS, max_collect=1)
    assert len(passes) == 1  # all equal: known from the counts


def test_parquet_source(tmp_path: Any) -> None:
    x = np.random.default_rng(9).normal(size=3_000)
    dd.from_pandas(pd.DataFrame({"y": x}), npartitions=4).to_parquet(tmp_path / "data")
    values = dd.read_parquet(tmp_path / "data")["y"].to_dask_array()
    result = exact_quantiles(values, MANY_PROBS, max_collect=200)
    np.testing.assert_array_equal(result, np.quantile(x, MANY_PROBS))


def test_empty_probs() -> None:
    result = exact_quantiles(da.arange(10.0, chunks=3), [])
    assert result.shape == (0,)


def test_empty_values_raise() -> None:
    with pytest.raises(ValueError, match="empty"):
        exact_quantiles(da.from_array(np.empty(0)), PROBS)
    empty = unknown_from_pandas(np.empty(0), npartitions=1)
    with pytest.raises(ValueError, match="empty"):
        exact_quantiles(empty, PROBS)


def test_nan_raises_with_count() -> None:
    x = np.arange(20.0)
    x[[2, 7, 19]] = np.nan
    with pytest.raises(ValueError, match="3 NaN"):
        exact_quantiles(da.from_array(x, chunks=6), PROBS)


@pytest.mark.parametrize("probs", [[-0.1], [0.5, 1.0001], [float("nan")]])
def test_probs_outside_unit_interval_raise(probs: list[float]) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        exact_quantiles(da.arange(5.0, chunks=2), probs)


def test_bad_arguments_raise() -> None:
    with pytest.raises(TypeError, match="dask array"):
        exact_quantiles(np.arange(5.0), PROBS)
    with pytest.raises(ValueError, match="1-D"):
        exact_quantiles(da.ones((3, 3)), PROBS)
    with pytest.raises(ValueError, match="max_collect"):
        exact_quantiles(da.arange(5.0, chunks=2), PROBS, max_collect=0)


def test_on_a_distributed_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    x = np.random.default_rng(10).normal(size=4_000)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = exact_quantiles(unknown_from_pandas(x), MANY_PROBS, max_collect=300)
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
        assert {"block_stats", "block_round"} <= set(prefixes)  # the passes ran on the cluster
    np.testing.assert_array_equal(result, np.quantile(x, MANY_PROBS))
