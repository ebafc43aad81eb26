"""The warnings glmer gives after a fit: separation, a singular fit, failed convergence."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from mixedmodels.errors import ConvergenceWarning
from mixedmodels.fit.warnings import warn_singular, warn_stopped
from mixedmodels.results.separation import warn_separation

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel
    from mixedmodels.optimize.checks import ConvergenceCheck

__all__ = ["fit_warnings"]


def fit_warnings(model: FittedGeneralizedModel, convergence: ConvergenceCheck | None) -> list[int]:
    """Warn as glmer does after a fit; return the fixed effects whose estimates diverge.

    Called by the model's ``fit`` (the warnings point at its caller).

    Parameters
    ----------
    model
        The model just fitted.
    convergence
        lme4's convergence checks at the optimum (None without a gradient and Hessian).

    Returns
    -------
    list of int
        The columns of X named by a :class:`~mixedmodels.errors.SeparationWarning`.
    """
    model._require_fit()
    diverging = warn_separation(model)
    if model.is_singular:
        warn_singular(stacklevel=3)
    optsum = model.optsum
    assert optsum is not None
    if not optsum.converged:
        warn_stopped(optsum, stacklevel=3)
    elif convergence is not None and not convergence.ok:
        warnings.warn("; ".join(convergence.messages), ConvergenceWarning, stacklevel=3)
    return diverging
