"""A linear mixed model fitted from data that need not fit in memory.

The profiled objective needs only the blocks of ``A = [Z X y]'[Z X y]``, so a model of chunked
data is the in-memory :class:`~mixedmodels.models.LinearMixedModel` built from other blocks:
:func:`chunked_blocks` computes them by passes over the chunks
(:mod:`mixedmodels.chunked.reading`) and gives, instead of the rows, the passes that compute
per-row results later (:class:`~mixedmodels.chunked.lazy_rows.ChunkedRows`).

Fitting, ``fixef``, ``coef_table`` (Satterthwaite df), ``varcorr``, ``ranef``, profiles, Wald and
profile intervals and ``summary()`` then work on the blocks exactly as in memory; ``fitted()``
and ``residuals()`` are lazy Dask series, computed by another pass when asked for. What needs
the rows in memory (simulation, bootstrap, influence, hat values, Kenward–Roger, type III
tests) raises :class:`~mixedmodels.errors.NotSupportedError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mixedmodels.chunked.blocks import finish_blocks
from mixedmodels.chunked.cluster import DEFAULT_TIMEOUT, check_timeout
from mixedmodels.chunked.encoding import ChunkEncoder
from mixedmodels.chunked.lazy_rows import ChunkedRows
from mixedmodels.chunked.reading import ChunkRead, read_chunks
from mixedmodels.chunked.sources import source_name
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.formula.parser import ParsedFormula
from mixedmodels.linalg.model_blocks import ModelBlocks
from mixedmodels.models.linear import LinearMixedModel
from mixedmodels.spec.arguments import check_flag
from mixedmodels.spec.checks import (
    check_response_varies,
    check_terms,
    collinear_terms,
    mixed_model_formula,
)
from mixedmodels.spec.fixed import FixedEffects, estimable_columns, warn_dropped
from mixedmodels.spec.frame import ModelFrame, NaAction

if TYPE_CHECKING:
    from mixedmodels.chunked.files import ParquetFiles

__all__ = ["ChunkedLinearMixedModel", "chunked_blocks"]


def chunked_blocks(
    parsed: ParsedFormula,
    data: Any,
    *,
    weights: str | None = None,
    offset: str | None = None,
    na_action: NaAction = "omit",
    progress: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ModelBlocks:
    """The blocks of a linear mixed model of chunked ``data``, summed by passes over it.

    The arguments are those of :class:`ChunkedLinearMixedModel`. The blocks have no rows;
    their :attr:`~mixedmodels.linalg.model_blocks.ModelBlocks.passes` are a
    :class:`~mixedmodels.chunked.lazy_rows.ChunkedRows`.
    """
    timeout = check_timeout(timeout)
    read = read_chunks(
        parsed,
        data,
        weights=weights,
        offset=offset,
        na_action=na_action,
        progress=progress,
        timeout=timeout,
    )
    return _finished(parsed, read, source_name(data), weights, offset)


def _finished(
    parsed: ParsedFormula, read: ChunkRead, name: str, weights: str | None, offset: str | None
) -> ModelBlocks:
    """The model's blocks from the summed ones: estimable columns, term order, the checks."""
    blocks = read.blocks
    keep = estimable_columns(blocks.Rx)
    encoder, A, Rz = finish_blocks(blocks, read.encoder, keep)
    dropped = [n for i, n in enumerate(encoder.names) if i not in set(keep)]
    warn_dropped(dropped, stacklevel=5)
    empty = np.empty(0)
    fixed = FixedEffects(
        empty, np.empty((0, len(keep))), [encoder.names[i] for i in keep], dropped, encoder.spec
    )
    frame = ModelFrame(
        encoder.prototype, empty, empty, blocks.n_dropped, np.empty(0, dtype=np.intp)
    )
    terms = encoder.terms
    check_terms(terms, blocks.nobs)
    check_response_varies(blocks.nobs, blocks.y_max - blocks.y_min, parsed.response)
    position = keep.index(encoder.intercept) if encoder.intercept in keep else None
    rows = ChunkedRows(encoder, keep, read.files, read.frame, read.timings)
    return ModelBlocks(
        parsed,
        A,
        terms,
        fixed,
        frame,
        int(blocks.nobs),
        (blocks.shift if position is not None else 0.0, position),
        blocks.log_weights,
        blocks.weighted,
        collinear_terms(terms, Rz),
        data_name=name,
        weights_name=weights,
        offset_name=offset,
        gram=blocks.Rx[:, keep].T @ blocks.Rx[:, keep],
        stats=(int(blocks.nobs), float(blocks.y_sum), float(blocks.y_sq)),
        passes=rows,
    )


class ChunkedLinearMixedModel(LinearMixedModel):
    """A linear mixed model whose cross-products are computed chunk by chunk with Dask.

    Only the constructor differs from :class:`~mixedmodels.models.LinearMixedModel`: it builds
    the blocks by passes over the chunks (:func:`chunked_blocks`) and the model from them
    (``from_blocks``); ``has_rows`` is False.

    Parameters
    ----------
    formula
        An lme4 formula.
    data
        A Dask DataFrame, a PyArrow dataset, or a path, directory, glob or list of Parquet
        files. Only the columns the formula uses are read.
    reml
        REML (default) or maximum likelihood.
    weights, offset
        Names of columns of prior weights and of an offset.
    na_action
        ``"omit"`` drops rows with missing values; ``"fail"`` refuses them.
    progress
        Show a progress bar over the partitions (default: on a terminal).
    functions
        Functions the formula may call besides the allowed ones, e.g. ``{"logit": fn}``.
    timeout
        On a ``dask.distributed`` cluster: seconds a pass waits while the cluster has no
        worker before it fails with :class:`~mixedmodels.errors.ClusterError` (default five
        minutes; workers that die are replaced and their tasks recomputed by Dask).
    sigma
        A fixed residual SD, as for :class:`~mixedmodels.models.LinearMixedModel`.
    """

    def __init__(
        self,
        formula: str,
        data: Any,
        *,
        reml: bool = True,
        weights: str | None = None,
        offset: str | None = None,
        na_action: NaAction = "omit",
        progress: bool | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sigma: float | None = None,
    ) -> None:
        parsed = mixed_model_formula(formula, functions)
        reml = check_flag(reml, "reml")
        blocks = chunked_blocks(
            parsed,
            data,
            weights=weights,
            offset=offset,
            na_action=na_action,
            progress=progress,
            timeout=timeout,
        )
        self._build(blocks, reml, sigma)

    # ---- what the passes found, read from the blocks -----------------------------------
    @property
    def chunks(self) -> ChunkedRows:
        """The chunks' encoding, files and Dask DataFrame (the blocks' per-row passes)."""
        passes = self.blocks.passes
        if not isinstance(passes, ChunkedRows):
            raise ModelSpecificationError("this model was not built from chunked blocks")
        return passes

    @property
    def files(self) -> ParquetFiles | None:
        """The surveyed Parquet files, checked again by ``fitted()``/``residuals()``."""
        return self.chunks.files

    @property
    def source(self) -> Any:
        """The Dask DataFrame of the used columns (read again by ``fitted()``/``residuals()``)."""
        return self.chunks.frame

    @property
    def encoder(self) -> ChunkEncoder:
        """The encoding of the chunks and the levels of the grouping factors."""
        return self.chunks.encoder

    @property
    def timings(self) -> Mapping[str, float]:
        """Seconds spent reading before the pass (``"levels"``) and in it (``"cross-products"``)."""
        return self.chunks.timings
