"""Parametric bootstrap of a linear or generalized linear mixed model (lme4's ``bootMer``).

Each replicate simulates a response from the fitted model (new random effects and new noise,
lme4's default ``use.u = FALSE``) and refits it with the same criterion. An LMM runs its
replicates itself (``bootstrap_replicates``, :mod:`mixedmodels.inference.lmm_replicates`): only
the response row of the stored blocks is new in each, θ is optimized from θ̂ on a factor of its
own and the estimates are read from it, with no model built per replicate. Other models are read
through :class:`~mixedmodels.fitted.Refittable`: a GLMM's ``refit`` starts from the model's
estimates and its PIRLS modes. A GLMM whose
family has no dispersion (binomial, Poisson) has no ``sigma`` column, as lme4's ``confint``
of a glmer fit has no ``.sigma`` row.

Replicate ``i`` draws from its own child of ``numpy.random.SeedSequence(seed)``, so the table
is the same whatever the number of worker processes or the chunking.
"""

from __future__ import annotations

import inspect
import math
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, MixedModelsError, ModelSpecificationError
from mixedmodels.inference.jobs import resolve_jobs
from mixedmodels.inference.parameters import parameter_names, sdcor_from_theta
from mixedmodels.inference.progress import ProgressBar as _ProgressBar

if TYPE_CHECKING:
    from mixedmodels.fitted import Refittable

__all__ = ["parametric_bootstrap"]

Array = FloatArray
_FAILURES = (MixedModelsError, np.linalg.LinAlgError, ArithmeticError)


