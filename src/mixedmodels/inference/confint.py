"""Confidence intervals for all parameters of a linear mixed model (lme4's ``confint.merMod``).

Rows are indexed as lme4 (``oldNames = TRUE``): ``.sig01``, ``.sig02``, ... for the SDs and
correlations of the random effects (term by term; within a term the column-major lower
triangle of the matrix with SDs on the diagonal and correlations below it), ``.sigma`` for the
residual SD, then the fixed effects by name. ``names="readable"`` gives lme4's
``oldNames = FALSE`` names instead (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
``sd_Days|Subject``, ``sigma``); ``attrs["labels"]`` maps one to the other. Columns are named
as in R, e.g. ``"2.5 %"`` and ``"97.5 %"``.

* ``"wald"``: ``β̂ ± z·se`` for the fixed effects; ``nan`` for the variance parameters (lme4).
* ``"profile"``: the likelihood profile (:func:`mixedmodels.inference.profile.profile`, on the
  ML refit of a REML fit, as lme4), inverted by lme4's spline: a natural interpolating cubic
  spline of ζ against the parameter, inverted piecewise (``splines::backSpline``) and evaluated
  at the normal quantiles; a limit beyond the profiled range is the parameter's bound.
* ``"bootstrap"``: percentile intervals from the parametric bootstrap
  (:func:`mixedmodels.inference.bootstrap.parametric_bootstrap`), with ``boot``'s
  interpolation between order statistics on the normal scale (``boot:::norm.inter``);
  :func:`bootstrap_intervals` is the same for a GLMM (lme4's ``confint(glmer_fit,
  method = "boot")``: no ``.sigma`` row for a family without a dispersion).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.interpolate
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ConvergenceWarning, ModelSpecificationError
from mixedmodels.inference.parameters import ParameterNames, parameter_names, select_parameters
from mixedmodels.inference.profile import profile

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel, Refittable

__all__ = [
    "back_spline",
    "bootstrap_intervals",
    "confidence_intervals",
    "percentile_interval",
    "profile_intervals",
]

Array = FloatArray
Method = Literal["wald", "profile", "bootstrap"]


def confidence_intervals(
    model: FittedLinearModel,
    method: str = "profile",
    level: float = 0.95,
    *,
    which: Any = None,
    names: Literal["lme4", "readable"] = "lme4",
    nsim: int = 500,
    seed: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    replicates: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Confidence intervals as lme4's ``confint(fit, method=...)``.

    Parameters
    ----------
    model
        A fitted model.
    method
        ``"profile"`` (lme4's default), ``"wald"`` or ``"bootstrap"`` (``"boot"`` also works).
    level
        Confidence level.
    which
        Parameters (lme4's ``parm``): names, ``"theta_"``, ``"beta_"`` or indices; all if None.
    names
        Row names: lme4's ``.sig01 ... .sigma`` (default) or readable ``sd_...|group``.
    nsim, seed
        Bootstrap replicates and seed (``"bootstrap"`` only).
    n_jobs
        Worker processes: for ``"bootstrap"`` all usable cores unless given, for ``"profile"``
        one unless given (its traces shared out, the same intervals).
    progress
        A text progress bar on stderr (``"bootstrap"`` and ``"profile"``); by default only
        when stderr is a terminal.
    replicates
        A table from :func:`~mixedmodels.inference.bootstrap.parametric_bootstrap` to use
        instead of simulating anew (``"bootstrap"`` only).

    Returns
    -------
    pandas.DataFrame
        One row per parameter, columns ``"2.5 %"`` and ``"97.5 %"`` (for ``level=0.95``);
        ``attrs["labels"]`` maps lme4 names to readable ones and ``attrs["method"]`` is set.
    """
    key = method.lower()
    if key in ("bootstrap", "boot"):
        return bootstrap_intervals(
            model,
            level,
            which=which,
            names=names,
            nsim=nsim,
            seed=seed,
            n_jobs=n_jobs,
            progress=progress,
            replicates=replicates,
        )
    _check_level(level)
    pnames = parameter_names(model)
    chosen = select_parameters(which, pnames)
    if key == "wald":
        lower, upper = _wald(model, pnames, level)
    elif key == "profile":
        jobs = 1 if n_jobs is None else n_jobs
        table = profile(model, [pnames.lme4[i] for i in chosen], progress=progress, n_jobs=jobs)
        lower, upper = profile_intervals(table, pnames.lme4, level)
    else:
        raise ModelSpecificationError(
            f"unknown method {method!r}: use 'profile', 'wald' or 'bootstrap'"
        )
    return _table(pnames, chosen, lower, upper, level, names, key)


