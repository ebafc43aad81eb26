"""The encoding of chunked data, learned in a first pass and applied identically to every chunk.

A model needs, before any cross-product is formed, what only all rows together tell: the levels
of each grouping factor (in R's order), the levels of each categorical predictor (so that every
chunk gets the same dummy columns and contrasts) and formulaic's model spec. The first pass
reads only the factor columns and returns their distinct values (and combinations, for
interactions such as ``a:b``); the spec is then learned on a small prototype frame whose
categorical columns carry every level. Encoding a chunk is then a pure function of the chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, NotSupportedError
from mixedmodels.formula import ParsedFormula
from mixedmodels.terms import RandomEffectsTerm, random_effects_terms
from mixedmodels.terms.fixed import build_matrices, column_label, to_float
from mixedmodels.terms.frame import NaAction, check_weights, formula_offsets, identifiers
from mixedmodels.terms.grouping import factor_codes, grouping_factor

__all__ = [
    "ChunkEncoder",
    "ChunkPlan",
    "Factor",
    "PreparedChunk",
    "complete_rows",
    "merge_levels",
    "observed_levels",
]

SAMPLE_ROWS = 200  # complete rows kept from the first pass to learn formulaic's spec
NO_ROWS = np.empty(0, dtype=np.intp)


@dataclass(frozen=True)
class ChunkPlan:
    """What to read and how to treat missing values: everything known before the first pass.

    Attributes
    ----------
    parsed
        The parsed formula.
    columns
        The columns the formula uses.
    weights, offset
        Names of the prior-weights and offset columns, or ``None``.
    na_action
        ``"omit"`` or ``"fail"``.
    factor_sets
        The distinct grouping factors, each a tuple of columns (two or more: an interaction).
    categorical
        Used columns that are not numeric (categorical predictors).
    declared
        Categories of the categorical-dtype columns whose categories are known up front.
    """

    parsed: ParsedFormula
    columns: list[str]
    weights: str | None
    offset: str | None
    na_action: NaAction
    factor_sets: list[tuple[str, ...]]
    categorical: list[str]
    declared: dict[str, list[Any]]

    @property
    def level_columns(self) -> list[str]:
        """Columns whose distinct values the first pass collects."""
        out = [c for fs in self.factor_sets for c in fs] + self.categorical
        return list(dict.fromkeys(out))

    @property
    def read_columns(self) -> list[str]:
        """Every column read in the second pass."""
        extra = [c for c in (self.weights, self.offset) if c is not None]
        return list(dict.fromkeys(self.columns + extra))


def observed_levels(chunk: pd.DataFrame, plan: ChunkPlan) -> dict[Any, pd.DataFrame]:
    """First pass over one chunk: distinct values of the factor columns.

    Returns a dict with one frame of distinct rows per factor set (key: the tuple of columns)
    and one per categorical column (key: the column name).
    """
    rows = chunk[plan.level_columns].dropna()
    out: dict[Any, pd.DataFrame] = {}
    for factors in plan.factor_sets:
        out[factors] = rows[list(factors)].drop_duplicates()
    for column in plan.categorical:
        out[column] = rows[[column]].drop_duplicates()
    return out


def merge_levels(a: dict[Any, pd.DataFrame], b: dict[Any, pd.DataFrame]) -> dict[Any, Any]:
    """Combine two first-pass results (the reduce step)."""
    return {key: pd.concat([a[key], b[key]], ignore_index=True).drop_duplicates() for key in a}


def complete_rows(chunk: pd.DataFrame, plan: ChunkPlan) -> pd.DataFrame:
    """Up to :data:`SAMPLE_ROWS` complete rows of a chunk, to learn the model spec on."""
    return chunk[plan.columns].dropna().head(SAMPLE_ROWS)


@dataclass(frozen=True)
class Factor:
    """A grouping factor whose levels were learned over all chunks.

    Attributes
    ----------
    columns
        Its columns (two or more for an interaction).
    values
        For each column, its distinct values in level order.
    keys
        For an interaction, the observed combinations as sorted mixed-radix keys of the
        per-column codes (``None`` for one column).
    labels
        Level labels, as :func:`~mixedmodels.terms.grouping.grouping_factor` makes them.
    """

    columns: tuple[str, ...]
    values: list[pd.Index]
    keys: NDArray[np.int64] | None
    labels: list[str]

    @classmethod
    def learn(cls, distinct: pd.DataFrame, columns: tuple[str, ...]) -> Factor:
        """The factor from its distinct rows (combinations), in R's level order."""
        values = []
        for column in columns:
            codes, _ = factor_codes(distinct[column])
            first = np.unique(codes, return_index=True)[1]
            values.append(pd.Index(distinct[column].iloc[first].array))
        labels = grouping_factor(distinct, columns)[1]
        if len(columns) == 1:
            return cls(columns, values, None, labels)
        factor = cls(columns, values, None, labels)
        return replace(factor, keys=np.unique(_combine(factor._column_codes(distinct), values)))

    def _column_codes(self, frame: pd.DataFrame) -> list[NDArray[np.intp]]:
        """Each column's level index per row (-1 for an unseen value).

        The chunk's column is factorized first (one hash pass), so that only its distinct
        values are looked up among the levels.
        """
        out = []
        for index, column in zip(self.values, self.columns, strict=True):
            local, distinct = pd.factorize(frame[column], use_na_sentinel=True)
            lookup = np.append(index.get_indexer(pd.Index(distinct)), -1)
            out.append(lookup[local].astype(np.intp, copy=False))
        return out

    def codes(self, frame: pd.DataFrame) -> NDArray[np.intp]:
        """Level index of every row of a chunk."""
        parts = self._column_codes(frame)
        if self.keys is None:
            codes = parts[0]
        else:
            key = _combine(parts, self.values)
            codes = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
            unseen = (self.keys[codes] != key) | np.any(np.stack(parts) < 0, axis=0)
            codes[unseen] = -1
        if np.any(codes < 0):
            raise DataError(
                f"grouping factor {':'.join(self.columns)!r} has a level in this chunk that the "
                "first pass did not see (did the data change between passes?)"
            )
        return codes.astype(np.intp, copy=False)

    def without(self, unused: NDArray[np.bool_]) -> Factor:
        """The factor with the levels flagged ``unused`` removed."""
        keep = np.flatnonzero(~unused)
        labels = [self.labels[i] for i in keep]
        if self.keys is None:
            return Factor(self.columns, [self.values[0][keep]], None, labels)
        return Factor(self.columns, self.values, self.keys[keep], labels)


