"""Conditional modes of the random effects and their conditional variances.

The conditional covariance of ``b`` given ``y`` (at the estimates, as lme4's ``condVar``) is
``σ² Λ (L_Z L_Zᵀ)⁻¹ Λᵀ``; only its diagonal blocks (one ``k×k`` block per level) are needed,
read from the selected inverse (:mod:`mixedmodels.linalg.selected_inverse`), never the whole
inverse.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.selected_inverse import selected_inverse
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["conditional_variances", "ranef_frames"]

Array = FloatArray


def ranef_frames(
    terms: Sequence[RandomEffectsTerm], modes: Sequence[Array]
) -> dict[str, pd.DataFrame]:
    """Conditional modes per grouping factor: one row per level, one column per effect.

    Terms on the same grouping factor (as from ``(x || g)``) are joined into one frame.
    """
    out: dict[str, pd.DataFrame] = {}
    for term, b in zip(terms, modes, strict=True):
        frame = pd.DataFrame(
            b, index=pd.Index(term.levels, name=term.group), columns=term.column_names
        )
        if term.group in out:
            previous = out[term.group]
            renamed = {c: f"{c} ({term.name})" for c in frame.columns if c in previous.columns}
            frame = previous.join(frame.rename(columns=renamed))
        out[term.group] = frame
    return out


def conditional_variances(
    L: BlockedCholesky, templates: Sequence[Array], sigma: float
) -> dict[str, Array]:
    """Conditional covariance blocks ``(levels, k, k)`` of each term's random effects.

    Parameters
    ----------
    L
        The blocked Cholesky factor at the estimates.
    templates
        The templates ``T_j`` at the estimates.
    sigma
        The residual SD (1 for GLMMs).

    Returns
    -------
    dict
        Keyed by term name (``"Subject"``, ``"Subject.1"``, ...).
    """
    inverse = selected_inverse(L, fixed=False)
    out: dict[str, Array] = {}
    for j, term in enumerate(L.terms):
        V = inverse.diagonal_blocks(j)
        T = templates[j]
        out[term.name] = sigma**2 * (T @ V @ T.T)
    return out
