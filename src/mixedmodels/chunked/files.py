"""Parquet files of a chunked fit: surveyed once before the pass, checked again after it.

Before anything is read, every file's footer is read (nothing else): a file that is empty,
truncated, not Parquet or has a damaged footer is refused, naming it; the columns a model uses
must be in every file with one kind of type (an integer column stored as floating point in
some files is read as float64 everywhere; numbers stored as text are refused). Each file's
size, modification time, footer (a digest of its bytes), row count and row groups are
recorded (:class:`FileState`); every read of a row group, the end of the pass and every later
lazy use (``fitted()``, ``residuals()``) check them again, so that a file rewritten or deleted
during a fit is a :class:`~mixedmodels.errors.DataError` naming it, never a fit of mixed data.
Parquet pages carry no checksum unless the writer added one (which is then verified): bytes
damaged inside a page cannot otherwise be detected by the reader.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from mixedmodels.chunked.layout import (
    FileState,
    Piece,
    finish_table,
    partition_types,
    unified_type,
    unified_types,
)
from mixedmodels.errors import DataError

__all__ = ["FileState", "ParquetFiles", "file_state", "read_group", "read_piece"]

MAGIC = b"PAR1"
SHOWN = 3  # files named in a message before "and N more"


def file_state(path: str) -> FileState:
    """Stat and footer of one Parquet file; a :class:`DataError` naming what is wrong."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        stat = os.stat(path)
        footer = _footer_digest(path, stat.st_size)
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"the Parquet file {path!r} does not exist (was it deleted?)") from None
    except (OSError, pa.ArrowException, ValueError) as error:
        raise DataError(
            f"cannot read the Parquet file {path!r}: its footer is damaged ({_detail(error)})"
        ) from None
    rows = tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups))
    return FileState(path, stat.st_size, stat.st_mtime_ns, footer, rows, schema)


