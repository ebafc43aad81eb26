#!/usr/bin/env python
"""Time linear mixed-model fits: mixedmodels vs lme4 (via Rscript) vs statsmodels MixedLM.

Every timing covers one whole fitting call, model construction from the data frame
included (``mm.lmer(...)``, ``lme4::lmer(...)``, ``smf.mixedlm(...).fit(...)``). Each engine
does one warm-up fit, then the median of several repeats is reported. lme4 is timed inside
R, so R start-up and package loading are excluded.

Examples
--------
Run everything (a few minutes, dominated by lme4 on InstEval)::

    .venv/bin/python benchmarks/bench_lmm.py

Quick run without the large InstEval case, also writing the results::

    .venv/bin/python benchmarks/bench_lmm.py --skip-large --json bench.json
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPO_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = REPO_DIR / "src"
SHARED_DIR = REPO_DIR.parent / "shared"
DEFAULT_DATA_DIR = SHARED_DIR / "data"
DEFAULT_REFERENCE = SHARED_DIR / "reference" / "lme4.json"

SMALL_REPEATS = 20
LARGE_REPEATS = 3
LME4_LARGE_REPEATS = 1
IMPORT_REPEATS = 5
IMPORT_TARGET_S = 0.5
SMALL_TARGET_SPEEDUP = 2.0  # ours <= 0.5 x lme4
LARGE_TARGET_SPEEDUP = 30.0  # ours >= 30x faster than lme4
R_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class StatsmodelsSpec:
    """How to express a case with ``statsmodels.formula.api.mixedlm``.

    Attributes
    ----------
    formula : str
        Fixed-effects formula.
    groups : str
        Name of the single grouping column.
    re_formula : str or None
        Random-effects formula within groups (``None`` means a random intercept).
    vc_formula : dict of str to str or None
        Independent variance components within groups.
    """

    formula: str
    groups: str
    re_formula: str | None = None
    vc_formula: dict[str, str] | None = None


@dataclass(frozen=True)
class Case:
    """One benchmark case.

    Attributes
    ----------
    id : str
        Case identifier (the key used in the lme4 reference file).
    dataset : str
        Dataset name; the data are read from ``<data-dir>/<dataset>.csv``.
    formula : str
        lme4-style model formula.
    reml : bool
        Fit by REML (``True``) or maximum likelihood (``False``).
    factors : tuple of str
        Columns converted to strings (factors in R) before fitting.
    large : bool
        Whether this is a large case (fewer repeats, skipped by ``--skip-large``).
    statsmodels : StatsmodelsSpec or None
        Equivalent statsmodels model, or ``None`` if MixedLM cannot express it.
    """

    id: str
    dataset: str
    formula: str
    reml: bool
    factors: tuple[str, ...]
    large: bool = False
    statsmodels: StatsmodelsSpec | None = None

    @property
    def target_speedup(self) -> float:
        """Required ratio lme4 time / our time."""
        return LARGE_TARGET_SPEEDUP if self.large else SMALL_TARGET_SPEEDUP


_SLEEP_SM = StatsmodelsSpec("Reaction ~ Days", "Subject", re_formula="~Days")
_DYE_SM = StatsmodelsSpec("Yield ~ 1", "Batch")

CASES: tuple[Case, ...] = (
    Case(
        "rail_ml",
        "Rail",
        "travel ~ 1 + (1|Rail)",
        False,
        ("Rail",),
        statsmodels=StatsmodelsSpec("travel ~ 1", "Rail"),
    ),
    Case(
        "rail_reml",
        "Rail",
        "travel ~ 1 + (1|Rail)",
        True,
        ("Rail",),
        statsmodels=StatsmodelsSpec("travel ~ 1", "Rail"),
    ),
    Case(
        "sleep_reml",
        "sleepstudy",
        "Reaction ~ Days + (Days|Subject)",
        True,
        ("Subject",),
        statsmodels=_SLEEP_SM,
    ),
    Case(
        "sleep_ml",
        "sleepstudy",
        "Reaction ~ Days + (Days|Subject)",
        False,
        ("Subject",),
        statsmodels=_SLEEP_SM,
    ),
    Case(
        "sleep_uncorr",
        "sleepstudy",
        "Reaction ~ Days + (Days||Subject)",
        True,
        ("Subject",),
        statsmodels=StatsmodelsSpec(
            "Reaction ~ Days", "Subject", re_formula="~1", vc_formula={"Days": "0 + Days"}
        ),
    ),
    Case("dyestuff", "Dyestuff", "Yield ~ 1 + (1|Batch)", True, ("Batch",), statsmodels=_DYE_SM),
    Case(
        "dyestuff2_singular",
        "Dyestuff2",
        "Yield ~ 1 + (1|Batch)",
        True,
        ("Batch",),
        statsmodels=_DYE_SM,
    ),
    Case(
        "penicillin_crossed",
        "Penicillin",
        "diameter ~ 1 + (1|plate) + (1|sample)",
        True,
        ("plate", "sample"),
    ),
    Case(
        "pastes_nested",
        "Pastes",
        "strength ~ 1 + (1|batch/cask)",
        True,
        ("batch", "cask"),
        statsmodels=StatsmodelsSpec(
            "strength ~ 1", "batch", re_formula="~1", vc_formula={"cask": "0 + C(cask)"}
        ),
    ),
    Case(
        "insteval_crossed",
        "InstEval",
        "y ~ 1 + service + (1|s) + (1|d) + (1|dept)",
        True,
        ("s", "d", "dept", "service"),
        large=True,
    ),
)


@dataclass
class Timing:
    """Result of timing one engine on one case.

    Attributes
    ----------
    seconds : float or None
        Median wall-clock time of one fit, or ``None`` when unavailable.
    times : list of float
        All timed repeats (seconds), warm-up excluded.
    note : str
        Short status shown instead of / next to the time ("n/a", "(ref)", "error", ...).
    error : str
        Full error message, if any.
    loglik : float or None
        Log-likelihood of the fit (restricted for REML), when available.
    """

    seconds: float | None = None
    times: list[float] = field(default_factory=list)
    note: str = ""
    error: str = ""
    loglik: float | None = None


@dataclass
class CaseResult:
    """Timings of all engines on one case."""

    case: str
    ours: Timing
    lme4: Timing
    statsmodels: Timing
    target_speedup: float
    ref_loglik: float | None = None


# --------------------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------------------


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[list[float], Any]:
    """Time ``fn`` after ``warmup`` untimed calls.

    Parameters
    ----------
    fn : callable
        Zero-argument function to time.
    repeats : int
        Number of timed calls.
    warmup : int, default 1
        Number of untimed calls made first.

    Returns
    -------
    times : list of float
        Wall-clock seconds of each timed call.
    result : object
        Return value of the first call (``None`` if there was no call).
    """
    result = None
    for i in range(warmup):
        out = fn()
        result = out if i == 0 else result
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        result = out if warmup == 0 and i == 0 else result
    return times, result


def short_error(exc: BaseException) -> str:
    """Return a one-line ``Type: message`` description of an exception."""
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def load_case_data(data_dir: Path, case: Case) -> pd.DataFrame:
    """Read a case's CSV and convert its factor columns to strings.

    Parameters
    ----------
    data_dir : Path
        Directory holding ``<dataset>.csv`` files.
    case : Case
        The benchmark case.

    Returns
    -------
    pandas.DataFrame
        The data, with ``case.factors`` as string columns.
    """
    data = pd.read_csv(data_dir / f"{case.dataset}.csv")
    for col in case.factors:
        data[col] = data[col].astype(str)
    return data


# --------------------------------------------------------------------------------------
# mixedmodels (ours)
# --------------------------------------------------------------------------------------


def use_src_fallback() -> bool:
    """Put the repository's ``src/`` on ``sys.path`` if ``mixedmodels`` is not installed.

    Returns
    -------
    bool
        Whether the fallback was applied (then subprocesses need ``PYTHONPATH`` too).
    """
    if importlib.util.find_spec("mixedmodels") is not None or not SRC_DIR.is_dir():
        return False
    sys.path.insert(0, str(SRC_DIR))
    return True


def subprocess_env(src_fallback: bool) -> dict[str, str]:
    """Return the environment for fresh interpreters, with ``src/`` on the path if needed."""
    env = dict(os.environ)
    if src_fallback:
        parts = [str(SRC_DIR), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    return env


def import_ours() -> tuple[Any | None, str]:
    """Import ``mixedmodels``, returning ``(module, error)``; module is ``None`` on failure."""
    try:
        return importlib.import_module("mixedmodels"), ""
    except Exception as exc:  # the package may be half-written: report anything
        return None, short_error(exc)


def time_ours(mm: Any | None, import_error: str, case: Case, data: pd.DataFrame, n: int) -> Timing:
    """Time ``mm.lmer`` on one case (warm-up fit, then ``n`` repeats).

    Parameters
    ----------
    mm : module or None
        The imported ``mixedmodels`` package, or ``None`` if it failed to import.
    import_error : str
        Import error message (used when ``mm`` is ``None``).
    case : Case
        The benchmark case.
    data : pandas.DataFrame
        The case's data.
    n : int
        Number of timed repeats.

    Returns
    -------
    Timing
        Median time and all repeats, or an error note.
    """
    if mm is None:
        return Timing(note="import failed", error=import_error)
    if not hasattr(mm, "lmer"):
        return Timing(note="no mm.lmer", error="mixedmodels has no attribute 'lmer'")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times, fit = time_calls(lambda: mm.lmer(case.formula, data, reml=case.reml), n)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return Timing(note="error", error=short_error(exc))
    return Timing(seconds=statistics.median(times), times=times, loglik=fit_loglik(fit, "loglik"))


def fit_loglik(fit: Any, attr: str) -> float | None:
    """Read a log-likelihood attribute (property or method) from a fit, ``None`` on failure."""
    try:
        value = getattr(fit, attr)
        return float(value() if callable(value) else value)
    except Exception:
        return None


def measure_import_time(env: dict[str, str], repeats: int = IMPORT_REPEATS) -> Timing:
    """Time ``import mixedmodels`` in fresh interpreters, minus bare start-up.

    Parameters
    ----------
    env : dict of str to str
        Environment of the launched interpreters.
    repeats : int, default 5
        Number of interpreter launches for each of the two commands.

    Returns
    -------
    Timing
        Median of ``python -c "import mixedmodels"`` minus median of ``python -c "pass"``.
    """

    def launch(code: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")
        return elapsed

    try:
        launch("import mixedmodels")  # warm the file-system cache and write .pyc files
        base, full = [], []
        for _ in range(repeats):
            base.append(launch("pass"))
            full.append(launch("import mixedmodels"))
    except RuntimeError as exc:
        return Timing(note="import failed", error=str(exc))
    diffs = [f - b for f, b in zip(full, base, strict=True)]
    return Timing(seconds=statistics.median(full) - statistics.median(base), times=diffs)


# --------------------------------------------------------------------------------------
# lme4 via Rscript
# --------------------------------------------------------------------------------------

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
csv <- args[[1]]
form <- as.formula(args[[2]])
reml <- as.logical(args[[3]])
factors <- if (nzchar(args[[4]])) strsplit(args[[4]], ",", fixed = TRUE)[[1]] else character(0)
warmup <- as.integer(args[[5]])
repeats <- as.integer(args[[6]])
suppressPackageStartupMessages(library(lme4))
dat <- read.csv(csv, stringsAsFactors = FALSE)
for (f in factors) dat[[f]] <- factor(as.character(dat[[f]]))
fit_time <- function() {
  t0 <- Sys.time()
  suppressMessages(suppressWarnings(lmer(form, data = dat, REML = reml)))
  as.numeric(difftime(Sys.time(), t0, units = "secs"))
}
if (warmup > 0) {
  invisible(fit_time())
} else {
  # cheap warm-up on a built-in data set so that lazy loading is not timed
  invisible(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
}
times <- vapply(seq_len(repeats), function(i) fit_time(), numeric(1))
cat("BENCH_RESULT", sprintf("%.9f", times), "\n")
"""


