"""Grouping factors: integer codes per row and level labels, in R's level order."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels.errors import DataError
from mixedmodels.spec.used_columns import Frame

__all__ = ["SMALL", "distinct_labels", "factor_codes", "grouping_factor", "row_labels"]

SMALL = 5_000  # up to this many rows, text is factorized by a dict (pandas' costs more)


def grouping_factor(
    frame: Frame | Mapping[Any, pd.Series],
    factors: Sequence[str],
    columns: dict[str, tuple[NDArray[np.intp], list[str]]] | None = None,
) -> tuple[NDArray[np.intp], list[str]]:
    """Codes and labels of a grouping factor, or of the interaction of several.

    Levels of an interaction ``a:b`` are the observed combinations, ordered by ``a`` then ``b``
    and labelled ``"la:lb"``, as R's ``a:b`` with unused levels dropped.

    Parameters
    ----------
    frame
        The model frame (or its used columns).
    factors
        Column names; one for a plain grouping factor.
    columns
        Codes and labels of single columns already coded (``batch`` of ``batch`` and of
        ``cask:batch``), filled in as columns are coded.

    Returns
    -------
    codes, levels
        ``codes[i]`` is the level index of row ``i``; ``levels`` are the labels.
    """
    known = {} if columns is None else columns
    for name in factors:
        if name not in known:
            known[name] = factor_codes(frame[name])
    parts = [known[name] for name in factors]
    codes, labels = parts[0]
    for next_codes, next_labels in parts[1:]:
        key = codes.astype(np.int64) * len(next_labels) + next_codes
        uniq, codes = np.unique(key, return_inverse=True)
        first, second = np.divmod(uniq, len(next_labels))
        labels = [f"{labels[i]}:{next_labels[j]}" for i, j in zip(first, second, strict=True)]
    return codes.astype(np.intp, copy=False), labels


def factor_codes(column: pd.Series) -> tuple[NDArray[np.intp], list[str]]:
    """Codes and labels of one column treated as a factor, unused levels dropped.

    Categorical columns keep their category order; numbers sort numerically; strings sort
    numerically when they all look like numbers, otherwise alphabetically.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        raw = np.asarray(column.cat.codes, dtype=np.intp)
        categories = column.cat.categories
        if raw.size and raw.min() >= 0:  # a linear pass: counts of the categories used
            used = np.flatnonzero(np.bincount(raw, minlength=len(categories)))
            rank = np.zeros(len(categories), dtype=np.intp)
            rank[used] = np.arange(used.size)
            codes = rank[raw]
        else:
            used, codes = np.unique(raw, return_inverse=True)
        return codes.astype(np.intp), [str(v) for v in categories.take(used).tolist()]
    if isinstance(column.dtype, pd.StringDtype):  # text held by pandas: factorized as it is
        if len(column) <= SMALL and not column.array.isna().any():
            raw, distinct = _small_factorize(column.to_numpy(dtype=object))
        else:
            raw, found = pd.factorize(column, sort=False)
            distinct = [str(u) for u in found]
        return _natural_order(raw, distinct)
    if isinstance(column.dtype, pd.DatetimeTZDtype):  # dates with a time zone: in time order
        raw, times = pd.factorize(column, sort=True)
        return raw.astype(np.intp), [str(v) for v in times]
    values = column.to_numpy()
    if values.dtype.kind in "iu" and values.size:
        small = _small_integer_codes(values)
        if small is not None:
            return small
    if values.dtype.kind in "biuf":
        uniq, codes = np.unique(values, return_inverse=True)
        return codes.astype(np.intp), [_number_label(v) for v in uniq]
    if values.dtype.kind in "mM":  # dates or durations: in time order, labelled as pandas
        uniq, codes = np.unique(values, return_inverse=True)
        return codes.astype(np.intp), [_time_label(v) for v in uniq]
    return _string_codes(values, column.name)


def _small_factorize(values: NDArray[Any]) -> tuple[NDArray[np.intp], list[str]]:
    """Codes in order of first appearance and the distinct texts (few rows: a dict is fastest)."""
    seen: dict[str, int] = {}
    codes = np.fromiter((seen.setdefault(v, len(seen)) for v in values), np.intp, len(values))
    return codes, [str(v) for v in seen]


