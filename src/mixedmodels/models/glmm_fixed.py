"""A fast path for the fixed-effects model matrix of simple formulas.

formulaic's ``model_matrix`` costs several milliseconds even for ``~ period``, which is most of
the time of a small GLMM fit. For the common case — an intercept plus plain columns, numeric or
text — the matrix is built here exactly as formulaic builds it (columns in formula order,
treatment contrasts against the first of the sorted levels, named ``x[T.level]``), and the
formulaic spec that prediction on new data needs is made only when it is asked for. Anything
else (interactions, transformations, categoricals, no intercept) returns ``None`` and goes
through :func:`mixedmodels.terms.fixed_effects`.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, RankDeficiencyWarning
from mixedmodels.terms.fixed import FixedEffects, estimable_columns

__all__ = ["simple_fixed_effects"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _columns(fixed: str, frame: pd.DataFrame) -> list[str] | None:
    """The column names of ``1 + a + b`` (intercept implied), or None for anything else."""
    names: list[str] = []
    for token in (t.strip() for t in fixed.split("+")):
        if token == "1":
            continue
        if not _NAME.match(token) or token not in frame.columns or token in names:
            return None
        names.append(token)
    return names


def _encode(column: pd.Series, name: str) -> tuple[FloatArray, list[str]] | None:
    """A column as formulaic encodes it: numbers as they are, text by treatment contrasts."""
    kind = column.dtype.kind
    if kind in "biuf" and not isinstance(column.dtype, pd.CategoricalDtype):
        return column.to_numpy(dtype=np.float64)[:, None], [name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return None
    values = column.to_numpy(dtype=object)
    if not all(isinstance(v, str) for v in values):
        return None
    levels, codes = np.unique(values.astype(str), return_inverse=True)
    if len(levels) < 2:
        return None
    X = np.zeros((len(values), len(levels) - 1))
    rows = np.flatnonzero(codes > 0)
    X[rows, codes[rows] - 1] = 1.0
    return X, [f"{name}[T.{level}]" for level in levels[1:]]


def simple_fixed_effects(fixed: str, frame: pd.DataFrame, y: FloatArray) -> FixedEffects | None:
    """``X`` for an intercept plus plain columns, as formulaic would make it; else None.

    Parameters
    ----------
    fixed
        The fixed part of the formula (``"period"``, ``"1 + x + g"``).
    frame
        The model frame.
    y
        The response, stored in the result.

    Returns
    -------
    FixedEffects or None
        With ``spec = None``: the formulaic spec is made when new data must be encoded.
    """
    names = _columns(fixed, frame)
    if names is None:
        return None
    parts: list[FloatArray] = [np.ones((len(frame), 1))]
    labels = ["(Intercept)"]
    for name in names:
        encoded = _encode(frame[name], name)
        if encoded is None:
            return None
        parts.append(encoded[0])
        labels.extend(encoded[1])
    X = np.hstack(parts)
    bad = [labels[j] for j in range(X.shape[1]) if not np.all(np.isfinite(X[:, j]))]
    if bad:
        raise DataError(f"the model matrix has non-finite values in column(s): {', '.join(bad)}")
    keep = estimable_columns(X)
    dropped = [labels[i] for i in range(len(labels)) if i not in set(keep)]
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            RankDeficiencyWarning,
            stacklevel=4,
        )
    X = np.ascontiguousarray(X[:, keep])
    return FixedEffects(y, X, [labels[i] for i in keep], dropped, None)