def detect_lme4() -> tuple[str | None, str]:
    """Check whether ``Rscript`` is on PATH and ``library(lme4)`` loads.

    Returns
    -------
    version : str or None
        ``"lme4 <version>, <R version>"`` when usable, else ``None``.
    reason : str
        Why lme4 is unusable (empty when usable).
    """
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, "Rscript not on PATH"
    code = (
        "suppressPackageStartupMessages(library(lme4));"
        'cat("LME4", as.character(packageVersion("lme4")), R.version$major, R.version$minor)'
    )
    try:
        proc = subprocess.run(
            [rscript, "-e", code], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, short_error(exc)
    for line in proc.stdout.splitlines():
        if line.startswith("LME4"):
            _, version, major, minor = line.split()
            return f"lme4 {version}, R {major}.{minor}", ""
    lines = proc.stderr.strip().splitlines()
    return None, lines[-1] if lines else "library(lme4) failed"


def time_lme4(script: Path, csv: Path, case: Case, warmup: int, n: int) -> Timing:
    """Time ``lme4::lmer`` on one case inside a single ``Rscript`` run.

    Parameters
    ----------
    script : Path
        File holding :data:`R_SCRIPT`.
    csv : Path
        The case's CSV file.
    case : Case
        The benchmark case.
    warmup : int
        Number of untimed same-model fits (0: warm up on a small built-in fit instead).
    n : int
        Number of timed repeats.

    Returns
    -------
    Timing
        Median time and all repeats (measured inside R), or an error note.
    """
    cmd = [
        "Rscript",
        str(script),
        str(csv),
        case.formula,
        "TRUE" if case.reml else "FALSE",
        ",".join(case.factors),
        str(warmup),
        str(n),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=R_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Timing(note="error", error=short_error(exc))
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT"):
            times = [float(tok) for tok in line.split()[1:]]
            return Timing(seconds=statistics.median(times), times=times)
    lines = proc.stderr.strip().splitlines()
    return Timing(note="error", error=lines[-1] if lines else f"exit status {proc.returncode}")


def load_reference(path: Path) -> dict[str, dict[str, Any]]:
    """Read the lme4 reference JSON into a dict keyed by case id (empty if missing)."""
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {rec["id"]: rec for rec in records if "id" in rec}


def reference_timing(reference: dict[str, dict[str, Any]], case: Case, reason: str) -> Timing:
    """Build a Timing from the reference file's ``seconds_median``, marked ``(ref)``."""
    seconds = reference.get(case.id, {}).get("seconds_median")
    if seconds is None:
        return Timing(note="not installed", error=reason)
    return Timing(seconds=float(seconds), note="(ref)", error=reason)


# --------------------------------------------------------------------------------------
# statsmodels
# --------------------------------------------------------------------------------------


def import_statsmodels() -> tuple[Any | None, str]:
    """Import ``statsmodels.formula.api``, returning ``(module, error)``."""
    try:
        return importlib.import_module("statsmodels.formula.api"), ""
    except Exception as exc:
        return None, short_error(exc)


def time_statsmodels(smf: Any | None, case: Case, data: pd.DataFrame, n: int) -> Timing:
    """Time ``smf.mixedlm(...).fit(reml=...)`` on one case.

    Parameters
    ----------
    smf : module or None
        ``statsmodels.formula.api``, or ``None`` if it is not importable.
    case : Case
        The benchmark case.
    data : pandas.DataFrame
        The case's data.
    n : int
        Number of timed repeats.

    Returns
    -------
    Timing
        Median time, ``n/a`` if MixedLM cannot express the model, or an error note.
    """
    spec = case.statsmodels
    if smf is None:
        return Timing(note="not installed")
    if spec is None:
        return Timing(note="n/a")

    def fit() -> object:
        model = smf.mixedlm(
            spec.formula,
            data,
            groups=spec.groups,
            re_formula=spec.re_formula,
            vc_formula=spec.vc_formula,
        )
        return model.fit(reml=case.reml)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times, result = time_calls(fit, n)
    except Exception as exc:
        return Timing(note="error", error=short_error(exc))
    return Timing(seconds=statistics.median(times), times=times, loglik=fit_loglik(result, "llf"))


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def fmt_ms(t: Timing) -> str:
    """Format a timing in milliseconds, or its note when there is no time."""
    if t.seconds is None:
        return t.note or "-"
    ms = t.seconds * 1e3
    text = f"{ms:.1f}" if ms >= 100 else f"{ms:.2f}"
    return f"{text} {t.note}".rstrip()


def ratio(other: Timing, ours: Timing) -> float | None:
    """Return ``other / ours`` (how many times faster we are), or ``None``."""
    if other.seconds is None or ours.seconds is None or ours.seconds <= 0:
        return None
    return other.seconds / ours.seconds


def fmt_ratio(value: float | None) -> str:
    """Format a speed ratio such as ``2.35x``."""
    return "-" if value is None else f"{value:.2f}x"


def target_status(res: CaseResult) -> str:
    """Return ``ok``, ``MISS`` or ``?`` for the lme4/ours target of one case."""
    value = ratio(res.lme4, res.ours)
    if value is None:
        return "?"
    return "ok" if value >= res.target_speedup else "MISS"


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Render rows as a plain-text table (first column left-aligned, others right)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells)

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(row) for row in rows)])


