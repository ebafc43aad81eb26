"""The passes that read chunked data before a fit: the encoding, then the summed blocks.

Dask maps a function over the partitions and sums the results:

1. beforehand, a few complete rows (the first partition) and, only when the fixed part has
   categorical predictors, their levels (a pass over those columns alone), from which the
   encoding of every chunk is learned (:mod:`mixedmodels.chunked.encoding`);
2. the pass: the blocks of ``A`` per chunk, in the chunk's own levels, merged by the union of
   the levels and summed (:mod:`mixedmodels.chunked.blocks`); once more if a categorical level
   occurs only in incomplete rows.

Only the columns the formula uses are read; Parquet files are surveyed first and checked again
after the pass (:mod:`mixedmodels.chunked.files`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels.chunked.blocks import PartialBlocks, chunk_blocks, merge_blocks
from mixedmodels.chunked.encoding import (
    SAMPLE_ROWS,
    ChunkEncoder,
    ChunkPlan,
    complete_rows,
    merge_levels,
    observed_levels,
)
from mixedmodels.chunked.sources import (
    as_dask_frame,
    compute,
    parquet_files,
    select_columns,
    tree_reduce,
)
from mixedmodels.errors import DataError, UnknownColumnError
from mixedmodels.formula.parser import ParsedFormula
from mixedmodels.spec.frame import NaAction, identifiers, used_columns

if TYPE_CHECKING:
    from mixedmodels.chunked.files import ParquetFiles

__all__ = ["ChunkRead", "read_chunks"]

HEAD_ROWS = 10 * SAMPLE_ROWS  # rows read from the first file to find SAMPLE_ROWS complete ones


@dataclass(frozen=True)
class ChunkRead:
    """What the passes before a fit found.

    Attributes
    ----------
    blocks
        The blocks of ``A`` summed over the chunks (local levels merged), with their sums.
    encoder
        The encoding of the chunks (before the levels of the grouping factors are ordered).
    files
        The surveyed Parquet files, or ``None`` for other data.
    frame
        The Dask DataFrame of the used columns.
    timings
        Seconds before the pass (``"levels"``) and in it (``"cross-products"``).
    """

    blocks: PartialBlocks
    encoder: ChunkEncoder
    files: ParquetFiles | None
    frame: Any
    timings: dict[str, float]


def read_chunks(
    parsed: ParsedFormula,
    data: Any,
    *,
    weights: Any,
    offset: Any,
    na_action: NaAction,
    progress: bool | None,
    timeout: float,
) -> ChunkRead:
    """The encoding and the summed blocks of ``data`` (arguments as for ``lmer``)."""
    files = parquet_files(data)
    plan, frame = _open(parsed, data, files, weights, offset, na_action)
    started = time.perf_counter()
    encoder = _prepare(plan, files, frame, progress, timeout)
    middle = time.perf_counter()
    blocks, encoder = _pass(encoder, files, frame, progress, timeout)
    timings = {"levels": middle - started, "cross-products": time.perf_counter() - middle}
    return ChunkRead(blocks, encoder, files, frame, timings)


def _open(
    parsed: ParsedFormula,
    data: Any,
    files: ParquetFiles | None,
    weights: Any,
    offset: Any,
    na_action: NaAction,
) -> tuple[ChunkPlan, Any]:
    """The plan and the Dask DataFrame of the used columns (Parquet footers surveyed first)."""
    if files is None:
        frame = as_dask_frame(data)
        plan = _plan(parsed, frame._meta, weights, offset, na_action)
        return plan, select_columns(frame, plan.read_columns)
    meta = files.schema_frame()
    plan = _plan(parsed, meta, weights, offset, na_action)
    if missing := [c for c in plan.read_columns if c not in meta.columns]:
        raise UnknownColumnError(missing, meta.columns)
    return plan, files.frame(plan.read_columns, plan.dictionary)


def _prepare(
    plan: ChunkPlan, files: ParquetFiles | None, frame: Any, progress: bool | None, timeout: float
) -> ChunkEncoder:
    """A few complete rows, and the levels of the categorical predictors if there are any.

    Only the categorical columns are read here (nothing at all without categorical
    predictors, but the first partition): grouping factors are learned in the main pass.
    """
    import dask

    if files is not None:
        first = files.head(plan.read_columns, plan.dictionary, HEAD_ROWS)
    else:
        first = frame.partitions[0].to_delayed()[0]
    wanted = [dask.delayed(complete_rows)(first, plan)]
    if plan.categorical:
        parts = frame[plan.categorical].to_delayed()
        found = [dask.delayed(observed_levels)(p, plan) for p in parts]
        wanted.append(tree_reduce(found, merge_levels))
    results = compute(wanted, progress, "reading levels", timeout)
    sample, levels = results[0], results[1] if plan.categorical else {}
    if len(sample) == 0:  # the first partition has no complete row: look further
        sample = frame[plan.columns].dropna().head(SAMPLE_ROWS, npartitions=-1)
    return ChunkEncoder.learn(plan, levels, sample)


def _pass(
    encoder: ChunkEncoder,
    files: ParquetFiles | None,
    frame: Any,
    progress: bool | None,
    timeout: float,
) -> tuple[PartialBlocks, ChunkEncoder]:
    """The summed blocks; once more if a categorical level occurs only in incomplete rows."""
    import dask

    for _ in range(2):
        chunk = dask.delayed(encoder, pure=True, traverse=False)
        parts = [dask.delayed(chunk_blocks)(p, chunk) for p in frame.to_delayed()]
        combine = partial(merge_blocks, encoder=encoder)
        summed = [tree_reduce(parts, combine)]
        (blocks,) = compute(summed, progress, "cross-products", timeout)
        if files is not None:
            files.verify("during the pass over the data")
        pruned = _pruned(encoder, blocks)
        if pruned is None:
            return blocks, encoder
        encoder = pruned
    raise DataError("the levels of the categorical predictors changed between passes")


def _plan(
    parsed: ParsedFormula, meta: pd.DataFrame, weights: Any, offset: Any, na_action: NaAction
) -> ChunkPlan:
    """What the passes read, from the formula and the data's (empty) schema frame."""
    if na_action not in ("omit", "fail"):
        raise DataError(f"na_action must be 'omit' or 'fail', not {na_action!r}")
    for what, value in (("weights", weights), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise DataError(f"on chunked data {what} must be the name of a column")
    columns = [str(c) for c in used_columns(parsed, meta)]
    factor_sets = list(dict.fromkeys(term.factors for term in parsed.random))
    pieces = [parsed.fixed, *parsed.offsets, *(t.lhs for t in parsed.random)]
    in_design = set().union(*(identifiers(p) for p in pieces))
    categorical = [c for c in columns if c in in_design and meta[c].dtype.kind not in "biuf"]
    factor_columns = {c for fs in factor_sets for c in fs} - set(categorical)
    dictionary = tuple(
        c for c in columns if c in factor_columns and pd.api.types.is_string_dtype(meta[c])
    )
    declared = {}
    for column in categorical:
        dtype = meta[column].dtype
        if isinstance(dtype, pd.CategoricalDtype) and "__UNKNOWN_CATEGORIES__" not in list(
            dtype.categories
        ):
            declared[column] = list(dtype.categories)
    extra = [c for c in (weights, offset) if c is not None and c in meta.columns]
    numeric = tuple(
        c for c in [*columns, *extra] if c not in categorical and c in in_design | set(extra)
    )
    return ChunkPlan(
        parsed,
        columns,
        weights,
        offset,
        na_action,
        factor_sets,
        categorical,
        declared,
        dictionary,
        numeric,
    )


def _pruned(encoder: ChunkEncoder, blocks: PartialBlocks) -> ChunkEncoder | None:
    """The encoder without categorical levels seen only in incomplete rows, or ``None``.

    Text columns get the levels of the complete rows only, as in memory (declared categories
    are kept whole, as formulaic keeps them).
    """
    categories = dict(encoder.categories)
    changed = False
    for column, counts in blocks.category_counts.items():
        if column not in encoder.plan.declared and np.any(counts == 0):
            categories[column] = [c for c, n in zip(categories[column], counts, strict=True) if n]
            changed = True
    if not changed:
        return None
    return ChunkEncoder.build(encoder.plan, categories, encoder.prototype)
