"""What a linear mixed model is built from: its stored blocks and what else its data give.

The profiled objective of a linear mixed model needs only the blocks of
``A = [Z X y]'W[Z X y]`` (step ③); its results need a few more numbers of the data (``XᵀX``,
the response's sums, the weights' log-determinant) and, for per-row results, the rows. A
:class:`ModelBlocks` holds all of them and nothing of a fit. Two builders make one:

- :func:`~mixedmodels.linalg.frame_blocks.frame_blocks` from a data frame in memory (the rows
  are kept, :attr:`ModelBlocks.rows`);
- :func:`~mixedmodels.chunked.model.chunked_blocks` by a pass over data beyond memory (no rows;
  per-row results are computed by further passes, :attr:`ModelBlocks.passes`).

:class:`~mixedmodels.models.LinearMixedModel` is built from either the same way
(``LinearMixedModel.from_blocks``); its ``has_rows`` is :attr:`ModelBlocks.has_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.linalg.crossprod import CrossProducts

if TYPE_CHECKING:
    from mixedmodels.formula.parser import ParsedFormula
    from mixedmodels.spec.fixed import FixedEffects
    from mixedmodels.spec.frame import ModelFrame
    from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["ModelBlocks", "ModelRows", "RowPasses", "Shift"]

Shift = tuple[float | FloatArray, int | None]  # the stored response is y − shift (see cholesky)
NO_ROWS = np.empty(0)


class RowPasses(Protocol):
    """Per-row results of data not in memory, computed by passes over the data (lazily)."""

    def values(self, what: str, beta: FloatArray, effects: Sequence[FloatArray]) -> Any:
        """Per-row values at ``beta`` and the modes ``effects`` (``[]``: none), lazily.

        ``what`` is ``"fitted"`` (fitted values), ``"response"`` (residuals) or ``"pearson"``
        (residuals times the square roots of the prior weights), one per used row.
        """
        ...

    def quantiles(self, values: Any, probs: tuple[float, ...]) -> FloatArray:
        """Exact quantiles of values :meth:`values` returned."""
        ...


@dataclass(frozen=True)
class ModelRows:
    """The rows of the data in memory, beyond ``X`` and the frame.

    Attributes
    ----------
    y
        The response minus the offset, one value per used row.
    sqrtw
        Square roots of the prior weights, ``None`` for unit weights.
    """

    y: FloatArray
    sqrtw: FloatArray | None


@dataclass(frozen=True)
class ModelBlocks:
    """Everything a linear mixed model needs from its data that is not a fit.

    Attributes
    ----------
    parsed
        The formula the blocks are of.
    A
        The stored blocks of ``[Z X y−shift]'W[Z X y−shift]`` (only the estimable columns of X).
    terms
        The random-effects terms, in storage order.
    fixed
        The fixed part: column names, dropped columns and the encoding of new data; its ``y``
        and ``X`` hold the rows only when they are in memory (else they are empty, ``X`` with
        one column per coefficient).
    frame
        The model frame; without rows in memory its data are a prototype of the used columns
        (types and levels, no rows) and its weights and offset are empty.
    nobs
        Number of observations used.
    shift
        ``(shift, intercept)``: the stored response is ``y − shift`` (set on the factor).
    log_weights
        ``Σ log wᵢ`` of the prior weights (0 without weights).
    weighted
        Whether any prior weight differs from 1.
    degenerate_terms
        Random-effects terms whose columns are linearly dependent.
    data_name, weights_name, offset_name
        The data's name (the summary's ``Data:``) and the columns of the weights and offset.
    gram, stats
        ``XᵀX`` of the kept columns and ``(n, Σy, Σy²)`` of the response minus the offset,
        when they were summed without the rows; ``None``: computed from :attr:`rows` when asked.
    rows
        The rows in memory (:class:`ModelRows`), or ``None``.
    passes
        Per-row results by passes over data not in memory (:class:`RowPasses`), or ``None``.
    """

    parsed: ParsedFormula
    A: CrossProducts
    terms: list[RandomEffectsTerm]
    fixed: FixedEffects
    frame: ModelFrame
    nobs: int
    shift: Shift
    log_weights: float
    weighted: bool
    degenerate_terms: list[str]
    data_name: str | None = None
    weights_name: str | None = None
    offset_name: str | None = None
    gram: FloatArray | None = None
    stats: tuple[int, float, float] | None = None
    rows: ModelRows | None = None
    passes: RowPasses | None = None

    def __post_init__(self) -> None:
        """Refuse blocks without rows that lack the sums the rows would give."""
        if self.rows is None and (self.gram is None or self.stats is None):
            raise ModelSpecificationError(
                "blocks without the rows in memory need XᵀX (gram) and the response's sums (stats)"
            )

    @property
    def has_rows(self) -> bool:
        """Whether the rows are in memory (what needs them refuses itself otherwise)."""
        return self.rows is not None

    @property
    def y(self) -> FloatArray:
        """The response minus the offset (empty without rows in memory)."""
        return NO_ROWS if self.rows is None else self.rows.y

    def fixed_gram(self) -> FloatArray:
        """``XᵀX`` of the kept fixed-effects columns, unweighted."""
        if self.gram is not None:
            return self.gram
        X = self.fixed.X
        return X.T @ X

    def response_stats(self) -> tuple[int, float, float]:
        """Number, sum and sum of squares of the response minus the offset."""
        if self.stats is not None:
            return self.stats
        y = self.y
        return len(y), float(np.sum(y)), float(y @ y)

    def quantiles(self, values: Any, probs: tuple[float, ...]) -> FloatArray:
        """Quantiles of per-row values (the finite ones in memory; by passes otherwise)."""
        if self.passes is not None:
            return self.passes.quantiles(values, probs)
        array = np.asarray(values, dtype=np.float64)
        return np.quantile(array[np.isfinite(array)], probs)
