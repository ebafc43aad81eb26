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
from typing import TYPE_CHECKING, Any

import pandas as pd

from mixedmodels.chunked.arrow_frames import frame_of_table
from mixedmodels.chunked.cluster import DEFAULT_TIMEOUT, gather  # registers the fork hook
from mixedmodels.errors import DataError, UnknownColumnError
from mixedmodels.linalg.threads import blas_threads
from mixedmodels.spec.data_kinds import csv_in_memory, is_chunked_source, is_csv_path, read_csv_path

if TYPE_CHECKING:
    from mixedmodels.chunked.files import ParquetFiles

__all__ = [
    "as_dask_frame",
    "compute",
    "frame_of_table",
    "is_chunked_source",
    "csv_in_memory",
    "is_csv_path",
    "parquet_files",
    "parquet_paths",
    "read_csv_path",
    "select_columns",
    "source_name",
    "tree_reduce",
]

INSTALL_HINT = "pip install 'mixedmodels[dask]'"


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
        return dd.read_parquet(parquet_paths(data)[0])
    if type(data).__module__.startswith(("pyarrow._dataset", "pyarrow.dataset")):
        return _from_arrow_dataset(dd, data)
    raise DataError(
        f"data must be a DataFrame, a Dask DataFrame, a PyArrow dataset or a path of Parquet "
        f"files, not {type(data).__name__}"
    )


def parquet_files(data: Any) -> ParquetFiles | None:
    """The surveyed local Parquet files of a source (``None`` for other sources).

    Paths, directories (Hive-partitioned or not), globs and lists of them, and PyArrow datasets
    of local Parquet files: every footer is read and checked here (:mod:`.files`).
    """
    from mixedmodels.chunked.files import ParquetFiles

    if isinstance(data, str | Path | list | tuple):
        paths, keys = parquet_paths(data)
        if any(_is_url(p) for p in paths):
            return None
        return ParquetFiles.survey(paths, keys)
    found = _arrow_dataset_files(data)
    return None if found is None else ParquetFiles.survey(*found)


def _arrow_dataset_files(data: Any) -> tuple[list[str], list[dict[str, Any]]] | None:
    """Paths and partition keys of a PyArrow dataset of local Parquet files, else ``None``."""
    if not type(data).__module__.startswith(("pyarrow._dataset", "pyarrow.dataset")):
        return None
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    if not (
        isinstance(data, ds.FileSystemDataset)
        and isinstance(data.format, ds.ParquetFileFormat)
        and isinstance(data.filesystem, pafs.LocalFileSystem)
    ):
        return None
    fragments = list(data.get_fragments())
    if not fragments:
        raise DataError("the PyArrow dataset has no fragments (no data)")
    keys = [ds.get_partition_keys(f.partition_expression) for f in fragments]
    return [f.path for f in fragments], keys


def select_columns(frame: Any, columns: Sequence[str]) -> Any:
    """Only the used columns of a Dask DataFrame, refusing unknown ones."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UnknownColumnError(missing, frame.columns)
    return frame[list(columns)]


def compute(
    objects: Sequence[Any], progress: bool | None, label: str, timeout: float = DEFAULT_TIMEOUT
) -> list[Any]:
    """Compute Dask objects together: on the active distributed client if there is one.

    A progress bar over the tasks is shown on a terminal (``progress=None``) or when asked.
    On a cluster, :class:`~mixedmodels.errors.ClusterError` when it has had no worker for
    ``timeout`` seconds (see :func:`~mixedmodels.chunked.cluster.gather`).
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
    return gather(client, futures, timeout, label)


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


def parquet_paths(
    data: str | Path | Sequence[str | Path],
) -> tuple[list[str], list[dict[str, Any]]]:
    """Files named by a path, a directory, a glob, or a list of those, with Hive keys."""
    from mixedmodels.chunked.layout import discover

    items = [data] if isinstance(data, str | Path) else list(data)
    paths: list[str] = []
    keys: list[dict[str, Any]] = []
    for item in items:
        text = str(item)
        if _is_url(text):  # remote (s3://, gs://, …) or file:// URLs: read by fsspec
            paths.append(text)
            keys.append({})
            continue
        tree = discover(text)
        if tree is not None:
            found, found_keys = tree
        else:
            globbed = any(ch in text for ch in "*?[")
            found = sorted(glob.glob(text)) if globbed else [text] if Path(text).is_file() else []
            found_keys = [{} for _ in found]
        if not found:
            raise DataError(f"no Parquet file found at {text!r}{_dataset_hint(text)}")
        paths.extend(found)
        keys.extend(found_keys)
    return paths, keys


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
