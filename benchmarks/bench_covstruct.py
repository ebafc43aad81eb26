#!/usr/bin/env python
"""Time structured-covariance fits: mixedmodels vs glmmTMB and nlme (via Rscript).

Issue #16's speed targets, measured against the peers in the same run:

- ``ar1(0 + ftime | subject)`` LMM, 1,000 subjects × 10 visits, ML: ours ≥ 5× faster than
  ``glmmTMB``; the same by REML, a ``cs`` term and a Poisson GLMM with an ``ar1`` term
  (300 × 6) are reported without a target;
- random intercept with AR(1) residuals (``correlation=mm.cor_ar1(...)``) vs
  ``nlme::lme(..., correlation = corAR1(form = ~ time_num | subject))``, 1,000 × 10, REML:
  ours ≥ 5× faster than nlme (ML reported). Skipped with a note while ``mm.cor_ar1`` does
  not exist.

The data are simulated here with a fixed seed (subject paths with an AR(1) or compound-symmetry
correlation over the visits, a residual, covariates ``time_num`` and ``x``) and written to a
temporary CSV for R; ``ftime`` is the visit as a categorical column (``t01`` … ``t10``, levels
in visit order, a factor with those levels in R).

Every timing covers one whole fitting call, model construction from the data frame included.
Each engine does one warm-up fit, then the median of several repeats is reported; the peers
are timed inside R, so R's start-up and package loading are excluded. ``dlogLik`` is our
log-likelihood (restricted for REML) minus the peer's, to catch a fast but wrong fit.

Examples
--------
::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_covstruct.py
    .venv/bin/python benchmarks/bench_covstruct.py --cases ar1_ml --repeats 5 --json out.json
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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = REPO_DIR / "src"
TARGET_SPEEDUP = 5.0
R_TIMEOUT_S = 3600.0
SEED = 20240616
NOT_AVAILABLE = "mm.cor_ar1 not available in this mixedmodels: our fit skipped"


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Simulation:
    """A seeded longitudinal data set: ``n_subjects`` subjects, each seen at ``n_times`` visits.

    The subject paths are ``sd_t · z`` with ``z`` Gaussian with an AR(1) (``rho^|s-t|``) or
    compound-symmetry (``rho`` off the diagonal) correlation over the visits; ``sd_t`` rises
    linearly from ``path_sd[0]`` to ``path_sd[1]``. The linear predictor is
    ``intercept + 0.2·time_num + 0.5·x + u + path`` with ``u`` a random intercept.
    """

    n_subjects: int
    n_times: int
    structure: str = "ar1"
    rho: float = 0.6
    path_sd: tuple[float, float] = (0.8, 0.8)
    intercept_sd: float = 0.0
    residual_sd: float = 0.5
    family: str = "gaussian"
    intercept: float = 1.0
    seed: int = SEED


def _correlation(sim: Simulation) -> np.ndarray:
    lag = np.abs(np.subtract.outer(np.arange(sim.n_times), np.arange(sim.n_times)))
    if sim.structure == "ar1":
        return np.asarray(sim.rho**lag, dtype=float)
    return np.where(lag == 0, 1.0, sim.rho)


def simulate(sim: Simulation) -> pd.DataFrame:
    """Draw the data of one simulation (columns y, time_num, ftime, x, subject)."""
    rng = np.random.default_rng(sim.seed)
    n, k = sim.n_subjects, sim.n_times
    sd = np.linspace(sim.path_sd[0], sim.path_sd[1], k)
    chol = np.linalg.cholesky(_correlation(sim)) * sd[:, None]
    paths = rng.standard_normal((n, k)) @ chol.T
    u = rng.normal(0.0, sim.intercept_sd, n) if sim.intercept_sd > 0 else np.zeros(n)
    time_num = np.tile(np.arange(1, k + 1), n)
    x = np.round(rng.normal(0.0, 1.0, n * k), 4)
    eta = sim.intercept + 0.2 * time_num + 0.5 * x + np.repeat(u, k) + paths.ravel()
    if sim.family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = np.round(eta + rng.normal(0.0, sim.residual_sd, n * k), 6)
    levels = [f"t{t:02d}" for t in range(1, k + 1)]
    return pd.DataFrame(
        {
            "y": y,
            "time_num": time_num,
            "ftime": pd.Categorical.from_codes(time_num - 1, categories=levels),
            "x": x,
            "subject": np.repeat([f"s{i:04d}" for i in range(n)], k),
        }
    )


# --------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------

AR1_PATHS = Simulation(1000, 10)
CS_PATHS = Simulation(1000, 10, structure="cs", rho=0.5, path_sd=(0.6, 1.2))
POISSON_PATHS = Simulation(300, 6, rho=0.6, path_sd=(0.5, 0.5), family="poisson", intercept=0.0)
AR1_RESIDUAL = Simulation(1000, 10, intercept_sd=0.7, path_sd=(1.0, 1.0), residual_sd=0.0)

FIXED = "y ~ time_num + x"
AR1_TERM = "ar1(0 + ftime | subject)"


@dataclass(frozen=True)
class Case:
    """One benchmark case: our call, the peer's R call and the data they share.

    Attributes
    ----------
    id
        Case identifier.
    sim
        The simulated data.
    formula
        Our formula.
    peer
        ``"glmmTMB"`` or ``"nlme"``.
    peer_call
        The peer's fitting call, R code evaluated with the data frame as ``dat``.
    reml
        REML (``True``) or ML; ignored for GLMMs.
    family
        ``None`` for an LMM (``mm.lmer``), else the ``mm.glmer`` family.
    residual_ar1
        Fit with ``correlation=mm.cor_ar1(time="time_num", group="subject")``.
    target
        Required peer/ours ratio, or ``None`` (reported only).
    """

    id: str
    sim: Simulation
    formula: str
    peer: str
    peer_call: str
    reml: bool = False
    family: str | None = None
    residual_ar1: bool = False
    target: float | None = None


def _tmb(formula: str, extra: str) -> str:
    return f"glmmTMB({formula}, data = dat, {extra})"


def _lme(method: str) -> str:
    return (
        f"lme({FIXED}, data = dat, random = ~ 1 | subject, method = '{method}', "
        "correlation = corAR1(form = ~ time_num | subject))"
    )


CASES: tuple[Case, ...] = (
    Case(
        "ar1_ml",
        AR1_PATHS,
        f"{FIXED} + {AR1_TERM}",
        "glmmTMB",
        _tmb(f"{FIXED} + {AR1_TERM}", "REML = FALSE"),
        target=TARGET_SPEEDUP,
    ),
    Case(
        "ar1_reml",
        AR1_PATHS,
        f"{FIXED} + {AR1_TERM}",
        "glmmTMB",
        _tmb(f"{FIXED} + {AR1_TERM}", "REML = TRUE"),
        reml=True,
    ),
    Case(
        "cs_ml",
        CS_PATHS,
        f"{FIXED} + cs(0 + ftime | subject)",
        "glmmTMB",
        _tmb(f"{FIXED} + cs(0 + ftime | subject)", "REML = FALSE"),
    ),
    Case(
        "ar1_poisson",
        POISSON_PATHS,
        f"{FIXED} + {AR1_TERM}",
        "glmmTMB",
        _tmb(f"{FIXED} + {AR1_TERM}", "family = poisson"),
        family="poisson",
    ),
    Case(
        "resid_ar1_reml",
        AR1_RESIDUAL,
        f"{FIXED} + (1 | subject)",
        "nlme",
        _lme("REML"),
        reml=True,
        residual_ar1=True,
        target=TARGET_SPEEDUP,
    ),
    Case(
        "resid_ar1_ml",
        AR1_RESIDUAL,
        f"{FIXED} + (1 | subject)",
        "nlme",
        _lme("ML"),
        residual_ar1=True,
    ),
)


# --------------------------------------------------------------------------------------
# timing: ours
# --------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Median seconds of one engine on one case (``None`` with a note when unavailable)."""

    seconds: float | None = None
    times: list[float] = field(default_factory=list)
    loglik: float | None = None
    note: str = ""
    info: str = ""


