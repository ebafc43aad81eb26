"""Checks of the plain arguments of a fit: flags such as ``reml`` and a starting θ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["check_fixed_sigma", "check_flag", "check_glmm_start", "check_start"]


def check_flag(value: Any, name: str) -> bool:
    """``value`` as a bool, accepting only ``True``/``False`` (and NumPy's booleans).

    Raises
    ------
    ModelSpecificationError
        For anything else (``"maybe"``, ``1``, ``None``), naming the argument.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ModelSpecificationError(f"{name} must be True or False, not {value!r}")


def check_fixed_sigma(value: Any) -> float | None:
    """A fixed residual SD (``sigma=``): ``None``, or a positive finite number.

    Raises
    ------
    ModelSpecificationError
        For anything else (a string, zero, a negative or non-finite number).
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise ModelSpecificationError(f"sigma must be a positive number or None, not {value!r}")
    sigma = float(value)
    if not (np.isfinite(sigma) and sigma > 0.0):
        raise ModelSpecificationError(
            f"sigma (the fixed residual SD) must be positive and finite, not {value!r}"
        )
    return sigma


def check_start(start: Any, lower: FloatArray, terms: Sequence[RandomEffectsTerm]) -> FloatArray:
    """A starting θ for the optimizer, checked: its length, finite values, the bounds.

    Parameters
    ----------
    start
        One value per covariance parameter (lme4's order: each term's template column by
        column), or a mapping with the key ``"theta"`` (lme4's ``start = list(theta = ...)``).
    lower
        The lower bounds of θ (0 for diagonal entries of the templates).
    terms
        The random-effects terms, to name them in messages.

    Returns
    -------
    numpy.ndarray
        A new float array.

    Raises
    ------
    ModelSpecificationError
        Saying what is wrong and what is expected.
    """
    if isinstance(start, Mapping):
        unknown = sorted(str(k) for k in start if k != "theta")
        if unknown:
            raise ModelSpecificationError(
                f"start for a linear mixed model takes only 'theta' (β and σ are profiled "
                f"out), not {', '.join(repr(k) for k in unknown)}"
            )
        if "theta" not in start:
            raise ModelSpecificationError("start must give 'theta'")
        start = start["theta"]
    expected = _layout(terms)
    try:
        raw = np.asarray(start)
        if raw.dtype.kind not in "iuf":
            raise TypeError
        theta = np.atleast_1d(np.array(raw, dtype=np.float64))
    except (TypeError, ValueError):
        raise ModelSpecificationError(
            f"start must be numbers (θ: {expected}), not {start!r}"
        ) from None
    if theta.ndim != 1 or theta.size != lower.size:
        raise ModelSpecificationError(
            f"start must have {lower.size} values of θ ({expected}), not {theta.size}"
        )
    if not np.all(np.isfinite(theta)):
        raise ModelSpecificationError(f"start has non-finite values: {theta.tolist()}")
    below = np.flatnonzero(theta < lower)
    if below.size:
        which = ", ".join(f"θ[{i}] = {theta[i]:g}" for i in below)
        raise ModelSpecificationError(
            f"start is below the lower bounds (diagonal entries of θ must be >= 0): {which}"
        )
    return theta


def _layout(terms: Sequence[RandomEffectsTerm]) -> str:
    """``"2 for (Days | Subject), 1 for (1 | g)"``: how many values of θ each term takes."""
    return ", ".join(f"{t.ntheta} for {t.spec}" for t in terms)


def check_glmm_start(
    start: Any, lower: FloatArray, terms: Sequence[RandomEffectsTerm], n_fixed: int
) -> tuple[FloatArray | None, FloatArray | None]:
    """A GLMM's start, checked: ``(θ or None, β or None)`` (lme4's ``start = list(...)``).

    ``start`` is θ (an array), or a mapping with ``"theta"`` and/or ``"fixef"``.

    Raises
    ------
    ModelSpecificationError
        For other keys, θ as :func:`check_start` refuses it, or ``fixef`` that is not
        ``n_fixed`` finite numbers.
    """
    if not isinstance(start, Mapping):
        return check_start(start, lower, terms), None
    unknown = sorted(str(k) for k in start if k not in ("theta", "fixef"))
    if unknown or not start:
        raise ModelSpecificationError(
            "start for a GLMM takes 'theta' and/or 'fixef', not "
            + (", ".join(repr(k) for k in unknown) or "an empty mapping")
        )
    theta = check_start(start["theta"], lower, terms) if "theta" in start else None
    if "fixef" not in start:
        return theta, None
    try:
        beta = np.atleast_1d(np.asarray(start["fixef"], dtype=np.float64))
    except (TypeError, ValueError):
        raise ModelSpecificationError(
            f"start['fixef'] must be numbers, not {start['fixef']!r}"
        ) from None
    if beta.ndim != 1 or beta.size != n_fixed or not np.all(np.isfinite(beta)):
        raise ModelSpecificationError(
            f"start['fixef'] must be {n_fixed} finite numbers (one per fixed effect), "
            f"not {beta.tolist()}"
        )
    return theta, beta
