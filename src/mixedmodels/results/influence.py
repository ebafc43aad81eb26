"""Influence of observations and of whole groups on the fixed effects, for LMMs and GLMMs.

Two measures, as lme4 offers them:

* Without a group, :func:`cooks_distance` is lme4's ``cooks.distance.merMod``, the one-step
  approximation from the leverage of the penalized fit (:func:`observation_cooks`)::

      Dᵢ = (rᵢ / (1 − hᵢ))² hᵢ / (σ̂² p)            (rᵢ Pearson residuals, p = rank of X)

  with the model's own hat values (those of the penalized least squares for an LMM; lme4's
  ``hatvalues`` of a glmer fit, :func:`~mixedmodels.results.glmm.glmm_hat_values`) and σ̂ = 1
  for GLMM families without a dispersion.

* With a group (a grouping factor or any labelling of the observations), every level is
  deleted in turn and the model refitted (lme4's ``influence.merMod``, influence.ME's
  ``influence``); Cook's distance on the fixed effects is::

      D_g = (β̂ − β̂₍₋g₎)ᵀ Var(β̂)⁻¹ (β̂ − β̂₍₋g₎) / p

  with ``Var(β̂)`` from the full fit (influence.ME's ``cooks.distance``). lme4's
  ``cooks.distance(influence(m, groups))`` multiplies this by ``(G − p)/G`` for ``G`` deleted
  levels; :attr:`GroupInfluence.cooks_distance_lme4` gives that version. Likewise
  :attr:`GroupInfluence.dfbetas` scales by the full fit's standard errors (influence.ME) and
  :attr:`GroupInfluence.dfbetas_lme4` by each refit's own (lme4's ``dfbetas``).

Both read the model through :class:`~mixedmodels.fitted.InfluenceModel`: an LMM or a GLMM.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, MixedModelsError, UnknownColumnError
from mixedmodels.spec.grouping import factor_codes

if TYPE_CHECKING:
    from mixedmodels.fitted import InfluenceModel

__all__ = ["GroupInfluence", "cooks_distance", "influence", "observation_cooks"]


@dataclass(frozen=True)
class GroupInfluence:
    """Refits of a model with each level of a group deleted (lme4's ``influence.merMod``).

    Attributes
    ----------
    group
        Name of the deleted grouping.
    fixef
        Fixed effects of the full fit.
    vcov
        Their covariance matrix in the full fit.
    fixef_deleted
        One row per deleted level: the fixed effects of the refit (missing for a coefficient
        that cannot be estimated without that level).
    sigma_deleted, theta_deleted
        σ̂ and θ̂ of each refit.
    converged
        Whether each refit converged without warnings.
    se_deleted
        One row per deleted level: the standard errors of the refit's fixed effects (from its
        own ``vcov``; missing where the refit failed).
    """

    group: str
    fixef: pd.Series
    vcov: pd.DataFrame
    fixef_deleted: pd.DataFrame
    sigma_deleted: pd.Series
    theta_deleted: pd.DataFrame
    converged: pd.Series
    se_deleted: pd.DataFrame

    @property
    def dfbeta(self) -> pd.DataFrame:
        """``β̂₍₋g₎ − β̂`` per deleted level (lme4's ``dfbeta``)."""
        return self.fixef_deleted - self.fixef

    @property
    def dfbetas(self) -> pd.DataFrame:
        """``dfbeta`` scaled by the full fit's standard errors (influence.ME's ``dfbetas``)."""
        return self.dfbeta.div(np.sqrt(np.diag(self.vcov.to_numpy())), axis=1)

    @property
    def dfbetas_lme4(self) -> pd.DataFrame:
        """``dfbeta`` scaled by each refit's own standard errors (lme4's ``dfbetas``)."""
        return self.dfbeta / self.se_deleted

    @property
    def cooks_distance(self) -> pd.Series:
        """``(β̂ − β̂₍₋g₎)ᵀ Var(β̂)⁻¹ (β̂ − β̂₍₋g₎) / p`` per deleted level."""
        db = self.dfbeta.to_numpy()
        p = db.shape[1]
        solved = np.linalg.solve(self.vcov.to_numpy(), db.T).T
        values = np.einsum("gi,gi->g", db, solved) / p
        return pd.Series(values, index=self.dfbeta.index, name="cooks_distance")

    @property
    def cooks_distance_lme4(self) -> pd.Series:
        """lme4's ``cooks.distance(influence(m, groups))``: the above times ``(G − p)/G``."""
        G, p = self.fixef_deleted.shape
        return self.cooks_distance * (G - p) / G

    def to_frame(self) -> pd.DataFrame:
        """Cook's distance, dfbetas, σ̂ and convergence per deleted level."""
        frame = self.dfbetas.add_prefix("dfbetas_")
        frame.insert(0, "cooks_distance", self.cooks_distance)
        frame["sigma"] = self.sigma_deleted
        frame["converged"] = self.converged
        return frame


def observation_cooks(hat: FloatArray, pearson: FloatArray, sigma: float, p: int) -> FloatArray:
    """``Dᵢ = (rᵢ / (1 − hᵢ))² hᵢ / (σ² p)`` (lme4's ``cooks.distance.merMod``); NaN for ``hᵢ = 1``.

    Parameters
    ----------
    hat
        Hat values, one per observation used.
    pearson
        Pearson residuals of the same observations.
    sigma
        The scale σ̂ (1 for families without a dispersion).
    p
        The rank of the fixed-effects model matrix.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (pearson / (1.0 - hat)) ** 2 * hat / (sigma**2 * p)
    return np.where(np.isinf(d), np.nan, d)


def cooks_distance(model: InfluenceModel, group: Any = None) -> FloatArray | pd.Series:
    """Cook's distance per observation (approximate) or per deleted group (by refitting).

    Parameters
    ----------
    model
        A fitted model.
    group
        ``None`` for lme4's per-observation ``cooks.distance``; otherwise a column of the
        model frame (e.g. a grouping factor) or one label per observation used, whose levels
        are deleted in turn (see :func:`influence`).

    Returns
    -------
    numpy.ndarray or pandas.Series
        One value per observation, or per level of ``group``.
    """
    if group is None:
        model._require_fit()
        pearson = _per_observation(model, model.residuals("pearson"))
        return observation_cooks(model.hat_values(), pearson, model.sigma, model.n_fixed)
    return influence(model, group).cooks_distance


def influence(model: InfluenceModel, group: Any) -> GroupInfluence:
    """Refit the model without each level of ``group`` in turn (lme4's ``influence.merMod``).

    Each refit is a new model of the same formula and arguments fitted to the other rows
    (``model.fit_to_rows``); the model itself is left as it was.

    Parameters
    ----------
    model
        A fitted model.
    group
        A column of the model frame (such as a grouping factor, ``"Subject"``) or one label per
        observation used in the fit.

    Returns
    -------
    GroupInfluence
        The refits' estimates; ``.cooks_distance``, ``.dfbeta``, ``.dfbetas`` and lme4's
        versions ``.cooks_distance_lme4``, ``.dfbetas_lme4``.

    Raises
    ------
    UnknownColumnError
        For a name that is not a column of the model frame.
    DataError
        For labels that are not one per observation used, or a single level.
    """
    model._require_fit()
    name, codes, labels = _group_codes(model, group)
    if len(labels) < 2:
        raise DataError(f"{name!r} has a single level: nothing to delete")
    names = list(model.fixed.names)
    fixef = np.full((len(labels), len(names)), np.nan)
    se = np.full_like(fixef, np.nan)
    sigma = np.full(len(labels), np.nan)
    theta = np.full((len(labels), len(model.theta)), np.nan)
    converged = np.zeros(len(labels), dtype=bool)
    for g in range(len(labels)):
        refit, converged[g] = _refit_without(model, codes != g)
        if refit is None:
            continue
        fixef[g], se[g] = _estimates(refit, names)
        sigma[g] = refit.sigma
        if refit.theta.shape == model.theta.shape:
            theta[g] = refit.theta
    index = pd.Index(labels, name=name)
    return GroupInfluence(
        group=name,
        fixef=model.fixef,
        vcov=model.vcov,
        fixef_deleted=pd.DataFrame(fixef, index=index, columns=names),
        sigma_deleted=pd.Series(sigma, index=index, name="sigma"),
        theta_deleted=pd.DataFrame(theta, index=index),
        converged=pd.Series(converged, index=index, name="converged"),
        se_deleted=pd.DataFrame(se, index=index, columns=names),
    )


def _group_codes(model: InfluenceModel, group: Any) -> tuple[str, np.ndarray, list[str]]:
    """Name, level code per observation and level labels of the deleted grouping."""
    frame = model.frame.data
    if isinstance(group, str):
        if group not in frame.columns:
            raise UnknownColumnError([group], frame.columns)
        codes, labels = factor_codes(frame[group])
        return group, codes, labels
    values = pd.Series(np.asarray(group).reshape(-1))
    if len(values) != model.nobs:
        raise DataError(f"group must have one label per observation used ({model.nobs})")
    codes, labels = factor_codes(values)
    return "group", codes, labels


def _refit_without(model: InfluenceModel, keep: np.ndarray) -> tuple[InfluenceModel | None, bool]:
    """Fit the model's formula to the kept rows; ``(None, False)`` when that fails."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            refit = model.fit_to_rows(keep)
        except MixedModelsError:
            return None, False
    return refit, not caught and bool(refit.optsum is not None and refit.optsum.converged)


def _estimates(refit: InfluenceModel, names: list[str]) -> tuple[FloatArray, FloatArray]:
    """The refit's fixed effects and standard errors by name (missing ones NaN)."""
    estimates = refit.fixef.reindex(names).to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            vcov = refit.vcov
        except (MixedModelsError, np.linalg.LinAlgError):
            return estimates, np.full(len(names), np.nan)
    se = pd.Series(np.sqrt(np.diag(vcov.to_numpy())), index=vcov.index)
    return estimates, se.reindex(names).to_numpy(dtype=float)


def _per_observation(model: InfluenceModel, values: FloatArray) -> FloatArray:
    """Per-row results one per observation used (undoing ``na_action="exclude"``'s padding)."""
    kept = model.frame.kept
    if len(values) == model.nobs or kept is None:
        return values
    return values[kept]