def use_src_fallback() -> bool:
    """Put the repository's ``src/`` on ``sys.path`` if ``mixedmodels`` is not installed."""
    if importlib.util.find_spec("mixedmodels") is not None or not SRC_DIR.is_dir():
        return False
    sys.path.insert(0, str(SRC_DIR))
    return True


def short_error(exc: BaseException) -> str:
    """A one-line ``Type: message`` description of an exception."""
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def our_fitter(mm: Any, case: Case) -> Callable[[pd.DataFrame], Any] | str:
    """A function fitting the case to a data frame, or why the case cannot run."""
    if case.family is not None:
        return lambda data: mm.glmer(case.formula, data, family=case.family)
    if not case.residual_ar1:
        return lambda data: mm.lmer(case.formula, data, reml=case.reml)
    cor_ar1 = getattr(mm, "cor_ar1", None)
    if cor_ar1 is None:
        return NOT_AVAILABLE
    return lambda data: mm.lmer(
        case.formula,
        data,
        reml=case.reml,
        correlation=cor_ar1(time="time_num", group="subject"),
    )


def time_ours(mm: Any, case: Case, data: pd.DataFrame, repeats: int) -> Timing:
    """Median time of our fit after one warm-up fit."""
    fitter = our_fitter(mm, case)
    if isinstance(fitter, str):
        return Timing(note="n/a", info=fitter)
    times: list[float] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = fitter(data)
            for _ in range(repeats):
                start = time.perf_counter()
                fitter(data)
                times.append(time.perf_counter() - start)
        except Exception as exc:  # report and go on
            return Timing(note="error", info=short_error(exc))
    messages = sorted({f"{type(w.message).__name__}: {w.message}" for w in caught})
    return Timing(statistics.median(times), times, float(fit.loglik), info="; ".join(messages))


