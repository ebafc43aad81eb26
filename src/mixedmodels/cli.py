"""The command line: ``mixedmodels fit FORMULA --data NAME_OR_PATH [--ml] [--json]``.

Errors the package reports on purpose (and unreadable data files) end the program with status 2
and one message on standard error, never a traceback; warnings are printed on standard error,
one line each.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mixedmodels.errors import MixedModelsError
from mixedmodels.results.tidy import fit_document

if TYPE_CHECKING:
    from mixedmodels.models.generalized import GeneralizedLinearMixedModel
    from mixedmodels.models.linear import LinearMixedModel

__all__ = ["fit_document", "load_data", "main"]

PROG = "mixedmodels"
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


class CLIError(Exception):
    """A problem to report as ``mixedmodels: error: ...`` with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with its ``fit`` sub-command.

    Returns
    -------
    argparse.ArgumentParser
        The parser; usage errors make it exit with status 2.
    """
    from mixedmodels import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="Fit linear mixed-effects models from lme4-style formulas."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fit = commands.add_parser(
        "fit", help="fit a linear mixed model and print its summary", description=__doc__
    )
    fit.add_argument("formula", metavar="FORMULA", help='e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument(
        "--data",
        required=True,
        metavar="NAME_OR_PATH",
        help="a bundled dataset name, a .csv / .parquet / .pq file, or a directory or glob of "
        "Parquet files (read chunk by chunk)",
    )
    fit.add_argument(
        "--chunked",
        action="store_true",
        help="read Parquet data chunk by chunk with Dask instead of loading it (LMMs; implied "
        "for a directory or a glob)",
    )
    fit.add_argument("--ml", action="store_true", help="fit by maximum likelihood (default REML)")
    fit.add_argument("--json", action="store_true", help="print the result as a JSON document")
    fit.add_argument("--weights", metavar="COL", help="column of prior weights")
    fit.add_argument("--offset", metavar="COL", help="column of a known offset")
    fit.add_argument(
        "--family",
        default="gaussian",
        help="gaussian (lmer; glmer with --link log or inverse), binomial, poisson, Gamma, "
        "inverse.gaussian, negative_binomial",
    )
    fit.add_argument("--link", default=None, help="link for --family (default: canonical)")
    fit.add_argument("--nagq", type=int, default=1, help="GLMM: Gauss-Hermite points (1 = Laplace)")
    fit.add_argument(
        "--ddf",
        default=None,
        choices=["satterthwaite", "kenward-roger", "residual", "wald"],
        help="denominator df of the t tests (LMMs; default satterthwaite, as lmerTest)",
    )
    fit.add_argument(
        "--ci",
        choices=["wald", "profile", "bootstrap"],
        help="also print confidence intervals by this method (as lme4's confint)",
    )
    fit.add_argument("--level", type=float, default=0.95, help="confidence level for --ci")
    fit.add_argument(
        "--nsim", type=int, default=500, help="--ci bootstrap: replicates (default 500, as lme4)"
    )
    fit.add_argument("--seed", type=int, default=None, help="--ci bootstrap: random seed")
    fit.add_argument(
        "--plot", metavar="PATH", help="also save diagnostic plots, e.g. diagnostics.png"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv
        The arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 2 on a usage error, an error reported by the package, or unreadable data.
    """
    _printable_streams()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # argparse exits 2 on usage errors, 0 on --help
        return stop.code if isinstance(stop.code, int) else 2
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            text = _run_fit(args)
    except (MixedModelsError, CLIError) as error:
        _report_warnings(caught)
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    _report_warnings(caught)
    sys.stdout.write(text)
    return 0


