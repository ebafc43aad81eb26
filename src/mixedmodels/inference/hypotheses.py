"""The hypothesis matrix of each fixed-effect term: types I, II and III, as lmerTest's.

Type I is sequential (rows of the Doolittle factor of ``XᵀX``); type II adjusts each term for
the terms that do not contain it (lmerTest's ``containment``); type III uses lmerTest's
contrasts, defined in treatment coding, orthogonalized against the terms that contain a term,
then mapped to the coding used. :mod:`mixedmodels.inference.ftest` tests them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, MixedModelsError, ModelSpecificationError
from mixedmodels.fitted import FittedMixedModel, FittedModelBase

__all__ = [
    "FixedTerm",
    "anova_type",
    "containment",
    "formula_terms",
    "hypothesis_matrix",
    "term_contrasts",
]

Array = FloatArray


def anova_type(type: int | str) -> int:
    """1, 2 or 3 from ``1``, ``"1"``, ``"I"``, ``2``, ``"II"``, ``3``, ``"III"`` ..."""
    key = str(type).strip().upper()
    found = {"1": 1, "I": 1, "2": 2, "II": 2, "3": 3, "III": 3}.get(key)
    if found is None:
        raise ModelSpecificationError(
            f"unknown anova type {type!r}; use 1 ('I'), 2 ('II') or 3 ('III')"
        )
    return found


@dataclass(frozen=True)
class FixedTerm:
    """A fixed-effect term of the formula and its columns."""

    label: str
    factors: tuple[str, ...]
    numeric: frozenset[str]
    scoped: tuple[tuple[tuple[str, bool], ...], ...]  # per scoped term: (factor, reduced)
    columns: tuple[int, ...]  # positions in model.fixed.X


def term_contrasts(model: FittedMixedModel, type: int | str = 3) -> dict[str, Array]:
    """The hypothesis matrix of each fixed-effect term (lmerTest's ``attr(, "hypotheses")``).

    Parameters
    ----------
    model
        A fitted (or built) :class:`~mixedmodels.LinearMixedModel`.
    type
        1 (sequential), 2 (adjusted for the terms that do not contain the term) or 3
        (marginal).
    """
    intercept, terms = formula_terms(model)
    kind = anova_type(type)
    if kind == 1 or model.n_fixed <= 1 or len(terms) <= 1:
        return _type1(model, intercept, terms)
    if kind == 2:
        return type2_hypotheses(model.fixed_gram(), terms)
    return _type3(model, intercept, terms)


def formula_terms(model: FittedModelBase) -> tuple[bool, list[FixedTerm]]:
    """Whether the formula has an intercept, and its other terms, from formulaic's spec."""
    from mixedmodels.spec.fixed import column_label

    full = model.fixed.model_spec()
    spec = getattr(full, "rhs", full)
    if spec is None:
        raise ModelSpecificationError("the model has no formulaic model spec for its terms")
    kinds = spec.encoder_state
    position = {name: i for i, name in enumerate(model.fixed.names)}
    intercept, terms = False, []
    for structure in spec.structure:
        label = str(structure.term)
        if label == "1":
            intercept = True
            continue
        factors = tuple(str(f) for f in structure.term.factors)
        numeric = frozenset(f for f in factors if _kind(kinds, f) != "categorical")
        scoped = tuple(
            tuple((str(sf.factor), bool(sf.reduced)) for sf in st.factors)
            for st in structure.scoped_terms
        )
        labels = [column_label(str(c)) for c in structure.columns]
        columns = tuple(position[c] for c in labels if c in position)
        terms.append(FixedTerm(label, factors, numeric, scoped, columns))
    return intercept, terms


def _kind(kinds: dict[str, Any], factor: str) -> str:
    """``"categorical"`` or ``"numerical"`` for a factor, from formulaic's encoder state."""
    state = kinds.get(factor)
    kind = state[0] if state else "numerical"
    return str(getattr(kind, "value", kind))


def _type1(model: FittedMixedModel, intercept: bool, terms: list[FixedTerm]) -> dict[str, Array]:
    """Sequential hypotheses: rows of the unit upper factor of ``XᵀX`` (lmerTest's type I)."""
    gram = model.fixed_gram()
    p = gram.shape[0]
    if p == 0 or (p == 1 and intercept):
        return {}
    U = np.ones((1, 1)) if p == 1 else doolittle_lower(gram).T
    return {t.label: U[list(t.columns)] for t in terms}


def doolittle_lower(x: Array, eps: float = 1e-6) -> Array:
    """The unit lower factor of an LU decomposition without pivoting (lmerTest's ``doolittle``)."""
    n = x.shape[0]
    L, U = np.eye(n), np.zeros((n, n))
    for i in range(n):
        U[i] = x[i] - L[i, :i] @ U[:i]
        if i + 1 < n:
            column = x[i + 1 :, i] - L[i + 1 :, :i] @ U[:i, i]
            L[i + 1 :, i] = 0.0 if abs(U[i, i]) < eps else column / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L


def _type3(model: FittedMixedModel, intercept: bool, terms: list[FixedTerm]) -> dict[str, Array]:
    """The type III contrasts of lmerTest's ``get_contrasts_type3``, in the model's coding."""
    from mixedmodels.spec.fixed import estimable_columns

    frame = model.frame.data
    full = {f: _full_encoding(f, frame, model.formula) for t in terms for f in t.factors}
    rdX, keys, owner = _dummy_matrix(model.nobs, intercept, terms, full)
    treatment = [keys.index(k) for k in _treatment_keys(intercept, terms, full)]
    treatment = [treatment[i] for i in estimable_columns(rdX[:, treatment])]
    Xt = rdX[:, treatment]
    L = _zapsmall(np.linalg.lstsq(Xt, rdX, rcond=None)[0].T)  # rows: rdX; columns: Xt
    columns = {t.label: [j for j, i in enumerate(treatment) if owner[i] == t.label] for t in terms}
    for term in sorted(terms, key=lambda t: -len(t.factors)):
        within = [c for t in terms if _contains(t, term) for c in columns[t.label]]
        if within and columns[term.label]:
            y, x = L[:, columns[term.label]], L[:, within]
            fit = np.linalg.lstsq(x, y, rcond=1e-7)[0]
            L[:, columns[term.label]] = _zapsmall(y - x @ fit)
    L = L[treatment]
    coding = _zapsmall(np.linalg.lstsq(Xt, model.fixed.X, rcond=None)[0])
    out = {}
    for term in terms:
        Lt = L[:, columns[term.label]].T
        out[term.label] = Lt[np.sum(np.abs(Lt), axis=1) > 1e-8] @ coding
    return out


def _contains(big: FixedTerm, small: FixedTerm) -> bool:
    """True when ``big`` has more variables and the same numeric ones (``term_contain``)."""
    a, b = set(small.factors), set(big.factors)
    return a <= b and bool(b - a) and small.numeric == big.numeric


def _dummy_matrix(
    n: int, intercept: bool, terms: list[FixedTerm], full: dict[str, Array]
) -> tuple[Array, list[tuple[Any, ...]], list[str]]:
    """Every term with full indicator coding of its factors (lmerTest's ``get_rdX``).

    Returns the matrix, a key ``(term, level index per factor)`` for each column and the term
    owning each column.
    """
    blocks: list[Array] = []
    keys: list[tuple[Any, ...]] = []
    owner: list[str] = []
    if intercept:
        blocks.append(np.ones((n, 1)))
        keys.append(("(Intercept)",))
        owner.append("(Intercept)")
    for term in terms:
        for combo in itertools.product(*(range(full[f].shape[1]) for f in term.factors)):
            column = np.ones(n)
            for f, c in zip(term.factors, combo, strict=True):
                column = column * full[f][:, c]
            blocks.append(column[:, None])
            keys.append((term.label, *combo))
            owner.append(term.label)
    return np.hstack(blocks), keys, owner


def _treatment_keys(
    intercept: bool, terms: list[FixedTerm], full: dict[str, Array]
) -> list[tuple[Any, ...]]:
    """Keys of the treatment-coded columns: reduced factors drop their first level."""
    keys: list[tuple[Any, ...]] = [("(Intercept)",)] if intercept else []
    for term in terms:
        for scoped in term.scoped:
            reduced = dict(scoped)
            if set(reduced) != set(term.factors):
                raise ModelSpecificationError(
                    f"type III contrasts need the marginal terms of {term.label!r} in the "
                    "formula (formulaic encodes it with fewer factors); use type=1"
                )
            ranges = [
                range(1 if reduced[f] and f not in term.numeric else 0, full[f].shape[1])
                for f in term.factors
            ]
            keys += [(term.label, *combo) for combo in itertools.product(*ranges)]
    return keys


def _full_encoding(factor: str, frame: pd.DataFrame, formula: str) -> Array:
    """A factor's columns: every level's indicator (categorical) or its values (numeric)."""
    from mixedmodels.spec.fixed import build_matrices, to_float

    return to_float(build_matrices(f"0 + {factor}", frame, formula), f"the factor {factor!r}")


def _zapsmall(x: Array, digits: int = 7) -> Array:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest entry."""
    largest = float(np.max(np.abs(x))) if x.size else 0.0
    if not largest > 0:
        return x
    return np.asarray(np.round(x, max(0, digits - int(np.ceil(np.log10(largest))))))


def type2_hypotheses(gram: Array, terms: list[FixedTerm]) -> dict[str, Array]:
    """The type II hypothesis matrix of each term.

    Parameters
    ----------
    gram
        ``XᵀX`` of the model's (kept) fixed-effects columns.
    terms
        The formula's terms other than the intercept, with their columns in ``X``.
    """
    p = gram.shape[0]
    contained = containment(terms)
    out: dict[str, Array] = {}
    for term in terms:
        own = list(term.columns)
        if not contained[term.label]:
            out[term.label] = np.eye(p)[own]
            continue
        tested = own + [c for t in contained[term.label] for c in t.columns]
        moved = set(tested)
        order = [j for j in range(p) if j not in moved] + tested
        upper = doolittle_lower(gram[np.ix_(order, order)]).T
        start = p - len(tested)  # the term's rows in the reordered factor
        L = np.zeros((len(own), p))
        L[:, order] = upper[start : start + len(own)]
        out[term.label] = L
    return out


def containment(terms: list[FixedTerm]) -> dict[str, list[FixedTerm]]:
    """For each term, the terms that contain it (lmerTest's ``containment``)."""
    present = {frozenset(t.factors) for t in terms}
    coded = {t.label: _coded_variables(t.factors, present) for t in terms}
    numeric = {t.label: coded[t.label] & t.numeric for t in terms}

    def contains(big: FixedTerm, small: FixedTerm) -> bool:
        a, b = coded[small.label], coded[big.label]
        return a <= b and bool(b - a) and numeric[small.label] == numeric[big.label]

    return {t.label: [u for u in terms if contains(u, t)] for t in terms}


def _coded_variables(factors: tuple[str, ...], present: set[frozenset[str]]) -> frozenset[str]:
    """The variables R's ``attr(terms, "factors")`` codes 1 in a term.

    A variable is coded 1 when the term without it is empty or another term of the model,
    and 2 otherwise (then R encodes it by indicators of all its levels).
    """
    whole = frozenset(factors)
    return frozenset(f for f in factors if len(whole) == 1 or (whole - {f}) in present)


def hypothesis_matrix(names: Sequence[str], L: Any, shape_error: type[MixedModelsError]) -> Array:
    """``L`` as a finite ``k × p`` matrix, one column per coefficient in ``names``.

    A vector is one row; a DataFrame or Series is aligned on the coefficient names (a
    :class:`DataError` when its columns are not those names). ``shape_error`` is raised for a
    matrix of the wrong width or with non-finite entries.
    """
    names = list(names)
    if isinstance(L, pd.DataFrame | pd.Series):
        frame = L.to_frame().T if isinstance(L, pd.Series) else L
        missing = [c for c in names if c not in frame.columns]
        if missing or len(frame.columns) != len(names):
            raise DataError(f"the contrast columns must be the coefficients {names}")
        L = frame[names].to_numpy(dtype=np.float64)
    Lm = np.atleast_2d(np.asarray(L, dtype=np.float64))
    if Lm.ndim != 2 or Lm.shape[1] != len(names) or not np.all(np.isfinite(Lm)):
        raise shape_error(
            f"the contrast matrix must be finite with {len(names)} columns (one per "
            f"coefficient: {', '.join(names)}); it has shape {Lm.shape}"
        )
    return Lm
