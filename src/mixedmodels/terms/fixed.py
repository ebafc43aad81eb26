"""Fixed effects: the response and the model matrix X from formulaic, with rank pivoting."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, FormulaError, RankDeficiencyWarning, UnknownColumnError
from mixedmodels.formula.formulaic_cache import formulaic_formula

__all__ = ["FixedEffects", "build_matrices", "column_label", "fixed_effects", "to_float"]

RANK_TOL = 1e-7  # lme4's tolerance for the rank of X


@dataclass(frozen=True)
class FixedEffects:
    """The response and the fixed-effects model matrix.

    Attributes
    ----------
    y
        Response, one value per row.
    X
        Model matrix with the estimable columns only.
    names
        Names of the columns of ``X``.
    dropped
        Names of the columns dropped because they are linear combinations of others.
    spec
        formulaic's model spec, to encode new data exactly like the training data.
    """

    y: FloatArray
    X: FloatArray
    names: list[str]
    dropped: list[str] = field(default_factory=list)
    spec: Any = None


def fixed_effects(response: str, fixed: str, frame: pd.DataFrame, formula: str) -> FixedEffects:
    """Evaluate the response and the fixed part of a formula on the model frame.

    Parameters
    ----------
    response, fixed
        Left and right side of the fixed part, in formulaic syntax.
    frame
        The model frame (complete rows only).
    formula
        The whole formula, for error messages.

    Returns
    -------
    FixedEffects
        With rank-deficient columns removed (and a warning naming them).
    """
    matrices = build_matrices(f"{response} ~ {fixed}", frame, formula)
    lhs = to_float(matrices.lhs, f"the response {response!r}")
    if lhs.shape[1] != 1:
        raise DataError(f"the response {response!r} must be one numeric column")
    y = lhs[:, 0]
    X = to_float(matrices.rhs, "the fixed-effects model matrix")
    names = [column_label(str(c)) for c in matrices.rhs.columns]
    if not np.all(np.isfinite(y)):
        raise DataError(f"the response {response!r} has non-finite values (inf or NaN)")
    _check_finite(X, names)
    keep = estimable_columns(X)
    dropped = [names[i] for i in range(len(names)) if i not in set(keep)]
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            RankDeficiencyWarning,
            stacklevel=3,
        )
    return FixedEffects(y, X[:, keep], [names[i] for i in keep], dropped, matrices.model_spec)


def build_matrices(text: str, frame: pd.DataFrame, formula: str) -> Any:
    """Run formulaic's ``model_matrix`` on ``text``, translating its errors to ours."""
    from formulaic import model_matrix

    try:
        return model_matrix(formulaic_formula(text), frame, na_action="ignore")
    except Exception as error:  # formulaic raises many types; translate them to ours
        raise _translate(error, frame, formula) from None


def column_label(name: str) -> str:
    """Formulaic's ``Intercept`` is lme4's ``(Intercept)``; other names are kept."""
    return "(Intercept)" if name == "Intercept" else name


def estimable_columns(X: FloatArray) -> list[int]:
    """Indices of the columns of ``X`` that are not linear combinations of earlier ones.

    Columns are taken in order, as R's ``qr`` does for lme4: a column whose component
    orthogonal to the columns kept so far is below ``RANK_TOL`` of its norm is dropped.
    """
    if X.shape[1] == 0:
        return []
    # R of an unpivoted QR has the same column geometry as X (RᵀR = XᵀX) and only p rows
    R = scipy.linalg.qr(X, mode="r", check_finite=False)[0]
    keep: list[int] = []
    basis = np.empty((R.shape[0], 0))
    for j in range(R.shape[1]):
        column = R[:, j]
        norm = float(np.linalg.norm(column))
        if norm == 0.0:
            continue
        residual = column - basis @ (basis.T @ column)
        residual -= basis @ (basis.T @ residual)  # second pass for orthogonality
        size = float(np.linalg.norm(residual))
        if size > RANK_TOL * norm:
            keep.append(j)
            basis = np.column_stack([basis, residual / size])
    return keep


def to_float(matrix: Any, what: str) -> FloatArray:
    """Convert a formulaic matrix to a dense float64 array (n rows)."""
    try:
        arr = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numeric") from None
    return np.ascontiguousarray(arr.reshape(len(arr), -1))


def _check_finite(X: FloatArray, names: list[str]) -> None:
    """Refuse infinite or NaN model-matrix entries, naming the column."""
    bad = [not bool(np.all(np.isfinite(X[:, j]))) for j in range(X.shape[1])]
    if any(bad):
        cols = ", ".join(n for n, b in zip(names, bad, strict=True) if b)
        raise DataError(f"the model matrix has non-finite values in column(s): {cols}")


def _translate(error: Exception, frame: pd.DataFrame, formula: str) -> Exception:
    """A formulaic error as ours: unknown names become UnknownColumnError."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, NameError):
            match = re.search(r"name '([^']+)' is not defined", str(cause))
            if match:
                return UnknownColumnError([match.group(1)], frame.columns)
        cause = cause.__cause__ or cause.__context__
    return FormulaError(f"cannot evaluate the formula: {error}", formula)
