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
from mixedmodels.errors import (
    DataError,
    FormulaError,
    MixedModelsError,
    RankDeficiencyWarning,
    UnknownColumnError,
)
from mixedmodels.formula.formulaic_cache import formulaic_formula

__all__ = [
    "FixedEffects",
    "build_matrices",
    "column_label",
    "finish_fixed_effects",
    "fixed_effects",
    "simple_matrix",
    "to_float",
    "warn_dropped",
]

RANK_TOL = 1e-7  # lme4's tolerance for the rank of X
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
        formulaic's model spec, to encode new data exactly like the training data; ``None``
        until :meth:`model_spec` makes it when ``X`` was built without formulaic.
    source
        The formula and frame :meth:`model_spec` builds the spec from.
    """

    y: FloatArray
    X: FloatArray
    names: list[str]
    dropped: list[str] = field(default_factory=list)
    spec: Any = None
    source: tuple[str, pd.DataFrame] | None = field(default=None, repr=False, compare=False)

    def model_spec(self) -> Any:
        """Formulaic's model spec of the fixed part (made on first use for the fast path)."""
        if self.spec is None and self.source is not None:
            text, frame = self.source
            object.__setattr__(self, "spec", build_matrices(text, frame, text).model_spec)
        return self.spec


def fixed_effects(
    response: str,
    fixed: str,
    frame: pd.DataFrame,
    formula: str,
    contrasts: dict[str, str] | None = None,
) -> FixedEffects:
    """Evaluate the response and the fixed part of a formula on the model frame.

    Parameters
    ----------
    response, fixed
        Left and right side of the fixed part, in formulaic syntax.
    frame
        The model frame (complete rows only).
    formula
        The whole formula, for error messages.
    contrasts
        R's contrasts for some factors, checked by
        :func:`~mixedmodels.terms.contrasts.check_contrasts` (``{"f": "sum"}``).

    Returns
    -------
    FixedEffects
        With rank-deficient columns removed (and a warning naming them).
    """
    text = f"{response} ~ {fixed}"
    simple = None if contrasts else simple_matrix(fixed, frame)
    column = frame[response] if response in frame.columns else None
    if simple is not None and column is not None and column.dtype.kind in "biuf":
        y = column.to_numpy(dtype=np.float64)
        spec, X, names = None, *simple
    else:
        matrices = _matrices(text, frame, formula, contrasts)
        lhs = to_float(matrices.lhs, f"the response {response!r}")
        if lhs.shape[1] != 1:
            raise DataError(f"the response {response!r} must be one numeric column")
        y, spec = lhs[:, 0], matrices.model_spec
        X = to_float(matrices.rhs, "the fixed-effects model matrix")
        names = [column_label(str(c)) for c in matrices.rhs.columns]
    if not np.all(np.isfinite(y)):
        raise DataError(f"the response {response!r} has non-finite values (inf or NaN)")
    return finish_fixed_effects(y, X, names, spec, (text, frame))


def _matrices(
    text: str, frame: pd.DataFrame, formula: str, contrasts: dict[str, str] | None
) -> Any:
    """The formulaic matrices of ``text``, with R's contrasts when some are given."""
    if not contrasts:
        return build_matrices(text, frame, formula)
    from mixedmodels.terms.contrasts import contrast_matrices

    try:
        return contrast_matrices(text, frame, contrasts)
    except Exception as error:  # formulaic raises many types; translate them to ours
        if isinstance(error, MixedModelsError):
            raise
        raise _translate(error, frame, formula) from None


def finish_fixed_effects(
    y: FloatArray,
    X: FloatArray,
    names: list[str],
    spec: Any,
    source: tuple[str, pd.DataFrame] | None,
) -> FixedEffects:
    """Check ``X`` for non-finite values, drop dependent columns (with a warning naming them)."""
    _check_finite(X, names)
    keep = estimable_columns(X)
    dropped = [names[i] for i in range(len(names)) if i not in set(keep)]
    warn_dropped(dropped, stacklevel=5)
    X = np.ascontiguousarray(X[:, keep])
    return FixedEffects(y, X, [names[i] for i in keep], dropped, spec, source)


def warn_dropped(dropped: list[str], stacklevel: int) -> None:
    """Warn (as lme4) that rank-deficient fixed-effects columns were dropped, naming them."""
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            RankDeficiencyWarning,
            stacklevel=stacklevel,
        )


def simple_matrix(fixed: str, frame: pd.DataFrame) -> tuple[FloatArray, list[str]] | None:
    """``X`` for an intercept plus plain columns, built as formulaic builds it; else None.

    formulaic costs milliseconds even for ``~ Days``, most of a small fit. Numbers enter as
    they are and text by treatment contrasts against the first sorted level, named
    ``x[T.level]``; anything else (interactions, transforms, categoricals, no intercept) is
    left to formulaic.
    """
    names: list[str] = []
    for token in (t.strip() for t in fixed.split("+")):
        if token == "1":
            continue
        if not _SIMPLE_NAME.match(token) or token not in frame.columns or token in names:
            return None
        names.append(token)
    parts: list[FloatArray] = [np.ones((len(frame), 1))]
    labels = ["(Intercept)"]
    for name in names:
        encoded = _encode_simple(frame[name], name)
        if encoded is None:
            return None
        parts.append(encoded[0])
        labels.extend(encoded[1])
    return np.hstack(parts), labels


def _encode_simple(column: pd.Series, name: str) -> tuple[FloatArray, list[str]] | None:
    """A column as formulaic encodes it: numbers as they are, text by treatment contrasts."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return None
    if column.dtype.kind in "biuf":
        return column.to_numpy(dtype=np.float64)[:, None], [name]
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