def _combine(parts: Sequence[NDArray[np.intp]], values: Sequence[pd.Index]) -> NDArray[np.int64]:
    """Mixed-radix key of per-column codes (first column most significant)."""
    key = np.asarray(parts[0], dtype=np.int64)
    for part, index in zip(parts[1:], values[1:], strict=True):
        key = key * len(index) + part
    return key


@dataclass(frozen=True)
class PreparedChunk:
    """One chunk's complete rows, ready to encode.

    Attributes
    ----------
    frame
        The used columns of the complete rows (categorical columns with every level).
    weights, offset
        Prior weights and total offset per row.
    n_dropped
        Rows dropped for missing values.
    index
        The chunk's index labels of the kept rows.
    """

    frame: pd.DataFrame
    weights: FloatArray
    offset: FloatArray
    n_dropped: int
    index: pd.Index


@dataclass(frozen=True)
class ChunkEncoder:
    """The encoding learned in the first pass, applied to every chunk.

    Attributes
    ----------
    plan
        What is read.
    factors
        Grouping factors by tuple of columns.
    categories
        Levels of each categorical column.
    spec
        formulaic's model spec of ``response ~ fixed``.
    names
        Fixed-effects column names (before any is dropped for rank deficiency).
    terms
        Random-effects terms with their levels but no rows, in storage order.
    prototype
        A few complete rows, encoded (for new-data checks and formula evaluation).
    """

    plan: ChunkPlan
    factors: dict[tuple[str, ...], Factor]
    categories: dict[str, list[Any]]
    spec: Any
    names: list[str]
    terms: list[RandomEffectsTerm]
    prototype: pd.DataFrame

    @classmethod
    def learn(cls, plan: ChunkPlan, levels: dict[Any, pd.DataFrame]) -> ChunkEncoder:
        """The encoder from the reduced first pass."""
        sample = levels["sample"]
        if len(sample) == 0:
            raise DataError("no complete rows: every row has a missing value in a used column")
        factors = {fs: Factor.learn(levels[fs], fs) for fs in plan.factor_sets}
        categories = {c: _categories(levels[c][c], plan.declared.get(c)) for c in plan.categorical}
        return cls.build(plan, factors, categories, sample)

    @classmethod
    def build(
        cls,
        plan: ChunkPlan,
        factors: dict[tuple[str, ...], Factor],
        categories: dict[str, list[Any]],
        sample: pd.DataFrame,
    ) -> ChunkEncoder:
        """Learn the fixed-effects spec and the term templates on the prototype rows."""
        prototype = _with_categories(sample.reset_index(drop=True), categories)
        formula = plan.parsed.formula
        text = f"{plan.parsed.response} ~ {plan.parsed.fixed}"
        matrices = build_matrices(text, prototype, formula)
        _check_stateless(matrices.model_spec, categories)
        if to_float(matrices.lhs, "the response").shape[1] != 1:
            raise DataError(f"the response {plan.parsed.response!r} must be one numeric column")
        names = [column_label(str(c)) for c in matrices.rhs.columns]
        terms = _templates(plan.parsed, prototype, factors)
        return cls(plan, factors, categories, matrices.model_spec, names, terms, prototype)

    def prepare(self, chunk: pd.DataFrame) -> PreparedChunk:
        """The complete rows of a chunk, their weights and offsets (lmer's model frame)."""
        plan = self.plan
        n = len(chunk)
        w = _column(chunk, plan.weights, n, 1.0)
        off = _column(chunk, plan.offset, n, 0.0)
        used = chunk[plan.columns]
        complete = ~used.isna().to_numpy().any(axis=1) & np.isfinite(w) & np.isfinite(off)
        n_dropped = int(n - complete.sum())
        if n_dropped and plan.na_action == "fail":
            bad = [str(c) for c in plan.columns if used[c].isna().any()]
            raise DataError(f"{n_dropped} rows have missing values (columns: {', '.join(bad)})")
        kept = used[complete]
        frame = _with_categories(kept.reset_index(drop=True), self.categories)
        check_weights(w[complete])
        offset = off[complete] + formula_offsets(plan.parsed, frame)
        return PreparedChunk(frame, w[complete], offset, n_dropped, kept.index)

    def design(self, frame: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
        """Response and fixed-effects model matrix (every column) of prepared rows."""
        parsed = self.plan.parsed
        column = frame[parsed.response] if parsed.response in frame.columns else None
        if column is not None and column.dtype.kind in "biuf":
            y = column.to_numpy(dtype=np.float64)
            X = to_float(self.spec.rhs.get_model_matrix(frame, na_action="ignore"), "X")
        else:
            matrices = self.spec.get_model_matrix(frame, na_action="ignore")
            y = to_float(matrices.lhs, f"the response {parsed.response!r}")[:, 0]
            X = to_float(matrices.rhs, "the fixed-effects model matrix")
        if not np.all(np.isfinite(y)):
            raise DataError(f"the response {parsed.response!r} has non-finite values (inf or NaN)")
        bad = [n for j, n in enumerate(self.names) if not np.all(np.isfinite(X[:, j]))]
        if bad:
            raise DataError(
                f"the model matrix has non-finite values in column(s): {', '.join(bad)}"
            )
        return y, X

    def term_rows(self, frame: pd.DataFrame) -> list[RandomEffectsTerm]:
        """The random-effects terms evaluated on prepared rows (codes and model matrices)."""
        out = []
        for term in self.terms:
            z = np.ascontiguousarray(term.model_matrix(frame), dtype=np.float64)
            if not np.all(np.isfinite(z)):
                raise DataError(f"the random-effects term {term.spec} has non-finite values")
            out.append(replace(term, refs=self.factors[term.spec.factors].codes(frame), z=z))
        return out

    @property
    def intercept(self) -> int | None:
        """Position of the intercept column among :attr:`names`, if any."""
        return self.names.index("(Intercept)") if "(Intercept)" in self.names else None


def _categories(values: pd.Series, declared: list[Any] | None) -> list[Any]:
    """Levels of a categorical predictor: declared categories, else sorted as pandas sorts."""
    if declared is not None:
        return list(declared)
    return list(pd.Categorical(values.dropna().astype(object)).categories)


def _with_categories(frame: pd.DataFrame, categories: dict[str, list[Any]]) -> pd.DataFrame:
    """The frame with each categorical column made a Categorical of all its levels."""
    if not categories:
        return frame
    frame = frame.copy()
    for column, levels in categories.items():
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype.kind == "O":
            values = values.astype(object)
        frame[column] = pd.Categorical(values, categories=levels)
    return frame


def _column(chunk: pd.DataFrame, name: str | None, n: int, default: float) -> FloatArray:
    """A weights or offset column as floats, or the default."""
    if name is None:
        return np.full(n, default)
    try:
        return chunk[name].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(f"the column {name!r} must be numeric") from None


def _check_stateless(spec: Any, categories: dict[str, list[Any]]) -> None:
    """Refuse transforms whose state depends on all rows, and categoricals of numbers."""
    state = getattr(spec.rhs, "transform_state", {}) or {}
    if state:
        raise NotSupportedError(
            f"the fixed-effects formula uses {', '.join(map(str, state))}, whose state (means, "
            "scales, knots) depends on all rows: on chunked data compute such columns first"
        )
    for factor, (kind, _) in (getattr(spec.rhs, "encoder_state", {}) or {}).items():
        kind = str(getattr(kind, "value", kind))
        names = identifiers(str(factor)) - {"C"}
        if kind == "categorical" and not names & set(categories):
            raise NotSupportedError(
                f"{factor} makes a numeric column categorical: on chunked data its levels are "
                "not known in advance; give the column a categorical (or string) dtype"
            )


def _templates(
    parsed: ParsedFormula, prototype: pd.DataFrame, factors: dict[tuple[str, ...], Factor]
) -> list[RandomEffectsTerm]:
    """Random-effects terms with all levels and no rows, ordered as in memory."""
    order = {id(spec): i for i, spec in enumerate(parsed.random)}
    terms = []
    for term in random_effects_terms(parsed.random, prototype, parsed.formula):
        levels = factors[term.spec.factors].labels
        empty = np.empty((0, term.k))
        terms.append(replace(term, levels=levels, refs=NO_ROWS, z=empty))
    return sorted(terms, key=lambda t: (-t.nlevels, order.get(id(t.spec), 0)))