def _check_level(level: float) -> None:
    """Refuse a confidence level outside (0, 1)."""
    if not 0.0 < level < 1.0:
        raise ModelSpecificationError(f"level must be between 0 and 1, not {level}")


def _table(
    pnames: ParameterNames,
    chosen: list[int],
    lower: Array,
    upper: Array,
    level: float,
    names: str,
    method: str,
) -> pd.DataFrame:
    """The intervals of the chosen parameters, named as asked."""
    if names not in ("lme4", "readable"):
        raise ModelSpecificationError(f"names must be 'lme4' or 'readable', not {names!r}")
    index = pnames.lme4 if names == "lme4" else pnames.readable
    a = (1.0 - level) / 2.0
    columns = [_percent(a), _percent(1.0 - a)]
    values = np.column_stack([lower, upper])[chosen]
    table = pd.DataFrame(values, index=[index[i] for i in chosen], columns=columns)
    table.index.name = "parameter"
    table.attrs = {
        "labels": dict(zip(pnames.lme4, pnames.readable, strict=True)),
        "method": "bootstrap" if method == "boot" else method,
        "level": level,
    }
    return table


def _percent(p: float) -> str:
    """R's ``format.perc``: ``0.025`` → ``"2.5 %"`` (three significant digits)."""
    return f"{float(f'{100 * p:.3g}'):g} %"


# ---- Wald ----------------------------------------------------------------------------------
def _wald(model: FittedLinearModel, pnames: ParameterNames, level: float) -> tuple[Array, Array]:
    """``β̂ ± z_{(1+level)/2} · se`` for fixed effects; nan for variance parameters."""
    z = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
    nvp = pnames.n_variance
    beta = model.beta
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    nan = np.full(nvp, np.nan)
    return np.concatenate([nan, beta - z * se]), np.concatenate([nan, beta + z * se])


# ---- profile ---------------------------------------------------------------------------------
def profile_intervals(
    table: pd.DataFrame, parameters: list[str], level: float = 0.95
) -> tuple[Array, Array]:
    """Invert profile traces at ``ζ = ∓z_{(1+level)/2}`` (lme4's ``confint.thpr``).

    Parameters
    ----------
    table
        The result of :func:`~mixedmodels.inference.profile.profile`.
    parameters
        lme4 names of the parameters wanted; one not in ``table`` gives ``nan``.
    level
        Confidence level.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper limits, one per parameter.
    """
    a = (1.0 - level) / 2.0
    zeta = scipy.stats.norm.ppf([a, 1.0 - a])
    lower = np.full(len(parameters), np.nan)
    upper = np.full(len(parameters), np.nan)
    for i, name in enumerate(parameters):
        trace = table[table["parameter"] == name]
        if trace.empty:
            continue
        lower[i], upper[i] = _invert_trace(trace, name, zeta, dict(table.attrs))
    return lower, upper