def parametric_bootstrap(
    model: Refittable,
    n: int,
    seed: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Simulate ``n`` responses from the fitted model and refit each one.

    Parameters
    ----------
    model
        A fitted LMM or GLMM; it is not modified.
    n
        Number of replicates.
    seed
        An int, a :class:`numpy.random.SeedSequence`, a :class:`numpy.random.Generator` or
        None (fresh entropy, recorded in ``attrs["seed"]``).
    n_jobs
        Worker processes; None or a value below 1 uses every available core, 1 runs in this
        process.
    progress
        Show a text progress bar on stderr; by default only when stderr is a terminal.

    Returns
    -------
    pandas.DataFrame
        One row per replicate: ``replicate``, ``objective`` (REML criterion or deviance), the
        fixed effects (by name), ``sigma`` (not for a GLMM without a dispersion), ``theta_1,
        theta_2, ...``, the SDs and correlations under lme4's readable names
        (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ...), ``converged`` (the
        optimizer stopped normally and the optimum passed the convergence checks) and
        ``singular``. A failed refit leaves ``nan``. ``attrs`` holds
        ``estimates`` (the same columns at the original fit), ``seed`` (the root entropy) and
        ``n_failed``.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> boot = parametric_bootstrap(m, 20, seed=42, n_jobs=1, progress=False)
    >>> len(boot), bool(boot["Days"].between(5, 16).all())
    (20, True)
    """
    if model.optsum is None:
        raise ModelSpecificationError("the model has not been fitted yet: call .fit()")
    if int(n) != n or n < 1:
        raise DataError(f"the number of replicates must be a positive integer, not {n!r}")
    n = int(n)
    root = _seed_sequence(seed)
    children = root.spawn(n)
    workers = resolve_jobs(n_jobs, n)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _ProgressBar(n, show)
    try:
        if workers == 1:
            rows = _run_serial(model, children, bar)
        else:
            rows = _run_parallel(model, children, workers, bar)
    finally:
        bar.close()
    return _replicate_frame(model, rows, root)


def _seed_sequence(seed: Any) -> np.random.SeedSequence:
    """A root SeedSequence from whatever the user passed."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    return np.random.SeedSequence(seed)


# ---- one replicate --------------------------------------------------------------------------
class _Replicates(Protocol):
    """What runs replicates: rows for the replicates of some seeds, in order.

    ``batch`` is how many replicates it runs best together (between progress reports).
    """

    batch: int

    def run(self, seeds: Sequence[np.random.SeedSequence]) -> Array:
        """Rows for the replicates of ``seeds``, in order."""
        ...


def _replicates(model: Refittable) -> _Replicates:
    """The model's own replicates on its stored blocks (an LMM), else simulate and refit."""
    own = getattr(model, "bootstrap_replicates", None)
    if callable(own):
        engine: _Replicates = own()
        return engine
    return _Replicator(model)


class _Replicator:
    """Simulates from the original fit and refits it to each simulated response (GLMMs)."""

    batch = 10

    def __init__(self, model: Refittable) -> None:
        self.source = model
        self.width = len(_row_of(model))
        # skip the derivative checks of each refit (a fifth of its time) where refit allows it
        accepts = "check_convergence" in inspect.signature(model.refit).parameters
        self.refit_options: dict[str, Any] = {"check_convergence": False} if accepts else {}

    def run(self, seeds: Sequence[np.random.SeedSequence]) -> Array:
        """Rows for the replicates of ``seeds``, in order."""
        out = np.full((len(seeds), self.width), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # singular refits are recorded in a column
            for i, child in enumerate(seeds):
                try:  # a failed simulation (a mean outside the family's range) or refit
                    y = self.source.simulate(1, seed=np.random.default_rng(child))[:, 0]
                    refitted = self.source.refit(y, **self.refit_options)
                except _FAILURES:
                    continue
                out[i] = _row_of(refitted)
        return out


def _row_of(model: Refittable) -> Array:
    """objective, β, σ (if estimated), θ, SDs/correlations, converged, singular of a fit."""
    assert model.optsum is not None
    sigma = model.sigma  # 1 for a GLMM without a dispersion: the SDs are then θ
    theta = np.asarray(model.theta, dtype=float)
    sdcor = sdcor_from_theta(model.terms, theta, sigma)
    check = model.convergence  # the derivative checks, when they ran
    converged = model.optsum.converged and (check is None or bool(check.ok))
    flags = [float(converged), float(model.is_singular)]
    scale = [sigma] if model.has_scale else []
    return np.concatenate([[model.objective], model.beta, scale, theta, sdcor, flags])


def _replicate_frame(model: Refittable, rows: Array, root: np.random.SeedSequence) -> pd.DataFrame:
    """The replicate table with named columns and the original estimates in ``attrs``."""
    names = parameter_names(model)
    sdcor = names.readable[: names.n_variance - int(names.has_sigma)]
    scale = ["sigma"] if names.has_sigma else []
    theta = [f"theta_{i + 1}" for i in range(len(model.theta))]
    columns = ["objective", *model.fixed.names, *scale, *theta, *sdcor, "converged", "singular"]
    table = pd.DataFrame(rows, columns=columns)
    failed = ~np.isfinite(rows[:, 0])
    for flag in ("converged", "singular"):
        table[flag] = table[flag].fillna(0.0).astype(bool)
    table.insert(0, "replicate", np.arange(len(rows)))
    estimates = dict(zip(columns[:-2], _row_of(model)[:-2].tolist(), strict=True))
    table.attrs = {"estimates": estimates, "seed": root.entropy, "n_failed": int(failed.sum())}
    return table


# ---- running them ---------------------------------------------------------------------------
def _run_serial(model: Refittable, seeds: list[np.random.SeedSequence], bar: _ProgressBar) -> Array:
    """All replicates in this process, in chunks so that the bar moves."""
    replicator = _replicates(model)
    parts = []
    for start in range(0, len(seeds), replicator.batch):
        chunk = seeds[start : start + replicator.batch]
        parts.append(replicator.run(chunk))
        bar.advance(len(chunk))
    return np.vstack(parts)


_WORKER: _Replicates | None = None


def _init_worker(model: Refittable) -> None:
    """Per process: keep the (unpickled) model to simulate from and refit."""
    global _WORKER
    _WORKER = _replicates(model)


def _run_chunk(seeds: list[np.random.SeedSequence]) -> Array:
    """Replicates of one chunk, in a worker process."""
    assert _WORKER is not None
    return _WORKER.run(seeds)


def _batch(model: Refittable) -> int:
    """Replicates the model's own replicates run best together (10 for generic refits)."""
    size = getattr(model, "bootstrap_batch", None)
    return int(size()) if callable(size) else _Replicator.batch


def _run_parallel(
    model: Refittable, seeds: list[np.random.SeedSequence], workers: int, bar: _ProgressBar
) -> Array:
    """Chunks of replicates over a process pool; rows come back in replicate order."""
    n = len(seeds)
    batch = _batch(model)
    spread = 2 if batch > _Replicator.batch else 8  # chunks a worker: a batch pays per call
    size = max(1, min(max(50, batch), math.ceil(n / (spread * workers))))
    starts = list(range(0, n, size))
    results: dict[int, Array] = {}
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(model,)) as pool:
        futures = {pool.submit(_run_chunk, seeds[s : s + size]): s for s in starts}
        for future in as_completed(futures):
            start = futures[future]
            results[start] = future.result()
            bar.advance(len(results[start]))
    return np.vstack([results[s] for s in starts])
