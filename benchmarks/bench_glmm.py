#!/usr/bin/env python
"""Time generalized linear mixed-model fits: mixedmodels' ``glmer`` vs lme4's (via Rscript).

Every timing covers one whole fitting call, model construction from the data frame included
(``mm.glmer(...)`` / ``lme4::glmer(...)``). Each engine does one warm-up fit, then the median
of several repeats is reported; lme4 is timed inside R, so R's start-up is excluded.

Cases: cbpp (binomial, ``cbind`` response, one scalar term), grouseticks (Poisson, crossed
terms, an uncentred covariate) and a simulated item-response data set (8,000 Bernoulli
responses of 400 subjects to 20 items, crossed random intercepts), plus VerbAgg when the test
data are present. The target is lme4/ours >= 5.

Examples
--------
::

    .venv/bin/python benchmarks/bench_glmm.py
    .venv/bin/python benchmarks/bench_glmm.py --cases cbpp_binomial --repeats 50
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_DIR.parent / "shared" / "data"
TEST_DATA = REPO_DIR / "tests" / "models" / "data"
TARGET_SPEEDUP = 5.0
R_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Case:
    """One benchmark case: a data set (loaded by ``load``), a formula and a family."""

    id: str
    formula: str
    family: str
    factors: tuple[str, ...]
    load: Callable[[], pd.DataFrame]


def simulate_item_response(
    n_subjects: int = 400, n_items: int = 20, seed: int = 20240611
) -> pd.DataFrame:
    """Bernoulli responses of subjects to items: subject ability and item difficulty crossed.

    Parameters
    ----------
    n_subjects, n_items
        Every subject answers every item (``n_subjects × n_items`` rows).
    seed
        Seed of NumPy's default generator.
    """
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), n_items)
    item = np.tile(np.arange(n_items), n_subjects)
    ability = rng.normal(0.0, 1.0, n_subjects)
    difficulty = rng.normal(0.0, 0.6, n_items)
    trait = np.round(rng.normal(0.0, 1.0, n_subjects), 3)
    cond = np.array(["a", "b", "c"])[item % 3]
    shift = np.select([cond == "b", cond == "c"], [-0.5, 0.4], 0.0)
    eta = 0.2 + 0.5 * trait[subj] + shift + ability[subj] + difficulty[item]
    y = rng.random(len(eta)) < 1.0 / (1.0 + np.exp(-eta))
    return pd.DataFrame(
        {
            "y": y.astype(int),
            "trait": trait[subj],
            "cond": cond,
            "subject": [f"s{s}" for s in subj],
            "item": [f"i{i}" for i in item],
        }
    )


def _shared(name: str) -> Callable[[], pd.DataFrame]:
    return lambda: pd.read_csv(SHARED_DATA / f"{name}.csv")


CASES: tuple[Case, ...] = (
    Case(
        "cbpp_binomial",
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "binomial",
        ("herd", "period"),
        _shared("cbpp"),
    ),
    Case(
        "grouseticks_poisson",
        "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)",
        "poisson",
        ("YEAR", "BROOD", "LOCATION"),
        _shared("grouseticks"),
    ),
    Case(
        "crossed_binomial_8000",
        "y ~ trait + cond + (1 | subject) + (1 | item)",
        "binomial",
        ("subject", "item", "cond"),
        simulate_item_response,
    ),
    Case(
        "verbagg_binomial",
        "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        "binomial",
        ("id", "item", "Gender", "btype", "situ", "r2"),
        lambda: pd.read_csv(TEST_DATA / "VerbAgg.csv.gz"),
    ),
)


@dataclass
class Timing:
    """Median seconds of one engine on one case (``None`` with a note when unavailable)."""

    seconds: float | None = None
    loglik: float | None = None
    note: str = ""


def prepare(case: Case) -> pd.DataFrame | None:
    """The case's data with its factor columns as strings, or None when missing."""
    try:
        data = case.load()
    except OSError:
        return None
    for column in case.factors:
        data[column] = data[column].astype(str)
    return data