def _footer_digest(path: str, size: int) -> str:
    """Digest of the footer's bytes, after checking the file's Parquet framing."""
    if size == 0:
        raise DataError(f"the Parquet file {path!r} is empty (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(4)
        if size < 12:
            raise DataError(f"the Parquet file {path!r} is truncated ({size} bytes)")
        handle.seek(size - 8)
        tail = handle.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != MAGIC:
            what = (
                "truncated (no Parquet footer at its end)" if head == MAGIC else _not_parquet(head)
            )
            raise DataError(f"the Parquet file {path!r} is {what}")
        if head != MAGIC or length > size - 12:
            raise DataError(f"the Parquet file {path!r} has a damaged footer or header")
        handle.seek(size - 8 - length)
        return hashlib.blake2b(handle.read(length), digest_size=16).hexdigest()


def _not_parquet(head: bytes) -> str:
    """What a file that does not start as Parquet looks like."""
    text = head.decode("utf-8", errors="replace")
    if text.isprintable():
        return "not a Parquet file (it starts as text: a CSV file?)"
    return "not a Parquet file"


def _detail(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def changed(state: FileState) -> str | None:
    """How the file differs from its recorded state (``None``: unchanged)."""
    try:
        stat = os.stat(state.path)
    except FileNotFoundError:
        return "was deleted"
    except OSError as error:
        return f"cannot be read any more ({_detail(error)})"
    if (stat.st_size, stat.st_mtime_ns) != (state.size, state.mtime_ns):
        return "was rewritten (its size or modification time changed)"
    try:
        footer = _footer_digest(state.path, stat.st_size)
    except (DataError, OSError):
        return "was damaged (its footer cannot be read)"
    if footer != state.footer:
        return "was rewritten (its footer changed)"
    return None


def refuse_changed(states: Sequence[FileState], when: str) -> None:
    """A :class:`DataError` naming the files that changed since they were surveyed."""
    found = [(s.path, how) for s in states if (how := changed(s)) is not None]
    if found:
        listed = "; ".join(f"{path!r} {how}" for path, how in found[:SHOWN])
        more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        raise DataError(
            f"the data changed {when}: {listed}{more}; a fit needs data that do not change "
            "until it (and any later use of fitted() or residuals()) is done"
        )


@dataclass(frozen=True)
class ParquetFiles:
    """The surveyed files of a data set, their unified schema and their pieces.

    Attributes
    ----------
    states
        One per file, in reading order.
    partitions
        Hive partition keys of each file (``{}`` without partitioning).
    """

    states: tuple[FileState, ...]
    partitions: tuple[dict[str, Any], ...]

    @classmethod
    def survey(
        cls, paths: Sequence[str], partitions: Sequence[dict[str, Any]] | None = None
    ) -> ParquetFiles:
        """Read every footer; refuse damaged files and data sets without rows."""
        states = tuple(file_state(p) for p in paths)
        keys = tuple(partitions) if partitions is not None else tuple({} for _ in paths)
        if not any(s.num_rows for s in states):
            listed = ", ".join(repr(s.path) for s in states[:SHOWN])
            more = f" and {len(states) - SHOWN} more" if len(states) > SHOWN else ""
            raise DataError(f"the Parquet files have no rows: {listed}{more}")
        for state, key in zip(states, keys, strict=True):
            both = [k for k in key if k in state.schema.names]
            if both:
                raise DataError(
                    f"{both[0]!r} is both a partition key and a column of {state.path!r}"
                )
        return cls(states, keys)

    def column_types(self) -> dict[str, list[tuple[Any, str]]]:
        """Each column's type in each file that has rows: ``{name: [(type, path), ...]}``."""
        found: dict[str, list[tuple[Any, str]]] = {}
        key_types = partition_types(self.partitions)
        for state, key in zip(self.states, self.partitions, strict=True):
            if not state.num_rows:
                continue  # a file without rows contributes nothing, whatever its schema
            for field in state.schema:
                found.setdefault(field.name, []).append((field.type, state.path))
            for name in key:
                found.setdefault(name, []).append((key_types[name], state.path))
        return found

    def pieces(self) -> list[Piece]:
        """One piece per row group of every file, with the file's partition keys."""
        return [
            Piece(state, group, key)
            for state, key in zip(self.states, self.partitions, strict=True)
            for group in range(len(state.rows))
        ]

    def verify(self, when: str = "during the fit") -> None:
        """Refuse files that changed since the survey (see :func:`refuse_changed`)."""
        refuse_changed(self.states, when)

    def schema_frame(self) -> pd.DataFrame:
        """An empty frame of every column, to plan the model on.

        Where the files disagree, the type of the first file: :meth:`frame` refuses that for
        the columns it reads.
        """
        types = {}
        for name, entries in self.column_types().items():
            try:
                types[name] = unified_type(name, entries)
            except DataError:
                types[name] = entries[0][0]
        return arrow_schema(types).empty_table().to_pandas()

    def frame(self, columns: list[str], dictionary: Sequence[str]) -> Any:
        """A Dask DataFrame of these columns, one partition per row group of every file.

        Refuses columns missing from some file or of different types in different files.
        """
        import dask.dataframe as dd

        from mixedmodels.chunked.arrow_frames import frame_of_table

        types = self.types(columns)
        meta = frame_of_table(arrow_schema(types, dictionary).empty_table(), columns, dictionary)
        read = partial(read_piece, columns=columns, dictionary=list(dictionary), types=types)
        return dd.from_map(read, self.pieces(), meta=meta, enforce_metadata=False)

    def types(self, columns: Sequence[str]) -> dict[str, Any]:
        """The unified type of each of these columns (see :func:`unified_types`)."""
        with_rows = [s.path for s in self.states if s.num_rows]
        return unified_types(self.column_types(), columns, with_rows)

    def head(self, columns: list[str], dictionary: Sequence[str], n: int) -> Any:
        """A delayed read of the first ``n`` rows of the first row group that has rows."""
        import dask

        first = next(p for p in self.pieces() if p.state.rows[p.group])
        read = partial(read_piece, types=self.types(columns), head=n)
        return dask.delayed(read)(first, columns, list(dictionary))


def read_piece(
    piece: Piece,
    columns: list[str],
    dictionary: list[str],
    types: dict[str, Any],
    head: int | None = None,
) -> pd.DataFrame:
    """One row group (or its first ``head`` rows) as pandas, refusing a file that changed."""
    stored = [c for c in columns if c not in piece.keys]
    table = _read_table(piece, stored, [c for c in dictionary if c in stored], head)
    return finish_table(table, piece, columns, dictionary, types)


def _read_table(piece: Piece, stored: list[str], dictionary: list[str], head: int | None) -> Any:
    """The Arrow table of a piece, read only if its file is as surveyed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    state = piece.state
    try:
        parquet = pq.ParquetFile(
            state.path, read_dictionary=dictionary, page_checksum_verification=True
        )
        shape = parquet.metadata.num_row_groups, parquet.metadata.num_rows
        if shape != (len(state.rows), state.num_rows):
            raise DataError(f"the Parquet file {state.path!r} was rewritten since the fit began")
        # one thread per chunk: Dask already runs one chunk per core
        if head is None:
            table = parquet.read_row_group(piece.group, columns=stored, use_threads=False)
        else:
            batches = parquet.iter_batches(
                batch_size=head, row_groups=[piece.group], columns=stored, use_threads=False
            )
            batch = next(batches, None)
            schema = parquet.schema_arrow
            empty = pa.schema([schema.field(c) for c in stored]).empty_table()
            table = pa.Table.from_batches([batch]) if batch is not None else empty
    except (OSError, pa.ArrowException, ValueError) as error:
        if isinstance(error, DataError):
            raise
        how = changed(state)
        if how is not None:
            raise DataError(f"the Parquet file {state.path!r} {how} since the fit began") from None
        raise DataError(
            f"cannot read row group {piece.group} of the Parquet file {state.path!r}: "
            f"{_detail(error)}"
        ) from None
    how = changed(state)
    if how is not None:
        raise DataError(f"the Parquet file {state.path!r} {how} since the fit began")
    return table


def arrow_schema(types: dict[str, Any], dictionary: Sequence[str] = ()) -> Any:
    """An Arrow schema of these types, text in ``dictionary`` dictionary-encoded."""
    import pyarrow as pa

    fields = []
    for name, dtype in types.items():
        if name in dictionary and not pa.types.is_dictionary(dtype):
            dtype = pa.dictionary(pa.int32(), dtype)
        fields.append(pa.field(name, dtype))
    return pa.schema(fields)


def read_group(path: str, group: int, columns: list[str], dictionary: Sequence[str]) -> Any:
    """Row group ``group`` of one file, surveyed and read as the pass reads it."""
    files = ParquetFiles.survey([str(path)])
    return read_piece(files.pieces()[group], columns, list(dictionary), files.types(columns))
