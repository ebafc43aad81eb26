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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ConvergenceWarning, ModelSpecificationError, SingularFitWarning
from mixedmodels.linalg.crossprod import CrossProducts
from mixedmodels.optimize import bobyqa

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel, Refittable
    from mixedmodels.linalg import BlockedCholesky
    from mixedmodels.spec import RandomEffectsTerm

__all__ = [
    "ParameterNames",
    "TraceSetup",
    "ml_model",
    "parameter_names",
    "profile",
    "sdcor_from_theta",
    "select_parameters",
    "theta_from_sdcor",
]

Array = FloatArray
LOG_2PI = math.log(2.0 * math.pi)


# ---- names and the sd/cor parametrization ---------------------------------------------
@dataclass(frozen=True)
class ParameterNames:
    """Names of the parameters of a model, in lme4's ``confint`` order.

    Attributes
    ----------
    lme4
        ``.sig01, .sig02, ..., .sigma``, then the fixed-effect names.
    readable
        ``sd_(Intercept)|Subject, cor_Days.(Intercept)|Subject, ..., sigma``, then the
        fixed-effect names (lme4's ``oldNames = FALSE``).
    n_variance
        Number of variance parameters (SDs, correlations and σ).
    has_sigma
        Whether the last variance parameter is σ (False for a GLMM without a scale).
    """

    lme4: list[str]
    readable: list[str]
    n_variance: int
    has_sigma: bool = True

    def kind(self, index: int) -> str:
        """``"sd"``, ``"cor"``, ``"sigma"`` or ``"fixed"`` for parameter ``index``."""
        if index >= self.n_variance:
            return "fixed"
        if index == self.n_variance - 1 and self.has_sigma:
            return "sigma"
        return "sd" if self.readable[index].startswith("sd_") else "cor"

    def bounds(self) -> tuple[Array, Array]:
        """Lower and upper bounds of every parameter (lme4's profile bounds)."""
        kinds = [self.kind(i) for i in range(len(self.lme4))]
        lower = np.array([{"sd": 0.0, "sigma": 0.0, "cor": -1.0}.get(k, -np.inf) for k in kinds])
        upper = np.array([1.0 if k == "cor" else np.inf for k in kinds])
        return lower, upper


def parameter_names(model: Refittable) -> ParameterNames:
    """lme4's names for the SDs/correlations, σ and the fixed effects of an LMM or a GLMM.

    ``.sigma`` (readable ``sigma``) only when the model estimates a residual scale
    (``has_scale``: every LMM; a GLMM whose family has a dispersion, as lme4's ``useSc``).
    """
    readable: list[str] = []
    for term in model.terms:
        cols = term.column_names
        for r, c in zip(*term.theta_index(), strict=True):
            prefix = f"sd_{cols[r]}" if r == c else f"cor_{cols[r]}.{cols[c]}"
            readable.append(f"{prefix}|{term.group}")
    lme4 = [f".sig{i + 1:02d}" for i in range(len(readable))]
    scale = bool(model.has_scale)
    if scale:
        lme4.append(".sigma")
        readable.append("sigma")
    fixed = list(model.fixed.names)
    return ParameterNames(lme4 + fixed, readable + fixed, len(lme4), has_sigma=scale)


def sdcor_from_theta(terms: Sequence[RandomEffectsTerm], theta: Array, sigma: float) -> Array:
    """SDs and correlations of the random effects (lme4's ``Cv_to_Sv``), without σ.

    A correlation involving a zero SD is ``nan``, as in lme4.
    """
    out: list[float] = []
    start = 0
    for term in terms:
        T = term.template(theta[start : start + term.ntheta])
        start += term.ntheta
        cov = sigma**2 * (T @ T.T)
        sd = np.sqrt(np.diag(cov))
        for r, c in zip(*term.theta_index(), strict=True):
            if r == c:
                out.append(float(sd[r]))
            else:
                denom = sd[r] * sd[c]
                out.append(float(cov[r, c] / denom) if denom > 0 else math.nan)
    return np.array(out)


def theta_from_sdcor(terms: Sequence[RandomEffectsTerm], sdcor: Array, sigma: float) -> Array:
    """θ from SDs and correlations at residual SD ``sigma`` (lme4's ``Sv_to_Cv``).

    Raises
    ------
    numpy.linalg.LinAlgError
        When the correlations do not form a positive semidefinite matrix.
    """
    parts: list[Array] = []
    start = 0
    for term in terms:
        values = np.asarray(sdcor[start : start + term.ntheta], dtype=float)
        start += term.ntheta
        if term.k == 1:
            parts.append(values / sigma)
            continue
        rows, cols = term.theta_index()
        S = np.eye(term.k)
        S[rows, cols] = values
        S[cols, rows] = values
        sd = np.diag(S).copy()
        np.fill_diagonal(S, 1.0)
        parts.append(_chol_semidefinite(S * np.outer(sd, sd) / sigma**2)[rows, cols])
    return np.concatenate(parts) if parts else np.empty(0)


