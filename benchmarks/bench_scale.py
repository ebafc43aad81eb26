#!/usr/bin/env python
"""Fit from Parquet files beyond memory: 20 million rows, two crossed factors (issue 6).

Model: ``y ~ x1 + x2 + x3 + (1|g1) + (1|g2)`` with 50,000 and 2,000 levels, data from
``mixedmodels.datasets.simulate_crossed`` written as Parquet files (made once, then reused).
Prints one table: the time to merely read the columns with Dask (the baseline), the two passes
over the data (levels, then cross-products), the fit on the reduced blocks, and the peak
resident memory of this process after each step. Targets: peak memory under 2 GB, and the
pass over the data at most twice the reading time.

Examples
--------
::

    .venv/bin/python benchmarks/bench_scale.py                     # 20M rows, 20 files
    .venv/bin/python benchmarks/bench_scale.py --rows 2000000 --files 4
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
FORMULA = "y ~ x1 + x2 + x3 + (1|g1) + (1|g2)"
COLUMNS = ["y", "x1", "x2", "x3", "g1", "g2"]
MEMORY_TARGET_GB = 2.0
READ_RATIO_TARGET = 2.0


def peak_gb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def ensure_data(directory: Path, rows: int, files: int, levels: tuple[int, int]) -> None:
    """Write the Parquet files in a separate process (its memory is not counted here)."""
    stamp = directory / "rows.json"
    wanted = {"rows": rows, "files": files, "levels": list(levels)}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return
    code = (
        f"import sys; sys.path.insert(0, {str(SRC)!r})\n"
        "from mixedmodels.datasets import simulate_crossed\n"
        f"simulate_crossed({rows}, {levels!r}, seed=1, path={str(directory)!r}, n_files={files})\n"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    stamp.write_text(json.dumps(wanted))
    print(f"wrote {rows:,} rows in {files} files in {time.perf_counter() - started:.1f} s")


def read_only(directory: Path) -> float:
    """Seconds to read every used column of every file into pandas with Dask."""
    import dask.dataframe as dd

    started = time.perf_counter()
    frame = dd.read_parquet(str(directory), columns=COLUMNS)
    frame.map_partitions(lambda part: part.memory_usage(deep=False).sum()).sum().compute()
    return time.perf_counter() - started


def warm_up(directory: Path) -> float:
    """A small chunked fit and read first: imports, Numba's compiled kernels, Dask's start-up.

    Both timed steps below run after it (as bench_lmm.py times fits after a warm-up fit).
    """
    from mixedmodels.chunked import ChunkedLinearMixedModel
    from mixedmodels.datasets import simulate_crossed

    started = time.perf_counter()
    small = directory.parent / (directory.name + "-warm-up")
    if not small.exists():
        simulate_crossed(20_000, (200, 20), seed=2, path=str(small), n_files=2)
    read_only(small)
    ChunkedLinearMixedModel(FORMULA, str(small), progress=False)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--levels", type=int, nargs=2, default=[50_000, 2_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mixedmodels-bench-scale"))
    parser.add_argument("--skip-fit", action="store_true", help="time the passes only")
    args = parser.parse_args()
    ensure_data(args.dir, args.rows, args.files, tuple(args.levels))
    sys.path.insert(0, str(SRC))
    from mixedmodels.chunked import ChunkedLinearMixedModel

    warm = warm_up(args.dir)
    print(f"warm-up (imports, compiled kernels, 20,000 rows): {warm:.1f} s")
    rows: list[tuple[str, float, float]] = []
    rows.append(("read the columns (Dask)", read_only(args.dir), peak_gb()))
    started = time.perf_counter()
    model = ChunkedLinearMixedModel(FORMULA, str(args.dir), progress=False)
    built = time.perf_counter() - started
    rows.append(("first rows, categorical levels", model.timings["levels"], peak_gb()))
    rows.append(("the pass: cross-products", model.timings["cross-products"], peak_gb()))
    rows.append(("the model, pass included", built, peak_gb()))
    whole = built
    if not args.skip_fit:
        started = time.perf_counter()
        model.fit()
        seconds = time.perf_counter() - started
        rows.append((f"fit ({model.optsum.feval} evaluations)", seconds, peak_gb()))
        whole = built + seconds
    print(f"\n{FORMULA}: {model.nobs:,} rows, levels {model.ngroups}\n")
    print(f"{'step':<34}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak GB':>10}")
    for name, seconds, memory in rows:
        rate = model.nobs / seconds
        print(f"{name:<34}{model.nobs:>12,}{seconds:>10.1f}{rate:>14,.0f}{memory:>10.2f}")
    passes = model.timings["levels"] + model.timings["cross-products"]
    ratio = passes / rows[0][1]
    print(f"\nreading and pass / reading alone: {ratio:.2f} (target ≤ {READ_RATIO_TARGET})")
    if not args.skip_fit:
        print(f"model and fit / reading alone: {whole / rows[0][1]:.1f} (issue #17: ≤ 10)")
    print(f"peak memory: {peak_gb():.2f} GB (target < {MEMORY_TARGET_GB} GB)")
    if model.optsum is not None:
        print(f"\n{model.fixef.round(4).to_string()}\n\n{model.varcorr.to_string()}")
    ok = ratio <= READ_RATIO_TARGET and peak_gb() < MEMORY_TARGET_GB
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
