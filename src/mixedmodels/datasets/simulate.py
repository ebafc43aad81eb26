"""Simulated crossed random-effects data, in memory or as Parquet files, for tests and benchmarks.

``y = 1 + 0.5 x1 − 0.3 x2 + 0.2 x3 + u_g1 + v_g2 + ε`` with ``u ~ N(0, sd_g1²)``,
``v ~ N(0, sd_g2²)``, ``ε ~ N(0, sd_residual²)``; ``g1`` and ``g2`` are crossed, each row's levels
drawn uniformly. Rows are generated chunk by chunk, so writing 20 million rows needs memory for
one chunk only, and the same seed gives the same data however the rows are split into files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from mixedmodels.errors import DataError

__all__ = ["COEFFICIENTS", "simulate_crossed"]

COEFFICIENTS = {"(Intercept)": 1.0, "x1": 0.5, "x2": -0.3, "x3": 0.2}
CHUNK_ROWS = 1_000_000


def simulate_crossed(
    n_rows: int,
    n_levels: tuple[int, int] = (50_000, 2_000),
    *,
    seed: int | None = None,
    sd: tuple[float, float, float] = (1.0, 0.5, 1.0),
    path: str | Path | None = None,
    n_files: int = 1,
) -> pd.DataFrame | list[Path]:
    """Simulate ``y ~ x1 + x2 + x3 + (1 | g1) + (1 | g2)`` data.

    Parameters
    ----------
    n_rows
        Number of rows.
    n_levels
        Levels of ``g1`` and ``g2``.
    seed
        Seed of the random numbers (the same seed gives the same rows).
    sd
        Standard deviations of the ``g1`` effects, the ``g2`` effects and the residual.
    path
        A directory: write ``n_files`` Parquet files there (needs pyarrow) and return their
        paths; ``None`` returns one DataFrame.
    n_files
        Number of Parquet files, of (nearly) equal numbers of rows.

    Returns
    -------
    pandas.DataFrame or list of Path
        Columns ``y, x1, x2, x3, g1, g2`` (grouping columns as strings ``"g1_17"``).

    Examples
    --------
    >>> from mixedmodels.datasets import simulate_crossed
    >>> simulate_crossed(1000, (50, 10), seed=1).shape
    (1000, 6)
    """
    if int(n_rows) != n_rows or n_rows < 1:
        raise DataError(f"n_rows must be a positive integer, not {n_rows!r}")
    if len(n_levels) != 2 or min(n_levels) < 2:
        raise DataError(f"n_levels must be two numbers of levels of at least 2, not {n_levels!r}")
    if int(n_files) != n_files or not 1 <= n_files <= n_rows:
        raise DataError(f"n_files must be between 1 and n_rows, not {n_files!r}")
    root = np.random.SeedSequence(seed)
    effects_seed, *chunk_seeds = root.spawn(1 + -(-n_rows // CHUNK_ROWS))
    effects_rng = np.random.default_rng(effects_seed)
    u = effects_rng.normal(scale=sd[0], size=n_levels[0])
    v = effects_rng.normal(scale=sd[1], size=n_levels[1])
    chunks = _chunks(n_rows, n_levels, u, v, sd[2], chunk_seeds)
    if path is None:
        return pd.concat(list(chunks), ignore_index=True)
    return _write_parquet(chunks, n_rows, Path(path), int(n_files))


def _chunks(
    n_rows: int,
    n_levels: tuple[int, int],
    u: np.ndarray,
    v: np.ndarray,
    sd_residual: float,
    seeds: list[np.random.SeedSequence],
) -> Iterator[pd.DataFrame]:
    """Rows in chunks of ``CHUNK_ROWS``, each from its own child seed."""
    for index, seed in enumerate(seeds):
        size = min(CHUNK_ROWS, n_rows - index * CHUNK_ROWS)
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(size, 3))
        g1 = rng.integers(0, n_levels[0], size)
        g2 = rng.integers(0, n_levels[1], size)
        beta = np.array(list(COEFFICIENTS.values()))
        y = beta[0] + x @ beta[1:] + u[g1] + v[g2] + rng.normal(scale=sd_residual, size=size)
        yield pd.DataFrame(
            {
                "y": y,
                "x1": x[:, 0],
                "x2": x[:, 1],
                "x3": x[:, 2],
                "g1": np.char.add("g1_", g1.astype(str)),
                "g2": np.char.add("g2_", g2.astype(str)),
            }
        )


def _write_parquet(
    chunks: Iterator[pd.DataFrame], n_rows: int, directory: Path, n_files: int
) -> list[Path]:
    """Stream the chunks into ``n_files`` Parquet files of nearly equal size."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            "writing Parquet needs pyarrow: pip install 'mixedmodels[parquet]'"
        ) from None
    directory.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, n_rows, n_files + 1).astype(np.int64)
    paths = [directory / f"part-{i:04d}.parquet" for i in range(n_files)]
    writers: list = [None] * n_files
    start = 0
    try:
        for chunk in chunks:
            stop = start + len(chunk)
            for i in range(n_files):
                lo, hi = max(start, bounds[i]), min(stop, bounds[i + 1])
                if lo >= hi:
                    continue
                table = pa.Table.from_pandas(
                    chunk.iloc[lo - start : hi - start], preserve_index=False
                )
                if writers[i] is None:
                    writers[i] = pq.ParquetWriter(paths[i], table.schema)
                writers[i].write_table(table)
            start = stop
    finally:
        for writer in writers:
            if writer is not None:
                writer.close()
    return paths
