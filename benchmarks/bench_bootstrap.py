#!/usr/bin/env python
"""Time the parametric bootstrap: 1000 replicates of sleepstudy (target: < 20 s on 2 cores).

Model: ``Reaction ~ Days + (Days | Subject)`` by REML, as lme4's ``bootMer(fm1, nsim = 1000)``.
The time covers ``parametric_bootstrap`` (simulation, refits, process start-up), not the
original fit. With ``--lme4`` the same bootstrap is timed in R (``Rscript``) for comparison.

Examples
--------
::

    .venv/bin/python benchmarks/bench_bootstrap.py                 # 1000 replicates, 2 workers
    .venv/bin/python benchmarks/bench_bootstrap.py --jobs 1 2 4 --lme4
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
TARGET_SECONDS = 20.0
R_CODE = """
suppressMessages(library(lme4))
fm1 <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy)
t0 <- Sys.time()
bb <- bootMer(fm1, function(x) c(getME(x, "theta"), sigma(x), fixef(x)), nsim = {n}, seed = 1)
cat(as.numeric(difftime(Sys.time(), t0, units = "secs")), "\\n")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--replicates", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[2], help="worker counts to time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lme4", action="store_true", help="also time lme4's bootMer in R")
    args = parser.parse_args()

    try:
        import mixedmodels as mm
    except ImportError:
        sys.path.insert(0, str(SRC))
        import mixedmodels as mm
    from mixedmodels.inference.bootstrap import parametric_bootstrap

    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    print(f"sleepstudy, {args.replicates} replicates, {os.cpu_count()} cores on this machine")
    ok = True
    timings: dict[int, float] = {}
    for jobs in args.jobs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu_start = _cpu_seconds()
            start = time.perf_counter()
            table = parametric_bootstrap(
                model, args.replicates, seed=args.seed, n_jobs=jobs, progress=False
            )
            seconds = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu_start
        verdict = "ok" if seconds < TARGET_SECONDS or jobs != 2 else "SLOWER THAN TARGET"
        ok = ok and verdict == "ok"
        rate = args.replicates / seconds
        timings[jobs] = seconds
        print(
            f"  n_jobs={jobs}: {seconds:6.2f} s ({1e3 * seconds / args.replicates:.2f} ms a "
            f"replicate, {rate:6.1f} replicates/s, "
            f"{table.attrs['n_failed']} failed, {int(table['singular'].sum())} singular)  "
            f"[{verdict}]"
        )
        print(f"    CPU time {cpu:.2f} s in all processes (wall time suffers on a busy machine)")
        print(
            f"    Days 95% percentile: {table['Days'].quantile([0.025, 0.975]).round(3).tolist()}"
        )
    if args.lme4:
        lme4 = _time_lme4(args.replicates)
        for jobs, seconds in timings.items():
            if lme4 is not None:
                print(f"  lme4 / ours (n_jobs={jobs}): {lme4 / seconds:5.1f}x")
    return 0 if ok else 1


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the bootstrap workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time_lme4(n: int) -> float | None:
    """Time lme4's bootMer (one R process, serial) when Rscript and lme4 are available."""
    if shutil.which("Rscript") is None:
        print("  lme4: Rscript not found")
        return None
    done = subprocess.run(
        ["Rscript", "-e", R_CODE.replace("{n}", str(n))],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"  lme4: failed ({done.stderr.strip().splitlines()[-1:]})")
        return None
    seconds = float(done.stdout.split()[-1])
    print(f"  lme4 bootMer (serial): {seconds:6.2f} s ({1e3 * seconds / n:.2f} ms a replicate)")
    return seconds


if __name__ == "__main__":
    sys.exit(main())
