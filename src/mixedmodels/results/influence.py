"""Influence of observations and of whole groups on the fixed effects.

Two measures, as lme4 offers them:

* Without a group, :func:`cooks_distance` is lme4's ``cooks.distance.merMod``, the one-step
  approximation from the leverage of the penalized fit::

      Dᵢ = (rᵢ / (1 − hᵢ))² hᵢ / (σ̂² p)            (rᵢ Pearson residuals, p = rank of X)

* With a group (a grouping factor or any labelling of the observations), every level is
  deleted in turn and the model refitted (lme4's ``influence.merMod``, influence.ME's
  ``influence``); Cook's distance on the fixed effects is::

      D_g = (β̂ − β̂₍₋g₎)ᵀ Var(β̂)⁻¹ (β̂ − β̂₍₋g₎) / p

  with ``Var(β̂)`` from the full fit (influence.ME's ``cooks.distance``). lme4's
  ``cooks.distance(influence(m, groups))`` multiplies this by ``(G − p)/G`` for ``G`` deleted
  levels; :attr:`GroupInfluence.cooks_distance_lme4` gives that version.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, MixedModelsError, UnknownColumnError
from mixedmodels.results.residuals import hat_values, residuals
from mixedmodels.spec.grouping import factor_codes

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel

__all__ = ["GroupInfluence", "cooks_distance", "influence"]


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
    """

    group: str
    fixef: pd.Series
    vcov: pd.DataFrame
    fixef_deleted: pd.DataFrame
    sigma_deleted: pd.Series
    theta_deleted: pd.DataFrame
    converged: pd.Series

    @property
    def dfbeta(self) -> pd.DataFrame:
        """``β̂₍₋g₎ − β̂`` per deleted level (lme4's ``dfbeta``)."""
        return self.fixef_deleted - self.fixef

    @property
    def dfbetas(self) -> pd.DataFrame:
        """``dfbeta`` scaled by the full fit's standard errors (influence.ME's ``dfbetas``)."""
        return self.dfbeta.div(np.sqrt(np.diag(self.vcov.to_numpy())), axis=1)

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


def cooks_distance(model: FittedLinearModel, group: Any = None) -> FloatArray | pd.Series:
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
        h = hat_values(model)
        r = residuals(model, "pearson")
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (r / (1.0 - h)) ** 2 * h / (model.sigma**2 * model.n_fixed)
        return np.where(np.isinf(d), np.nan, d)
    return influence(model, group).cooks_distance


def influence(model: FittedLinearModel, group: Any) -> GroupInfluence:
    """Refit the model without each level of ``group`` in turn (lme4's ``influence.merMod``).

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
        The refits' estimates; ``.cooks_distance``, ``.dfbeta``, ``.dfbetas``.
    """
    model._require_fit()
    name, codes, labels = _group_codes(model, group)
    if len(labels) < 2:
        raise DataError(f"{name!r} has a single level: nothing to delete")
    names = list(model.fixed.names)
    fixef = np.full((len(labels), len(names)), np.nan)
    sigma = np.full(len(labels), np.nan)
    theta = np.full((len(labels), len(model.theta)), np.nan)
    converged = np.zeros(len(labels), dtype=bool)
    for g in range(len(labels)):
        refit, ok = _refit_without(model, codes != g)
        converged[g] = ok
        if refit is None:
            continue
        estimates = refit.fixef
        fixef[g] = [estimates.get(n, np.nan) for n in names]
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
    )


def _group_codes(model: FittedLinearModel, group: Any) -> tuple[str, np.ndarray, list[str]]:
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


def _refit_without(model: FittedLinearModel, keep: np.ndarray) -> tuple[Any, bool]:
    """Fit the model's formula to the kept rows; ``(None, False)`` when that fails."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            refit = model.fit_to_rows(keep, check_convergence=False)
        except MixedModelsError:
            return None, False
    return refit, not caught and bool(refit.optsum is not None and refit.optsum.converged)
