"""Random-effects terms: grouping codes, the per-row model matrix and the Λ template.

A term ``(1 + x | g)`` with ``k`` columns and ``l`` levels contributes ``q = k·l`` random
effects. Its relative covariance factor is ``Λ = I_l ⊗ T`` with ``T`` a lower-triangular
``k×k`` template. For lme4's terms the free entries of ``T`` are ``θ``, stored column by column
(lme4's order); a term wrapped in a structure (``ar1(0 + t | g)``) makes ``T`` from its θ as
:mod:`mixedmodels.spec.structures` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError
from mixedmodels.formula import RandomTermSpec
from mixedmodels.formula.formulaic_cache import NO_FUNCTIONS, Functions
from mixedmodels.spec.evaluate import MAX_TERM_COLUMNS
from mixedmodels.spec.fixed import build_matrices_and_spec, column_label, to_float
from mixedmodels.spec.grouping import grouping_factor
from mixedmodels.spec.structures import Structure, make_structure
from mixedmodels.spec.used_columns import Frame, as_data_frame

__all__ = [
    "RandomEffectsTerm",
    "correlations_at_limit",
    "random_effects_terms",
    "term_templates",
]


@dataclass(frozen=True)
class RandomEffectsTerm:
    """One random-effects term evaluated on the model frame.

    Attributes
    ----------
    spec
        The term as parsed.
    name
        Display name of the grouping factor (``"Subject"``; a repeated factor gets ``".1"``).
    levels
        Level labels of the grouping factor.
    refs
        Level index of each row.
    z
        Per-row model matrix, ``n × k``.
    column_names
        Names of the ``k`` columns of ``z``.
    lhs_spec
        formulaic's model spec of the left side, to encode new data; ``None`` when the left
        side is made of plain numeric columns.
    """

    spec: RandomTermSpec
    name: str
    levels: list[str]
    refs: NDArray[np.intp]
    z: FloatArray
    column_names: list[str]
    lhs_spec: Any = None  # formulaic's spec of the left side (None for plain columns)

    @property
    def group(self) -> str:
        """The grouping factor as written (``"cask:batch"``), shared by ``||`` siblings."""
        return self.spec.group

    @property
    def k(self) -> int:
        """Number of columns (random effects per level)."""
        return int(self.z.shape[1])

    @property
    def intercept_only(self) -> bool:
        """True for a random intercept alone, ``(1 | g)``: its ``z`` is a column of ones."""
        return self.column_names == ["(Intercept)"]

    @property
    def nlevels(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of random effects of the term, ``k · nlevels``."""
        return self.k * self.nlevels

    @cached_property
    def structure(self) -> Structure:
        """The covariance structure (lme4's unstructured unless the formula names one)."""
        spec = self.spec
        return make_structure(spec.structure, self.k, spec.homogeneous, str(spec))

    @property
    def structured(self) -> bool:
        """Whether the formula wraps the term in a structure other than ``us``."""
        return self.structure.name != "us"

    @property
    def ntheta(self) -> int:
        """Number of covariance parameters (``k(k+1)/2`` for lme4's terms)."""
        return self.structure.ntheta

    def theta_index(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Row and column of each θ entry in the template, column-major lower triangle.

        Only for structures whose θ are entries of ``T`` (``structure.linear``).
        """
        if not self.structure.linear:
            raise TypeError(f"the θ of {self.spec} are not entries of its template")
        return self.structure.entries

    def lower_bounds(self) -> FloatArray:
        """0 for SDs and diagonal entries of the template, -inf for the others."""
        return self.structure.lower_bounds()

    def initial_theta(self) -> FloatArray:
        """Unit SDs (1 on the diagonal) and zero correlations (lme4's start)."""
        return self.structure.initial()

    def model_matrix(self, frame: pd.DataFrame) -> FloatArray:
        """The per-row model matrix of this term for other data (e.g. for prediction)."""
        if self.lhs_spec is None:
            columns = [c for c in self.column_names if c != "(Intercept)"]
            parts = [frame[c].to_numpy(dtype=np.float64) for c in columns]
            if "(Intercept)" in self.column_names:
                parts.insert(0, np.ones(len(frame)))
            return np.column_stack(parts)
        matrix = self.lhs_spec.get_model_matrix(frame, na_action="ignore")
        return to_float(matrix, f"the random-effects term {self.spec}")

    def template(self, theta: FloatArray) -> FloatArray:
        """The lower-triangular ``k×k`` template ``T`` for this term's part of θ."""
        return self.structure.template(theta)


def term_templates(terms: Sequence[RandomEffectsTerm], theta: FloatArray) -> list[FloatArray]:
    """The ``k×k`` template ``T_j`` of each term at ``theta`` (lme4's order of θ)."""
    out, start = [], 0
    for term in terms:
        out.append(term.template(theta[start : start + term.ntheta]))
        start += term.ntheta
    return out


def correlations_at_limit(terms: Sequence[RandomEffectsTerm], theta: FloatArray) -> bool:
    """Whether a structured term's correlation sits at the edge of its range (singular)."""
    start, out = 0, False
    for term in terms:
        part = theta[start : start + term.ntheta]
        start += term.ntheta
        out = out or (term.structured and term.structure.correlation_at_limit(part))
    return out


def random_effects_terms(
    specs: Sequence[RandomTermSpec],
    frame: Frame,
    formula: str,
    functions: Functions = NO_FUNCTIONS,
) -> list[RandomEffectsTerm]:
    """Evaluate every term and order them by decreasing number of levels (lme4's order).

    Parameters
    ----------
    specs
        Expanded terms from the parser.
    frame
        The model frame, or its used columns.
    formula
        The whole formula, for error messages.
    functions
        The user's functions the left sides may call.
    """
    cache: dict[tuple[str, ...], tuple[NDArray[np.intp], list[str]]] = {}
    columns: dict[str, tuple[NDArray[np.intp], list[str]]] = {}  # each column coded once
    terms = []
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.factors not in cache:
            cache[spec.factors] = grouping_factor(frame, spec.factors, columns)
        refs, levels = cache[spec.factors]
        count = seen.get(spec.group, 0)
        seen[spec.group] = count + 1
        name = spec.group if count == 0 else f"{spec.group}.{count}"
        z, names, lhs_spec = _term_matrix(spec, frame, formula, functions)
        term = RandomEffectsTerm(spec, name, levels, refs, z, names, lhs_spec)
        _ = term.structure  # a structure that cannot apply to the columns is refused here
        terms.append(term)
    return sorted(terms, key=lambda t: -t.nlevels)


def _term_matrix(
    spec: RandomTermSpec, frame: Frame, formula: str, functions: Functions
) -> tuple[FloatArray, list[str], Any]:
    """The per-row model matrix of a term's left side (``[1, Days]``), names and spec."""
    simple = _simple_columns(spec.lhs, frame)
    if simple is not None:
        intercept, columns = simple
        parts = ([np.ones(len(frame))] if intercept else []) + [
            frame[c].to_numpy(dtype=np.float64) for c in columns
        ]
        names = (["(Intercept)"] if intercept else []) + columns
        z = np.column_stack(parts)
        if not np.all(np.isfinite(z)):
            raise DataError(f"the random-effects term {spec} has non-finite values")
        return z, names, None
    matrix, lhs_spec = build_matrices_and_spec(
        spec.lhs, as_data_frame(frame), formula, functions, MAX_TERM_COLUMNS
    )
    z = to_float(matrix, f"the random-effects term {spec}")
    if z.shape[1] == 0:
        raise DataError(f"the random-effects term {spec} has no columns")
    if not np.all(np.isfinite(z)):
        raise DataError(f"the random-effects term {spec} has non-finite values")
    names = [column_label(str(c)) for c in matrix.columns]
    return np.ascontiguousarray(z), names, lhs_spec


def _simple_columns(lhs: str, frame: Frame) -> tuple[bool, list[str]] | None:
    """``(intercept, columns)`` when ``lhs`` is only ``1``/``0`` and numeric column names.

    Such terms (``1``, ``Days``, ``0 + x``, ``1 + x + z``) are built directly, without a
    round trip through formulaic; anything else returns ``None``.
    """
    tokens = [t.strip() for t in lhs.split("+")]
    intercept = "0" not in tokens
    columns: list[str] = []
    for token in tokens:
        if token in ("0", "1"):
            continue
        if token not in frame.columns or frame[token].dtype.kind not in "biuf":
            return None
        if token not in columns:
            columns.append(token)
    if not intercept and not columns:
        return None
    return intercept, columns