# --------------------------------------------------------------------------------------
# timing: peers in R
# --------------------------------------------------------------------------------------

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[[1]], stringsAsFactors = FALSE)
pkg <- args[[2]]
call <- parse(text = args[[3]])[[1]]
repeats <- as.integer(args[[4]])
suppressPackageStartupMessages(library(pkg, character.only = TRUE))
dat$ftime <- factor(dat$ftime, levels = sort(unique(dat$ftime)))
dat$subject <- factor(dat$subject)
fit <- function() suppressMessages(suppressWarnings(eval(call)))
m <- fit()
times <- vapply(seq_len(repeats), function(i) {
  t0 <- Sys.time(); fit(); as.numeric(difftime(Sys.time(), t0, units = "secs"))
}, numeric(1))
info <- if (pkg == "glmmTMB") {
  sprintf("convergence=%d pdHess=%s evals=%d", m$fit$convergence, m$sdr$pdHess,
          m$fit$evaluations[["function"]])
} else {
  sprintf("version=%s", as.character(packageVersion(pkg)))
}
cat("BENCH_TIMES", sprintf("%.6f", times), "\n")
cat("BENCH_LOGLIK", sprintf("%.10f", as.numeric(logLik(m))), "\n")
cat("BENCH_INFO", info, "\n")
"""


def r_version(package: str) -> str | None:
    """``"<package> <version>"`` when ``Rscript`` runs and the package loads, else ``None``."""
    if shutil.which("Rscript") is None:
        return None
    code = f'cat("V", as.character(packageVersion("{package}")))'
    try:
        proc = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.split()
    return f"{package} {out[1]}" if proc.returncode == 0 and len(out) == 2 else None


def parse_r_output(stdout: str) -> Timing:
    """Read the ``BENCH_*`` lines written by :data:`R_SCRIPT`."""
    found = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition(" ")
        found[key] = rest.strip()
    times = [float(t) for t in found["BENCH_TIMES"].split()]
    return Timing(
        statistics.median(times),
        times,
        float(found["BENCH_LOGLIK"]),
        info=found.get("BENCH_INFO", ""),
    )


def time_peer(script: Path, csv: Path, case: Case, repeats: int) -> Timing:
    """Median time of the peer's fit on the same data, measured inside one Rscript run."""
    cmd = ["Rscript", str(script), str(csv), case.peer, case.peer_call, str(repeats)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=R_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Timing(note="error", info=short_error(exc))
    try:
        return parse_r_output(proc.stdout)
    except (KeyError, ValueError):
        lines = proc.stderr.strip().splitlines()
        return Timing(note="error", info=lines[-1] if lines else f"exit {proc.returncode}")


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    """Both engines on one case."""

    case: str
    peer: str
    nobs: int
    target: float | None
    ours: Timing
    theirs: Timing

    @property
    def ratio(self) -> float | None:
        """Peer time / our time."""
        if self.ours.seconds is None or self.theirs.seconds is None:
            return None
        return self.theirs.seconds / self.ours.seconds

    @property
    def dloglik(self) -> float | None:
        """Our log-likelihood minus the peer's."""
        if self.ours.loglik is None or self.theirs.loglik is None:
            return None
        return self.ours.loglik - self.theirs.loglik


def fmt_s(t: Timing) -> str:
    """Seconds, or the note."""
    return f"{t.seconds:.3f}" if t.seconds is not None else (t.note or "-")


def row(res: CaseResult) -> list[str]:
    """One table row."""
    ratio = res.ratio
    met = "-" if res.target is None or ratio is None else "ok" if ratio >= res.target else "MISS"
    return [
        res.case,
        res.peer,
        str(res.nobs),
        fmt_s(res.ours),
        fmt_s(res.theirs),
        "-" if ratio is None else f"{ratio:.1f}x",
        "-" if res.target is None else f">= {res.target:g}x",
        met,
        "-" if res.dloglik is None else f"{res.dloglik:+.1e}",
    ]


def render(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, first column left-aligned, a rule under the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, cells in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


HEADER = ["case", "peer", "nobs", "ours (s)", "peer (s)", "peer/ours", "target", "met", "dlogLik"]


def notes(results: Sequence[CaseResult]) -> list[str]:
    """The peers' convergence information and any warnings or errors, one line each."""
    lines = []
    for res in results:
        for who, t in (("ours", res.ours), (res.peer, res.theirs)):
            if t.info:
                lines.append(f"  {res.case} {who}: {t.info}")
    return lines


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated case ids (default: all)")
    parser.add_argument("--repeats", type=int, default=10, help="our timed repeats (10)")
    parser.add_argument("--r-repeats", type=int, default=5, help="peers' timed repeats (5)")
    parser.add_argument("--no-r", action="store_true", help="time mixedmodels only")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    return parser.parse_args(argv)


def select_cases(spec: str) -> list[Case]:
    """Cases by comma-separated ids (all when empty)."""
    by_id = {case.id: case for case in CASES}
    ids = [s.strip() for s in spec.split(",") if s.strip()] or list(by_id)
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(by_id)}")
    return [by_id[i] for i in ids]


def run_case(
    case: Case, args: argparse.Namespace, mm: Any, script: Path | None, tmp: Path
) -> CaseResult:
    """Simulate the case's data and time both engines on it."""
    data = simulate(case.sim)
    csv = tmp / f"{case.id}.csv"
    data.to_csv(csv, index=False)
    ours = time_ours(mm, case, data, args.repeats)
    if script is None:
        theirs = Timing(note="no R")
    else:  # the peer's time is worth knowing even when ours is not available
        theirs = time_peer(script, csv, case, args.r_repeats)
    return CaseResult(case.id, case.peer, len(data), case.target, ours, theirs)


def header_lines(mm: Any, src_fallback: bool, peers: dict[str, str | None]) -> list[str]:
    """Versions and machine, printed above the table."""
    origin = Path(mm.__file__).resolve().parent
    r = ", ".join(v or f"{p} not available" for p, v in peers.items())
    return [
        f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs",
        f"mixedmodels {getattr(mm, '__version__', '?')} from {origin}"
        f"{' (src fallback)' if src_fallback else ''}; numpy {np.__version__}; {r}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    cases = select_cases(args.cases)
    if args.list:
        for case in cases:
            print(f"{case.id:16s} {case.formula}  |  {case.peer_call}")
        return 0
    src_fallback = use_src_fallback()
    mm = importlib.import_module("mixedmodels")
    use_r = not args.no_r and shutil.which("Rscript") is not None
    peers = {p: r_version(p) if use_r else None for p in sorted({c.peer for c in cases})}
    head = header_lines(mm, src_fallback, peers)
    print("\n".join(head), file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        script = tmp / "bench_covstruct.R" if use_r else None
        if script is not None:
            script.write_text(R_SCRIPT)
        for case in cases:
            print(f"  running {case.id} ...", file=sys.stderr, flush=True)
            results.append(run_case(case, args, mm, script, tmp))
    print("\n".join(head))
    print(f"median of {args.repeats} (ours) / {args.r_repeats} (peers) fits after one warm-up\n")
    print(render([HEADER, *(row(res) for res in results)]))
    print("\ndlogLik: our logLik minus the peer's (restricted for REML); ~0: the same optimum")
    extra = notes(results)
    if extra:
        print("\n".join(["notes:", *extra]))
    if args.json is not None:
        payload = {
            "meta": {"header": head, "repeats": args.repeats, "r_repeats": args.r_repeats},
            "cases": [
                asdict(res) | {"ratio": res.ratio, "dloglik": res.dloglik} for res in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
