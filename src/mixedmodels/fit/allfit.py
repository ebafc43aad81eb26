"""Refit with every available optimizer and compare (lme4's ``allFit``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.optimize.bobyqa import OptSummary, nlopt_minimize

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel

__all__ = ["OPTIMIZERS", "all_fit", "run_optimizer"]

OPTIMIZERS = ("bobyqa", "nelder_mead", "sbplx", "cobyla", "lbfgsb", "powell")
_NLOPT = {
    "bobyqa": "LN_BOBYQA",
    "nelder_mead": "LN_NELDERMEAD",
    "sbplx": "LN_SBPLX",
    "cobyla": "LN_COBYLA",
}


def run_optimizer(
    name: str, objective: Callable[[FloatArray], float], x0: FloatArray, lower: FloatArray
) -> OptSummary:
    """Minimize ``objective`` from ``x0`` subject to ``x >= lower`` with the named optimizer."""
    if name in _NLOPT:
        return nlopt_minimize(objective, x0, lower, algorithm=_NLOPT[name], maxeval=20_000)
    if name not in ("lbfgsb", "powell"):
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    count = [0]

    def counted(x: FloatArray) -> float:
        count[0] += 1
        value = objective(x)
        return value if math.isfinite(value) else 1e300

    bounds = [(None if math.isinf(lo) else lo, None) for lo in lower]
    method = "L-BFGS-B" if name == "lbfgsb" else "Powell"
    import scipy.optimize  # only here: it costs a fresh process ~0.1 s

    result = scipy.optimize.minimize(counted, x0, method=method, bounds=bounds)
    return OptSummary(
        initial=np.asarray(x0, dtype=float),
        lower=np.asarray(lower, dtype=float),
        final=np.asarray(result.x, dtype=float),
        fmin=float(result.fun),
        feval=count[0],
        return_value="SUCCESS" if result.success else str(result.message),
        optimizer=method,
    )


def all_fit(model: FittedLinearModel, optimizers: tuple[str, ...] = OPTIMIZERS) -> pd.DataFrame:
    """Fit the model with each optimizer from lme4's start and tabulate the results.

    The model is not changed: the fits evaluate an objective with a factor of its own.
    Close objectives and estimates across optimizers are reassuring; a spread says the
    optimum is poorly determined.

    Returns
    -------
    pandas.DataFrame
        One row per optimizer: objective, converged, evaluations, seconds, θ, σ and the fixed
        effects.
    """
    start = np.concatenate([t.initial_theta() for t in model.terms])
    devfun = model.objective_function
    rows = []
    for name in optimizers:
        began = time.perf_counter()
        summary = run_optimizer(name, devfun, start, model.lower)
        seconds = time.perf_counter() - began
        objective = devfun(summary.final)
        beta = devfun.factor.fixed_effects()
        sigma = math.sqrt(devfun.factor.pwrss() / model.dof_residual)
        row = {"optimizer": name, "objective": objective, "converged": summary.converged}
        row |= {"feval": summary.feval, "seconds": seconds, "sigma": sigma}
        row |= {f"theta{i + 1}": v for i, v in enumerate(summary.final)}
        row |= dict(zip(model.fixed.names, beta, strict=True))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("optimizer")
    table["delta_objective"] = table["objective"] - table["objective"].min()
    return table
