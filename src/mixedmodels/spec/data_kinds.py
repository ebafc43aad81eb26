"""What kind of data a model is given: a frame in memory, a CSV path, or a chunked source.

A model is fitted in memory from a DataFrame (or a CSV file, read into one) and by chunks from
Parquet files, a PyArrow dataset or a Dask DataFrame (:mod:`mixedmodels.chunked`). Deciding
which needs nothing but the type of the data and the path's suffix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mixedmodels.errors import DataError

__all__ = ["CSV_SUFFIXES", "csv_in_memory", "is_chunked_source", "is_csv_path", "read_csv_path"]

CSV_SUFFIXES = (".csv", ".csv.gz")


CSV_SUFFIXES = (".csv", ".csv.gz")


def is_chunked_source(data: Any) -> bool:
    """True for data fitted by chunks rather than in memory.

    That is a path or glob of Parquet files, a list of them, a Dask DataFrame or a PyArrow
    dataset.
    """
    if isinstance(data, str | Path):
        return not is_csv_path(data)
    if isinstance(data, list | tuple) and data and all(isinstance(d, str | Path) for d in data):
        return True
    module = type(data).__module__
    return module.startswith(("dask", "pyarrow._dataset", "pyarrow.dataset"))


def is_csv_path(data: Any) -> bool:
    """A path of one CSV file (``.csv`` or ``.csv.gz``), which is read into memory."""
    if not isinstance(data, str | Path) or any(ch in str(data) for ch in "*?["):
        return False
    return str(data).lower().endswith(CSV_SUFFIXES) and not Path(data).is_dir()


def read_csv_path(path: str | Path) -> pd.DataFrame:
    """A CSV file as a pandas DataFrame, as the command line reads it (``pandas.read_csv``)."""
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"no CSV file found at {str(path)!r}") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"cannot read the CSV file {str(path)!r}: {detail}") from None


def csv_in_memory(data: Any) -> Any:
    """``data`` itself, or the pandas DataFrame of the CSV file it names (:func:`is_csv_path`)."""
    return read_csv_path(data) if is_csv_path(data) else data
