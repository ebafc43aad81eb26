"""Leverages and influence of a GLMM: lme4's ``hatvalues``, ``cooks.distance``, ``influence``.

A mixin of :class:`~mixedmodels.models.generalized.GeneralizedLinearMixedModel` (before
:class:`~mixedmodels.models.base.MixedModelBase`, whose refusals it overrides). The work is
shared with linear mixed models: :mod:`mixedmodels.results.influence` (Cook's distances, the
refits without each level of a group), :func:`mixedmodels.results.glmm.glmm_hat_values` and
:mod:`mixedmodels.objective.leverage` (the leverages from the engine's factor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, NotSupportedError
from mixedmodels.spec.frame import formula_offsets

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel
    from mixedmodels.results.influence import GroupInfluence

__all__ = ["GlmmInfluence"]


class GlmmInfluence:
    """``hat_values``, ``cooks_distance``, ``influence`` and ``fit_to_rows`` of a fitted GLMM."""

    def hat_values(self: FittedGeneralizedModel) -> FloatArray:
        """lme4's ``hatvalues`` of a glmer fit, one per observation used.

        ``aᵢ vᵢᵀ M⁻¹ vᵢ`` with ``M`` the penalized weighted least-squares system in ``(u, β)``
        at the converged working weights, ``vᵢ = [Λᵀzᵢ; xᵢ]`` and, as lme4 takes it, ``aᵢ`` the
        prior weight (the trials of a ``cbind`` response): values may exceed 1 (lme4 warns
        that "the hat matrix may not make sense for GLMMs").
        """
        from mixedmodels.results.glmm import glmm_hat_values

        return glmm_hat_values(self)

    def cooks_distance(self: FittedGeneralizedModel, group: Any = None) -> FloatArray | pd.Series:
        """Cook's distance per observation (lme4's), or per deleted level of ``group`` (refits).

        Per observation: ``(rᵢ/(1 − hᵢ))² hᵢ / (σ̂² p)`` with the Pearson residuals, the
        :meth:`hat_values` and σ̂ = 1 without a dispersion. Per group: as for an LMM,
        ``influence(group).cooks_distance``.
        """
        from mixedmodels.results.influence import cooks_distance

        if group is not None:
            _refuse_estimated_theta(self)
        return cooks_distance(self, group)

    def influence(self: FittedGeneralizedModel, group: Any) -> GroupInfluence:
        """Refits without each level of ``group`` (lme4's ``influence(m, groups=)``).

        ``group``: a column of the model frame (e.g. a grouping factor) or one label per
        observation used. Each refit is a new model started at this one's (θ, β), as lme4's;
        this model is left as it was. The result has ``cooks_distance_lme4``, ``dfbeta`` and
        ``dfbetas_lme4`` (lme4's ``cooks.distance``, ``dfbeta``, ``dfbetas`` of it).
        """
        from mixedmodels.results.influence import influence

        _refuse_estimated_theta(self)
        return influence(self, group)

    def fit_to_rows(
        self: FittedGeneralizedModel, keep: NDArray[np.bool_]
    ) -> FittedGeneralizedModel:
        """A new model of the same formula and arguments fitted to the rows ``keep`` (used).

        It starts at this model's estimates when it has the same fixed effects.
        """
        _refuse_estimated_theta(self)
        self._require_fit()
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.nobs,):
            raise DataError(f"keep must have one entry per observation used ({self.nobs})")
        frame = self.frame
        extra = frame.offset - formula_offsets(self.parsed, frame.data)
        weighted = self.response.kind == "proportion" or not np.all(frame.weights == 1.0)
        # the model's own class: models.generalized imports this module, not the reverse
        build = cast("Callable[..., FittedGeneralizedModel]", type(self))
        new = build(
            self.formula,
            frame.data.loc[keep].reset_index(drop=True),
            family=self.family,
            weights=frame.weights[keep] if weighted else None,
            offset=extra[keep] if np.any(extra != 0.0) else None,
            nagq=self.nagq,
            functions=self.parsed.functions or None,
            contrasts=frame.contrasts or None,
        )
        same = list(new.fixed.names) == list(self.fixed.names) and new.n_theta == self.n_theta
        return new.fit(start=self.params if same else None)


def _refuse_estimated_theta(model: FittedGeneralizedModel) -> None:
    """Refits of a glmer.nb fit would have to estimate the negative binomial θ again."""
    if model.nb_theta_estimated:
        raise NotSupportedError(
            "influence and refits without some rows are not available for a negative binomial "
            "GLMM with θ estimated (glmer_nb): each refit would estimate θ again; use "
            "glmer(..., family=NegativeBinomial(theta)) to delete groups at a fixed θ"
        )
