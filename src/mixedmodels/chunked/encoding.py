"""The encoding of chunked data: the same fixed-effects columns for every chunk, and levels.

Every chunk must get the same dummy columns and contrasts, so the levels of each categorical
predictor are learned first (a pass over those columns only, skipped when there are none), and
formulaic's model spec is learned on a few complete rows whose categorical columns carry every
level. Grouping factors need no such pass: each chunk numbers the levels it sees
(:meth:`ChunkEncoder.local_terms`), partial results are merged by the union of their levels
(:func:`union_levels`), and the levels are put in R's order at the end
(:meth:`ChunkEncoder.with_levels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, NotSupportedError
from mixedmodels.formula import ParsedFormula
from mixedmodels.spec import RandomEffectsTerm, random_effects_terms
from mixedmodels.spec.fixed import build_matrices_and_spec, column_label, to_float
from mixedmodels.spec.frame import (
    NaAction,
    check_weights,
    formula_offsets,
    identifiers,
    missing_rows,
)
from mixedmodels.spec.grouping import factor_codes, grouping_factor

__all__ = [
    "ChunkEncoder",
    "ChunkPlan",
    "Factor",
    "Levels",
    "PreparedChunk",
    "complete_rows",
    "local_levels",
    "merge_levels",
    "observed_levels",
    "sorted_levels",
    "union_levels",
]

SAMPLE_ROWS = 200  # complete rows of the first partition, to learn formulaic's spec on
NO_ROWS = np.empty(0, dtype=np.intp)


@dataclass(frozen=True)
class ChunkPlan:
    """What to read and how to treat missing values: everything known before reading.

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
    dictionary
        Text columns used only as grouping factors, which Parquet sources read as pandas
        categoricals (their values are the categories' labels, not the category order).
    numeric
        Columns of the design, weights and offset that the data's schema says are numeric:
        every chunk must have them numeric (a partition of numbers as text is refused).
    """

    parsed: ParsedFormula
    columns: list[str]
    weights: str | None
    offset: str | None
    na_action: NaAction
    factor_sets: list[tuple[str, ...]]
    categorical: list[str]
    declared: dict[str, list[Any]]
    dictionary: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()

    def check_types(self, chunk: pd.DataFrame) -> None:
        """Refuse a chunk whose columns are not of the schema's kind (numbers or not)."""
        for column in self.numeric:
            if chunk[column].dtype.kind not in "biuf":
                raise DataError(
                    f"the column {column!r} is numeric in the data's schema but of type "
                    f"{chunk[column].dtype} in a partition (numbers stored as text?)"
                )
        for column in self.categorical:
            if chunk[column].dtype.kind in "iuf":
                raise DataError(
                    f"the column {column!r} is not numeric in the data's schema but of type "
                    f"{chunk[column].dtype} in a partition"
                )

    @property
    def read_columns(self) -> list[str]:
        """Every column read in the second pass."""
        extra = [c for c in (self.weights, self.offset) if c is not None]
        return list(dict.fromkeys(self.columns + extra))


def observed_levels(chunk: pd.DataFrame, plan: ChunkPlan) -> dict[str, pd.DataFrame]:
    """Distinct values of each categorical predictor in one chunk (one frame per column)."""
    return {c: chunk[[c]].dropna().drop_duplicates() for c in plan.categorical}


def merge_levels(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> dict[str, Any]:
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
        Level labels, as :func:`~mixedmodels.spec.grouping.grouping_factor` makes them.
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
            if not isinstance(index.dtype, pd.CategoricalDtype):
                distinct = _plain(distinct)
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
                "fit did not see (did the data change since the model was fitted?)"
            )
        return codes.astype(np.intp, copy=False)


def _dictionary_codes(column: pd.Series) -> tuple[NDArray[np.intp], Any]:
    """Codes and distinct values of a column read dictionary-encoded (a categorical of text).

    The dictionary is already there: its codes are the rows' levels, once categories that no
    complete row uses are dropped. The values are the labels, not a categorical.
    """
    if not isinstance(column.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(column)
        return codes, _plain(uniques)
    codes = np.asarray(column.cat.codes, dtype=np.intp)
    categories = column.cat.categories
    used = np.bincount(codes, minlength=len(categories)) > 0
    if used.all():
        return codes, categories
    position = np.cumsum(used) - 1
    return position[codes], categories[used]


def _plain(values: Any) -> Any:
    """Categorical values as an index of their labels (anything else unchanged)."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        return pd.Index(np.asarray(values, dtype=object))
    return values


Levels = pd.DataFrame  # distinct rows of a grouping factor's columns: its levels, in some order


def union_levels(a: Levels, b: Levels) -> tuple[Levels, NDArray[np.intp], NDArray[np.intp]]:
    """The union of two sets of levels, and where the levels of ``a`` and of ``b`` went.

    Levels are kept sorted (see :func:`local_levels`), so that chunks that saw the same levels,
    the common case for large chunks, merge without moving anything.
    """
    if len(a) == len(b) and a.equals(b):
        same = np.arange(len(a), dtype=np.intp)
        return a, same, same
    merged = sorted_levels(pd.concat([a, b], ignore_index=True).drop_duplicates())[1]
    if merged.shape[1] == 1:
        index: pd.Index = pd.Index(merged.iloc[:, 0])
        where = [index.get_indexer(pd.Index(x.iloc[:, 0])) for x in (a, b)]
    else:
        multi = pd.MultiIndex.from_frame(merged)
        where = [multi.get_indexer(pd.MultiIndex.from_frame(x)) for x in (a, b)]
    return merged, where[0].astype(np.intp), where[1].astype(np.intp)


def sorted_levels(levels: Levels) -> tuple[NDArray[np.intp], Levels]:
    """The levels in a canonical order, and the rank of each original row in that order.

    The order is the same for the same set of levels in any chunk: sorted values for a single
    column of numbers or text (text sorted by PyArrow, bytewise, without the GIL), else the
    order of the levels' hashes. R's order is put in once, at the end.
    """
    levels = levels.reset_index(drop=True)
    order = _canonical_order(levels)
    rank = np.empty(len(levels), dtype=np.intp)
    rank[order] = np.arange(len(levels))
    return rank, levels.iloc[order].reset_index(drop=True)


def _canonical_order(levels: Levels) -> NDArray[np.intp]:
    """A permutation putting ``levels`` in an order that depends only on the set of levels."""
    if levels.shape[1] == 1:
        column = levels.iloc[:, 0]
        if column.dtype.kind in "biuf":
            return np.argsort(column.to_numpy(), kind="stable")
        if pd.api.types.is_string_dtype(column.dtype):
            try:
                import pyarrow as pa
                import pyarrow.compute as pc

                return np.asarray(pc.sort_indices(pa.array(column)), dtype=np.intp)
            except (ImportError, TypeError, ValueError):  # not text after all: hashes below
                pass
    hashes = pd.util.hash_pandas_object(levels, index=False).to_numpy()
    return np.argsort(hashes, kind="stable")


def local_levels(
    frame: pd.DataFrame, columns: tuple[str, ...], plain: tuple[str, ...] = ()
) -> tuple[NDArray[np.intp], Levels]:
    """Each row's level among the distinct combinations of ``columns`` seen in ``frame``.

    Levels are in a canonical order (see :func:`sorted_levels`), in which two chunks with
    the same levels agree. Columns in ``plain`` were read as categoricals for speed only:
    their levels are given as plain values, so that they are ordered as the text they are.
    """
    parts = [_dictionary_codes(frame[c]) if c in plain else pd.factorize(frame[c]) for c in columns]
    if len(parts) == 1:
        codes, uniques = parts[0]
        rank, levels = sorted_levels(pd.DataFrame({columns[0]: uniques}))
        return rank[codes], levels
    key = np.asarray(parts[0][0], dtype=np.int64)
    for codes, uniques in parts[1:]:
        key = key * len(uniques) + codes
    local, distinct = pd.factorize(key)
    values = {}
    for column, (_, uniques) in zip(reversed(columns), reversed(parts), strict=True):
        distinct, position = np.divmod(distinct, len(uniques))
        values[column] = uniques.take(position)
    rank, levels = sorted_levels(pd.DataFrame({c: values[c] for c in columns}))
    return rank[local], levels


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
    """How a chunk is turned into model rows; the levels of the grouping factors once known.

    Attributes
    ----------
    plan
        What is read.
    categories
        Levels of each categorical predictor.
    spec
        formulaic's model spec of ``response ~ fixed``.
    names
        Fixed-effects column names (before any is dropped for rank deficiency).
    templates
        Random-effects terms in formula order, without rows or levels.
    prototype
        A few complete rows, encoded (for new-data checks and formula evaluation).
    factors
        The grouping factors with all their levels, once the pass is done (else empty).
    order
        Template of each model term (most levels first), once the levels are known.
    """

    plan: ChunkPlan
    categories: dict[str, list[Any]]
    spec: Any
    names: list[str]
    templates: list[RandomEffectsTerm]
    prototype: pd.DataFrame
    factors: dict[tuple[str, ...], Factor] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)

    @classmethod
    def learn(
        cls, plan: ChunkPlan, levels: dict[str, pd.DataFrame], sample: pd.DataFrame
    ) -> ChunkEncoder:
        """The encoder from the categorical levels and a few complete rows."""
        if len(sample) == 0:
            raise DataError("no complete rows: every row has a missing value in a used column")
        categories = {c: _categories(levels[c][c], plan.declared.get(c)) for c in plan.categorical}
        return cls.build(plan, categories, sample)

    @classmethod
    def build(
        cls, plan: ChunkPlan, categories: dict[str, list[Any]], sample: pd.DataFrame
    ) -> ChunkEncoder:
        """Learn the fixed-effects spec and the term templates on the prototype rows."""
        prototype = _with_categories(sample.reset_index(drop=True), categories)
        formula = plan.parsed.formula
        text = f"{plan.parsed.response} ~ {plan.parsed.fixed}"
        matrices, spec = build_matrices_and_spec(text, prototype, formula, plan.parsed.functions)
        _check_stateless(spec, categories)
        if to_float(matrices.lhs, "the response").shape[1] != 1:
            raise DataError(f"the response {plan.parsed.response!r} must be one numeric column")
        names = [column_label(str(c)) for c in matrices.rhs.columns]
        templates = _templates(plan.parsed, prototype)
        return cls(plan, categories, spec, names, templates, prototype)

    def with_levels(self, levels: dict[tuple[str, ...], Levels]) -> ChunkEncoder:
        """The encoder with the grouping factors' levels (from all chunks) in R's order."""
        factors = {fs: Factor.learn(levels[fs], fs) for fs in levels}
        sizes = [len(factors[t.spec.factors].labels) for t in self.templates]
        order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))
        return replace(self, factors=factors, order=order)

    @property
    def terms(self) -> list[RandomEffectsTerm]:
        """The model's terms (most levels first) with their levels, without rows."""
        out = []
        for i in self.order:
            term = self.templates[i]
            out.append(replace(term, levels=self.factors[term.spec.factors].labels))
        return out

    def no_levels(self) -> dict[tuple[str, ...], Levels]:
        """No level of any grouping factor (a chunk without complete rows)."""
        return {fs: self.prototype[list(fs)].iloc[:0] for fs in self.plan.factor_sets}

    def local_terms(
        self, frame: pd.DataFrame
    ) -> tuple[list[RandomEffectsTerm], dict[tuple[str, ...], Levels]]:
        """The terms (formula order) on prepared rows, numbered by the chunk's own levels."""
        plain = self.plan.dictionary
        found = {fs: local_levels(frame, fs, plain) for fs in self.plan.factor_sets}
        out = []
        for term in self.templates:
            codes, levels = found[term.spec.factors]
            out.append(replace(term, refs=codes, z=self._z(term, frame), levels=[""] * len(levels)))
        return out, {fs: levels for fs, (_, levels) in found.items()}

    def term_rows(self, frame: pd.DataFrame) -> list[RandomEffectsTerm]:
        """The model's terms on prepared rows, with the codes of the learned levels."""
        return [
            replace(term, refs=self.factors[term.spec.factors].codes(frame), z=self._z(term, frame))
            for term in self.terms
        ]

    @staticmethod
    def _z(term: RandomEffectsTerm, frame: pd.DataFrame) -> FloatArray:
        """A term's per-row model matrix, refusing non-finite values."""
        if term.intercept_only:  # a read-only column of ones, no memory
            return np.broadcast_to(np.ones((1, 1)), (len(frame), 1))
        z = np.ascontiguousarray(term.model_matrix(frame), dtype=np.float64)
        if not np.all(np.isfinite(z)):
            raise DataError(f"the random-effects term {term.spec} has non-finite values")
        return z

    def prepare(self, chunk: pd.DataFrame) -> PreparedChunk:
        """The complete rows of a chunk, their weights and offsets (lmer's model frame)."""
        plan = self.plan
        plan.check_types(chunk)
        n = len(chunk)
        w = _column(chunk, plan.weights, n, 1.0)
        off = _column(chunk, plan.offset, n, 0.0)
        used = chunk[plan.columns]
        complete = ~missing_rows(used)
        for name, values in ((plan.weights, w), (plan.offset, off)):
            if name is not None:
                complete &= np.isfinite(values)
        n_dropped = int(n - complete.sum())
        if n_dropped and plan.na_action == "fail":
            bad = [str(c) for c in plan.columns if used[c].isna().any()]
            raise DataError(f"{n_dropped} rows have missing values (columns: {', '.join(bad)})")
        if n_dropped:
            used, w, off = used[complete], w[complete], off[complete]
        frame = _with_categories(used.reset_index(drop=True), self.categories)
        check_weights(w)
        offset = off + formula_offsets(plan.parsed, frame) if plan.parsed.offsets else off
        return PreparedChunk(frame, w, offset, n_dropped, used.index)

    def design(
        self, frame: pd.DataFrame, *, response_last: bool = False, check: bool = True
    ) -> tuple[FloatArray, FloatArray]:
        """Response and fixed-effects model matrix (every column) of prepared rows.

        With ``response_last`` the matrix returned is ``[X y]`` and the response a view of its
        last column (one array, no copy). With ``check=False`` the caller checks that the
        values are finite (:meth:`check_finite`), e.g. from the cross-products' diagonal.
        """
        parsed = self.plan.parsed
        column = frame[parsed.response] if parsed.response in frame.columns else None
        if column is not None and column.dtype.kind in "biuf":
            X = self._plain_matrix(frame, extra=1)
            if X is None:
                rhs = to_float(self.spec.rhs.get_model_matrix(frame, na_action="ignore"), "X")
                X = np.column_stack([rhs, np.empty(len(frame))])
            X[:, -1] = column.to_numpy(dtype=np.float64)
        else:
            matrices = self.spec.get_model_matrix(frame, na_action="ignore")
            response = to_float(matrices.lhs, f"the response {parsed.response!r}")[:, 0]
            X = np.column_stack(
                [to_float(matrices.rhs, "the fixed-effects model matrix"), response]
            )
        y = X[:, -1]
        if check:
            self.check_finite(X)
        return (y, X) if response_last else (y.copy(), np.ascontiguousarray(X[:, :-1]))

    def check_finite(self, xy: FloatArray) -> None:
        """Refuse non-finite values in ``[X y]``, naming the response or the columns."""
        if not np.all(np.isfinite(xy[:, -1])):
            response = self.plan.parsed.response
            raise DataError(f"the response {response!r} has non-finite values (inf or NaN)")
        bad = [n for j, n in enumerate(self.names) if not np.all(np.isfinite(xy[:, j]))]
        if bad:
            raise DataError(
                f"the model matrix has non-finite values in column(s): {', '.join(bad)}"
            )

    def _plain_matrix(self, frame: pd.DataFrame, extra: int = 0) -> FloatArray | None:
        """``X`` stacked directly when its columns are an intercept and numeric columns.

        ``extra`` more columns are left for the caller to fill.
        """
        names = self.names
        columns = names[1:] if names[:1] == ["(Intercept)"] else names
        if not all(c in frame.columns and frame[c].dtype.kind in "biuf" for c in columns):
            return None
        X = np.empty((len(frame), len(names) + extra), order="F")  # columns contiguous
        if len(columns) < len(names):
            X[:, 0] = 1.0
        for j, c in enumerate(columns, start=len(names) - len(columns)):
            X[:, j] = frame[c].to_numpy(dtype=np.float64)
        return X

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


def _templates(parsed: ParsedFormula, prototype: pd.DataFrame) -> list[RandomEffectsTerm]:
    """Random-effects terms in formula order, without rows (levels come from the pass)."""
    position = {id(spec): i for i, spec in enumerate(parsed.random)}
    found = random_effects_terms(parsed.random, prototype, parsed.formula, parsed.functions)
    terms = sorted(found, key=lambda t: position[id(t.spec)])
    return [replace(t, levels=[], refs=NO_ROWS, z=np.empty((0, t.k))) for t in terms]
