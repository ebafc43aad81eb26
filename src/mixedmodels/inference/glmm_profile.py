"""Likelihood profiles and profile intervals of a GLMM (lme4's ``profile`` and ``confint``).

The parameters are lme4's: the standard deviations and correlations of the random effects
(``.sig01``, ``.sig02``, ... term by term, within a term the column-major lower triangle of the
matrix with the SDs on its diagonal and the correlations below it), then the fixed effects.
For each parameter φ the profile is

    ζ(φ) = sign(φ − φ̂) · sqrt(d(φ) − d(φ̂)),

``d`` the model's objective (the Laplace approximation, or adaptive quadrature with
``nagq > 1``) minimized over all the other parameters — for a GLMM, unlike an LMM, the fixed
effects too — by BOBYQA within their bounds (SDs ≥ 0, correlations in [−1, 1]), each point
started from the previous one. The grid is lme4's ``profile.merMod``: a first step to
``1.01 φ̂`` (``0.001`` from an estimate of 0), then steps of ``δ = cutoff / 8`` on the ζ scale
extrapolated from the last two points, at most ``max_mult`` times the previous step, until
``|ζ|`` passes ``cutoff = sqrt(χ²_{1−α_max}(npar))`` or the parameter reaches a bound.
Intervals invert the traces as lme4's ``confint.thpr``: the inverse of the natural
interpolating spline of ζ, at ``ζ = ∓z_{(1+level)/2}``, a limit beyond the profiled range being
the parameter's bound (:func:`mixedmodels.inference.confint.profile_intervals`). Where the
spline cannot be inverted — ζ not increasing, as on the flat stretch of a correlation's trace
where the other SD has reached 0 and steps of ζ are optimizer noise (below ``1e-6``, taken as
ties) — the limits are interpolated linearly, as lme4 falls back to.

As lme4, GLMMs whose family has a scale (Gamma, inverse Gaussian) are not profiled, nor fits
with ``nagq = 0`` (their β are not optima of the objective). The objective moves the PIRLS
engine's state, so the profile evaluates the model's ``objective_function`` (on a copy of the
engine): the model reads the same afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.inference.confint import _table, bootstrap_intervals, profile_intervals
from mixedmodels.inference.glmm_wald import glmm_parameter_names, glmm_wald_intervals
from mixedmodels.inference.parameters import (
    ParameterNames,
    sdcor_from_theta,
    select_parameters,
    theta_from_sdcor,
)
from mixedmodels.inference.profile import (
    ZetaFn,
    _fill,
    _signed_root,
    _trace_frame,
    counted,
    progress_bar,
)
from mixedmodels.inference.progress import ProgressBar
from mixedmodels.objective.glmm import GlmmObjective
from mixedmodels.optimize import bobyqa

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel

__all__ = ["glmm_confint", "glmm_profile", "glmm_profile_intervals"]

Array = FloatArray
FTOL_ABS = 1e-9  # on the deviance: ζ near the limits to ~1e-9, the limits to ~1e-8 se
STEP = 0.3  # BOBYQA's first radius, in standard errors (β) or halves of the SDs/correlations
ZETA_TIE = 1e-6  # steps of ζ below this are ties (optimizer noise where an SD sits at 0)


@dataclass
class _GlmmSetup:
    """What the traces share: the model, its objective on a private engine, the estimates."""

    model: FittedGeneralizedModel
    objective: GlmmObjective  # on a copy of the engine: the model's is never moved
    names: ParameterNames
    opt: Array  # SDs/correlations, then β, at the estimates
    lower: Array
    upper: Array
    base: float  # the objective at the estimates
    steps: Array  # BOBYQA's initial step per parameter
    cutoff: float
    delta: float
    max_points: int
    max_mult: float

    @property
    def nvp(self) -> int:
        """Every parameter is re-optimized, so a point hands all of them on as a start."""
        return len(self.opt)


def glmm_profile(
    model: FittedGeneralizedModel,
    which: Any = None,
    *,
    alpha_max: float = 0.01,
    max_points: int = 100,
    delta: float | None = None,
    delta_cutoff: float = 1.0 / 8.0,
    max_mult: float = 10.0,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Profile the objective of a GLMM over each parameter, as lme4's ``profile(fit)``.

    Parameters
    ----------
    model
        A fitted GLMM (``nagq ≥ 1``, a family without a scale).
    which
        Parameters to profile: ``None`` (all), names (``".sig01"``, ``"sd_(Intercept)|herd"``,
        a coefficient name, ``"theta_"``, ``"beta_"``) or indices in lme4's order.
    alpha_max
        A trace stops beyond ``|ζ| = sqrt(χ²_{1−alpha_max}(npar))`` (lme4's ``alphamax``).
    max_points
        Largest number of points per direction (lme4's ``maxpts``).
    delta, delta_cutoff
        Step on the ζ scale; ``cutoff · delta_cutoff`` when ``delta`` is None.
    max_mult
        A step may not exceed ``max_mult`` times the previous one (lme4's ``maxmult``).
    progress
        Show a text progress bar of the profile points on stderr; by default only when stderr
        is a terminal.

    Returns
    -------
    pandas.DataFrame
        One row per profile point: ``parameter`` (lme4 name), ``label`` (readable name),
        ``value``, ``zeta``, then one column per parameter (lme4 names) with the values of all
        parameters there; sorted by parameter and value. ``attrs`` holds ``estimates``,
        ``lower``, ``upper`` and ``labels`` (dicts keyed by lme4 name) and ``deviance``.
    """
    setup = _make_setup(model, alpha_max, max_points, delta, delta_cutoff, max_mult)
    chosen = select_parameters(which, setup.names)
    bar = progress_bar(len(chosen), setup, progress)
    try:
        frames = [_trace_frame(setup, w, _trace(setup, w, bar)) for w in chosen]
        bar.total = bar.done  # the total was an estimate: full at the end
    finally:
        bar.close()
    table = pd.concat(frames, ignore_index=True)
    keys = setup.names.lme4
    table.attrs = {
        "estimates": dict(zip(keys, setup.opt.tolist(), strict=True)),
        "lower": dict(zip(keys, setup.lower.tolist(), strict=True)),
        "upper": dict(zip(keys, setup.upper.tolist(), strict=True)),
        "labels": dict(zip(keys, setup.names.readable, strict=True)),
        "deviance": setup.base,
        "zeta_tol": ZETA_TIE,
    }
    return table