def fmt_loglik_diff(res: CaseResult) -> str:
    """Format our logLik minus lme4's reference logLik (positive: ours is higher)."""
    if res.ours.loglik is None or res.ref_loglik is None:
        return "-"
    return f"{res.ours.loglik - res.ref_loglik:+.1e}"


def results_table(results: Sequence[CaseResult]) -> str:
    """Build the comparison table."""
    header = [
        "case",
        "ours (ms)",
        "lme4 (ms)",
        "lme4/ours",
        "statsmodels (ms)",
        "sm/ours",
        "target",
        "met",
        "dlogLik",
    ]
    rows = [
        [
            res.case,
            fmt_ms(res.ours),
            fmt_ms(res.lme4),
            fmt_ratio(ratio(res.lme4, res.ours)),
            fmt_ms(res.statsmodels),
            fmt_ratio(ratio(res.statsmodels, res.ours)),
            f"lme4/ours >= {res.target_speedup:g}",
            target_status(res),
            fmt_loglik_diff(res),
        ]
        for res in results
    ]
    return render_table(header, rows)


def error_notes(results: Sequence[CaseResult]) -> list[str]:
    """Collect distinct error messages, one line per engine and message."""
    seen: dict[tuple[str, str], list[str]] = {}
    for res in results:
        for engine in ("ours", "lme4", "statsmodels"):
            t: Timing = getattr(res, engine)
            if t.error and t.note != "(ref)":
                seen.setdefault((engine, t.error), []).append(res.case)
    return [f"  {engine}: {msg}  [{', '.join(cases)}]" for (engine, msg), cases in seen.items()]


