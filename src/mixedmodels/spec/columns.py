"""Checks of the columns a model uses, before any of them is read: names and kinds of values.

* A used column name that occurs more than once in the data is refused (which of the columns
  is meant cannot be known).
* A factor whose values differ but read the same (the number 1 and the string "1") is refused.
* Complex numbers are refused anywhere (their imaginary part would be dropped silently).
* Dates, times and durations may be grouping factors (each distinct timestamp is a level) but
  not the response or a predictor: they have no numeric scale a model could use as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.errors import DataError
from mixedmodels.formula import ParsedFormula
from mixedmodels.spec.grouping import distinct_labels
from mixedmodels.spec.names import identifiers

__all__ = ["check_columns", "check_unique_names", "predictor_names"]


def check_unique_names(frame: pd.DataFrame, names: Iterable[object]) -> None:
    """Refuse a used column name that the data have more than once.

    Raises
    ------
    DataError
        Naming the duplicated columns.
    """
    labels = frame.columns
    if labels.is_unique and (
        isinstance(labels.dtype, pd.StringDtype) or all(isinstance(c, str) for c in labels)
    ):
        return  # the names are distinct (pandas keeps the answer), also as text
    counts = Counter(str(c) for c in frame.columns)
    duplicated = sorted({str(n) for n in names if counts.get(str(n), 0) > 1})
    if duplicated:
        shown = ", ".join(repr(n) for n in duplicated)
        raise DataError(
            f"the data have more than one column named {shown}: rename them so that each "
            "column the model uses has a name of its own"
        )


def predictor_names(
    parsed: ParsedFormula, frame: pd.DataFrame | Mapping[Any, pd.Series]
) -> set[str]:
    """Columns named in the response, the fixed part, offsets or a random term's left side."""
    names = {str(c) for c in (frame.columns if isinstance(frame, pd.DataFrame) else frame)}
    pieces = [parsed.response, parsed.fixed, *parsed.offsets, *(t.lhs for t in parsed.random)]
    return {n for text in pieces for n in identifiers(text) & names}


def check_columns(
    parsed: ParsedFormula, frame: pd.DataFrame | Mapping[Any, pd.Series], columns: list[str]
) -> None:
    """Refuse complex values, and dates or durations anywhere but in a grouping factor.

    Parameters
    ----------
    parsed
        The parsed formula.
    frame
        The data, or its used columns by name (they are looked at, not read).
    columns
        The used columns.

    Raises
    ------
    DataError
        Naming the column and what it holds.
    """
    predictors: set[str] | None = None
    for name in columns:
        column = frame[name]
        dtype = column.dtype
        kind = getattr(dtype, "kind", "O")
        if isinstance(dtype, np.dtype) and kind == "O":  # text or mixed objects: a factor
            distinct_labels(list(pd.unique(column[column.notna()])), name)
        if kind == "c":
            raise DataError(
                f"column {name!r} holds complex numbers; a mixed model needs real numbers"
            )
        if not (kind in "mM" or isinstance(dtype, pd.DatetimeTZDtype)):
            continue
        predictors = predictor_names(parsed, frame) if predictors is None else predictors
        if str(name) in predictors:
            what = "durations" if kind == "m" else "dates/times"
            raise DataError(
                f"column {name!r} holds {what}, which cannot be a response or a predictor as "
                "they are: convert them to numbers (e.g. days since a start, "
                "(data[col] - start) / pd.Timedelta(days=1)) or to a factor"
            )
