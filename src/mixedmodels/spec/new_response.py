"""The new response of a refit: one finite real number per observation, or a DataError.

:meth:`LinearMixedModel.refit` takes values from the caller (a simulated response, a
transformed one, a column of a data frame) and must refuse strings, complex numbers, several
columns, the wrong length and missing or infinite values with our own error, before anything is
computed from them.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, ModelSpecificationError

__all__ = ["checked_flag", "checked_glmm_response", "checked_response"]


def checked_flag(value: Any, name: str) -> bool | None:
    """``value`` when it is None, True or False; a ModelSpecificationError otherwise."""
    if value is None or isinstance(value, bool | np.bool_):
        return None if value is None else bool(value)
    raise ModelSpecificationError(f"{name} must be True, False or None, not {value!r}")


def checked_response(y: Any, nobs: int) -> FloatArray:
    """``y`` as a new float64 response of ``nobs`` values (a copy: the caller's stays as is).

    Parameters
    ----------
    y
        One value per observation used: a sequence, a 1-d array, a pandas Series, or a single
        column (``(nobs, 1)``, e.g. what ``simulate(1)`` returns or a one-column DataFrame).
    nobs
        Number of observations of the model.

    Raises
    ------
    DataError
        For values that are not real numbers, several columns, the wrong length or values
        that are missing or infinite; the message says which and where.
    """
    values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(
            f"the new response must be {nobs} finite numbers, one per observation used: got "
            f"an array of shape {values.shape}"
        )
    if values.shape[0] != nobs:
        raise DataError(
            f"the new response must be {nobs} finite numbers, one per observation used: got "
            f"{values.shape[0]} values"
        )
    out = _as_real(values)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise DataError(
            f"the new response must be {nobs} finite numbers: {bad.size} value(s) are missing "
            f"or infinite (the first at position {bad[0]}: {out[bad[0]]})"
        )
    return out


def _as_real(values: np.ndarray) -> FloatArray:
    """The values as float64, refusing text, complex numbers and other non-numbers."""
    kind = values.dtype.kind
    if kind in "biuf":
        return np.array(values, dtype=np.float64)
    if kind == "c":
        raise DataError("the new response is complex; a response must be real numbers")
    if kind == "O":
        out = np.empty(values.shape[0])
        for i, v in enumerate(values.tolist()):
            if _is_missing(v):
                out[i] = np.nan  # reported with the other non-finite values
            elif _is_real_number(v):
                out[i] = float(v)
            else:
                raise DataError(
                    "the new response must be real numbers: the value at position "
                    f"{i} is {v!r} ({type(v).__name__})"
                )
        return out
    first = values[0] if values.size else ""
    raise DataError(
        f"the new response must be real numbers, not {values.dtype} values (the first is {first!r})"
    )


def _is_missing(value: Any) -> bool:
    """True for None and pandas' missing-value markers."""
    return value is None or value is pd.NA or value is pd.NaT


def _is_real_number(value: Any) -> bool:
    """True for ints, floats, booleans and NumPy real scalars."""
    return isinstance(value, numbers.Real | np.bool_)


def checked_glmm_response(y: Any, kind: str, trials: FloatArray, family: str) -> FloatArray:
    """A GLMM's new response on the scale the family models it (proportions for binomials).

    ``y`` is given as :meth:`~mixedmodels.GeneralizedLinearMixedModel.simulate` returns it:
    successes for a ``cbind`` response, proportions or 0/1 otherwise; counts must be
    non-negative and binomial proportions within [0, 1].
    """
    values = checked_response(y, len(trials))
    if family == "binomial" and kind == "cbind":
        values = values / trials
    if family == "binomial" and np.any((values < 0.0) | (values > 1.0)):
        raise DataError("a new binomial response must be successes within the trials")
    if family in ("poisson", "negative_binomial") and np.any(values < 0.0):
        raise DataError("a new count response must not be negative")
    return values
