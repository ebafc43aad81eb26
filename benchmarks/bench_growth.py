#!/usr/bin/env python
"""Growth table: time and memory of ``y ~ x1 + (1|g1) + (1|g2)`` from 10^4 to 10^7 rows.

Issue #17 (performance, round 2), goals 1 and 8. For each number of rows ``n`` the data come
from ``mixedmodels.datasets.simulate_crossed(n, (n // 100, int(2 * sqrt(n))), seed=1)``
(columns ``y, x1, g1, g2`` only), written once to a temporary Parquet file (the Python
engines) and CSV file (R). Engines, each where installed (skipped with a note otherwise):

- ``ours``: ``mm.lmer(formula, data, reml=False)``;
- ``mixedlm``: the Rust-backed PyPI package, ``mixedlm.lmer(formula, data, REML=False)``;
- ``lme4``: ``lme4::lmer(formula, dat, REML = FALSE)`` timed inside ``Rscript``;
- ``glmmTMB``: ``glmmTMB(formula, dat, REML = FALSE)`` timed inside ``Rscript``.

The R child is ``bench_growth.R`` beside this file (it reads the CSV with ``data.table::fread``
when installed). All fits are by maximum likelihood. Each (engine, size) runs in its own
process: it imports the engine, fits a tiny data set once (imports, lazy loading, JIT), reads
the data, then times whole fitting calls (model construction included; the median of
``--repeats``, default 3 up to 10^5 rows and 1 beyond), wall-clock and CPU time. Peak memory is
the child's ``VmHWM`` (``/proc/self/status``): all it held, interpreter and data included
(``ru_maxrss`` would include the parent's size, inherited through ``vfork``). ``data MiB`` is
the growth of the resident set on reading the data alone.

An engine whose fit exceeds ``--max-seconds`` at one size (or whose process is killed after
``--timeout``) is skipped at the larger sizes. The report gives the log-log slope of time
against rows per engine, the ratios of the peers' times to ours, ``dlogLik`` (each engine's
log-likelihood minus lme4's, to catch a fast but wrong fit) and whether the targets are met:
ours ≥ 3× faster than lme4 at 10^4 rows and ≥ 10× at 10^5 and 10^6; our peak memory no more
than mixedlm's.

Examples
--------
::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_growth.py --sizes 10000 --engines ours
    PYTHONPATH=src .venv/bin/python benchmarks/bench_growth.py --sizes 1e4,1e5,1e6 --json g.json
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = REPO_DIR / "src"
FORMULA = "y ~ x1 + (1|g1) + (1|g2)"
COLUMNS = ["y", "x1", "g1", "g2"]
REML = False
SEED = 1
TINY_ROWS, TINY_LEVELS, TINY_SEED = 2000, (20, 40), 2
DEFAULT_SIZES = "1e4,1e5,1e6,1e7"
ENGINES = ("ours", "mixedlm", "lme4", "glmmTMB")
PYTHON_ENGINES = ("ours", "mixedlm")
R_PACKAGES = ("lme4", "glmmTMB", "Matrix", "TMB", "data.table")
SPEED_TARGETS = {10_000: 3.0, 100_000: 10.0, 1_000_000: 10.0}  # lme4 / ours


def levels_for(n: int) -> tuple[int, int]:
    """Levels of ``g1`` (``n // 100``) and ``g2`` (``int(2 √n)``) for ``n`` rows."""
    return max(n // 100, 2), max(int(2 * math.sqrt(n)), 2)


# --- child processes: data and Python fits ---


def status_kib(key: str) -> float | None:
    """A ``/proc/self/status`` field in KiB (``VmHWM``, ``VmRSS``), ``None`` off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def make_data(n: int, levels: tuple[int, int], seed: int, stem: Path, csv: bool) -> None:
    """Simulate ``n`` rows and write ``stem.parquet`` (or ``stem.csv`` without pyarrow)."""
    from mixedmodels.datasets import simulate_crossed

    data = simulate_crossed(n, levels, seed=seed)[COLUMNS]
    if importlib.util.find_spec("pyarrow") is not None:
        data.to_parquet(stem.with_suffix(".parquet"), index=False)
    if csv or importlib.util.find_spec("pyarrow") is None:
        data.to_csv(stem.with_suffix(".csv"), index=False)


def read_frame(stem: Path) -> Any:
    """Read the data written by :func:`make_data` into a pandas DataFrame."""
    import pandas as pd

    parquet = stem.with_suffix(".parquet")
    return pd.read_parquet(parquet) if parquet.exists() else pd.read_csv(stem.with_suffix(".csv"))


def python_engine(engine: str) -> tuple[Callable[[Any], Any], Callable[[Any], tuple[int, float]]]:
    """The fitting call of a Python engine and a reader of (evaluations, logLik) of a fit."""
    if engine == "ours":
        mm = importlib.import_module("mixedmodels")
        return (
            lambda d: mm.lmer(FORMULA, d, reml=REML),
            lambda f: (int(f.optsum.feval), float(f.loglik)),
        )
    mixedlm = importlib.import_module("mixedlm")
    return (
        lambda d: mixedlm.lmer(FORMULA, d, REML=REML),
        lambda f: (int(f.function_evals), float(f.logLik())),
    )


def child_main(engine: str, stem: Path, tiny: Path, repeats: int) -> int:
    """Run inside a fresh interpreter: warm up, read the data, time the fits, print results."""
    fit, read = python_engine(engine)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(read_frame(tiny))
        before = status_kib("VmRSS")
        data = read_frame(stem)
        after = status_kib("VmRSS")
        times, cpu = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            result = fit(data)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
    feval, loglik = read(result)
    module = sys.modules["mixedmodels" if engine == "ours" else "mixedlm"]
    info = sorted({f"{type(w.message).__name__}: {w.message}" for w in caught})
    data_kib = None if before is None or after is None else after - before
    print("BENCH_TIMES", " ".join(f"{t:.6f}" for t in times))
    print("BENCH_CPU", " ".join(f"{t:.6f}" for t in cpu))
    print("BENCH_FEVAL", feval)
    print("BENCH_LOGLIK", f"{loglik:.10f}")
    print("BENCH_PEAK_KIB", status_kib("VmHWM"))
    print("BENCH_DATA_KIB", data_kib)
    print("BENCH_LOADED_KIB", after)
    print("BENCH_INFO", "; ".join([f"from {Path(str(module.__file__)).parent}", *info]))
    return 0


# --- child processes: R ---

R_SCRIPT = Path(__file__).resolve().with_suffix(".R")  # the R child, beside this file


def r_versions() -> dict[str, str]:
    """R's version and those of the R packages used, ``{}`` when ``Rscript`` does not run."""
    if shutil.which("Rscript") is None:
        return {}
    names = ", ".join(f'"{p}"' for p in R_PACKAGES)
    code = (
        f"for (p in c({names})) if (requireNamespace(p, quietly = TRUE)) "
        'cat("V", p, as.character(packageVersion(p)), "\\n");'
        'cat("V R", paste(R.version$major, R.version$minor, sep = "."), "\\n")'
    )
    try:
        proc = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = [line.split() for line in proc.stdout.splitlines() if line.startswith("V ")]
    return {parts[1]: parts[2] for parts in found if len(parts) == 3}


# --- the driver ---


@dataclass
class Run:
    """One engine at one size (``seconds`` is ``None`` with a note when it did not run)."""

    engine: str
    rows: int
    levels: tuple[int, int]
    seconds: float | None = None
    times: list[float] = field(default_factory=list)
    feval: int | None = None
    loglik: float | None = None
    cpu_seconds: float | None = None
    load: tuple[float, float] | None = None
    peak_mib: float | None = None
    data_mib: float | None = None
    loaded_mib: float | None = None
    note: str = ""
    info: str = ""


def short_error(exc: BaseException) -> str:
    """A one-line ``Type: message`` description of an exception."""
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def parse_child(run: Run, stdout: str) -> None:
    """Fill ``run`` from the ``BENCH_*`` lines of a child's output."""
    found = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition(" ")
        if key.startswith("BENCH_"):
            found[key] = rest.strip()
    run.times = [float(t) for t in found["BENCH_TIMES"].split()]
    run.seconds = statistics.median(run.times)
    cpu = [float(t) for t in found.get("BENCH_CPU", "").split()]
    run.cpu_seconds = statistics.median(cpu) if cpu else None
    run.feval = int(float(found["BENCH_FEVAL"])) if found.get("BENCH_FEVAL") else None
    run.loglik = float(found["BENCH_LOGLIK"])
    names = {"BENCH_PEAK_KIB": "peak_mib", "BENCH_DATA_KIB": "data_mib"}
    for key, name in (names | {"BENCH_LOADED_KIB": "loaded_mib"}).items():
        value = found.get(key, "None")
        setattr(run, name, None if value in ("None", "NA", "") else float(value) / 1024)
    run.info = found.get("BENCH_INFO", "")


def child_command(engine: str, stem: Path, tiny: Path, repeats: int, r_script: Path) -> list[str]:
    """The command line measuring ``engine`` on the data at ``stem``."""
    if engine in PYTHON_ENGINES:
        script = str(Path(__file__).resolve())
        return [sys.executable, script, "--child", engine, str(stem), str(tiny), str(repeats)]
    csv, tiny_csv = str(stem.with_suffix(".csv")), str(tiny.with_suffix(".csv"))
    r_args = [engine, csv, tiny_csv, str(repeats), str(REML).upper(), FORMULA]
    return ["Rscript", str(r_script), *r_args]


def load_average() -> float:
    """The 1-minute load average (NaN where unknown): other work slows every engine."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def measure(run: Run, cmd: list[str], env: dict[str, str], timeout: float) -> Run:
    """Run one child and read its results into ``run`` (with the load before and after)."""
    before = load_average()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        run.note, run.info = "timeout", f"killed after {timeout:.0f} s"
        proc = None
    except OSError as exc:
        run.note, run.info = "error", short_error(exc)
        proc = None
    run.load = (before, load_average())
    if proc is None:
        return run
    try:
        parse_child(run, proc.stdout)
    except (KeyError, ValueError):
        lines = proc.stderr.strip().splitlines()
        run.note, run.info = "error", lines[-1] if lines else f"exit {proc.returncode}"
    return run


def available(engines: Sequence[str], r: dict[str, str]) -> dict[str, str]:
    """Why each requested engine cannot run (engines that can are absent)."""
    missing = {}
    for engine in engines:
        if engine in PYTHON_ENGINES:
            module = "mixedmodels" if engine == "ours" else "mixedlm"
            if importlib.util.find_spec(module) is None:
                missing[engine] = f"{module} not installed"
        elif not r:
            missing[engine] = "Rscript not found"
        elif engine not in r:
            missing[engine] = f"R package {engine} not installed"
    return missing


def subprocess_env(src_fallback: bool) -> dict[str, str]:
    """The environment of the children, with ``src/`` on the path when the driver used it."""
    env = dict(os.environ)
    if src_fallback:
        parts = [str(SRC_DIR), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    return env


def write_data(n: int, levels: tuple[int, int], seed: int, stem: Path, csv: bool, env: Any) -> None:
    """Write one data set in a child process, so that the driver stays small."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--make-data", str(n)]
    cmd += [str(levels[0]), str(levels[1]), str(seed), str(stem), "1" if csv else "0"]
    subprocess.run(cmd, check=True, env=env)


def run_all(
    args: argparse.Namespace, engines: list[str], env: dict[str, str], head: list[str]
) -> list[Run]:
    """Every engine at every size (smallest first), within the per-engine time budget."""
    runs: list[Run] = []
    over: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_growth_") as tmpdir:
        tmp = Path(tmpdir)
        want_csv = any(e not in PYTHON_ENGINES for e in engines)
        tiny = tmp / "tiny"
        write_data(TINY_ROWS, TINY_LEVELS, TINY_SEED, tiny, want_csv, env)
        for n in args.sizes:
            levels = levels_for(n)
            todo = [e for e in engines if e not in over]
            if todo:
                started = time.perf_counter()
                stem = tmp / f"rows{n}"
                write_data(n, levels, SEED, stem, any(e not in PYTHON_ENGINES for e in todo), env)
                log(f"{n:,} rows, levels {levels}: data written in {elapsed(started)}")
            for engine in engines:
                run = Run(engine, n, levels)
                if engine in over:
                    run.note, run.info = "skipped", over[engine]
                else:
                    repeats = args.repeats if args.repeats else (3 if n <= 100_000 else 1)
                    cmd = child_command(engine, stem, tiny, repeats, R_SCRIPT)
                    started = time.perf_counter()
                    measure(run, cmd, env, args.timeout)
                    log(f"  {engine:8s} {fmt_s(run):>9s}  (child ran {elapsed(started)})")
                    if run.note == "timeout" or (run.seconds or 0.0) > args.max_seconds:
                        over[engine] = f"over the budget of {args.max_seconds:g} s at {n:,} rows"
                runs.append(run)
                if args.json is not None:
                    write_json(args.json, args, runs, head)
            for path in tmp.glob(f"rows{n}.*"):
                path.unlink()
    return runs


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def elapsed(started: float) -> str:
    """Seconds since ``started``."""
    return f"{time.perf_counter() - started:.1f} s"


# --- report ---


def fmt_s(run: Run) -> str:
    """Seconds, or the note."""
    if run.seconds is None:
        return run.note or "-"
    return f"{run.seconds:.3f}" if run.seconds < 100 else f"{run.seconds:.1f}"


def fmt(value: float | None, spec: str) -> str:
    """A number, or ``-``."""
    return "-" if value is None else format(value, spec)


def find(runs: Sequence[Run], engine: str, n: int) -> Run | None:
    """The run of ``engine`` at ``n`` rows."""
    return next((r for r in runs if r.engine == engine and r.rows == n), None)


def table(runs: Sequence[Run]) -> list[list[str]]:
    """One row per run; ``dlogLik`` is the engine's logLik minus lme4's at the same size."""
    rows = [["engine", "rows", "levels", "seconds", "cpu s", "evals", "peak MiB", "data MiB"]]
    rows[0] += ["fit MiB", "logLik", "dlogLik", "load"]
    for run in runs:
        ref = find(runs, "lme4", run.rows)
        dll = None
        if ref is not None and ref.loglik is not None and run.loglik is not None:
            dll = run.loglik - ref.loglik
        rows.append(
            [
                run.engine,
                f"{run.rows:,}",
                f"{run.levels[0]:,} x {run.levels[1]:,}",
                fmt_s(run),
                fmt(run.cpu_seconds, ".3f" if (run.cpu_seconds or 0) < 100 else ".1f"),
                fmt(run.feval, "d"),
                fmt(run.peak_mib, ".0f"),
                fmt(run.data_mib, ".0f"),
                fmt(fit_mib(run), ".0f"),
                fmt(run.loglik, ".3f"),
                "-" if dll is None or run.engine == "lme4" else f"{dll:+.1e}",
                "-" if run.load is None else f"{run.load[0]:.1f}/{run.load[1]:.1f}",
            ]
        )
    return rows


def fit_mib(run: Run) -> float | None:
    """Peak memory above what the process held once the data were read (0 if reached before)."""
    if run.peak_mib is None or run.loaded_mib is None:
        return None
    return max(run.peak_mib - run.loaded_mib, 0.0)


def render(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, first column left-aligned, a rule under the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, cells in enumerate(rows):
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(parts))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def slopes(runs: Sequence[Run], engines: Sequence[str]) -> dict[str, float | None]:
    """Least-squares slope of log(seconds) on log(rows) per engine (``None`` below 2 sizes)."""
    out: dict[str, float | None] = {}
    for engine in engines:
        pts = [
            (math.log(r.rows), math.log(r.seconds))
            for r in runs
            if r.engine == engine and r.seconds
        ]
        if len({x for x, _ in pts}) < 2:
            out[engine] = None
            continue
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        sxx = sum((x - mx) ** 2 for x, _ in pts)
        out[engine] = sum((x - mx) * (y - my) for x, y in pts) / sxx
    return out


def ratio(runs: Sequence[Run], peer: str, n: int) -> float | None:
    """The peer's time over ours at ``n`` rows (``None`` unless both were measured)."""
    ours, other = find(runs, "ours", n), find(runs, peer, n)
    if ours is None or other is None or not ours.seconds or other.seconds is None:
        return None
    return other.seconds / ours.seconds


def ratios(runs: Sequence[Run], sizes: Sequence[int]) -> list[list[str]]:
    """Peer time / our time at each size."""
    peers = [e for e in ENGINES[1:] if any(r.engine == e for r in runs)]
    rows = [["rows", *(f"{p}/ours" for p in peers)]]
    for n in sizes:
        rows.append([f"{n:,}", *(fmt(ratio(runs, p, n), ".1f") + "x" for p in peers)])
    return [[c.replace("-x", "-") for c in row] for row in rows]


def targets(runs: Sequence[Run], sizes: Sequence[int]) -> list[str]:
    """Which of the issue's targets are met, one line each."""
    lines = []
    for n, need in SPEED_TARGETS.items():
        got = ratio(runs, "lme4", n)
        if got is None:
            lines.append(f"  lme4/ours >= {need:g}x at {n:,} rows: not measured")
            continue
        lines.append(f"  lme4/ours >= {need:g}x at {n:,} rows: {got:.1f}x {verdict(got >= need)}")
    for n in sizes:
        ours, other = find(runs, "ours", n), find(runs, "mixedlm", n)
        if ours and other and ours.peak_mib and other.peak_mib:
            ok = ours.peak_mib <= other.peak_mib
            lines.append(
                f"  peak memory ours <= mixedlm at {n:,} rows: {ours.peak_mib:.0f} vs "
                f"{other.peak_mib:.0f} MiB {verdict(ok)}"
            )
    return lines


def verdict(ok: bool) -> str:
    """``met`` or ``MISSED``."""
    return "met" if ok else "MISSED"


def report(
    args: argparse.Namespace, head: list[str], runs: Sequence[Run], engines: list[str]
) -> str:
    """The whole printed report."""
    reps = f"{args.repeats} fits" if args.repeats else "3 fits up to 100,000 rows (1 beyond)"
    out = [*head, f"{FORMULA}, ML; median of {reps} after a warm-up; a fresh process each"]
    out += ["", render(table(runs)), ""]
    out.append("log-log slope of seconds vs rows (least squares over the sizes measured):")
    for engine, slope in slopes(runs, engines).items():
        out.append(f"  {engine:8s} {fmt(slope, '.2f')}")
    ratio_rows = ratios(runs, args.sizes)
    if len(ratio_rows[0]) > 1:
        out += ["", render(ratio_rows)]
    out += ["", "targets:", *targets(runs, args.sizes)]
    out.append("\npeak MiB: VmHWM of the child process (everything it held, imports included)")
    out.append("data MiB: RSS growth on reading the data; fit MiB: peak minus RSS after reading")
    out.append("dlogLik: the engine's log-likelihood minus lme4's on the same data")
    out.append("cpu s: CPU time of the child during the fit; load: 1-min load before/after")
    notes = [
        f"  {r.engine} {r.rows:,}: {r.note + ': ' if r.note else ''}{r.info}"
        for r in runs
        if r.info or r.note
    ]
    return "\n".join(out + (["notes:", *notes] if notes else []))


def write_json(path: Path, args: argparse.Namespace, runs: Sequence[Run], head: list[str]) -> None:
    """All runs, slopes and options as JSON (rewritten after every run)."""
    engines = sorted({r.engine for r in runs}, key=ENGINES.index)
    payload = {
        "meta": {"header": head, "formula": FORMULA, "reml": REML, "sizes": args.sizes},
        "options": {"repeats": args.repeats, "max_seconds": args.max_seconds},
        "runs": [asdict(r) for r in runs],
        "slopes": slopes(runs, engines),
        "ratios": {
            f"{p}/ours": {str(n): ratio(runs, p, n) for n in args.sizes} for p in ENGINES[1:]
        },
        "targets": targets(runs, args.sizes),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def header(src_fallback: bool, r: dict[str, str], missing: dict[str, str]) -> list[str]:
    """Versions of everything, and which ``mixedmodels`` is imported."""
    spec = importlib.util.find_spec("mixedmodels")
    origin = Path(str(spec.origin)).parent if spec and spec.origin else "?"
    py = ", ".join(f"{p} {package_version(p)}" for p in ("mixedlm", "numpy", "scipy", "pandas"))
    rv = ", ".join(f"{k} {v}" for k, v in r.items()) or "not used or not available"
    lines = [
        f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs",
        f"mixedmodels {package_version('mixedmodels')} from {origin}"
        f"{' (src fallback)' if src_fallback else ''}; {py}, pyarrow {package_version('pyarrow')}",
        f"R: {rv}",
    ]
    return lines + [f"skipped: {e} ({why})" for e, why in missing.items()]


def package_version(name: str) -> str:
    """An installed distribution's version, or ``-``."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def parse_sizes(spec: str) -> list[int]:
    """``"1e4,100000"`` → ``[10000, 100000]``."""
    sizes = sorted({int(float(s)) for s in spec.split(",") if s.strip()})
    if not sizes or sizes[0] < 100:
        raise SystemExit(f"--sizes needs numbers of rows of at least 100, not {spec!r}")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=DEFAULT_SIZES, help=DEFAULT_SIZES)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--repeats", type=int, default=0, help="timed fits (3 to 1e5, then 1)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="per-engine budget")
    parser.add_argument("--timeout", type=float, default=1800.0, help="kill a child after this")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def use_src_fallback() -> bool:
    """Put the repository's ``src/`` on ``sys.path`` if ``mixedmodels`` is not installed."""
    if importlib.util.find_spec("mixedmodels") is not None or not SRC_DIR.is_dir():
        return False
    sys.path.insert(0, str(SRC_DIR))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child`` / ``--make-data``, one child's part of it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--child"], ["--make-data"]):
        use_src_fallback()
        if argv[0] == "--child":
            return child_main(argv[1], Path(argv[2]), Path(argv[3]), int(argv[4]))
        n, l1, l2, seed = (int(a) for a in argv[1:5])
        make_data(n, (l1, l2), seed, Path(argv[5]), argv[6] == "1")
        return 0
    args = parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise SystemExit(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    src_fallback = use_src_fallback()
    r = r_versions() if any(e not in PYTHON_ENGINES for e in engines) else {}
    missing = available(engines, r)
    head = header(src_fallback, r, missing)
    log("\n".join(head))
    engines = [e for e in engines if e not in missing]
    runs = run_all(args, engines, subprocess_env(src_fallback), head) if engines else []
    print(report(args, head, runs, engines))
    if args.json is not None:
        write_json(args.json, args, runs, head)
    return 0


if __name__ == "__main__":
    sys.exit(main())
