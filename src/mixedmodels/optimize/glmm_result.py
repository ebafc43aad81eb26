"""The result of fitting a GLMM in glmer's two stages, as a value.

:func:`mixedmodels.fit.glmm.fit_two_stages` returns it; the model keeps it (``_keep``).
It lives with the optimizer's summary so that the protocols of :mod:`mixedmodels.fitted`
can name it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.optimize.bobyqa import OptSummary
from mixedmodels.optimize.whitening import Whitening

__all__ = ["GlmmFit"]

Array = FloatArray


@dataclass(frozen=True)
class GlmmFit:
    """The result of glmer's two stages.

    Attributes
    ----------
    theta, beta
        The estimates.
    optsum
        The optimizer's summary of the last stage (``fmin`` the objective at the estimates).
    stage1
        The summary of stage 1 (None when stage 2 started from a given point).
    hessian_approx
        The quasi-Newton Hessian at the optimum (None without an exact gradient).
    final_gradient
        The exact gradient at the optimum (None without one).
    whitening
        The whitening adaptive quadrature searched in (None unless ``nagq > 1`` by BOBYQA).
    """

    theta: Array
    beta: Array
    optsum: OptSummary
    stage1: OptSummary | None = None
    hessian_approx: Array | None = None
    final_gradient: Array | None = None
    whitening: Whitening | None = None

    @property
    def params(self) -> Array:
        """``(θ, β)`` at the estimates."""
        return np.concatenate([self.theta, self.beta])
