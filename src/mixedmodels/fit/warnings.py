"""The warnings a fit ends with: a boundary (singular) fit, a doubtful optimum."""

from __future__ import annotations

import warnings

from mixedmodels.errors import ConvergenceWarning, SingularFitWarning
from mixedmodels.optimize import OptSummary
from mixedmodels.optimize.checks import ConvergenceCheck

__all__ = ["warn_after_lmm_fit", "warn_singular", "warn_stopped"]

SINGULAR_MESSAGE = "boundary (singular) fit: a variance is estimated as zero or a correlation as ±1"


def warn_singular(stacklevel: int) -> None:
    """lme4's boundary (singular) fit message as a :class:`SingularFitWarning`."""
    warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=stacklevel + 1)


def warn_stopped(optsum: OptSummary, stacklevel: int) -> None:
    """The optimizer stopped on a limit, not at a converged optimum: a ConvergenceWarning."""
    warnings.warn(
        f"the optimizer stopped with {optsum.return_value} after "
        f"{optsum.feval} evaluations; the estimates may not be at the optimum",
        ConvergenceWarning,
        stacklevel=stacklevel + 1,
    )


def warn_after_lmm_fit(
    optsum: OptSummary, convergence: ConvergenceCheck | None, singular: bool, stacklevel: int
) -> None:
    """Warn on a singular fit, a failed convergence check, an optimizer stopped on a limit.

    An optimizer that stopped on round-off (``ROUNDOFF_LIMITED``) is not doubted when the
    convergence check vouches for the optimum.
    """
    level = stacklevel + 1
    if singular:
        warn_singular(level)
    if convergence is not None and not convergence.ok:
        warnings.warn(
            "; ".join(convergence.messages)
            + ". Compare optimizers with m.all_fit(), or center and scale predictors.",
            ConvergenceWarning,
            stacklevel=level,
        )
    checked = convergence is not None and convergence.ok
    roundoff = optsum.return_value == "ROUNDOFF_LIMITED"
    if not optsum.converged and not (roundoff and checked):
        warn_stopped(optsum, level)