def time_ours(mm: Any, case: Case, data: pd.DataFrame, repeats: int) -> Timing:
    """Median time of ``mm.glmer`` (after one warm-up fit)."""
    glmer = getattr(mm, "glmer", None)
    if glmer is None:
        glmer = importlib.import_module("mixedmodels.glmm_api").glmer
    times, fit = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            glmer(case.formula, data, family=case.family)
            for _ in range(repeats):
                start = time.perf_counter()
                fit = glmer(case.formula, data, family=case.family)
                times.append(time.perf_counter() - start)
        except Exception as error:  # report and go on
            return Timing(note=f"error: {type(error).__name__}: {error}")
    return Timing(statistics.median(times), float(fit.loglik) if fit is not None else None)


R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[[1]], stringsAsFactors = FALSE)
form <- as.formula(args[[2]])
fam <- get(args[[3]], mode = "function")
factors <- if (nzchar(args[[4]])) strsplit(args[[4]], ",", fixed = TRUE)[[1]] else character(0)
repeats <- as.integer(args[[5]])
suppressPackageStartupMessages(library(lme4))
for (f in factors) dat[[f]] <- factor(as.character(dat[[f]]))
fit <- function() suppressMessages(suppressWarnings(glmer(form, data = dat, family = fam)))
m <- fit()
times <- vapply(seq_len(repeats), function(i) {
  t0 <- Sys.time(); fit(); as.numeric(difftime(Sys.time(), t0, units = "secs"))
}, numeric(1))
cat("BENCH_RESULT", median(times), as.numeric(logLik(m)), "\n")
"""


def time_lme4(script: Path, case: Case, data: pd.DataFrame, repeats: int) -> Timing:
    """Median time of ``lme4::glmer`` on the same data, measured inside R."""
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
        data.to_csv(handle, index=False)
        csv = handle.name
    factors = ",".join(case.factors)
    cmd = ["Rscript", str(script), csv, case.formula, case.family, factors, str(repeats)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=R_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Timing(note=f"error: {error}")
    finally:
        Path(csv).unlink(missing_ok=True)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT"):
            _, seconds, loglik = line.split()
            return Timing(float(seconds), float(loglik))
    lines = proc.stderr.strip().splitlines()
    return Timing(note=f"error: {lines[-1] if lines else proc.returncode}")


def fmt_ms(t: Timing) -> str:
    """Milliseconds, or the note."""
    return f"{t.seconds * 1e3:.1f}" if t.seconds is not None else (t.note or "-")


def render(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, first column left-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated case ids (default: all)")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats (default 10)")
    parser.add_argument("--r-repeats", type=int, default=5, help="timed lme4 repeats")
    parser.add_argument("--no-r", action="store_true", help="time mixedmodels only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    cases = [c for c in CASES if not wanted or c.id in wanted]
    mm = importlib.import_module("mixedmodels")
    use_r = not args.no_r and shutil.which("Rscript") is not None
    rows = [["case", "nobs", "ours (ms)", "lme4 (ms)", "lme4/ours", "target", "met", "dlogLik"]]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_glmer.R"
        script.write_text(R_SCRIPT)
        for case in cases:
            data = prepare(case)
            if data is None:
                continue
            print(f"  running {case.id} ...", file=sys.stderr, flush=True)
            ours = time_ours(mm, case, data, args.repeats)
            lme4 = time_lme4(script, case, data, args.r_repeats) if use_r else Timing(note="-")
            ratio = (
                lme4.seconds / ours.seconds
                if lme4.seconds is not None and ours.seconds is not None
                else None
            )
            dll = (
                f"{ours.loglik - lme4.loglik:+.1e}"
                if ours.loglik is not None and lme4.loglik is not None
                else "-"
            )
            met = "-" if ratio is None else ("ok" if ratio >= TARGET_SPEEDUP else "MISS")
            rows.append(
                [
                    case.id,
                    str(len(data)),
                    fmt_ms(ours),
                    fmt_ms(lme4),
                    "-" if ratio is None else f"{ratio:.1f}x",
                    f">= {TARGET_SPEEDUP:g}x",
                    met,
                    dll,
                ]
            )
    print(render(rows))
    print("\ndlogLik: our logLik minus lme4's (positive: ours is higher, i.e. a better optimum)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