def _make_setup(
    model: FittedGeneralizedModel,
    alpha_max: float,
    max_points: int,
    delta: float | None,
    delta_cutoff: float,
    max_mult: float,
) -> _GlmmSetup:
    """Check the model, copy its engine and collect the estimates, bounds and grid settings."""
    if model.family.has_dispersion:
        raise NotSupportedError(
            f"the {model.family.name} family has a scale parameter: GLMMs with a scale are not "
            "profiled (lme4 neither); use confint(method='wald')"
        )
    if model.nagq == 0:
        raise ModelSpecificationError(
            "a fit with nagq=0 estimates β inside PIRLS, not at an optimum of the objective: "
            "refit with nagq=1 to profile it"
        )
    if not 0.0 < alpha_max < 1.0:
        raise ModelSpecificationError(f"alpha_max must be between 0 and 1, not {alpha_max}")
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    names = glmm_parameter_names(model)
    sdcor = sdcor_from_theta(model.terms, model.theta, 1.0)
    sdcor[np.isnan(sdcor)] = 0.0  # a correlation with an SD of 0: any value is the same fit
    opt = np.concatenate([sdcor, model.beta])
    lower, upper = names.bounds()
    sd_scale = 0.5 * np.maximum(np.abs(opt[: names.n_variance]), 0.1)
    se_scale = np.where(
        np.isfinite(se) & (se > 0), se, np.maximum(np.abs(opt[names.n_variance :]), 1.0)
    )
    steps = STEP * np.concatenate([sd_scale, se_scale])
    cutoff = math.sqrt(float(scipy.stats.chi2.ppf(1.0 - alpha_max, len(opt))))
    return _GlmmSetup(
        model=model,
        objective=model.objective_function,
        names=names,
        opt=opt,
        lower=lower,
        upper=upper,
        base=float(model.objective),
        steps=steps,
        cutoff=cutoff,
        delta=cutoff * delta_cutoff if delta is None else float(delta),
        max_points=int(max_points),
        max_mult=float(max_mult),
    )


def _trace(setup: _GlmmSetup, w: int, bar: ProgressBar) -> Array:
    """All profile rows ``[ζ, parameters...]`` of parameter ``w``, sorted by its value."""
    est = setup.opt[w]
    zeta_fn = counted(_zeta_function(setup, w), bar)
    first_value = 0.001 if est == 0.0 else est * 1.01
    first_value = min(max(first_value, setup.lower[w]), setup.upper[w])
    if first_value == est:  # an estimate on its upper bound (a correlation of 1)
        first_value = est - 0.01 * abs(est)
    centre = np.concatenate([[0.0], setup.opt])
    first = zeta_fn(first_value, setup.opt)
    rows = _fill(setup, w, [centre, first], zeta_fn)
    if est > setup.lower[w]:
        rows += _fill(setup, w, [first, centre], zeta_fn)
    table = np.array(rows)
    _, first_index = np.unique(table[:, 1 + w], return_index=True)  # sorted by value
    return table[first_index]