def _invert_trace(
    trace: pd.DataFrame, name: str, zeta: Array, attrs: dict[Any, Any]
) -> tuple[float, float]:
    """Limits of one trace: the back spline, else linear interpolation, then the bounds.

    ``attrs["zeta_tol"]`` (0 when absent): steps of ζ up to it count as ties, which no spline
    inverts (a trace flat where an SD has reached 0).
    """
    trace = trace[np.isfinite(trace["zeta"].to_numpy())].sort_values("value")
    x = trace["value"].to_numpy(dtype=float)
    z = trace["zeta"].to_numpy(dtype=float)
    try:
        limits = back_spline(x, z, float(attrs.get("zeta_tol", 0.0)))(zeta)
    except ValueError:
        if len(z) < 2 or np.min(np.diff(z)) < -0.01:
            warnings.warn(f"non-monotonic profile for {name}", ConvergenceWarning, stacklevel=4)
            return math.nan, math.nan
        warnings.warn(
            f"bad spline fit for {name}: falling back to linear interpolation",
            ConvergenceWarning,
            stacklevel=4,
        )
        limits = np.interp(zeta, z, x, left=np.nan, right=np.nan)
    low = limits[0] if np.isfinite(limits[0]) else attrs.get("lower", {}).get(name, np.nan)
    high = limits[1] if np.isfinite(limits[1]) else attrs.get("upper", {}).get(name, np.nan)
    return float(low), float(high)


def back_spline(x: Array, z: Array, tol: float = 0.0) -> Callable[[Array], Array]:
    """The inverse of the natural interpolating spline of ``z`` on ``x`` (R's ``backSpline``).

    R's ``interpSpline`` is the natural cubic spline; ``backSpline`` inverts it piecewise by
    Hermite cubics through ``(z_i, x_i)`` with slopes ``1/z'(x_i)``, quadratic on the first and
    last intervals. Outside ``[z_1, z_n]`` the inverse is ``nan``.

    Raises
    ------
    ValueError
        Fewer than 4 points, or ``z`` not increasing by more than ``tol`` at each step.
    """
    x = np.asarray(x, dtype=float)
    z = np.asarray(z, dtype=float)
    if len(x) < 4 or np.any(np.diff(x) <= 0):
        raise ValueError("a spline needs at least 4 distinct points")
    adiff = np.diff(z)
    if not np.all(adiff > tol):
        raise ValueError("the spline must be increasing")
    slope = 1.0 / scipy.interpolate.CubicSpline(x, z, bc_type="natural")(x, 1)
    coef = _hermite_pieces(x, z, slope)

    def evaluate(values: Array) -> Array:
        v = np.atleast_1d(np.asarray(values, dtype=float))
        i = np.searchsorted(z, v, side="left") - 1  # z_i < v <= z_{i+1}
        i[v == z[0]] = 0
        inside = (i >= 0) & (i < len(z) - 1)
        out = np.full(v.shape, np.nan)
        k = i[inside]
        d = v[inside] - z[k]
        c = coef[k]
        out[inside] = c[:, 0] + d * (c[:, 1] + d * (c[:, 2] + d * c[:, 3]))
        return out

    return evaluate


def _hermite_pieces(x: Array, z: Array, slope: Array) -> Array:
    """Cubic coefficients ``(x, dx/dz, ·, ·)`` per interval of ``z`` (``backSpline``'s rules)."""
    kdiff, adiff = np.diff(x), np.diff(z)
    m = len(kdiff)
    coef = np.zeros((m, 4))
    coef[:, 0] = x[:-1]
    coef[:, 1] = slope[:-1]
    # value and slope at the right end: c2 Δ² + c3 Δ³ = Δx − Δ·s_i, 2c2 Δ + 3c3 Δ² = s_{i+1} − s_i
    r1 = kdiff - adiff * slope[:-1]
    r2 = slope[1:] - slope[:-1]
    det = adiff**2 * 3 * adiff**2 - adiff**3 * 2 * adiff
    coef[:, 2] = (r1 * 3 * adiff**2 - adiff**3 * r2) / det
    coef[:, 3] = (adiff**2 * r2 - 2 * adiff * r1) / det
    if m > 1:
        # first interval quadratic through the right end's value and slope; last quadratic
        # from the left end's slope through the right end's value
        a1 = adiff[0]
        c3 = (slope[1] * a1 - kdiff[0]) / a1**2
        coef[0, 1:] = [slope[1] - 2 * a1 * c3, c3, 0.0]
        coef[-1, 3] = 0.0
        coef[-1, 2] = (kdiff[-1] - adiff[-1] * coef[-1, 1]) / adiff[-1] ** 2
    if coef[0, 2] > 0:
        coef[0, 1:3] = [kdiff[0] / adiff[0], 0.0]
    if coef[-1, 2] < 0:
        coef[-1, 1:3] = [kdiff[-1] / adiff[-1], 0.0]
    return coef


