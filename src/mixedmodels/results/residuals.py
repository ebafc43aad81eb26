"""Residuals and leverage of a fitted linear mixed model (lme4's ``residuals`` and ``hatvalues``).

For a linear mixed model lme4 defines (``residuals.lmResp``)::

    response = working = y − μ̂               (μ̂ = Xβ̂ + Zb̃ + offset, the fitted values)
    pearson = deviance = √w (y − μ̂)          (w the prior weights)

and ``scaled = TRUE`` divides any of them by σ̂. Without prior weights all four coincide.

The hat matrix is that of the penalized least-squares problem in ``(u, β)``::

    H = W^½ [ZΛ X] (LLᵀ)⁻¹ [ZΛ X]ᵀ W^½,    hᵢ = wᵢ vᵢᵀ (LLᵀ)⁻¹ vᵢ,   vᵢ = [Λᵀzᵢ; xᵢ],

as lme4's ``hatvalues.merMod`` (which computes ``‖L⁻¹ vᵢ √wᵢ‖²`` column by column). Here each
``vᵢ`` has ``k_j`` non-zero entries per term, at the levels row ``i`` belongs to, so ``hᵢ`` needs
only the blocks of ``(LLᵀ)⁻¹`` at those levels: they come from the selected inverse
(:mod:`mixedmodels.linalg.selected_inverse`), at the cost of one factorization plus
``O((Σk_j + p)²)`` per row. ``Σ hᵢ`` is the effective number of parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.linalg.selected_inverse import RowBlocks, SelectedInverse, selected_inverse
from mixedmodels.results.predict import predict

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel
    from mixedmodels.spec import RandomEffectsTerm

__all__ = ["RESIDUAL_TYPES", "fitted_rows", "hat_values", "residuals"]

RESIDUAL_TYPES = ("response", "working", "pearson", "deviance")


def residuals(model: FittedLinearModel, type: str = "response", scaled: bool = False) -> FloatArray:
    """Residuals of every kind lme4 offers for a linear mixed model.

    Parameters
    ----------
    model
        A fitted model.
    type
        ``"response"`` and ``"working"``: ``y − μ̂``; ``"pearson"`` and ``"deviance"``:
        ``√w (y − μ̂)`` with ``w`` the prior weights (the same without weights).
    scaled
        Divide by the residual standard deviation σ̂ (lme4's ``scaled = TRUE``).

    Returns
    -------
    numpy.ndarray
        One residual per observation used in the fit.

    Raises
    ------
    ModelSpecificationError
        For an unknown ``type`` (lme4's ``"partial"`` is not implemented there either).
    """
    if type not in RESIDUAL_TYPES:
        allowed = ", ".join(repr(t) for t in RESIDUAL_TYPES)
        raise ModelSpecificationError(f"residual type must be one of {allowed}, not {type!r}")
    res = model.fixed.y - predict(model)  # per observation used (fitted() may be padded)
    if type in ("pearson", "deviance"):
        res = res * np.sqrt(model.frame.weights)
    return res / model.sigma if scaled else res


def hat_values(model: FittedLinearModel) -> FloatArray:
    """Diagonal of the hat matrix of the penalized least-squares fit (lme4's ``hatvalues``).

    Parameters
    ----------
    model
        A fitted model.

    Returns
    -------
    numpy.ndarray
        The leverage ``hᵢ`` of each observation; their sum is the effective number of
        parameters (fixed effects plus the effective number of random effects).

    Notes
    -----
    ``hᵢ = wᵢ vᵢᵀ (LLᵀ)⁻¹ vᵢ`` with ``vᵢ = [Λᵀzᵢ; xᵢ]``, from the selected inverse of the
    blocked factor: the work is one factorization plus a few small products per row, and
    neither ``Z`` nor the inverse is formed.
    """
    model._require_fit()
    inverse = selected_inverse(model.L)
    rows = fitted_rows(model, model.terms, inverse)
    return model.frame.weights * inverse.quadratic_forms(rows)


def fitted_rows(
    model: FittedLinearModel,
    terms: Sequence[RandomEffectsTerm],
    inverse: SelectedInverse,
) -> RowBlocks:
    """The vectors ``vᵢ = [Λᵀzᵢ; xᵢ]`` of the fitted observations, for some of the terms.

    Parameters
    ----------
    model
        A fitted model.
    terms
        The terms whose blocks to include (the others are left out of ``v``).
    inverse
        The selected inverse, to know whether it includes the fixed effects.
    """
    rows = RowBlocks()
    templates = model.templates()
    wanted = {t.name for t in terms}
    for j, term in enumerate(model.terms):
        if term.name in wanted:
            rows.add(j, term.refs, term.z @ templates[j])
    if inverse.fixed:
        rows.add(len(model.terms), np.zeros(model.nobs, dtype=np.intp), model.fixed.X)
    return rows
