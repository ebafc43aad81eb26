"""The model frame: the columns a formula uses, complete rows only, never the caller's frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, FormulaError, MixedModelsError, UnknownColumnError
from mixedmodels.formula import ParsedFormula
from mixedmodels.formula.expressions import RefusedPieceError, check_python
from mixedmodels.formula.formulaic_cache import required_variables
from mixedmodels.spec.names import identifiers
from mixedmodels.spec.used_columns import UsedColumns, as_data_frame, kept_columns

__all__ = [
    "NA_ACTIONS",
    "ModelFrame",
    "as_frame",
    "check_na_action",
    "check_weights",
    "formula_offsets",
    "identifiers",
    "missing_rows",
    "model_frame",
    "row_values",
    "used_columns",
]

NaAction = Literal["omit", "exclude", "fail"]
NA_ACTIONS = ("omit", "exclude", "fail")


@dataclass(frozen=True)
class ModelFrame:
    """The rows and columns of the data that a model uses.

    Attributes
    ----------
    source
        The used columns of the complete rows: a :class:`UsedColumns` (their Series, from
        which :attr:`data` is made on first use) or the frame itself.
    weights
        Prior weights, one per row (ones when none were given).
    offset
        Offset, one per row (zeros when none was given).
    n_dropped
        Number of rows dropped because of missing values.
    rows
        Positions of the kept rows in the caller's data.
    na_action
        ``"omit"``, ``"exclude"`` (results per row are padded with NaN, as R's
        ``na.exclude``) or ``"fail"``.
    n_selected
        Rows of the caller's data selected by ``subset`` (all rows without one): the length of
        fitted values and residuals with ``na_action="exclude"``; 0 when unknown.
    kept
        Positions of the kept rows among the selected rows (``rows`` without a subset).
    contrasts
        R's contrasts for factors of the fixed part, checked (``{"f": "sum"}``).
    name
        The data's name, shown as ``Data:`` by summaries: ``data.attrs["name"]`` when it is a
        string (the command line sets it to the dataset or file name), else None.
    """

    source: pd.DataFrame | UsedColumns
    weights: FloatArray
    offset: FloatArray
    n_dropped: int
    rows: NDArray[np.intp]
    na_action: str = "omit"
    n_selected: int = 0
    kept: NDArray[np.intp] | None = None
    contrasts: dict[str, str] = field(default_factory=dict)
    name: str | None = None

    @property
    def data(self) -> pd.DataFrame:
        """A new frame with the used columns and the complete rows only (made once)."""
        return as_data_frame(self.source)

    def padded(self, values: FloatArray) -> FloatArray:
        """Per-row results as the caller sees them: NaN-padded with ``na_action="exclude"``."""
        if self.na_action != "exclude" or self.kept is None:
            return values
        out = np.full(self.n_selected, np.nan)
        out[self.kept] = values
        return out


def model_frame(
    parsed: ParsedFormula,
    data: Any,
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
    subset: Any = None,
    contrasts: Any = None,
) -> ModelFrame:
    """Select the rows and columns that the model uses; drop (or refuse) incomplete rows.

    Parameters
    ----------
    parsed
        The parsed formula.
    data
        A pandas DataFrame (or anything ``pandas.DataFrame`` accepts, such as a dict of columns).
    weights, offset
        ``None``, a column name, or an array with one value per row of ``data``.
    na_action
        ``"omit"`` drops rows with a missing value in a used column; ``"exclude"`` drops them
        too, but fitted values and residuals then have one value per row (NaN for the dropped
        ones, R's ``na.exclude``); ``"fail"`` raises.
    subset
        Rows to fit, selected before missing values are looked at (as R): booleans, one per
        row, or a query string (see :func:`~mixedmodels.spec.subset.select_rows`).
    contrasts
        R's contrasts for factors, ``{"f": "sum"}``, checked against the data (see
        :func:`~mixedmodels.spec.contrasts.check_contrasts`).

    Returns
    -------
    ModelFrame
        The frame the model is built from; ``data`` itself is never modified.
    """
    from mixedmodels.spec.columns import check_columns, check_unique_names

    check_na_action(na_action)
    frame = as_frame(data)
    coded = _checked_contrasts(contrasts, frame)
    columns = used_columns(parsed, frame)
    names = [n for n in (weights, offset) if isinstance(n, str)]
    check_unique_names(frame, [*columns, *names])
    series = [frame[c] for c in columns]  # one lookup per column: pandas' are slow
    check_columns(parsed, dict(zip(columns, series, strict=True)), columns)
    wts = row_values(weights, frame, "weights", 1.0)
    off = row_values(offset, frame, "offset", 0.0)
    selected = None
    if subset is not None:
        from mixedmodels.spec.subset import select_rows

        selected = select_rows(frame, subset)
        frame, wts, off = frame.iloc[selected], wts[selected], off[selected]
        series = [frame[c] for c in columns]
    complete = ~_missing(series, len(frame)) & ~np.isnan(wts) & ~np.isnan(off)
    n_dropped = int(len(frame) - complete.sum())
    if n_dropped and na_action == "fail":
        bad = [str(c) for c, s in zip(columns, series, strict=True) if s.isna().any()]
        bad += [label for label, v in (("weights", wts), ("offset", off)) if np.isnan(v).any()]
        raise DataError(f"{n_dropped} rows have missing values (columns: {', '.join(bad)})")
    kept = np.flatnonzero(complete)
    if kept.size == 0:
        raise DataError("no complete rows: every row has a missing value in a used column")
    used = _used(frame, columns, series, kept if n_dropped else None)
    check_weights(
        wts[kept], f"weights column {weights!r}" if isinstance(weights, str) else "weights"
    )
    _check_finite_offset(off[kept], f"column {offset!r}" if isinstance(offset, str) else "offset")
    total_offset = off[kept] + (formula_offsets(parsed, used.frame) if parsed.offsets else 0.0)
    rows = kept if selected is None else selected[kept]
    kept_weights = wts[kept]
    return ModelFrame(
        used,
        kept_weights,
        total_offset,
        n_dropped,
        rows,
        na_action,
        len(frame),
        kept,
        coded,
        data_name(data),
    )


def _checked_contrasts(contrasts: Any, frame: pd.DataFrame) -> dict[str, str]:
    """The contrasts argument checked (formulaic's parts load only when there are some)."""
    if contrasts is None:
        return {}
    from mixedmodels.spec.contrasts import check_contrasts

    return check_contrasts(contrasts, frame)


def _used(
    frame: pd.DataFrame, columns: list[Any], series: list[pd.Series], kept: NDArray[np.intp] | None
) -> UsedColumns:
    """The used columns at the kept rows (``None``: every row), without a DataFrame copy."""
    wanted = set(columns)
    positions = [i for i, c in enumerate(frame.columns.tolist()) if c in wanted]
    nrows = len(frame) if kept is None else int(kept.size)
    held = dict(zip(columns, kept_columns(series, kept), strict=True))
    return UsedColumns(held, (frame.columns, positions), nrows, frame.attrs)


def data_name(data: Any) -> str | None:
    """The name a DataFrame carries in ``attrs["name"]``, or None."""
    attrs = getattr(data, "attrs", None)
    name = attrs.get("name") if isinstance(attrs, dict) else None
    return name if isinstance(name, str) and name else None


def check_na_action(na_action: Any) -> None:
    """Refuse anything but ``"omit"``, ``"exclude"`` and ``"fail"``, listing them."""
    if not isinstance(na_action, str) or na_action not in NA_ACTIONS:
        choices = ", ".join(repr(a) for a in NA_ACTIONS)
        raise DataError(f"na_action must be one of {choices}, not {na_action!r}")


def _check_finite_offset(offset: FloatArray, label: str) -> None:
    """Infinite offsets are refused (NaN ones were dropped as missing)."""
    bad = ~np.isfinite(offset)
    if bad.any():
        raise DataError(
            f"the offset ({label}) has {int(bad.sum())} infinite values; an offset must be finite"
        )


def missing_rows(frame: pd.DataFrame) -> NDArray[np.bool_]:
    """Rows with a missing value in any column (as ``isna``, column by column and cheaply)."""
    return _missing([frame[name] for name in frame.columns], len(frame))


def _missing(columns: Sequence[pd.Series], n: int | None = None) -> NDArray[np.bool_]:
    """Rows with a missing value in any of ``columns`` (as ``isna``, but cheaply)."""
    out = np.zeros(len(columns[0]) if n is None else n, dtype=bool)
    for column in columns:
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biu":  # NumPy integers: never missing
            continue
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            out |= np.isnan(column.to_numpy())
        else:  # nullable integers, text, categoricals, dates: pandas knows their missing values
            out |= np.asarray(column.array.isna(), dtype=bool)
    return out


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
    labels = frame.columns.tolist()  # iterating a pandas index of text is slow
    names = {str(c) for c in labels}
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
    return [c for c in labels if str(c) in required]


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
    from mixedmodels.spec.fixed import build_matrices

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
    """Weights or offset as one float per row: from a column name, an array, or a default.

    Missing values (NaN, None, pandas' NA) stay NaN, so that the row is dropped as incomplete;
    text, complex numbers and anything not one-dimensional are refused.
    """
    n = len(frame)
    if value is None:
        return np.full(n, default)
    label = what
    if isinstance(value, str):
        if value not in frame.columns:
            raise UnknownColumnError([value], frame.columns)
        label = f"{what} column {value!r}"
        value = frame[value]
    if isinstance(value, pd.DataFrame) or np.ndim(value) != 1:
        shape = "x".join(str(s) for s in np.shape(value)) or "a scalar"
        raise DataError(f"{label} must be one value per row (one-dimensional), not {shape}")
    if isinstance(value, pd.Series) and not isinstance(value.dtype, np.dtype):
        value = value.to_numpy(dtype=np.float64, na_value=np.nan) if _numeric(value) else value
    raw = np.asarray(value)
    if raw.dtype.kind not in "biuf" and not (raw.dtype.kind == "O" and _all_numbers(raw)):
        kind = {"U": "text", "S": "text", "O": "text or objects", "c": "complex"}
        held = kind.get(raw.dtype.kind, str(raw.dtype))
        raise DataError(f"{label} must be numeric (real numbers), not {held} values")
    if raw.dtype.kind == "O":
        raw = np.array([np.nan if v is None or v is pd.NA else float(v) for v in raw])
    arr = np.asarray(raw, dtype=np.float64).reshape(-1)
    if arr.size != n:
        raise DataError(f"{what} has {arr.size} values but data has {n} rows")
    return arr


def _numeric(values: pd.Series) -> bool:
    """Whether a pandas extension column holds numbers (nullable integers or floats)."""
    return bool(pd.api.types.is_numeric_dtype(values.dtype)) and not pd.api.types.is_bool_dtype(
        values.dtype
    )


def _all_numbers(values: NDArray[Any]) -> bool:
    """Whether an object array holds only real numbers or missing values."""
    return all(
        v is None
        or (isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool))
        for v in values
    )


def check_weights(weights: Sequence[float] | FloatArray, label: str = "weights") -> None:
    """Prior weights must be positive and finite (``label`` names them in the message)."""
    w = np.asarray(weights)
    if np.any(np.isinf(w)):
        raise DataError(
            f"{label} has {int(np.sum(np.isinf(w)))} infinite values; weights must be finite"
        )
    if np.any(w <= 0):
        raise DataError(f"weights must be positive; {int(np.sum(w <= 0))} are zero or negative")