def package_version(name: str) -> str:
    """Return an installed distribution's version, or ``"-"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="CSV directory")
    parser.add_argument(
        "--reference",
        type=Path,
        default=DEFAULT_REFERENCE,
        help="lme4 reference JSON (timings used when lme4 is not installed)",
    )
    parser.add_argument("--cases", default="", help="comma-separated case ids (default: all)")
    parser.add_argument("--skip-large", action="store_true", help="skip InstEval")
    parser.add_argument(
        "--repeats",
        type=int,
        default=SMALL_REPEATS,
        help=f"timed repeats per engine for small cases (default {SMALL_REPEATS})",
    )
    parser.add_argument(
        "--large-repeats",
        type=int,
        default=LARGE_REPEATS,
        help=f"timed repeats of ours on large cases (default {LARGE_REPEATS})",
    )
    parser.add_argument(
        "--lme4-large-repeats",
        type=int,
        default=LME4_LARGE_REPEATS,
        help=f"timed lme4 repeats on large cases, no same-model warm-up "
        f"(default {LME4_LARGE_REPEATS})",
    )
    parser.add_argument(
        "--lme4-ref",
        action="store_true",
        help="do not run R; use the reference lme4 timings",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--list", action="store_true", help="list case ids and exit")
    return parser.parse_args(argv)


def select_cases(spec: str, skip_large: bool) -> list[Case]:
    """Select cases by comma-separated ids (all if empty), optionally dropping large ones."""
    by_id = {case.id: case for case in CASES}
    ids = [s.strip() for s in spec.split(",") if s.strip()] or list(by_id)
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(by_id)}")
    return [by_id[i] for i in ids if not (skip_large and by_id[i].large)]


def run_case(
    case: Case,
    args: argparse.Namespace,
    mm: Any | None,
    mm_error: str,
    smf: Any | None,
    r_script: Path | None,
    lme4_reason: str,
    reference: dict[str, dict[str, Any]],
) -> CaseResult:
    """Time all engines on one case."""
    data = load_case_data(args.data_dir, case)
    n = args.large_repeats if case.large else args.repeats
    ours = time_ours(mm, mm_error, case, data, n)
    if r_script is not None:
        r_warmup, r_n = (0, args.lme4_large_repeats) if case.large else (1, args.repeats)
        csv = args.data_dir / f"{case.dataset}.csv"
        lme4 = time_lme4(r_script, csv, case, r_warmup, r_n)
    else:
        lme4 = reference_timing(reference, case, lme4_reason)
    sm = time_statsmodels(smf, case, data, n)
    ref_loglik = reference.get(case.id, {}).get("logLik")
    return CaseResult(case.id, ours, lme4, sm, case.target_speedup, ref_loglik)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    if args.list:
        for case in CASES:
            print(f"{case.id:20s} {case.dataset:12s} {case.formula}  REML={case.reml}")
        return 0
    cases = select_cases(args.cases, args.skip_large)

    src_fallback = use_src_fallback()
    mm, mm_error = import_ours()
    smf, _ = import_statsmodels()
    reference = load_reference(args.reference)
    if args.lme4_ref:
        lme4_version, lme4_reason = None, "--lme4-ref given"
    else:
        lme4_version, lme4_reason = detect_lme4()

    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
    ours_version = getattr(mm, "__version__", None) or package_version("mixedmodels")
    ours_origin = f" from {SRC_DIR}" if src_fallback else ""
    print(
        f"mixedmodels {ours_version}{ours_origin}"
        f"{'' if mm is not None else ' (import failed: ' + mm_error + ')'}; "
        f"numpy {package_version('numpy')}; statsmodels {package_version('statsmodels')}; "
        f"{lme4_version or 'lme4 not installed (' + lme4_reason + '): using reference times'}"
    )
    print(
        f"repeats: {args.repeats} (small), ours {args.large_repeats} / "
        f"lme4 {args.lme4_large_repeats} (large); median after one warm-up fit\n"
    )

    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        r_script = None
        if lme4_version is not None:
            r_script = Path(tmp) / "bench_lme4.R"
            r_script.write_text(R_SCRIPT)
        for case in cases:
            print(f"  running {case.id} ...", file=sys.stderr, flush=True)
            results.append(
                run_case(case, args, mm, mm_error, smf, r_script, lme4_reason, reference)
            )

    import_time = measure_import_time(subprocess_env(src_fallback))

    print(results_table(results))
    print("\ndlogLik: our logLik minus lme4's (reference file); near 0 means the same optimum")
    if lme4_version is None:
        print("(ref): lme4 reference timing from", args.reference)
    notes = error_notes(results)
    if notes:
        print("\nerrors:")
        print("\n".join(notes))
    if import_time.seconds is not None:
        ok = "ok" if import_time.seconds < IMPORT_TARGET_S else "MISS"
        print(
            f"\nimport mixedmodels: {import_time.seconds * 1e3:.0f} ms "
            f"(target < {IMPORT_TARGET_S * 1e3:.0f} ms: {ok})"
        )
    else:
        print(f"\nimport mixedmodels: {import_time.note} ({import_time.error})")

    if args.json is not None:
        payload = {
            "meta": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "mixedmodels": ours_version,
                "mixedmodels_from_src": src_fallback,
                "statsmodels": package_version("statsmodels"),
                "lme4": lme4_version or f"reference ({lme4_reason})",
                "repeats": args.repeats,
                "large_repeats": args.large_repeats,
                "lme4_large_repeats": args.lme4_large_repeats,
            },
            "import_time": asdict(import_time),
            "import_target_seconds": IMPORT_TARGET_S,
            "cases": [asdict(res) for res in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
