"""A linear mixed model fitted from data that need not fit in memory.

The profiled objective needs only the blocks of ``A = [Z X y]'[Z X y]``, so the model is the
in-memory :class:`~mixedmodels.models.LinearMixedModel` with its construction replaced by a
pass over the chunks (Dask maps a function over the partitions and sums the results):

1. beforehand, a few complete rows (the first partition) and, only when the fixed part has
   categorical predictors, their levels (a pass over those columns alone), from which the
   encoding of every chunk is learned (:mod:`mixedmodels.chunked.encoding`);
2. the pass: the blocks of ``A`` per chunk, in the chunk's own levels, merged by the union of
   the levels and summed (:mod:`mixedmodels.chunked.blocks`).

Fitting, ``fixef``, ``coef_table`` (Satterthwaite df), ``varcorr``, ``ranef``, profiles, Wald and
profile intervals and ``summary()`` then work on the blocks exactly as in memory; ``fitted()``
and ``residuals()`` are lazy Dask series, computed by another pass when asked for. What needs
the rows in memory (simulation, bootstrap, influence, hat values, Kenward–Roger, type III
tests) raises :class:`~mixedmodels.errors.NotSupportedError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.chunked.blocks import PartialBlocks, chunk_blocks, finish_blocks, merge_blocks
from mixedmodels.chunked.cluster import DEFAULT_TIMEOUT, check_timeout
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
    source_name,
    tree_reduce,
)
from mixedmodels.errors import (
    DataError,
    ModelSpecificationError,
    UnknownColumnError,
)
from mixedmodels.models.linear import LinearMixedModel
from mixedmodels.models.rows import refuse_without_rows
from mixedmodels.spec.checks import (
    check_response_varies,
    check_terms,
    collinear_terms,
    mixed_model_formula,
)
from mixedmodels.spec.fixed import FixedEffects, estimable_columns, warn_dropped
from mixedmodels.spec.frame import ModelFrame, NaAction, identifiers, used_columns

__all__ = ["ChunkedLinearMixedModel"]

HEAD_ROWS = 10 * SAMPLE_ROWS  # rows read from the first file to find SAMPLE_ROWS complete ones


class ChunkedLinearMixedModel(LinearMixedModel):
    """A linear mixed model whose cross-products are computed chunk by chunk with Dask.

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

    Attributes
    ----------
    files
        The surveyed Parquet files (:class:`~mixedmodels.chunked.files.ParquetFiles`), checked
        again after the pass and by ``fitted()``/``residuals()``; ``None`` for other data.
    source
        The Dask DataFrame of the used columns (read again by ``fitted()``/``residuals()``).
    encoder
        The encoding of the chunks and the levels of the grouping factors.
    timings
        Seconds spent reading before the pass (``"levels"``: first rows and categorical
        levels) and in the pass (``"cross-products"``).
    """

    has_rows = False  # what needs the rows refuses itself (mixedmodels.models.rows)

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
    ) -> None:
        self.timeout = check_timeout(timeout)
        self.formula = formula
        self.parsed = mixed_model_formula(formula, functions)
        plan = self._open(data, weights, offset, na_action)
        self._data = data
        self.progress = progress
        started = time.perf_counter()
        encoder = self._prepare(plan)
        middle = time.perf_counter()
        blocks = self._pass(encoder)
        self.timings = {"levels": middle - started, "cross-products": time.perf_counter() - middle}
        self.reml = bool(reml)
        self._build(blocks)
        self.data_name = source_name(data)
        self.weights_name, self.offset_name = weights, offset
        self._quantiles: dict[tuple[float, ...], FloatArray] = {}

    # ---- the passes over the data -----------------------------------------------------
    def _open(self, data: Any, weights: Any, offset: Any, na_action: NaAction) -> ChunkPlan:
        """The plan and :attr:`source` of the used columns (Parquet footers surveyed first)."""
        self.files = parquet_files(data)
        if self.files is None:
            frame = as_dask_frame(data)
            plan = _plan(self.parsed, frame._meta, weights, offset, na_action)
            self.source = select_columns(frame, plan.read_columns)
            return plan
        meta = self.files.schema_frame()
        plan = _plan(self.parsed, meta, weights, offset, na_action)
        if missing := [c for c in plan.read_columns if c not in meta.columns]:
            raise UnknownColumnError(missing, meta.columns)
        self.source = self.files.frame(plan.read_columns, plan.dictionary)
        return plan

    def _prepare(self, plan: ChunkPlan) -> ChunkEncoder:
        """A few complete rows, and the levels of the categorical predictors if there are any.

        Only the categorical columns are read here (nothing at all without categorical
        predictors, but the first partition): grouping factors are learned in the main pass.
        """
        import dask

        if self.files is not None:
            first = self.files.head(plan.read_columns, plan.dictionary, HEAD_ROWS)
        else:
            first = self.source.partitions[0].to_delayed()[0]
        wanted = [dask.delayed(complete_rows)(first, plan)]
        if plan.categorical:
            parts = self.source[plan.categorical].to_delayed()
            found = [dask.delayed(observed_levels)(p, plan) for p in parts]
            wanted.append(tree_reduce(found, merge_levels))
        results = compute(wanted, self.progress, "reading levels", self.timeout)
        sample, levels = results[0], results[1] if plan.categorical else {}
        if len(sample) == 0:  # the first partition has no complete row: look further
            sample = self.source[plan.columns].dropna().head(SAMPLE_ROWS, npartitions=-1)
        return ChunkEncoder.learn(plan, levels, sample)

    def _pass(self, encoder: ChunkEncoder) -> PartialBlocks:
        """The summed blocks; once more if a categorical level occurs only in incomplete rows."""
        import dask

        for _ in range(2):
            chunk = dask.delayed(encoder, pure=True, traverse=False)
            parts = [dask.delayed(chunk_blocks)(p, chunk) for p in self.source.to_delayed()]
            combine = partial(merge_blocks, encoder=encoder)
            summed = [tree_reduce(parts, combine)]
            (blocks,) = compute(summed, self.progress, "cross-products", self.timeout)
            self._verify("during the pass over the data")
            pruned = _pruned(encoder, blocks)
            if pruned is None:
                self.encoder = encoder
                return blocks
            encoder = pruned
        raise DataError("the levels of the categorical predictors changed between passes")

    def _build(self, blocks: PartialBlocks) -> None:
        """The model state from the summed blocks (what the in-memory constructor builds)."""
        keep = estimable_columns(blocks.Rx)
        self.encoder, A, Rz = finish_blocks(blocks, self.encoder, keep)
        encoder = self.encoder
        dropped = [n for i, n in enumerate(encoder.names) if i not in set(keep)]
        warn_dropped(dropped, stacklevel=4)
        names = [encoder.names[i] for i in keep]
        empty = np.empty(0)
        self.fixed = FixedEffects(empty, np.empty((0, len(keep))), names, dropped, encoder.spec)
        self.frame = ModelFrame(
            encoder.prototype, empty, empty, blocks.n_dropped, np.empty(0, dtype=np.intp)
        )
        self.terms = encoder.terms
        self.y = empty
        self._nobs = blocks.nobs
        self._gram = blocks.Rx[:, keep].T @ blocks.Rx[:, keep]
        self._keep = keep
        self._response_stats = (blocks.nobs, blocks.y_sum, blocks.y_sq)
        check_terms(self.terms, blocks.nobs)
        check_response_varies(blocks.nobs, blocks.y_max - blocks.y_min, self.parsed.response)
        self.degenerate_terms = collinear_terms(self.terms, Rz)
        self._sqrtw = None
        self.weighted = blocks.weighted
        self.log_weights = blocks.log_weights
        intercept = encoder.intercept
        position = keep.index(intercept) if intercept in keep else None
        self._shift = (blocks.shift if position is not None else 0.0, position)
        self._setup(A)

    def _verify(self, when: str) -> None:
        """Refuse Parquet files that changed since they were surveyed (for other data: no-op)."""
        if self.files is not None:
            self.files.verify(when)

    # ---- sizes and summaries that in memory come from the rows -----------------------
    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return int(self._nobs)

    def _checks_convergence(self) -> bool:
        """Always: an evaluation costs nothing next to a pass over the data."""
        return True

    def fixed_gram(self) -> FloatArray:
        """``XᵀX`` of the kept fixed-effects columns (from the ``R`` factor of all chunks)."""
        return self._gram

    def response_stats(self) -> tuple[int, float, float]:
        """Number, sum and sum of squares of the responses (to compare models' data)."""
        return self._response_stats

    def scaled_residual_quantiles(self, probs: tuple[float, ...]) -> FloatArray:
        """Exact quantiles of the scaled Pearson residuals (passes over the data, cached)."""
        from mixedmodels.chunked.quantiles import exact_quantiles

        key = tuple(float(p) for p in probs)
        if key not in self._quantiles:
            residuals = self.residuals("pearson", scaled=True)
            self._quantiles[key] = exact_quantiles(residuals.to_dask_array(), key)
        return self._quantiles[key]

    # ---- lazy per-row results ---------------------------------------------------------
    def predict(
        self,
        new_data: Any = None,
        *,
        re_form: str | None = None,
        allow_new_levels: bool = False,
        offset: Any = None,
        type: str = "response",
    ) -> Any:
        """As :meth:`LinearMixedModel.predict`; for the fitted data a lazy Dask series.

        The series has one value per complete row, indexed as the data's partitions.
        """
        if new_data is not None:
            return super().predict(
                new_data,
                re_form=re_form,
                allow_new_levels=allow_new_levels,
                offset=offset,
                type=type,
            )
        if re_form not in (None, "~0", "0", "NA"):
            raise refuse_without_rows(f"predict(re_form={re_form!r}) on the fitted chunks")
        self._require_fit()
        self._verify("since the fit")
        effects = [] if re_form not in (None, "NA") else self.random_effects()
        function = partial(_partition_values, self.encoder, self._keep, self.beta, effects)
        return self.source.map_partitions(function, "fitted", meta=("fitted", "f8"))

    def residuals(self, type: str = "response", scaled: bool = False) -> Any:
        """As :meth:`LinearMixedModel.residuals`, a lazy Dask series (one pass when computed)."""
        if type not in ("response", "working", "pearson", "deviance"):
            raise ModelSpecificationError(
                f"type must be 'response', 'working', 'pearson' or 'deviance', not {type!r}"
            )
        self._require_fit()
        self._verify("since the fit")
        what = "pearson" if type in ("pearson", "deviance") else "response"
        scale = self.sigma if scaled else 1.0
        effects = self.random_effects()
        function = partial(_partition_values, self.encoder, self._keep, self.beta, effects)
        values = self.source.map_partitions(function, what, meta=("residuals", "f8"))
        return values / scale if scaled else values

    # ---- what needs the rows in memory ------------------------------------------------
    def _spawn(self) -> ChunkedLinearMixedModel:
        """As :meth:`LinearMixedModel._spawn`, with a cache of residual quantiles of its own."""
        new: ChunkedLinearMixedModel = super()._spawn()  # type: ignore[assignment]
        new._quantiles = {}
        return new

    def __repr__(self) -> str:
        state = "fitted" if self.optsum is not None else "not fitted"
        method = "REML" if self.reml else "ML"
        return f"<ChunkedLinearMixedModel {self.formula!r} by {method}, {state}>"


def _plan(
    parsed: Any, meta: pd.DataFrame, weights: Any, offset: Any, na_action: NaAction
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