def _small_integer_codes(values: NDArray[Any]) -> tuple[NDArray[np.intp], list[str]] | None:
    """Codes and labels of integers in a small range by counting (``np.unique`` sorts); else None.

    The levels are the sorted distinct values, as ``np.unique`` gives them.
    """
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 4 * values.size + 1024:
        return None
    used = np.flatnonzero(np.bincount(values, minlength=high + 1))
    rank = np.zeros(high + 1, dtype=np.intp)
    rank[used] = np.arange(used.size)
    return rank[values], [str(v) for v in used.tolist()]


def _time_label(value: Any) -> str:
    """A date (``2020-01-01 00:00:00``) or duration (``1 days 00:00:00``) as pandas prints it."""
    if isinstance(value, np.timedelta64 | datetime.timedelta):
        return str(pd.Timedelta(value))
    return str(pd.Timestamp(value))


def _string_codes(values: NDArray[Any], name: object = None) -> tuple[NDArray[np.intp], list[str]]:
    """Factorize strings (or other objects) and order the levels naturally.

    Levels are labelled by their text, so two different values with the same text (the number
    1 and the string "1") would become one level: they are refused instead.
    """
    raw, uniq = pd.factorize(pd.Series(values, dtype=object), sort=False)
    labels = distinct_labels(list(uniq), name)
    return _natural_order(raw, labels)


def distinct_labels(values: list[Any], name: object = None) -> list[str]:
    """The labels (texts) of distinct values, refusing two values that read the same.

    Raises
    ------
    DataError
        For values of different types with the same text (the number 1 and the string "1"),
        which would be one level of a grouping factor, or two levels of the same name of a
        fixed-effect factor; the message names the column and the values.
    """
    labels = [str(v) for v in values]
    if len(set(labels)) < len(labels):
        _refuse_clashing_values(values, labels, name)
    return labels


def _refuse_clashing_values(values: list[Any], labels: list[str], name: object) -> None:
    """Name the values of a factor that differ but print the same (1 and "1")."""
    seen: dict[str, list[Any]] = {}
    for value, label in zip(values, labels, strict=True):
        seen.setdefault(label, []).append(value)
    clashes = [group for group in seen.values() if len(group) > 1]
    shown = "; ".join(" and ".join(f"{v!r} ({type(v).__name__})" for v in g) for g in clashes[:3])
    column = "a factor" if name is None else f"factor {str(name)!r}"
    raise DataError(
        f"{column} has values of different types that read the same: {shown}; make the column "
        "one type (e.g. data[col].astype(str)) so that the levels are unambiguous"
    )


def _natural_order(raw: NDArray[np.intp], labels: list[str]) -> tuple[NDArray[np.intp], list[str]]:
    """Codes and labels with the levels put in natural order (see :func:`_sort_key`)."""
    order = sorted(range(len(labels)), key=_sort_key(labels))
    rank = np.empty(len(labels), dtype=np.intp)
    rank[order] = np.arange(len(labels))
    return rank[raw], [labels[i] for i in order]


def _sort_key(labels: list[str]):  # type: ignore[no-untyped-def]
    """Numeric order when every label is a number, else alphabetical."""
    try:
        numbers = [float(label) for label in labels]
    except ValueError:
        return lambda i: labels[i]
    return lambda i: (numbers[i], labels[i])


def _number_label(value: object) -> str:
    """Label of a numeric level as R prints it: 3 rather than 3.0."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def row_labels(frame: pd.DataFrame, factors: Sequence[str]) -> NDArray[np.object_]:
    """The level label of every row (``"la:lb"`` for an interaction).

    Labels are made as :func:`factor_codes` makes them, so that rows of new data can be matched
    to the fitted levels.
    """
    parts = [_labels_of(frame[name]) for name in factors]
    out = parts[0]
    for part in parts[1:]:
        out = np.char.add(np.char.add(out.astype(str), ":"), part.astype(str)).astype(object)
    return out


def _labels_of(column: pd.Series) -> NDArray[np.object_]:
    """Labels of one column's values (missing values stay missing)."""
    values = column.to_numpy(dtype=object)
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
    if isinstance(column.dtype, pd.DatetimeTZDtype) or column.dtype.kind in "mM":
        return np.array([None if pd.isna(v) else _time_label(v) for v in values], dtype=object)
    if column.dtype.kind in "biuf":
        return np.array([None if pd.isna(v) else _number_label(v) for v in values], dtype=object)
    return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