def _zeta_function(setup: _GlmmSetup, w: int) -> ZetaFn:
    """ζ as a function of parameter ``w``, every other parameter re-optimized.

    Each optimization starts where the trace hands it (``_fill``: on the line through the
    last two points, the estimates counting as one), clipped to the bounds: the other
    parameters move smoothly along a trace, so this start is closer than the previous point
    alone (lme4's ``"prev"``).
    """
    others = np.array([i for i in range(len(setup.opt)) if i != w], dtype=int)
    lo, hi = setup.lower[others], setup.upper[others]

    def zeta(value: float, start: Array) -> Array:
        phi = np.asarray(start, dtype=float).copy()
        phi[w] = value

        def objective(x: Array) -> float:
            phi[others] = x
            return _deviance(setup, phi)

        x0 = np.clip(phi[others], lo, hi)
        if others.size:
            fit = bobyqa(
                objective,
                x0,
                lo,
                upper=hi,
                ftol_rel=0.0,
                ftol_abs=FTOL_ABS,
                initial_step=setup.steps[others],
            )
            x, fmin = fit.final, fit.fmin
        else:
            x, fmin = x0, objective(x0)
        phi[others] = x
        return np.concatenate([[_signed_root(setup, value, setup.opt[w], fmin)], phi])

    return zeta


def _deviance(setup: _GlmmSetup, phi: Array) -> float:
    """The objective at SDs/correlations and β ``phi`` (lme4's ``devfun2`` for a GLMM)."""
    model = setup.model
    n_sd = setup.names.n_variance
    if not np.all(np.isfinite(phi)):
        return math.inf
    try:
        theta = theta_from_sdcor(model.terms, phi[:n_sd], 1.0)
    except np.linalg.LinAlgError:
        return math.inf
    return float(setup.objective(np.concatenate([theta, phi[n_sd:]])))


# ---- intervals ------------------------------------------------------------------------------
def glmm_profile_intervals(
    model: FittedGeneralizedModel,
    level: float = 0.95,
    *,
    which: Any = None,
    names: Literal["lme4", "readable"] = "lme4",
    table: pd.DataFrame | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Profile intervals of a GLMM's parameters, as lme4's ``confint(m, method = "profile")``.

    Parameters
    ----------
    model
        A fitted GLMM.
    level
        Confidence level.
    which
        Parameters (lme4's ``parm``): names, ``"theta_"``, ``"beta_"`` or indices; all if None.
    names
        Row names: lme4's ``.sig01 ...`` (default) or readable ``sd_...|group``.
    table
        A result of :func:`glmm_profile` to invert instead of profiling anew.
    progress
        A progress bar of the profile points (:func:`glmm_profile`).

    Returns
    -------
    pandas.DataFrame
        One row per parameter, columns ``"2.5 %"`` and ``"97.5 %"`` (for ``level = 0.95``);
        a parameter whose trace is missing from ``table`` gets ``nan``.
    """
    if not 0.0 < level < 1.0:
        raise ModelSpecificationError(f"level must be between 0 and 1, not {level}")
    pnames = glmm_parameter_names(model)
    chosen = select_parameters(which, pnames)
    if table is None:
        table = glmm_profile(model, [pnames.lme4[i] for i in chosen], progress=progress)
    lower, upper = profile_intervals(table, pnames.lme4, level)
    return _table(pnames, chosen, lower, upper, level, names, "profile")


def glmm_confint(
    model: FittedGeneralizedModel,
    method: str = "profile",
    level: float = 0.95,
    *,
    which: Any = None,
    names: Literal["lme4", "readable"] = "lme4",
    **kwargs: Any,
) -> pd.DataFrame:
    """Confidence intervals of a GLMM's parameters, as lme4's ``confint(m, method=)``.

    Parameters
    ----------
    model
        A fitted GLMM.
    method
        ``"profile"`` (lme4's default; :func:`glmm_profile_intervals`), ``"wald"``
        (:func:`~mixedmodels.inference.glmm_wald.glmm_wald_intervals`) or ``"bootstrap"``
        (``"boot"``; percentile intervals of the parametric bootstrap,
        :func:`~mixedmodels.inference.confint.bootstrap_intervals`).
    level, which, names
        Confidence level, parameters and row names, as for the functions above.
    **kwargs
        ``table=`` and ``progress=`` for ``"profile"``, ``vcov=`` for ``"wald"``; ``nsim=``
        (500), ``seed=``, ``n_jobs=``, ``progress=`` and ``replicates=`` for ``"bootstrap"``.
    """
    key = method.lower()
    if key == "profile":
        return glmm_profile_intervals(model, level, which=which, names=names, **kwargs)
    if key == "wald":
        return glmm_wald_intervals(model, level, which=which, names=names, **kwargs)
    if key in ("bootstrap", "boot"):
        return bootstrap_intervals(model, level, which=which, names=names, **kwargs)
    raise ModelSpecificationError(
        f"unknown method {method!r}: use 'profile', 'wald' or 'bootstrap'"
    )
