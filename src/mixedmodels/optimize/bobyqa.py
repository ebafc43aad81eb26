"""BOBYQA (NLopt's ``LN_BOBYQA``), the derivative-free optimizer of lme4 and MixedModels.jl."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mixedmodels._typing import FloatArray

__all__ = ["OptSummary", "bobyqa", "lbfgs", "nlopt_minimize"]

Array = FloatArray

_RETURN_CODES = {
    1: "SUCCESS",
    2: "STOPVAL_REACHED",
    3: "FTOL_REACHED",
    4: "XTOL_REACHED",
    5: "MAXEVAL_REACHED",
    6: "MAXTIME_REACHED",
    -1: "FAILURE",
    -2: "INVALID_ARGS",
    -3: "OUT_OF_MEMORY",
    -4: "ROUNDOFF_LIMITED",
    -5: "FORCED_STOP",
}


@dataclass
class OptSummary:
    """What the optimizer was asked and what it returned (MixedModels.jl's ``OptSummary``).

    Attributes
    ----------
    initial, lower
        Starting point and lower bounds.
    final, fmin
        Optimum found and objective there.
    feval
        Number of objective evaluations.
    return_value
        NLopt's return code as a name (``"FTOL_REACHED"``, ``"MAXEVAL_REACHED"``, ...).
    optimizer
        Name of the algorithm.
    settings
        Tolerances and limits used.
    """

    initial: Array
    lower: Array
    final: Array
    fmin: float
    feval: int
    return_value: str
    optimizer: str = "LN_BOBYQA"
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """False when the optimizer stopped on a limit or failed."""
        return self.return_value in {"SUCCESS", "STOPVAL_REACHED", "FTOL_REACHED", "XTOL_REACHED"}


def bobyqa(
    objective: Callable[[Array], float],
    x0: Array,
    lower: Array,
    *,
    ftol_rel: float = 1e-13,
    ftol_abs: float = 0.0,
    xtol_abs: float = 1e-10,
    initial_step: Array | None = None,
    maxeval: int = 100_000,
    upper: Array | None = None,
) -> OptSummary:
    """Minimize ``objective`` subject to ``x >= lower`` (and ``x <= upper``) with BOBYQA.

    Parameters
    ----------
    objective
        Function of the parameter vector; ``inf`` marks an infeasible point.
    x0, lower
        Starting point and lower bounds (``-inf`` for none).
    ftol_rel, ftol_abs, xtol_abs, maxeval
        Stopping rules, as in NLopt.
    initial_step
        Initial trust-region radius per coordinate (NLopt's default when ``None``).
    upper
        Upper bounds (``inf`` for none); none when ``None``.

    Returns
    -------
    OptSummary
        The optimum and how it was reached.
    """
    return nlopt_minimize(
        objective,
        x0,
        lower,
        algorithm="LN_BOBYQA",
        ftol_rel=ftol_rel,
        ftol_abs=ftol_abs,
        xtol_abs=xtol_abs,
        initial_step=initial_step,
        maxeval=maxeval,
        upper=upper,
    )


def lbfgs(
    objective: Callable[[Array], float],
    gradient: Callable[[Array], Array],
    x0: Array,
    lower: Array,
    *,
    ftol_rel: float = 1e-13,
    xtol_abs: float = 1e-10,
    maxeval: int = 100_000,
) -> OptSummary:
    """Minimize with an exact gradient by NLopt's bound-constrained ``LD_LBFGS``.

    A model whose criterion has an analytic gradient (one small random-effects term) needs a
    third of BOBYQA's evaluations to the same optimum; ``gradient`` is called after
    ``objective`` at the same point.
    """
    return nlopt_minimize(
        objective,
        x0,
        lower,
        algorithm="LD_LBFGS",
        ftol_rel=ftol_rel,
        xtol_abs=xtol_abs,
        maxeval=maxeval,
        gradient=gradient,
    )


def nlopt_minimize(
    objective: Callable[[Array], float],
    x0: Array,
    lower: Array,
    *,
    algorithm: str,
    ftol_rel: float = 1e-13,
    ftol_abs: float = 0.0,
    xtol_abs: float = 1e-10,
    initial_step: Array | None = None,
    maxeval: int = 100_000,
    upper: Array | None = None,
    gradient: Callable[[Array], Array] | None = None,
) -> OptSummary:
    """Minimize with an NLopt algorithm subject to ``x >= lower`` (``<= upper``).

    ``algorithm`` is NLopt's name: ``"LN_BOBYQA"``, ``"LN_NELDERMEAD"``, ``"LN_SBPLX"``,
    ``"LN_COBYLA"``, ... or, with ``gradient``, a gradient-based one (``"LD_LBFGS"``); the
    other arguments are as for :func:`bobyqa`.
    """
    import nlopt

    n = len(x0)
    opt = nlopt.opt(getattr(nlopt, algorithm), n)
    opt.set_lower_bounds(np.asarray(lower, dtype=float))
    if upper is not None:
        opt.set_upper_bounds(np.asarray(upper, dtype=float))
    opt.set_ftol_rel(ftol_rel)
    opt.set_ftol_abs(ftol_abs)
    opt.set_xtol_abs(xtol_abs)
    opt.set_maxeval(maxeval)
    if initial_step is not None:
        opt.set_initial_step(np.asarray(initial_step, dtype=float))
    best = _Best(np.asarray(x0, dtype=float))

    def wrapped(x: Array, grad: Array) -> float:
        value = float(objective(x))
        best.record(x, value)
        if grad.size and gradient is not None:
            grad[:] = gradient(x) if np.isfinite(value) else 0.0
        return value if np.isfinite(value) else 1e300

    opt.set_min_objective(wrapped)
    try:
        opt.optimize(np.asarray(x0, dtype=float))
        code = opt.last_optimize_result()
    except nlopt.RoundoffLimited:
        code = -4
    except (RuntimeError, nlopt.runtime_error):  # NLopt's generic failure (a line search)
        code = -1
    settings = {"ftol_rel": ftol_rel, "ftol_abs": ftol_abs, "xtol_abs": xtol_abs}
    return OptSummary(
        initial=np.asarray(x0, dtype=float),
        lower=np.asarray(lower, dtype=float),
        final=best.x,
        fmin=best.f,
        feval=best.count,
        return_value=_RETURN_CODES.get(code, str(code)),
        optimizer=algorithm,
        settings=settings,
    )


class _Best:
    """The best point seen so far (NLopt may stop on round-off without returning it)."""

    def __init__(self, x0: Array) -> None:
        self.x = x0.copy()
        self.f = np.inf
        self.count = 0

    def record(self, x: Array, value: float) -> None:
        self.count += 1
        if value < self.f:
            self.f = value
            self.x = np.array(x, dtype=float)
