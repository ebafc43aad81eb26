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
from mixedmodels.formula.formulaic_cache import NO_FUNCTIONS, Functions
from mixedmodels.spec.used_columns import Frame, as_data_frame

__all__ = [
    "FixedEffects",
    "build_matrices",
    "build_matrices_and_spec",
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
    functions
        The user's functions the formula may call.
    """

    y: FloatArray
    X: FloatArray
    names: list[str]
    dropped: list[str] = field(default_factory=list)
    spec: Any = None
    source: tuple[str, Frame] | None = field(default=None, repr=False, compare=False)
    functions: Functions = field(default_factory=lambda: NO_FUNCTIONS, repr=False, compare=False)

    def model_spec(self) -> Any:
        """Formulaic's model spec of the fixed part (made on first use for the fast path)."""
        if self.spec is None and self.source is not None:
            text, frame = self.source
            spec = build_matrices_and_spec(text, as_data_frame(frame), text, self.functions)[1]
            object.__setattr__(self, "spec", spec)
        return self.spec


def fixed_effects(
    response: str,
    fixed: str,
    frame: Frame,
    formula: str,
    functions: Functions = NO_FUNCTIONS,
    contrasts: dict[str, str] | None = None,
) -> FixedEffects:
    """Evaluate the response and the fixed part of a formula on the model frame.

    Parameters
    ----------
    response, fixed
        Left and right side of the fixed part, in formulaic syntax.
    frame
        The model frame (complete rows only), or its used columns.
    formula
        The whole formula, for error messages.
    functions
        The user's functions the formula may call.
    contrasts
        R's contrasts for some factors, checked by
        :func:`~mixedmodels.spec.contrasts.check_contrasts` (``{"f": "sum"}``).

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
        matrices, spec = build_matrices_and_spec(
            text, as_data_frame(frame), formula, functions, contrasts=contrasts
        )
        lhs = to_float(matrices.lhs, f"the response {response!r}")
        if lhs.shape[1] != 1:
            raise DataError(f"the response {response!r} must be one numeric column")
        y = lhs[:, 0]
        X = to_float(matrices.rhs, "the fixed-effects model matrix")
        names = [column_label(str(c)) for c in matrices.rhs.columns]
    if not np.all(np.isfinite(y)):
        raise DataError(f"the response {response!r} has non-finite values (inf or NaN)")
    return finish_fixed_effects(y, X, names, spec, (text, frame), functions)


def finish_fixed_effects(
    y: FloatArray,
    X: FloatArray,
    names: list[str],
    spec: Any,
    source: tuple[str, Frame] | None,
    functions: Functions = NO_FUNCTIONS,
) -> FixedEffects:
    """Check ``X`` for non-finite values, drop dependent columns (with a warning naming them)."""
    _check_finite(X, names)
    keep = estimable_columns(X)
    dropped = [names[i] for i in range(len(names)) if i not in set(keep)]
    warn_dropped(dropped, stacklevel=5)
    X = np.ascontiguousarray(X[:, keep])
    return FixedEffects(y, X, [names[i] for i in keep], dropped, spec, source, functions)


def warn_dropped(dropped: list[str], stacklevel: int) -> None:
    """Warn (as lme4) that rank-deficient fixed-effects columns were dropped, naming them."""
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            RankDeficiencyWarning,
            stacklevel=stacklevel,
        )


def simple_matrix(fixed: str, frame: Frame) -> tuple[FloatArray, list[str]] | None:
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


def build_matrices(
    text: str, frame: pd.DataFrame, formula: str, functions: Functions = NO_FUNCTIONS
) -> Any:
    """Formulaic's matrices of the checked ``text``, with its errors translated to ours."""
    return build_matrices_and_spec(text, frame, formula, functions)[0]


def build_matrices_and_spec(
    text: str,
    frame: pd.DataFrame,
    formula: str,
    functions: Functions = NO_FUNCTIONS,
    limit: int | None = None,
    contrasts: dict[str, str] | None = None,
) -> tuple[Any, Any]:
    """Formulaic's matrices of the checked ``text`` and the spec that encodes new data.

    ``text`` goes through the one checked evaluator
    (:func:`mixedmodels.spec.evaluate.model_matrices`): nothing of a refused text runs, nor
    one whose matrix would have more than ``limit`` columns (default ``MAX_COLUMNS``).
    """
    from mixedmodels.spec.evaluate import MAX_COLUMNS, model_matrices

    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return model_matrices(text, frame, functions, limit or MAX_COLUMNS, contrasts)
    except MixedModelsError:
        raise
    except Exception as error:  # formulaic raises many types; translate them to ours
        raise _translate(error, frame, formula) from None


def column_label(name: str) -> str:
    """Formulaic's ``Intercept`` is lme4's ``(Intercept)``; other names are kept."""
    return "(Intercept)" if name == "Intercept" else name


def estimable_columns(X: FloatArray) -> list[int]:
    """Indices of the columns of ``X`` that are not linear combinations of earlier ones.

    Columns are taken in order, as R's ``qr`` does for lme4: a column whose component
    orthogonal to the columns kept so far is below ``RANK_TOL`` of its norm is dropped. The
    test is relative to each column's norm, so the columns are first divided by the power of
    two nearest their largest magnitude (exactly): a column of size 1e200 or 1e-200 is judged
    like one of size 1, without its norm overflowing or underflowing.
    """
    if X.shape[1] == 0:
        return []
    if X.shape[1] == 1 and np.all(np.isfinite(X)):  # as the QR below decides for it
        return [0] if bool(np.any(X != 0.0)) else []
    X = _unit_columns(X)
    # R of an unpivoted QR has the same column geometry as X (RᵀR = XᵀX) and only p rows
    R = triangular_factor(X)
    norms = np.linalg.norm(R, axis=0)
    clear = np.abs(np.diagonal(R)) if R.shape[0] >= R.shape[1] else None
    if clear is not None and np.all(clear > 100.0 * RANK_TOL * norms):
        return list(range(R.shape[1]))  # every column far from the span of the earlier ones
    keep: list[int] = []
    basis = np.empty((R.shape[0], R.shape[1]))
    for j in range(R.shape[1]):
        column, norm = R[:, j], float(norms[j])
        if norm == 0.0:
            continue
        kept = basis[:, : len(keep)]
        residual = column - kept @ (kept.T @ column)
        residual -= kept @ (kept.T @ residual)  # second pass for orthogonality
        size = float(np.linalg.norm(residual))
        if size > RANK_TOL * norm:
            basis[:, len(keep)] = residual / size
            keep.append(j)
    return keep


def triangular_factor(X: FloatArray) -> FloatArray:
    """``scipy.linalg.qr(X, mode="r", check_finite=False)[0]``, without SciPy's wrappers.

    The same LAPACK routine (``dgeqrf``) with the same workspace query, so the same bits;
    SciPy's array-API and batching wrappers cost more than the factorization of a small ``X``.
    """
    if X.dtype != np.float64 or X.ndim != 2 or X.size == 0:
        return scipy.linalg.qr(X, mode="r", check_finite=False)[0]
    from scipy.linalg.lapack import dgeqrf

    lwork = int(dgeqrf(X, lwork=-1)[-2][0].real)
    qr, _tau, _work, info = dgeqrf(X, lwork=lwork, overwrite_a=False)
    if info < 0:
        raise ValueError(f"illegal value in {-info}th argument of internal geqrf")
    return np.triu(qr)


def _unit_columns(X: FloatArray) -> FloatArray:
    """``X`` with each non-zero column divided by a power of two near its largest |value|."""
    largest = np.max(np.abs(X), axis=0, initial=0.0)
    positive = largest > 0.0
    if not np.any(positive & ((largest > 2.0**64) | (largest < 2.0**-64))):
        return X
    exponent = np.zeros(X.shape[1], dtype=int)
    exponent[positive] = np.frexp(largest[positive])[1]
    return np.ldexp(X, -exponent[None, :])


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
        if isinstance(cause, MixedModelsError):
            return cause  # e.g. a refused builtin called during evaluation
        if isinstance(cause, NameError):
            match = re.search(r"name '([^']+)' is not defined", str(cause))
            if match:
                return UnknownColumnError([match.group(1)], frame.columns)
        cause = cause.__cause__ or cause.__context__
    message = re.sub(r"\x1b\[[0-9;]*m|[⧛⧚]", "", str(error))
    return FormulaError(f"cannot evaluate the formula: {message}", formula)