def _chol_semidefinite(S: Array) -> Array:
    """Lower Cholesky factor of a positive semidefinite matrix (zero pivots allowed)."""
    k = S.shape[0]
    L = np.zeros_like(S)
    tol = 1e-12 * max(float(np.max(np.abs(np.diag(S)))), 1e-300)
    for j in range(k):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol:
            raise np.linalg.LinAlgError("the correlation matrix is not positive semidefinite")
        L[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, k):
            rest = S[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > 0.0:
                L[i, j] = rest / L[j, j]
            elif abs(rest) > math.sqrt(tol) * 10:
                raise np.linalg.LinAlgError("the correlation matrix is not positive semidefinite")
    return L


def select_parameters(which: Any, names: ParameterNames) -> list[int]:
    """Indices of the parameters picked by ``which`` (lme4's ``parm``/``which``).

    ``None`` selects all; otherwise a name or a list of names (lme4 or readable names, or
    ``"theta_"`` for all variance parameters and ``"beta_"`` for all fixed effects) or indices.
    """
    total = len(names.lme4)
    if which is None:
        return list(range(total))
    items = [which] if isinstance(which, str | int) else list(which)
    chosen: set[int] = set()
    for item in items:
        if isinstance(item, int | np.integer):
            if not 0 <= int(item) < total:
                raise ModelSpecificationError(f"parameter index {item} is not in 0..{total - 1}")
            chosen.add(int(item))
        elif item == "theta_":
            chosen.update(range(names.n_variance))
        elif item == "beta_":
            chosen.update(range(names.n_variance, total))
        elif item in names.lme4 or item in names.readable:
            key = names.lme4 if item in names.lme4 else names.readable
            chosen.add(key.index(item))
        else:
            raise ModelSpecificationError(
                f"unknown parameter {item!r}; the model has {', '.join(names.lme4)} "
                f"(or {', '.join(names.readable[: names.n_variance])})"
            )
    return sorted(chosen)


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

    Returns
    -------
    pandas.DataFrame
        One row per profile point: ``parameter`` (lme4 name), ``label`` (readable name),
        ``value`` (of the profiled parameter), ``zeta``, then one column per parameter (lme4
        names) with the values of all parameters at that point; sorted by parameter and value.
        ``attrs`` holds ``estimates``, ``lower``, ``upper`` and ``labels`` (dicts keyed by lme4
        name) and ``deviance`` (the ML deviance at the estimates).
    """
    setup = _make_setup(model, alpha_max, max_points, delta, delta_cutoff, max_mult)
    frames = []
    for w in select_parameters(which, setup.names):
        rows = _trace(setup, w)
        frames.append(_trace_frame(setup, w, rows))
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


def _trace(setup: _Setup, w: int) -> Array:
    """All profile rows ``[ζ, parameters...]`` for parameter ``w``, sorted by its value."""
    est = setup.opt[w]
    if w < setup.nvp:
        zeta_fn = _variance_zeta(setup, w)
        first_value = 0.001 if est == 0.0 else est * 1.01
    else:
        zeta_fn = _fixed_zeta(setup, w - setup.nvp)
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


ZetaFn = Callable[[float, Array], Array]


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
        rows.append(zeta_fn(value, last[1 : 1 + setup.nvp]))
    return rows


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
    """BOBYQA with lower and upper bounds (lme4's ``nloptwrap`` settings, tighter ``ftol``)."""
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
    opt.set_ftol_abs(1e-10)
    opt.set_ftol_rel(1e-14)
    opt.set_xtol_abs(1e-10)
    opt.set_maxeval(100_000)
    opt.set_min_objective(wrapped)
    try:
        opt.optimize(x0)
    except nlopt.RoundoffLimited:
        pass
    return best_x, best_f


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
        fit = bobyqa(deviance, model.theta, model.lower)
        deviance(fit.final)
        sigma = math.sqrt(L.pwrss() / n)
        beta = np.empty(p)
        beta[keep] = L.fixed_effects()
        beta[j] = value
        sdcor = sdcor_from_theta(model.terms, fit.final, sigma)
        z = _signed_root(setup, value, est, fit.fmin)
        return np.concatenate([[z], sdcor, [sigma], beta])

    return zeta


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
