"""The model frame: the columns a formula uses, complete rows only, never the caller's frame."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, FormulaError, MixedModelsError, UnknownColumnError
from mixedmodels.formula import ParsedFormula
from mixedmodels.formula.expressions import RefusedPieceError, check_python
from mixedmodels.formula.formulaic_cache import check_formula, required_variables

__all__ = [
    "ModelFrame",
    "as_frame",
    "check_weights",
    "formula_offsets",
    "identifiers",
    "missing_rows",
    "model_frame",
    "row_values",
    "used_columns",
]

NaAction = Literal["omit", "fail"]
_IDENTIFIER = re.compile(r"`([^`]+)`|([^\W\d][\w.]*|\.[\w.]+)")


@dataclass(frozen=True)
class ModelFrame:
    """The rows and columns of the data that a model uses.

    Attributes
    ----------
    data
        A new frame with the used columns and the complete rows only.
    weights
        Prior weights, one per row (ones when none were given).
    offset
        Offset, one per row (zeros when none was given).
    n_dropped
        Number of rows dropped because of missing values.
    rows
        Positions of the kept rows in the caller's data.
    """

    data: pd.DataFrame
    weights: FloatArray
    offset: FloatArray
    n_dropped: int
    rows: NDArray[np.intp]


def model_frame(
    parsed: ParsedFormula,
    data: Any,
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
) -> ModelFrame:
    """Select the columns that ``parsed`` uses and drop (or refuse) incomplete rows.

    Parameters
    ----------
    parsed
        The parsed formula.
    data
        A pandas DataFrame (or anything ``pandas.DataFrame`` accepts, such as a dict of columns).
    weights, offset
        ``None``, a column name, or an array with one value per row of ``data``.
    na_action
        ``"omit"`` drops rows with a missing value in a used column; ``"fail"`` raises.

    Returns
    -------
    ModelFrame
        The frame the model is built from; ``data`` itself is never modified.
    """
    frame = as_frame(data)
    columns = used_columns(parsed, frame)
    wts = row_values(weights, frame, "weights", 1.0)
    off = row_values(offset, frame, "offset", 0.0)
    used = frame[columns]
    complete = ~missing_rows(used) & np.isfinite(wts) & np.isfinite(off)
    n_dropped = int(len(frame) - complete.sum())
    if n_dropped and na_action == "fail":
        bad = [str(c) for c in columns if used[c].isna().any()]
        raise DataError(f"{n_dropped} rows have missing values (columns: {', '.join(bad)})")
    if na_action not in ("omit", "fail"):
        raise DataError(f"na_action must be 'omit' or 'fail', not {na_action!r}")
    rows = np.flatnonzero(complete)
    if rows.size == 0:
        raise DataError("no complete rows: every row has a missing value in a used column")
    kept = used.iloc[rows].reset_index(drop=True) if n_dropped else _with_range_index(used)
    check_weights(wts[rows])
    total_offset = off[rows] + formula_offsets(parsed, kept)
    return ModelFrame(kept, wts[rows], total_offset, n_dropped, rows)


def missing_rows(frame: pd.DataFrame) -> NDArray[np.bool_]:
    """Rows with a missing value in any column (as ``isna``, column by column and cheaply)."""
    out = np.zeros(len(frame), dtype=bool)
    for name in frame.columns:
        column = frame[name]
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biu":  # NumPy integers: never missing
            continue
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            out |= np.isnan(column.to_numpy())
        else:  # nullable integers, text, categoricals, dates: pandas knows their missing values
            out |= column.isna().to_numpy()
    return out


def _with_range_index(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame indexed 0..n-1 (itself when it already is)."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def used_columns(parsed: ParsedFormula, frame: pd.DataFrame) -> list[str]:
    """Columns of ``frame`` that the formula refers to, in the frame's order.

    The names come from the checked evaluator (:mod:`mixedmodels.formula.expressions`), so
    dotted, backticked, ``Q('...')`` and unicode names are found as written.

    Raises
    ------
    UnknownColumnError
        When a grouping factor or a variable of the formula is not a column.
    FormulaError
        When a piece of the formula is refused.
    """
    names = {str(c) for c in frame.columns}
    functions = parsed.function_names
    required = {name for term in parsed.random for name in term.factors}
    required |= required_variables(f"{parsed.response} ~ {parsed.fixed}", functions)
    for term in parsed.random:
        required |= required_variables(term.lhs, functions)
    for expression in parsed.offsets:
        required |= _python_variables(expression, functions, parsed.formula)
    missing = {name for name in required if name not in names}
    if missing:
        raise UnknownColumnError(missing, frame.columns)
    return [c for c in frame.columns if str(c) in required]


def _python_variables(expression: str, functions: frozenset[str], formula: str) -> frozenset[str]:
    """The columns a Python expression of the formula reads (it is checked first)."""
    try:
        return check_python(expression, functions).variables
    except RefusedPieceError as refusal:
        raise FormulaError(refusal.message, formula) from None


def formula_offsets(parsed: ParsedFormula, frame: pd.DataFrame) -> FloatArray:
    """The sum of the ``offset(...)`` terms of the formula, evaluated on the model frame."""
    total = np.zeros(len(frame))
    if not parsed.offsets:
        return total
    from mixedmodels.terms.fixed import build_matrices

    for expression in parsed.offsets:
        try:
            matrix = build_matrices(
                f"0 + {{{expression}}}", frame, parsed.formula, parsed.functions
            )
            values = np.asarray(matrix, dtype=np.float64)
        except MixedModelsError:
            raise
        except Exception as error:  # NumPy's conversions
            raise DataError(f"cannot evaluate offset({expression}): {error}") from None
        if values.shape != (len(frame), 1) or not np.all(np.isfinite(values)):
            raise DataError(f"offset({expression}) must give one finite number per row")
        total += values[:, 0]
    return total


def identifiers(text: str, functions: frozenset[str] = frozenset()) -> set[str]:
    """The column names a formula piece reads (``np.log(x)`` gives x).

    From the checked evaluator; for text it refuses, every name-like token.
    """
    try:
        return set(check_formula(text, functions).variables)
    except FormulaError:
        pass
    out: set[str] = set()
    for quoted, plain in _IDENTIFIER.findall(text):
        out.add(quoted or plain)
    return out


def as_frame(data: Any) -> pd.DataFrame:
    """Accept a DataFrame (or a mapping of columns) and refuse anything else clearly."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except ValueError as error:
            raise DataError(
                f"cannot make a data frame of the dict given as data: {error}"
            ) from None
    else:
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if len(frame) == 0:
        raise DataError("data has no rows")
    return frame


def row_values(value: Any, frame: pd.DataFrame, what: str, default: float) -> FloatArray:
    """Weights or offset as one float per row: from a column name, an array, or a default."""
    n = len(frame)
    if value is None:
        return np.full(n, default)
    if isinstance(value, str):
        if value not in frame.columns:
            raise UnknownColumnError([value], frame.columns)
        value = frame[value]
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numeric") from None
    if arr.size != n:
        raise DataError(f"{what} has {arr.size} values but data has {n} rows")
    return arr


def check_weights(weights: Sequence[float] | FloatArray) -> None:
    """Prior weights must be positive."""
    w = np.asarray(weights)
    if np.any(w <= 0):
        raise DataError(f"weights must be positive; {int(np.sum(w <= 0))} are zero or negative")
