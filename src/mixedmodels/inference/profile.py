"""Likelihood profiles of every parameter of a linear mixed model (lme4's ``profile.merMod``).

The parameters are those of lme4's ``confint``: the standard deviations and correlations of the
random effects (``.sig01``, ``.sig02``, ... in lme4's order: term by term, within a term the
column-major lower triangle of a matrix with the SDs on the diagonal and the correlations below
it), the residual SD ``.sigma``, then the fixed effects. :func:`parameter_names` also gives
lme4's readable names (``oldNames = FALSE``): ``sd_(Intercept)|Subject``,
``cor_Days.(Intercept)|Subject``, ``sd_Days|Subject``, ``sigma``.

For each parameter φ the profile is the signed square root of the change in the ML deviance,

    ζ(φ) = sign(φ − φ̂) · sqrt(d(φ) − d(φ̂)),

where ``d(φ)`` is minimized over all the other parameters. As in lme4, the ML deviance is
profiled even for a REML fit (``devfun2`` refits by ML first), so profile intervals are centred on
the ML estimates. Variance parameters are profiled by optimizing the other SDs, correlations and
σ (the deviance at a fixed σ, profiled over β, is ``log|L_Z|² + r²(θ)/σ² + n log(2πσ²)``);
a fixed effect ``β_j`` is profiled by refitting θ with ``x_j β_j`` moved into an offset, which
here is a linear map of the stored ``[X y]`` blocks (no pass over the data). The grid follows
lme4: a first step of 1 % (variance parameters) or ``δ`` standard errors (fixed effects), then
steps of ``δ = cutoff / 8`` on the ζ scale, extrapolated from the last two points, until
``|ζ|`` exceeds ``cutoff = sqrt(χ²_{1−α_max}(npar))`` or a bound is reached.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import (
    ConvergenceWarning,
    ModelSpecificationError,
    NotSupportedError,
    SingularFitWarning,
)
from mixedmodels.inference.jobs import resolve_jobs
from mixedmodels.inference.parameters import (
    ParameterNames,
    parameter_names,
    sdcor_from_theta,
    select_parameters,
    theta_from_sdcor,
)
from mixedmodels.inference.progress import ProgressBar
from mixedmodels.linalg.crossprod import CrossProducts
from mixedmodels.linalg.threads import blas_threads
from mixedmodels.optimize import bobyqa

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel
    from mixedmodels.linalg import BlockedCholesky

__all__ = ["TraceSetup", "ml_model", "profile"]

Array = FloatArray
LOG_2PI = math.log(2.0 * math.pi)
ZetaFn = Callable[[float, Array], Array]
WARM_STEP = 0.001  # a profile point's first trust region, relative to the parameters' sizes
WARM_FLOOR = 1e-3  # ... and at least this
PROFILE_FTOL = 1e-8  # a profile point's deviance to this: ζ = √(dev − base) moves < 1e-8/2ζ


def ml_model(model: FittedLinearModel) -> FittedLinearModel:
    """``model`` itself when fitted by ML, else a new model refitted by ML (``model`` untouched)."""
    if model.optsum is None:
        raise ModelSpecificationError("the model has not been fitted yet: call .fit()")
    if not model.reml:
        return model
    with warnings.catch_warnings():
        if model.is_singular:  # already reported when the model was fitted
            warnings.simplefilter("ignore", SingularFitWarning)
        return model.refit(reml=False)


# ---- the profiling machinery --------------------------------------------------------------
class TraceSetup(Protocol):
    """What the trace steps read (``_fill``, ``_next_value``, ``_signed_root``, ``_trace_frame``).

    ``nvp`` is the number of leading parameters a profile point hands on as the next start
    (lme4's ``npar1``): the variance parameters of an LMM, every parameter of a GLMM.
    """

    names: ParameterNames
    lower: Array
    upper: Array
    base: float
    cutoff: float
    delta: float
    max_points: int
    max_mult: float

    @property
    def nvp(self) -> int:
        """Leading parameters passed on as a start."""
        ...


@dataclass
class _Setup:
    """Everything the traces share: the ML fit, a private factor, the grid settings."""

    model: FittedLinearModel
    L: BlockedCholesky
    names: ParameterNames
    opt: Array  # sd/cor, σ, β at the ML estimates
    lower: Array
    upper: Array
    base: float  # ML deviance at the estimates
    stderr: Array
    cutoff: float
    delta: float
    max_points: int
    max_mult: float

    @property
    def nvp(self) -> int:
        return self.names.n_variance


def profile(
    model: FittedLinearModel,
    which: Any = None,
    *,
    alpha_max: float = 0.01,
    max_points: int = 100,
    delta: float | None = None,
    delta_cutoff: float = 1.0 / 8.0,
    max_mult: float = 10.0,
    progress: bool | None = None,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Profile the ML deviance over each parameter, as lme4's ``profile(fit)``.

    Parameters
    ----------
    model
        A fitted model; a REML fit is profiled at its ML refit (a new model), as lme4 does.
    which
        Parameters to profile: ``None`` (all), names (``".sig01"``, ``"sd_Days|Subject"``,
        ``"sigma"``, ``"Days"``, ``"theta_"``, ``"beta_"``) or indices in lme4's order.
    alpha_max
        The trace stops beyond ``|ζ| = sqrt(χ²_{1−alpha_max}(npar))`` (lme4's ``alphamax``).
    max_points
        Largest number of points per direction (lme4's ``maxpts``).
    delta, delta_cutoff
        Step on the ζ scale; ``cutoff · delta_cutoff`` when ``delta`` is None.
    max_mult
        A step may not exceed ``max_mult`` times the previous one (lme4's ``maxmult``).
    progress
        Show a text progress bar of the profile points on stderr; by default only when stderr
        is a terminal.
    n_jobs
        Processes to share the traces out (lme4's ``parallel = "multicore"``; ``None``: all
        usable cores); each trace is computed as in one process, so the table is the same.

    Returns
    -------
    pandas.DataFrame
        One row per profile point: ``parameter`` (lme4 name), ``label`` (readable name),
        ``value`` (of the profiled parameter), ``zeta``, then one column per parameter (lme4
        names) with the values of all parameters at that point; sorted by parameter and value.
        ``attrs`` holds ``estimates``, ``lower``, ``upper`` and ``labels`` (dicts keyed by lme4
        name) and ``deviance`` (the ML deviance at the estimates).
    """
    if model.fixed_sigma is not None:
        raise NotSupportedError(
            "profiles of a model with a fixed residual SD (sigma=) are not available; use "
            "confint(method='wald') or confint(method='bootstrap')"
        )
    setup = _make_setup(model, alpha_max, max_points, delta, delta_cutoff, max_mult)
    chosen = select_parameters(which, setup.names)
    bar = progress_bar(len(chosen), setup, progress)
    try:
        traces = _run_traces(setup, chosen, bar, resolve_jobs(n_jobs, len(chosen)))
        bar.total = bar.done  # the total was an estimate: full at the end
    finally:
        bar.close()
    frames = [_trace_frame(setup, w, rows) for w, rows in zip(chosen, traces, strict=True)]
    table = pd.concat(frames, ignore_index=True)
    keys = setup.names.lme4
    table.attrs = {
        "estimates": dict(zip(keys, setup.opt.tolist(), strict=True)),
        "lower": dict(zip(keys, setup.lower.tolist(), strict=True)),
        "upper": dict(zip(keys, setup.upper.tolist(), strict=True)),
        "labels": dict(zip(keys, setup.names.readable, strict=True)),
        "deviance": setup.base,
    }
    return table


def _make_setup(
    model: FittedLinearModel,
    alpha_max: float,
    max_points: int,
    delta: float | None,
    delta_cutoff: float,
    max_mult: float,
) -> _Setup:
    """Refit by ML if needed and collect the estimates, bounds and grid settings."""
    ml = ml_model(model)
    names = parameter_names(ml)
    sigma = ml.sigma
    opt = np.concatenate([sdcor_from_theta(ml.terms, ml.theta, sigma), [sigma], ml.beta])
    lower, upper = names.bounds()
    cutoff = math.sqrt(float(scipy.stats.chi2.ppf(1.0 - alpha_max, len(opt))))
    return _Setup(
        model=ml,
        L=ml.L.spawn(),
        names=names,
        opt=opt,
        lower=lower,
        upper=upper,
        base=ml.objective,
        stderr=np.sqrt(np.diag(ml.vcov.to_numpy())),
        cutoff=cutoff,
        delta=cutoff * delta_cutoff if delta is None else float(delta),
        max_points=int(max_points),
        max_mult=float(max_mult),
    )


def _run_traces(setup: _Setup, chosen: list[int], bar: ProgressBar, workers: int) -> list[Array]:
    """The traces of ``chosen``, in this process or over ``workers`` forked processes.

    A trace depends only on the setup (each starts at the estimates), and runs here under the
    fit's BLAS threads; in a worker under the fit's threads shared out between the workers
    (each at least one: more would oversubscribe the cores, 4× slower on 2 cores with 2
    workers), so the rows are the same to the bit when the fit runs one BLAS thread (dense
    blocks under ``THREADS_FROM`` rows), otherwise to rounding. The warnings the workers
    raise are raised again here.
    """
    threads = setup.L.thread_limit()
    if workers == 1:
        with blas_threads(threads):  # the fit's threads (and bits)
            return [_trace(setup, w, bar) for w in chosen]
    found: dict[int, Array] = {}
    share = (setup, max(1, threads // workers))
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=share) as pool:
        futures = {pool.submit(_trace_in_worker, w): w for w in chosen}
        for future in as_completed(futures):
            rows, caught = future.result()
            found[futures[future]] = rows
            bar.advance(len(rows) - 1)  # the estimates are a row of every trace
            for message, category in caught:
                warnings.warn(message, category, stacklevel=4)
    return [found[w] for w in chosen]


_WORKER: tuple[_Setup, int] | None = None


def _init_worker(setup: _Setup, threads: int) -> None:
    """Per process: keep the (forked) setup and the BLAS threads of a trace."""
    global _WORKER
    _WORKER = (setup, threads)


def _trace_in_worker(w: int) -> tuple[Array, list[tuple[str, type[Warning]]]]:
    """One trace in a worker, with the warnings it raised."""
    assert _WORKER is not None
    setup, threads = _WORKER
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with blas_threads(threads):
            rows = _trace(setup, w, ProgressBar(1, False, label="profile"))
    return rows, [(str(c.message), c.category) for c in caught]


def progress_bar(n_traces: int, setup: TraceSetup, progress: bool | None) -> ProgressBar:
    """A bar of profile points, its total estimated as two directions of ``cutoff/δ + 2``.

    ``progress=None`` shows it only when stderr is a terminal.
    """
    show = sys.stderr.isatty() if progress is None else bool(progress)
    per_direction = math.ceil(setup.cutoff / setup.delta) + 2
    return ProgressBar(2 * per_direction * n_traces, show, label="profile")


def counted(zeta_fn: ZetaFn, bar: ProgressBar) -> ZetaFn:
    """``zeta_fn`` that advances ``bar`` by one point per call (growing it when it is full)."""

    def zeta(value: float, start: Array) -> Array:
        row = zeta_fn(value, start)
        if bar.done >= bar.total:
            bar.extend(1)
        bar.advance(1)
        return row

    return zeta


def _trace(setup: _Setup, w: int, bar: ProgressBar) -> Array:
    """All profile rows ``[ζ, parameters...]`` for parameter ``w``, sorted by its value."""
    est = setup.opt[w]
    if w < setup.nvp:
        zeta_fn = counted(_variance_zeta(setup, w), bar)
        first_value = 0.001 if est == 0.0 else est * 1.01
    else:
        zeta_fn = counted(_fixed_zeta(setup, w - setup.nvp), bar)
        first_value = est + setup.delta * setup.stderr[w - setup.nvp]
    first_value = min(max(first_value, setup.lower[w]), setup.upper[w])
    if first_value == est:  # an estimate on its upper bound (a correlation of 1)
        first_value = est - 0.01 * abs(est)
    centre = np.concatenate([[0.0], setup.opt])
    first = zeta_fn(first_value, setup.opt[: setup.nvp])
    rows = _fill(setup, w, [centre, first], zeta_fn)
    if est > setup.lower[w]:
        rows += _fill(setup, w, [first, centre], zeta_fn)
    table = np.array(rows)
    _, first_index = np.unique(table[:, 1 + w], return_index=True)  # sorted by value
    return table[first_index]


def _fill(setup: TraceSetup, w: int, rows: list[Array], zeta_fn: ZetaFn) -> list[Array]:
    """Extend a trace in the direction of its last two rows (lme4's ``fillmat``)."""
    col = 1 + w
    lo, hi = setup.lower[w], setup.upper[w]
    while len(rows) < setup.max_points:
        last = rows[-1]
        zeta = abs(last[0])
        if not (lo < last[col] < hi) or (not math.isnan(zeta) and zeta > setup.cutoff):
            break
        value = _next_value(setup, rows[-2], last, col, lo, hi)
        rows.append(zeta_fn(value, _extrapolated_start(setup, rows[-2], last, col, value)))
    return rows


def _extrapolated_start(
    setup: TraceSetup, prev: Array, last: Array, col: int, value: float
) -> Array:
    """The other parameters at ``value``, extrapolated linearly from the trace's last two rows.

    The optimum moves smoothly along a trace: the line through the last two optima is
    within a second-order term of the next one, where the neighbour's optimum is a first-order
    step away. A parameter the line would take to or past a bound (a correlation of ±1, a
    zero SD) keeps the neighbour's value.
    """
    span = last[col] - prev[col]
    head, tail = prev[1 : 1 + setup.nvp], last[1 : 1 + setup.nvp]
    if not (span != 0.0 and np.all(np.isfinite(head)) and np.all(np.isfinite(tail))):
        return tail
    line = tail + (value - last[col]) / span * (tail - head)
    inside = (line > setup.lower[: setup.nvp]) & (line < setup.upper[: setup.nvp])
    return np.where(inside, line, tail)


def _next_value(
    setup: TraceSetup, prev: Array, last: Array, col: int, lo: float, hi: float
) -> float:
    """The next parameter value: a step of ``δ`` on the ζ scale (lme4's ``nextpar``)."""
    num = last[col] - prev[col]
    denom = last[0] - prev[0]
    minstep = 1e-6
    if math.isnan(denom) or denom == 0.0:
        warnings.warn(
            "profile: last two ζ values identical or missing; using a minimal step",
            ConvergenceWarning,
            stacklevel=4,
        )
        step = minstep
    else:
        step = setup.delta * num / denom
        if step < 0.0:
            warnings.warn(
                "profile: unexpected decrease in ζ; using a minimal step",
                ConvergenceWarning,
                stacklevel=4,
            )
            step = minstep
        else:
            step = min(step, abs(setup.max_mult * num))
    return float(min(hi, max(lo, last[col] + math.copysign(step, num))))


def _signed_root(setup: TraceSetup, value: float, est: float, deviance: float) -> float:
    """``sign(value − est) · sqrt(deviance − base)``; warns when a lower deviance turns up."""
    if math.isnan(deviance):
        return math.nan
    diff = deviance - setup.base
    if diff < -1e-6 * max(1.0, abs(setup.base)):
        warnings.warn(
            f"profiling found a deviance {-diff:.3g} lower than at the estimates: "
            "the fit did not reach the optimum",
            ConvergenceWarning,
            stacklevel=5,
        )
    return math.copysign(math.sqrt(max(diff, 0.0)), value - est) if value != est else 0.0


# ---- variance parameters ------------------------------------------------------------------
def _variance_zeta(setup: _Setup, w: int) -> ZetaFn:
    """ζ as a function of variance parameter ``w`` (the others optimized)."""
    nvp = setup.nvp
    others = np.array([i for i in range(nvp) if i != w])

    def deviance(phi: Array) -> float:
        return _sdcor_deviance(setup, phi)

    def zeta(value: float, start: Array) -> Array:
        phi = setup.opt[:nvp].copy()
        phi[w] = value

        def objective(x: Array) -> float:
            phi[others] = x
            return deviance(phi)

        lo, hi = setup.lower[others], setup.upper[others]
        x0 = np.clip(np.asarray(start, dtype=float)[others], lo, hi)
        x, fval = _minimize_bounded(objective, x0, lo, hi)
        phi[others] = x
        deviance(phi)  # leave the factor at the optimum to read β
        beta = setup.L.fixed_effects()
        z = _signed_root(setup, value, setup.opt[w], fval)
        return np.concatenate([[z], phi, beta])

    return zeta


def _sdcor_deviance(setup: _Setup, phi: Array) -> float:
    """ML deviance at SDs/correlations and σ ``phi``, profiled over β only (lme4's devfun2)."""
    sigma = float(phi[-1])
    if not sigma > 0.0 or not np.all(np.isfinite(phi)):
        return math.inf
    try:
        theta = theta_from_sdcor(setup.model.terms, phi[:-1], sigma)
        setup.L.update(theta)
    except np.linalg.LinAlgError:
        return math.inf
    n = setup.model.nobs
    s2 = sigma * sigma
    value = setup.L.logdet_z + setup.L.pwrss() / s2 + n * (LOG_2PI + math.log(s2))
    return value - setup.model.log_weights


def _minimize_bounded(
    objective: Callable[[Array], float], x0: Array, lower: Array, upper: Array
) -> tuple[Array, float]:
    """BOBYQA with lower and upper bounds (lme4's ``nloptwrap`` settings, ``ftol_abs`` 1e-8)."""
    import nlopt

    best_x, best_f = x0.copy(), math.inf

    def wrapped(x: Array, grad: Array) -> float:
        nonlocal best_x, best_f
        value = float(objective(x))
        if value < best_f:
            best_x, best_f = np.array(x, dtype=float), value
        return value if math.isfinite(value) else 1e300

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_ftol_abs(PROFILE_FTOL)
    opt.set_ftol_rel(1e-14)
    opt.set_xtol_abs(1e-10)
    opt.set_maxeval(100_000)
    opt.set_initial_step(warm_step(x0, lower, upper))
    opt.set_min_objective(wrapped)
    try:
        opt.optimize(x0)
    except nlopt.RoundoffLimited:
        pass
    return best_x, best_f


def warm_step(x0: Array, lower: Array, upper: Array) -> Array:
    """BOBYQA's first trust region from a neighbouring point's optimum: small, not NLopt's.

    NLopt's default radius is three quarters of the distance to a bound, which makes BOBYQA
    spend most of each point's evaluations shrinking it again; the next optimum is close to
    the neighbour's (steps of δ on the ζ scale), and closer still to the line through the last
    two optima that the start is taken from (:func:`_extrapolated_start`). :data:`WARM_STEP`
    of each parameter's size (for a parameter bounded on both sides, of its distance to the
    nearer bound), at least :data:`WARM_FLOOR`: with the deviance to :data:`PROFILE_FTOL`,
    11–14 factor updates a point instead of 17–20 (crossed intercepts; the intervals agree to
    1e-9).
    """
    x0 = np.asarray(x0, dtype=float)
    size = np.abs(x0)
    both = np.isfinite(lower) & np.isfinite(upper)
    size[both] = np.minimum(x0[both] - lower[both], upper[both] - x0[both])
    return np.maximum(WARM_STEP * size, WARM_FLOOR)


# ---- fixed effects --------------------------------------------------------------------------
def _fixed_zeta(setup: _Setup, j: int) -> ZetaFn:
    """ζ as a function of fixed effect ``j``: θ refitted with ``x_j β_j`` as an offset."""
    model = setup.model
    L = setup.L.spawn()
    p = model.n_fixed
    keep = [i for i in range(p) if i != j]
    n = model.nobs
    est = setup.opt[setup.nvp + j]
    adjust = _reduce_response_shift(L, j)

    def deviance(theta: Array) -> float:
        try:
            L.update(theta)
        except np.linalg.LinAlgError:
            return math.inf
        r2 = L.pwrss()
        if r2 <= 0.0:
            return -math.inf
        return L.logdet_z + n * (1.0 + LOG_2PI + math.log(r2 / n)) - model.log_weights

    def zeta(value: float, start: Array) -> Array:
        L.set_blocks(_offset_blocks(model.A, keep, j, value - adjust), same_z=True)
        theta0 = _theta_start(model, start)
        step = warm_step(theta0, model.lower, np.full(len(theta0), np.inf))
        fit = bobyqa(deviance, theta0, model.lower, initial_step=step, ftol_abs=PROFILE_FTOL)
        deviance(fit.final)
        sigma = math.sqrt(L.pwrss() / n)
        beta = np.empty(p)
        beta[keep] = L.fixed_effects()
        beta[j] = value
        sdcor = sdcor_from_theta(model.terms, fit.final, sigma)
        z = _signed_root(setup, value, est, fit.fmin)
        return np.concatenate([[z], sdcor, [sigma], beta])

    return zeta


def _theta_start(model: FittedLinearModel, start: Array) -> Array:
    """θ of the neighbouring point's SDs, correlations and σ (``start``), within the bounds."""
    sigma = float(start[-1])
    if not (sigma > 0.0 and np.all(np.isfinite(start))):
        return np.asarray(model.theta, dtype=float)
    theta = theta_from_sdcor(model.terms, np.asarray(start[:-1], dtype=float), sigma)
    return np.maximum(theta, model.lower)


def _reduce_response_shift(L: BlockedCholesky, j: int) -> float:
    """Adapt the factor's response shift to the design without column ``j``.

    The blocks hold ``y − shift`` when ``X`` has an intercept (or ``y − Xβ₀``), so the stored
    coefficients are ``β − shift·e_intercept`` (or ``β − β₀``). Returns what to subtract from a
    value of ``β_j`` to put it on the stored scale (``shift`` when ``j`` is the intercept, or
    ``β₀_j``, else 0), and re-points the shift at the remaining columns.
    """
    if L.beta_shift is not None:
        beta0 = L.beta_shift
        L.set_response_shift(np.delete(beta0, j))
        return float(beta0[j])
    shift, intercept = L.shift, L.intercept
    if intercept is None:
        return 0.0
    if intercept == j:
        L.set_response_shift(0.0, None)
        return shift
    L.set_response_shift(shift, intercept - 1 if j < intercept else intercept)
    return 0.0


def _offset_blocks(A: CrossProducts, keep: list[int], j: int, value: float) -> CrossProducts:
    """Blocks of ``[X_{-j}  y − x_j·value]`` from those of ``[X y]``: a linear map ``M``."""
    p1 = A.xx.shape[0]
    M = np.zeros((p1, len(keep) + 1))
    M[keep, np.arange(len(keep))] = 1.0
    M[-1, -1] = 1.0
    M[j, -1] = -value
    xz = [np.ascontiguousarray(np.tensordot(M, block, axes=(0, 0))) for block in A.xz]
    return CrossProducts(A.diag, A.sparse, A.dense, xz, M.T @ A.xx @ M)


def _trace_frame(setup: TraceSetup, w: int, rows: Array) -> pd.DataFrame:
    """A trace as tidy rows: parameter, label, value, zeta and every parameter's value."""
    names = setup.names
    values = pd.DataFrame(rows[:, 1:], columns=names.lme4)
    head = pd.DataFrame(
        {
            "parameter": names.lme4[w],
            "label": names.readable[w],
            "value": rows[:, 1 + w],
            "zeta": rows[:, 0],
        }
    )
    return pd.concat([head, values], axis=1)
