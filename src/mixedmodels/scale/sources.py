"""Data that need not fit in memory: Parquet files, PyArrow datasets and Dask DataFrames.

Every source becomes a Dask DataFrame of the columns a model uses, so that one code path maps
a function over its partitions and reduces the results, on the local scheduler or on the
``dask.distributed`` cluster of an active client. Dask is an optional dependency
(``pip install 'mixedmodels[dask]'``), imported only here and only when used.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.errors import DataError, UnknownColumnError
from mixedmodels.linalg.threads import blas_threads

__all__ = [
    "as_dask_frame",
    "compute",
    "first_rows",
    "is_chunked_source",
    "select_columns",
    "source_name",
    "tree_reduce",
]

INSTALL_HINT = "pip install 'mixedmodels[dask]'"


def is_chunked_source(data: Any) -> bool:
    """True for data fitted by chunks rather than in memory.

    That is a path or glob of Parquet files, a list of them, a Dask DataFrame or a PyArrow
    dataset.
    """
    if isinstance(data, str | Path):
        return True
    if isinstance(data, list | tuple) and data and all(isinstance(d, str | Path) for d in data):
        return True
    module = type(data).__module__
    return module.startswith(("dask", "pyarrow._dataset", "pyarrow.dataset"))


def source_name(data: Any) -> str:
    """How the summary names the data ("Data:" line)."""
    if isinstance(data, str | Path):
        return str(data)
    if isinstance(data, list | tuple):
        return f"{len(data)} Parquet files"
    if hasattr(data, "npartitions"):
        return f"Dask DataFrame ({data.npartitions} partitions)"
    return f"PyArrow {type(data).__name__}"


def as_dask_frame(data: Any) -> Any:
    """The data as a Dask DataFrame (lazy: nothing is read here but the schema).

    Raises
    ------
    DataError
        When Dask is not installed, a path matches no file, or the type is not supported.
    """
    dd = _dask_dataframe()
    if hasattr(data, "to_delayed") and hasattr(data, "npartitions"):
        return data
    if isinstance(data, str | Path | list | tuple):
        return dd.read_parquet(_parquet_paths(data))
    if type(data).__module__.startswith(("pyarrow._dataset", "pyarrow.dataset")):
        return _from_arrow_dataset(dd, data)
    raise DataError(
        f"data must be a DataFrame, a Dask DataFrame, a PyArrow dataset or a path of Parquet "
        f"files, not {type(data).__name__}"
    )


def select_columns(
    data: Any, frame: Any, columns: Sequence[str], dictionary: Sequence[str] = ()
) -> Any:
    """Only the used columns (read from Parquet only those), refusing unknown ones.

    For Parquet paths, the ``dictionary`` columns (text used only as grouping factors) are
    read dictionary-encoded, as pandas categoricals: their values are never turned into
    millions of Python or Arrow strings and hashed again, only their dictionaries are.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UnknownColumnError(missing, frame.columns)
    if isinstance(data, str | Path | list | tuple):
        paths = _parquet_paths(data)
        if not any(_is_url(p) for p in paths):
            return _parquet_pieces(paths, list(columns), list(dictionary))
    return frame[list(columns)]


def compute(objects: Sequence[Any], progress: bool | None, label: str) -> list[Any]:
    """Compute Dask objects together: on the active distributed client if there is one.

    A progress bar over the tasks is shown on a terminal (``progress=None``) or when asked.
    """
    import dask

    show = sys.stderr.isatty() if progress is None else progress
    client = _active_client()
    if client is None:
        # the chunks are processed by one thread per core: BLAS threads on top of them would
        # busy-wait for cores that are taken (the products per chunk are small anyway)
        with blas_threads(1):
            if not show:
                return list(dask.compute(*objects))
            from dask.diagnostics import ProgressBar

            print(label, file=sys.stderr)
            with ProgressBar(out=sys.stderr):
                return list(dask.compute(*objects))
    futures = client.compute(list(objects))
    if show:
        from distributed import progress as distributed_progress

        print(label, file=sys.stderr)
        distributed_progress(futures)
    return list(client.gather(futures))


def tree_reduce(parts: list[Any], combine: Callable[..., Any], fan_in: int = 2) -> Any:
    """Combine delayed partial results ``fan_in`` at a time, level by level.

    ``combine`` takes two to ``fan_in`` partial results; the depth is ``log_fan_in`` of their
    number, and a group of one passes up unchanged.
    """
    import dask

    merge = dask.delayed(combine, pure=True)
    while len(parts) > 1:
        groups = [parts[i : i + fan_in] for i in range(0, len(parts), fan_in)]
        parts = [merge(*group) if len(group) > 1 else group[0] for group in groups]
    return parts[0]


def _dask_dataframe() -> Any:
    """``dask.dataframe``, or a clear error naming the extra that installs it."""
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DataError(f"fitting from Parquet or Dask needs dask: {INSTALL_HINT}") from None
    return dd


