"""New GLMMs from a fitted one: ``refit``, ``with_family``, ``at_params``.

A mixin of :class:`~mixedmodels.models.generalized.GeneralizedLinearMixedModel`. Each method
returns a new model that shares the data, the frame and the terms and owns its engine (a copy
of this model's, so that a fit started at these estimates starts PIRLS from these modes);
the model it is called on is never changed.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mixedmodels.errors import DataError
from mixedmodels.fit.glmm import GlmmFit
from mixedmodels.models.rows import needs_rows, new_response
from mixedmodels.objective.glmm import copy_engine
from mixedmodels.optimize import OptSummary
from mixedmodels.spec.new_response import checked_glmm_response

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel
    from mixedmodels.spec.families import Family

__all__ = ["CACHED", "GlmmRefits"]

CACHED = ("_hessian", "_sdreport", "_agq_cache")  # results computed once per fit


class GlmmRefits:
    """``refit``, ``with_family`` and ``at_params`` of a GLMM: each makes a new model."""

    @needs_rows("refit with a new response", when=new_response)
    def refit(self: FittedGeneralizedModel, y: Any = None) -> FittedGeneralizedModel:
        """A new model fitted again from this one's estimates (lme4's ``refit``).

        ``y``: a new response, as :meth:`simulate` gives it (``cbind``: successes).
        """
        self._require_fit()
        new = self.with_family(self.family, theta_estimated=self.nb_theta_estimated)
        if y is not None:
            r = self.response
            values = checked_glmm_response(y, r.kind, r.trials, self.family.name)
            new.response = replace(r, y=values)
            new.fixed = replace(self.fixed, y=values)
            new.data = replace(new.data, y=values)
            new.engine = copy_engine(self.engine, new.data)
        return new.fit(start=self.params)

    def with_family(
        self: FittedGeneralizedModel, family: Family, *, theta_estimated: bool = False
    ) -> FittedGeneralizedModel:
        """A new, unfitted model with another family of the same kind (a new negative binomial θ).

        It shares the data, the frame and the terms, and has its own engine: a copy of this
        model's, so that a fit started at this model's estimates starts PIRLS from its modes.
        This model is left as it was.

        Parameters
        ----------
        family
            The family (same response kind: counts stay counts).
        theta_estimated
            The family's θ is estimated (glmer.nb): one more parameter in ``npar``.
        """
        new = copy.copy(self)
        for cached in (*CACHED, "_work_objective", "_per_fit"):
            new.__dict__.pop(cached, None)
        new.family = family
        new.data = replace(self.data, family=family)
        new.engine = copy_engine(self.engine, new.data)
        new.nb_theta_estimated = theta_estimated
        new.optsum = new.stage1 = new.convergence = None
        new.hessian_approx = new.final_gradient = new.agq_whitening = None
        new.diverging = []
        return new

    def at_params(self: FittedGeneralizedModel, params: Any) -> FittedGeneralizedModel:
        """A new model whose results are evaluated at ``params = (θ, β)`` instead of optimized.

        β, θ and the conditional modes are the given ones (e.g. another program's estimates);
        ``objective`` is the objective there. This model is not changed.
        """
        self._require_fit()
        x = np.asarray(params, dtype=float).ravel()
        k = self.n_theta
        if x.shape != (k + self.n_fixed,) or not np.all(np.isfinite(x)):
            raise DataError(
                f"params must be {k + self.n_fixed} finite numbers (θ, then β), not {params!r}"
            )
        if np.any(x[:k] < self.lower):
            raise DataError("params: a diagonal entry of a template (θ) is below 0")
        new = self.with_family(self.family, theta_estimated=self.nb_theta_estimated)
        value = float(new.objective_function(x))
        summary = OptSummary(x.copy(), self.all_lower, x.copy(), value, 0, "GIVEN_PARAMS", "none")
        new._keep(GlmmFit(x[:k].copy(), x[k:].copy(), summary))
        return new
