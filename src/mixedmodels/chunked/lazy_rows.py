"""Per-row results of a model fitted from chunks: lazy Dask series, one pass when computed.

:class:`ChunkedRows` is what chunked blocks give a model instead of the rows
(:class:`~mixedmodels.linalg.model_blocks.RowPasses`): the fitted data's predictions and
residuals as Dask series (one value per complete row, indexed as the data's partitions), and
the exact quantiles of such a series (the summary's scaled residuals). Parquet files are
checked against their survey before every use, so that a file changed since the fit is a
:class:`~mixedmodels.errors.DataError`, never results of other data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.chunked.encoding import ChunkEncoder

if TYPE_CHECKING:
    from mixedmodels.chunked.files import ParquetFiles

__all__ = ["ChunkedRows"]


@dataclass(frozen=True)
class ChunkedRows:
    """The rows of chunked data, read again by passes (never all in memory).

    Attributes
    ----------
    encoder
        The encoding of the chunks and the levels of the grouping factors.
    keep
        The estimable columns of the fixed part (positions among the encoder's columns).
    files
        The surveyed Parquet files, checked before every pass; ``None`` for other data.
    frame
        The Dask DataFrame of the used columns.
    timings
        Seconds spent reading before the fit (``"levels"``, ``"cross-products"``).
    """

    encoder: ChunkEncoder
    keep: list[int]
    files: ParquetFiles | None
    frame: Any
    timings: Mapping[str, float]

    def values(self, what: str, beta: FloatArray, effects: Sequence[FloatArray]) -> Any:
        """Fitted values, residuals or Pearson residuals of the complete rows (a Dask series)."""
        self.verify("since the fit")
        function = partial(_partition_values, self.encoder, self.keep, beta, list(effects))
        name = "fitted" if what == "fitted" else "residuals"
        return self.frame.map_partitions(function, what, meta=(name, "f8"))

    def quantiles(self, values: Any, probs: tuple[float, ...]) -> FloatArray:
        """Exact quantiles of a series :meth:`values` returned (passes over the data)."""
        from mixedmodels.chunked.quantiles import exact_quantiles

        return exact_quantiles(values.to_dask_array(), probs)

    def verify(self, when: str) -> None:
        """Refuse Parquet files that changed since they were surveyed (for other data: no-op)."""
        if self.files is not None:
            self.files.verify(when)


def _partition_values(
    encoder: ChunkEncoder,
    keep: list[int],
    beta: FloatArray,
    effects: list[FloatArray],
    chunk: pd.DataFrame,
    what: str,
) -> pd.Series:
    """Fitted values (``what="fitted"``) or residuals of one partition's complete rows."""
    prepared = encoder.prepare(chunk)
    if len(prepared.frame) == 0:
        return pd.Series(np.empty(0), index=prepared.index, dtype="f8")
    y, X = encoder.design(prepared.frame)
    eta = X[:, keep] @ beta + prepared.offset
    if effects:
        for term, b in zip(encoder.term_rows(prepared.frame), effects, strict=True):
            eta += np.einsum("ik,ik->i", term.z, b[term.refs])
    if what == "fitted":
        values = eta
    elif what == "pearson":
        values = (y - eta) * np.sqrt(prepared.weights)
    else:
        values = y - eta
    return pd.Series(values, index=prepared.index, dtype="f8")