def _active_client() -> Any:
    """The current ``dask.distributed`` client, or ``None``."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


def _parquet_paths(data: str | Path | Sequence[str | Path]) -> list[str]:
    """Files named by a path, a directory, a glob, or a list of those."""
    items = [data] if isinstance(data, str | Path) else list(data)
    paths: list[str] = []
    for item in items:
        text = str(item)
        if _is_url(text):  # remote (s3://, gs://, …) or file:// URLs: read by fsspec
            paths.append(text)
            continue
        if Path(text).is_dir():
            found = sorted(glob.glob(str(Path(text) / "*.parquet")))
        elif any(ch in text for ch in "*?["):
            found = sorted(glob.glob(text))
        else:
            found = [text] if Path(text).is_file() else []
        if not found:
            raise DataError(f"no Parquet file found at {text!r}{_dataset_hint(text)}")
        paths.extend(found)
    return paths


def _parquet_pieces(paths: list[str], columns: list[str], dictionary: list[str]) -> Any:
    """A Dask DataFrame with one partition per row group of each Parquet file."""
    import pyarrow.parquet as pq

    dd = _dask_dataframe()
    pieces = [(path, g) for path in paths for g in range(pq.ParquetFile(path).num_row_groups)]
    if not pieces:
        raise DataError(f"the Parquet files {paths[:3]} have no rows")
    schema = pq.ParquetFile(paths[0], read_dictionary=dictionary).schema_arrow
    meta = schema.empty_table().select(columns).to_pandas()
    read = partial(_read_piece, columns=columns, dictionary=dictionary)
    return dd.from_map(read, pieces, meta=meta, enforce_metadata=False)


def _read_piece(piece: tuple[str, int], columns: list[str], dictionary: list[str]) -> pd.DataFrame:
    """One row group of a Parquet file as a pandas DataFrame."""
    import pyarrow.parquet as pq

    path, group = piece
    parquet = pq.ParquetFile(path, read_dictionary=dictionary)
    # one thread per chunk: Dask already runs one chunk per core
    table = parquet.read_row_group(group, columns=columns, use_threads=False)
    return _frame(table, columns, dictionary)


def first_rows(data: Any, columns: list[str], dictionary: list[str], n: int) -> Any:
    """A delayed read of the first ``n`` rows of Parquet paths (``None`` for other data).

    Reads one batch of the first file instead of its whole first row group.
    """
    if not isinstance(data, str | Path | list | tuple):
        return None
    paths = _parquet_paths(data)
    if any(_is_url(p) for p in paths):
        return None
    import dask

    return dask.delayed(_read_head)(paths[0], columns, dictionary, n)


def _read_head(path: str, columns: list[str], dictionary: list[str], n: int) -> pd.DataFrame:
    """The first ``n`` rows of a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path, read_dictionary=dictionary)
    batch = next(parquet.iter_batches(batch_size=n, columns=columns, use_threads=False), None)
    schema = parquet.schema_arrow
    table = pa.Table.from_batches([batch]) if batch is not None else schema.empty_table()
    return _frame(table.select(columns), columns, dictionary)


def _frame(table: Any, columns: list[str], dictionary: list[str]) -> pd.DataFrame:
    """An Arrow table as pandas: columns not copied, dictionary columns as categoricals."""
    coded = [c for c in dictionary if c in table.column_names]
    if not coded:
        return table.to_pandas(use_threads=False, split_blocks=True)
    plain = [c for c in columns if c not in coded]
    frame = (
        table.select(plain).to_pandas(
            use_threads=False, split_blocks=True
        )  # no copy into 2-D blocks
        if plain
        else pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    )
    for name in coded:
        frame[name] = dictionary_categorical(table.column(name))
    return frame[columns]


def dictionary_categorical(column: Any) -> Any:
    """A dictionary-encoded Arrow column as a pandas Categorical, without re-checking it.

    Arrow's own conversion checks that the dictionary's values are distinct, by hashing them
    all (about 30 ms for 50,000 labels, a quarter of the work on a chunk); a dictionary read
    from one Parquet column chunk is distinct by construction, so the categorical is built
    directly from its codes. Anything else (several chunks, a pandas without the internal
    constructors) goes through Arrow's checked conversion.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.num_chunks == 1 and pa.types.is_dictionary(column.type):
        array = column.chunk(0)
        categories = pd.Index(array.dictionary.to_pandas())
        codes = pc.fill_null(array.indices, -1).to_numpy()  # -1: missing, as pandas codes
        width = np.int8 if len(categories) < 2**7 else np.int16 if len(categories) < 2**15 else None
        try:
            internals: Any = pd  # private constructors, checked by the tests
            dtype = internals.CategoricalDtype._from_fastpath(categories, False)
            return internals.Categorical._simple_new(codes.astype(width or codes.dtype), dtype)
        except (AttributeError, TypeError):  # pandas changed its internals: the checked way
            pass
    return column.to_pandas()


def _dataset_hint(text: str) -> str:
    """A hint when a path that does not exist is the name of a bundled dataset."""
    from mixedmodels.datasets.loader import names

    if text.lower() in {name.lower() for name in names()}:
        return f"; for the bundled dataset, pass mm.datasets.load({text!r}) as data"
    return ""


def _is_url(text: str) -> bool:
    """A URL with a scheme (``s3://bucket/...``), which Dask reads through fsspec."""
    return "://" in text


def _from_arrow_dataset(dd: Any, dataset: Any) -> Any:
    """A Dask DataFrame with one partition per fragment of a PyArrow dataset."""
    fragments = list(dataset.get_fragments())
    if not fragments:
        raise DataError("the PyArrow dataset has no fragments (no data)")
    meta = dataset.schema.empty_table().to_pandas()
    return dd.from_map(partial(_read_fragment, columns=None), fragments, meta=meta)


def _read_fragment(fragment: Any, columns: list[str] | None) -> pd.DataFrame:
    """One fragment of a PyArrow dataset as a pandas DataFrame."""
    return fragment.to_table(columns=columns).to_pandas()
