"""Where the rows of a Parquet data set are and what types its columns have.

Files are named by a path, a directory (its ``*.parquet`` files, or a Hive-partitioned tree
``key=value/.../part.parquet`` whose keys become columns), a glob or a list of those. The types
of a column must agree across the files: integer and floating-point storage of one numeric
column are read as float64 everywhere (as ``pandas.concat`` would make them), plain and
dictionary-encoded text as text; any other difference (numbers stored as text in one file) is
refused, naming the column and the files.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

from mixedmodels.errors import DataError

__all__ = [
    "FileState",
    "Piece",
    "discover",
    "finish_table",
    "partition_types",
    "unified_type",
    "unified_types",
]

SUFFIXES = (".parquet", ".pq")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
INTEGER = re.compile(r"^[+-]?\d{1,18}$")
SHOWN = 3


@dataclass(frozen=True)
class FileState:
    """What a Parquet file was when the fit began.

    Attributes
    ----------
    path
        The file.
    size, mtime_ns
        Its size in bytes and modification time (nanoseconds).
    footer
        Digest of its footer's bytes (column statistics, offsets, row counts).
    rows
        Rows of each row group.
    schema
        The Arrow schema stored in the footer.
    """

    path: str
    size: int
    mtime_ns: int
    footer: str
    rows: tuple[int, ...]
    schema: Any

    @property
    def num_rows(self) -> int:
        """Rows in the file."""
        return sum(self.rows)


@dataclass(frozen=True)
class Piece:
    """One row group of one file, with the file's partition keys.

    Attributes
    ----------
    state
        The file as surveyed.
    group
        Index of the row group.
    keys
        Hive partition keys of the file (column name → value).
    """

    state: FileState
    group: int
    keys: dict[str, Any]


def discover(root: str) -> tuple[list[str], list[dict[str, Any]]] | None:
    """The Parquet files under a directory and their Hive keys (``None``: not a directory).

    A directory's own ``*.parquet`` files if it has any, else the files of its subdirectories,
    whose ``key=value`` names are the keys. Names starting with ``_`` or ``.`` are skipped.
    """
    base = Path(root)
    if not base.is_dir():
        return None
    own = sorted(str(p) for p in base.iterdir() if _is_data_file(p))
    if own:
        return own, [{} for _ in own]
    found = sorted(
        path
        for suffix in SUFFIXES
        for path in glob.glob(str(base / "**" / f"*{suffix}"), recursive=True)
        if not any(part.startswith(("_", ".")) for part in Path(path).relative_to(base).parts)
    )
    keys = [_hive_keys(Path(p).relative_to(base).parts[:-1]) for p in found]
    names = {tuple(k) for k in keys}
    if len(names) > 1:
        raise DataError(
            f"the partitions under {root!r} do not all have the same keys: "
            + "; ".join(", ".join(n) or "(none)" for n in sorted(names))
        )
    return found, _typed_keys(keys)


def _is_data_file(path: Path) -> bool:
    """A Parquet file by its name (not hidden, not a ``_metadata`` side file)."""
    name = path.name
    return path.is_file() and name.lower().endswith(SUFFIXES) and not name.startswith(("_", "."))


def _hive_keys(parts: Sequence[str]) -> dict[str, Any]:
    """``{key: text}`` of the ``key=value`` directory names of one file."""
    keys: dict[str, Any] = {}
    for part in parts:
        if "=" in part:
            key, value = part.split("=", 1)
            keys[unquote(key)] = None if value == HIVE_NULL else unquote(value)
    return keys


def _typed_keys(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keys whose values are all integers as ints (as PyArrow infers them), others as text."""
    for name in keys[0] if keys else {}:
        values = [k[name] for k in keys if k[name] is not None]
        if values and all(INTEGER.match(v) for v in values):
            for k in keys:
                k[name] = None if k[name] is None else int(k[name])
    return keys


def partition_types(partitions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Arrow type of each partition key: int64 for integers, else string."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    for keys in partitions:
        for name, value in keys.items():
            if value is not None:
                kind = pa.int64() if isinstance(value, int) else pa.string()
                out[name] = pa.string() if out.get(name, kind) != kind else kind
    return {name: out.get(name, pa.string()) for keys in partitions for name in keys}


def _kind(dtype: Any) -> str:
    """A type's kind: what may be unified with what."""
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_null(dtype):
        return "null"
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype):
        return "floating"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "text"
    return str(dtype)


def unified_types(
    found: dict[str, list[tuple[Any, str]]], columns: Sequence[str], paths: Sequence[str]
) -> dict[str, Any]:
    """The type every file's column is read as; refuse missing columns and mixed kinds.

    ``found`` holds each column's type in each file with rows, ``paths`` those files.
    """
    types = {}
    for column in columns:
        entries = found.get(column, [])
        have = {path for _, path in entries}
        missing = [p for p in paths if p not in have]
        if missing:
            raise DataError(
                f"the column {column!r} is missing from {len(missing)} of the {len(paths)} "
                f"Parquet files: {_listed(missing)}"
            )
        types[column] = unified_type(column, entries)
    return types


def unified_type(column: str, entries: list[tuple[Any, str]]) -> Any:
    """One column's type across the files (see the module docstring)."""
    import pyarrow as pa

    kinds = {_kind(t) for t, _ in entries} - {"null"}
    distinct = {t for t, _ in entries if _kind(t) != "null"}
    if not distinct:
        return pa.null()
    if len(distinct) == 1:
        return distinct.pop()
    if kinds == {"integer"}:
        return pa.int64()
    if kinds <= {"integer", "floating"}:
        return pa.float64()
    if kinds == {"text"}:
        return pa.string()
    by_type: dict[str, list[str]] = {}
    for dtype, path in entries:
        by_type.setdefault(str(dtype), []).append(path)
    listed = "; ".join(f"{t} in {_listed(p)}" for t, p in by_type.items())
    raise DataError(
        f"the column {column!r} has different types in the Parquet files: {listed}; "
        "rewrite the files with one type (numbers stored as text are not converted)"
    )


def _listed(paths: Sequence[str]) -> str:
    """A few paths, then how many more."""
    shown = ", ".join(repr(p) for p in paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def finish_table(
    table: Any, piece: Piece, columns: list[str], dictionary: list[str], types: dict[str, Any]
) -> pd.DataFrame:
    """A row group as pandas: columns cast to their unified types, partition keys added."""
    import pyarrow as pa

    from mixedmodels.chunked.arrow_frames import frame_of_table

    for i, name in enumerate(table.column_names):
        target, dtype = types.get(name), table.schema.field(i).type
        if target is None or dtype == target or pa.types.is_null(target):
            continue
        if name in dictionary and pa.types.is_dictionary(dtype):
            continue  # text read dictionary-encoded stays so
        table = table.set_column(i, name, table.column(i).cast(target))
    for name, value in piece.keys.items():
        if name in columns:
            column = _constant(value, types[name], name in dictionary, table.num_rows)
            table = table.append_column(name, column)
    return frame_of_table(table.select(columns), columns, dictionary)


def _constant(value: Any, dtype: Any, encoded: bool, n: int) -> Any:
    """A partition key's value for every row, dictionary-encoded for grouping factors."""
    import numpy as np
    import pyarrow as pa

    scalar = pa.scalar(value, type=dtype)
    if encoded and value is not None:
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))
    return pa.repeat(scalar, n)