def _printable_streams() -> None:
    """Print what the terminal cannot encode as escapes (an ASCII locale, non-ASCII names)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _run_fit(args: argparse.Namespace) -> str:
    """Load the data, fit the model and return the text to print."""
    from mixedmodels.api import lmer

    data, name = (args.data, args.data) if _chunked(args) else load_data(args.data)
    if isinstance(data, pd.DataFrame):
        data.attrs["name"] = name  # our own frame: shown as "Data:" by the summary
    model: LinearMixedModel | GeneralizedLinearMixedModel
    if args.family.lower() != "gaussian" or args.link not in (None, "identity"):
        from mixedmodels.glmm_api import fit_from_cli

        if args.ddf is not None:
            raise CLIError(
                "--ddf applies to linear mixed models (t tests); a GLMM's tests are z tests"
            )
        model = fit_from_cli(args, data)
    else:
        model = lmer(args.formula, data, reml=not args.ml, weights=args.weights, offset=args.offset)
    ddf = {"ddf": args.ddf} if args.ddf is not None else {}
    if args.plot:
        _write_plot(model, args.plot)
    intervals = _intervals(model, args) if args.ci else None
    if args.json:
        document = fit_document(model, **ddf)
        if intervals is not None:
            document["confint"] = json.loads(intervals.to_json(orient="index"))
        return json.dumps(document, indent=2, allow_nan=False) + "\n"
    text = model.summary(**ddf)
    if intervals is not None:
        title = f"Confidence intervals ({args.ci}, level {args.level:g}):"
        text = text.rstrip("\n") + f"\n\n{title}\n{intervals.to_string()}\n"
    return text


def _intervals(
    model: LinearMixedModel | GeneralizedLinearMixedModel, args: argparse.Namespace
) -> pd.DataFrame:
    """``model.confint(method, level)`` (each kind of model refuses what it cannot do)."""
    options: dict[str, Any] = {}
    if args.ci == "bootstrap":
        if args.nsim < 1:
            raise CLIError(f"--nsim must be a positive number of replicates, not {args.nsim}")
        options = {"nsim": args.nsim, "seed": args.seed}
    return pd.DataFrame(model.confint(method=args.ci, level=args.level, **options))


def _report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print each distinct warning as one line on standard error."""
    seen: set[str] = set()
    for item in caught:
        message = " ".join(str(item.message).split())
        if message not in seen:
            seen.add(message)
            print(f"{PROG}: warning: {message}", file=sys.stderr)


# ---- data -----------------------------------------------------------------------------------
def load_data(spec: str) -> tuple[pd.DataFrame, str]:
    """Read ``--data``: a bundled dataset name or a CSV / Parquet file.

    Parameters
    ----------
    spec
        A dataset name such as ``"sleepstudy"`` or a path ending in ``.csv``, ``.csv.gz``,
        ``.parquet`` or ``.pq``.

    Returns
    -------
    tuple of (pandas.DataFrame, str)
        The data and the name to show in the summary (dataset name or file stem).

    Raises
    ------
    CLIError
        When the file is missing, unreadable or of an unknown type.
    DataError
        When no bundled dataset has that name.
    """
    path = Path(spec)
    if _looks_like_path(spec):
        return _read_file(path), _stem(path)
    return _load_bundled(spec), spec


def _chunked(args: argparse.Namespace) -> bool:
    """Whether ``--data`` is read chunk by chunk: asked for, a directory, or a glob."""
    spec = str(args.data)
    return bool(args.chunked) or Path(spec).is_dir() or any(c in spec for c in "*?[")


def _looks_like_path(spec: str) -> bool:
    """Tell whether ``spec`` is a path: data-file suffix, directory part, or existing file."""
    lower = spec.lower()
    if lower.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        return True
    return "/" in spec or "\\" in spec or Path(spec).is_file()


def _stem(path: Path) -> str:
    """File name without its data suffixes (``sleep.csv.gz`` → ``sleep``)."""
    name = path.name
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _read_file(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every failure into a :class:`CLIError`."""
    if not path.exists():
        raise CLIError(f"cannot read {str(path)!r}: no such file")
    if path.is_dir():
        raise CLIError(f"cannot read {str(path)!r}: it is a directory")
    lower = path.name.lower()
    try:
        if lower.endswith(PARQUET_SUFFIXES):
            return _read_parquet(path)
        if lower.endswith(CSV_SUFFIXES):
            return pd.read_csv(path)
    except CLIError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise CLIError(f"cannot read {str(path)!r}: {detail}") from None
    raise CLIError(
        f"cannot read {str(path)!r}: unknown file type; use a .csv, .parquet or .pq file"
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file with pyarrow, with a clear message when pyarrow is missing."""
    if importlib.util.find_spec("pyarrow") is None:
        raise CLIError("reading Parquet files needs pyarrow: pip install 'mixedmodels[parquet]'")
    return pd.read_parquet(path, engine="pyarrow")


def _load_bundled(name: str) -> pd.DataFrame:
    """Load a bundled dataset (a :class:`~mixedmodels.DataError` names the choices if unknown)."""
    from mixedmodels import datasets

    return datasets.load(name)


# ---- JSON -----------------------------------------------------------------------------------


def _write_plot(model: LinearMixedModel | GeneralizedLinearMixedModel, path: str) -> None:
    """Save the 2×2 diagnostics panel; a missing matplotlib or a bad path is a CLIError."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise CLIError("--plot needs matplotlib: pip install 'mixedmodels[plot]'") from None
    from mixedmodels.plots import diagnostics_panel

    figure = diagnostics_panel(model)
    try:
        figure.savefig(path)
    except (OSError, ValueError) as error:
        raise CLIError(f"cannot write {path!r}: {error}") from None
    finally:
        plt.close(figure)