# ---- bootstrap -------------------------------------------------------------------------------
def bootstrap_intervals(
    model: Refittable,
    level: float = 0.95,
    *,
    which: Any = None,
    names: Literal["lme4", "readable"] = "lme4",
    nsim: int = 500,
    seed: Any = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    replicates: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap intervals of an LMM's or a GLMM's parameters.

    lme4's ``confint(fit, method = "boot")`` with its default ``boot.type = "perc"``: the
    limits are percentiles (:func:`percentile_interval`) of the replicates of
    :func:`~mixedmodels.inference.bootstrap.parametric_bootstrap`.

    Parameters
    ----------
    model
        A fitted LMM or GLMM; it is not modified.
    level, which, names
        Confidence level, parameters (lme4's ``parm``) and row names, as for
        :func:`confidence_intervals`.
    nsim, seed, n_jobs, progress
        Replicates, seed, worker processes and progress bar of the bootstrap.
    replicates
        A table from :func:`~mixedmodels.inference.bootstrap.parametric_bootstrap` to use
        instead of simulating anew.

    Returns
    -------
    pandas.DataFrame
        One row per parameter (``.sig01, ..., [.sigma], fixed effects``), columns ``"2.5 %"``
        and ``"97.5 %"`` (for ``level=0.95``); ``attrs`` as :func:`confidence_intervals`.
    """
    _check_level(level)
    pnames = parameter_names(model)
    chosen = select_parameters(which, pnames)
    if replicates is None:
        from mixedmodels.inference.bootstrap import parametric_bootstrap

        replicates = parametric_bootstrap(model, nsim, seed=seed, n_jobs=n_jobs, progress=progress)
    lower, upper = _bootstrap(replicates, pnames, level)
    return _table(pnames, chosen, lower, upper, level, names, "bootstrap")


def _bootstrap(
    replicates: pd.DataFrame, pnames: ParameterNames, level: float
) -> tuple[Array, Array]:
    """Percentile intervals of every parameter from a replicate table."""
    a = (1.0 - level) / 2.0
    lower = np.full(len(pnames.lme4), np.nan)
    upper = np.full(len(pnames.lme4), np.nan)
    for i, column in enumerate(pnames.readable):
        if column not in replicates.columns:
            raise ModelSpecificationError(f"the bootstrap table has no column {column!r}")
        values = replicates[column].to_numpy(dtype=float)
        lower[i], upper[i] = percentile_interval(values, [a, 1.0 - a])
    return lower, upper


def percentile_interval(values: Array, alpha: list[float]) -> Array:
    """Percentiles as ``boot``'s ``norm.inter``: order statistics ``(R+1)·α``, interpolated.

    Between the order statistics ``k`` and ``k+1`` the interpolation is linear on the normal
    quantile scale; non-finite replicates are dropped.
    """
    t = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    R = len(t)
    out = np.full(len(alpha), np.nan)
    if R == 0:
        return out
    for i, al in enumerate(alpha):
        rk = (R + 1) * al
        k = int(math.trunc(rk))
        if k == rk and 0 < k <= R:
            out[i] = t[k - 1]
        elif k <= 0:
            out[i] = t[0]
        elif k >= R:
            out[i] = t[R - 1]
        else:
            z, zk, zk1 = scipy.stats.norm.ppf([al, k / (R + 1), (k + 1) / (R + 1)])
            out[i] = t[k - 1] + (z - zk) / (zk1 - zk) * (t[k] - t[k - 1])
    return out
