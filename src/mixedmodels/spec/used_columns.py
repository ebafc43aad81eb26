"""The columns a model uses, kept rows only: pandas Series, and a DataFrame only when asked.

Building the model frame as a new DataFrame (``data[columns].iloc[kept]``) costs pandas a copy
of every column and most of a small model's construction, yet the fast paths of the fixed and
random parts read the columns one by one. :class:`UsedColumns` holds one Series per used column
(the caller's own, which pandas' copy-on-write keeps unchanged whatever the caller does later,
when no row was dropped) and makes the DataFrame on first use (:attr:`UsedColumns.frame`), with
the same columns, dtypes, index and ``attrs`` as the copy would have.

It reads like the DataFrame where the fast paths read it: ``name in used.columns``,
``used[name]`` (a Series) and ``len(used)`` (the rows).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Frame", "UsedColumns", "as_data_frame", "kept_columns", "range_indexed"]


class UsedColumns:
    """The used columns of a model frame's rows, one Series each (see the module docstring).

    Parameters
    ----------
    series
        The columns, in the data's order, each indexed ``0..n-1``.
    labels
        The data's column index and the positions of the used columns in it (the DataFrame's
        columns are that index at those positions, so that its dtype is kept).
    nrows
        Number of rows.
    attrs
        The data's ``attrs`` (copied into the DataFrame when it is made).
    """

    def __init__(
        self,
        series: dict[Hashable, pd.Series],
        labels: tuple[pd.Index, list[int]],
        nrows: int,
        attrs: dict[Hashable, Any] | None = None,
    ) -> None:
        self._series = series
        self._labels = labels
        self._nrows = nrows
        self._attrs = copy.deepcopy(attrs) if attrs else {}
        self._frame: pd.DataFrame | None = None

    @property
    def columns(self) -> list[Hashable]:
        """The used column names, in the data's order."""
        return list(self._series)

    def __contains__(self, name: object) -> bool:
        return name in self._series

    def __getitem__(self, name: Hashable) -> pd.Series:
        return self._series[name]

    def __len__(self) -> int:
        return self._nrows

    @property
    def frame(self) -> pd.DataFrame:
        """The columns as a new DataFrame (made once, on first use)."""
        if self._frame is None:
            index, positions = self._labels
            out = pd.DataFrame(self._series, index=pd.RangeIndex(self._nrows), copy=False)
            out.columns = index[positions]
            out.attrs = copy.deepcopy(self._attrs)
            self._frame = out
        return self._frame

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_frame": None}


Frame = pd.DataFrame | UsedColumns  # a model frame, or its used columns (the fast paths)


def as_data_frame(frame: pd.DataFrame | UsedColumns) -> pd.DataFrame:
    """``frame`` itself, or the DataFrame of the used columns."""
    return frame.frame if isinstance(frame, UsedColumns) else frame


def _copy_on_write() -> bool:
    """True when pandas keeps a Series unchanged whatever is done to its DataFrame later."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return pd.options.mode.copy_on_write is True  # pragma: no cover - pandas 2


def range_indexed(column: pd.Series) -> pd.Series:
    """The column indexed ``0..n-1`` (itself when it already is and pandas copies on write).

    Without copy-on-write (pandas 2 by default) the caller's later edits of the data would
    reach a Series that shares its values, so the column is copied there.
    """
    index = column.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return column if _copy_on_write() else column.copy()
    return column.reset_index(drop=True)


def kept_columns(series: Sequence[pd.Series], kept: NDArray[np.intp] | None) -> list[pd.Series]:
    """The columns at the rows ``kept`` (all rows: ``None``), each indexed ``0..n-1``."""
    if kept is None:
        return [range_indexed(s) for s in series]
    return [s.iloc[kept].reset_index(drop=True) for s in series]
