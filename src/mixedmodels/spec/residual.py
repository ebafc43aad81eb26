"""Residual correlation structures and variance functions (nlme's ``correlation=``, ``weights=``).

What the user writes is a frozen spec — :func:`cor_ar1`, :func:`cor_car1`, :func:`cor_cs`,
:func:`var_ident`, :func:`var_power`, :func:`var_exp` — naming columns only. Evaluated on the
rows a model uses (:func:`residual_structure`), it becomes a :class:`ResidualStructure`: the
residual groups (:class:`~mixedmodels.spec.residual_groups.GroupLayout`), the parameters on an
unconstrained scale (what the optimizer moves), their natural values (what nlme prints), the
correlation matrices per group and the standard-deviation multipliers per row.

Within residual group ``g``: ``Cov(ε_g) = σ² S_g R_g S_g`` with

- AR(1) (:func:`cor_ar1`): ``R_ij = φ^|t_i − t_j|`` for integer times (gaps allowed, as nlme's
  ARMA(1, 0) for times with gaps); ``φ = tanh(u)``;
- continuous AR(1) (:func:`cor_car1`): the same for real times, ``φ ∈ (0, 1)``, logistic in ``u``;
- compound symmetry (:func:`cor_cs`): ``R_ij = ρ`` off the diagonal, ``ρ ∈ (−1/(m−1), 1)`` with
  ``m`` the largest group;
- ``S = diag(s_i)`` with ``s_i`` the ratio of the row's stratum (:func:`var_ident`, log ratios,
  the first level in sorted order fixed at 1), ``|v_i|^δ`` (:func:`var_power`) or
  ``exp(δ v_i)`` (:func:`var_exp`); ``v`` a column or the fitted values (``"fitted"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, ModelSpecificationError, UnknownColumnError
from mixedmodels.spec.random import RandomEffectsTerm
from mixedmodels.spec.residual_groups import GroupLayout

__all__ = [
    "FITTED",
    "CorrelationSpec",
    "ResidualCorrelation",
    "ResidualStructure",
    "ResidualVariance",
    "VarianceSpec",
    "cor_ar1",
    "cor_car1",
    "cor_cs",
    "residual_structure",
    "var_exp",
    "var_ident",
    "var_power",
]

Array = FloatArray
Group = str | tuple[str, ...] | None
FITTED = "fitted"  # var_power / var_exp of the fitted values (nlme's ~fitted(.))
CorKind = Literal["ar1", "car1", "cs"]
VarKind = Literal["ident", "power", "exp"]


@dataclass(frozen=True)
class CorrelationSpec:
    """A residual correlation structure as written (see :func:`cor_ar1` and siblings).

    Attributes
    ----------
    kind
        ``"ar1"``, ``"car1"`` or ``"cs"``.
    time
        The time column (``None``: the order of the rows within the group).
    group
        The grouping columns (nested: ``("site", "subject")``), or ``None`` for the grouping
        factor of the random effects.
    """

    kind: CorKind
    time: str | None
    group: tuple[str, ...] | None

    def formula(self) -> str:
        """The ``form`` nlme writes: ``~Days | Subject``, ``~1 | site/subject``."""
        left = self.time if self.time is not None else "1"
        return f"~{left}" if self.group is None else f"~{left} | {'/'.join(self.group)}"


@dataclass(frozen=True)
class VarianceSpec:
    """A variance function as written (see :func:`var_ident`, :func:`var_power`, :func:`var_exp`).

    Attributes
    ----------
    kind
        ``"ident"``, ``"power"`` or ``"exp"``.
    column
        The stratifying column (ident) or the covariate (power, exp; ``"fitted"``: the fitted
        values).
    """

    kind: VarKind
    column: str

    def formula(self) -> str:
        """The ``form`` nlme writes: ``~1 | Sex``, ``~age``, ``~fitted(.)``."""
        if self.kind == "ident":
            return f"~1 | {self.column}"
        return "~fitted(.)" if self.column == FITTED else f"~{self.column}"


def _group(group: Group) -> tuple[str, ...] | None:
    """Columns of a residual group: ``"a/b"`` and ``("a", "b")`` nest ``b`` within ``a``."""
    if group is None:
        return None
    parts = tuple(group.split("/")) if isinstance(group, str) else tuple(group)
    parts = tuple(str(p).strip() for p in parts)
    if not parts or any(not p for p in parts):
        raise ModelSpecificationError(f"a residual group needs column names, not {group!r}")
    return parts


def _name(value: object, what: str) -> str:
    """A column name argument, checked."""
    if not isinstance(value, str) or not value.strip():
        raise ModelSpecificationError(f"{what} must be a column name, not {value!r}")
    return value.strip()


def cor_ar1(time: str | None = None, group: Group = None) -> CorrelationSpec:
    """AR(1) residuals within each group, ordered by ``time`` (nlme's ``corAR1``).

    ``Corr(ε_i, ε_j) = φ^|t_i − t_j|`` for integer times (gaps allowed); ``time=None`` uses the
    order of the rows within the group (nlme's ``~ 1 | g``). ``group`` is a column, nested
    columns (``"site/subject"`` or a tuple), or ``None`` for the random effects' grouping factor.
    """
    return CorrelationSpec("ar1", None if time is None else _name(time, "time"), _group(group))


def cor_car1(time: str, group: Group = None) -> CorrelationSpec:
    """Continuous-time AR(1) residuals, ``φ^|t_i − t_j|`` with ``φ ∈ (0, 1)`` (``corCAR1``)."""
    return CorrelationSpec("car1", _name(time, "time"), _group(group))


def cor_cs(group: Group = None) -> CorrelationSpec:
    """Compound symmetry within each group: one correlation ρ (nlme's ``corCompSymm``)."""
    return CorrelationSpec("cs", None, _group(group))


def var_ident(by: str) -> VarianceSpec:
    """A residual SD ratio per level of ``by`` (nlme's ``varIdent(form = ~ 1 | by)``).

    The first level in sorted order is the reference (ratio 1).
    """
    return VarianceSpec("ident", _name(by, "by"))


def var_power(covariate: str = FITTED) -> VarianceSpec:
    """Residual SD proportional to ``|v|^δ`` (nlme's ``varPower``), ``v`` a column or fitted."""
    return VarianceSpec("power", _name(covariate, "covariate"))


def var_exp(covariate: str = FITTED) -> VarianceSpec:
    """Residual SD proportional to ``exp(δ v)`` (nlme's ``varExp``), ``v`` a column or fitted."""
    return VarianceSpec("exp", _name(covariate, "covariate"))


# ---- evaluated -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResidualCorrelation:
    """A correlation structure on the model's rows: its groups and one parameter.

    Attributes
    ----------
    spec
        As written.
    layout
        The residual groups, each ordered by time.
    name
        The parameter's name as nlme prints it (``Phi``, ``Phi1`` for AR(1) over times with
        gaps, ``Rho``).
    lower
        The lowest value of the parameter (``−1/(m−1)`` for compound symmetry).
    group
        How the groups are named: the columns (``site/subject``) or the grouping factor.
    """

    spec: CorrelationSpec
    layout: GroupLayout
    name: str
    lower: float
    group: str = ""

    def formula(self) -> str:
        """The ``form`` nlme prints, with the group used: ``~Days | Subject``."""
        left = self.spec.time if self.spec.time is not None else "1"
        return f"~{left} | {self.group}" if self.group else self.spec.formula()

    @property
    def title(self) -> str:
        """The structure as nlme's summary names it."""
        if self.spec.kind == "ar1":
            return "ARMA(1,0)" if self.name == "Phi1" else "AR(1)"
        return "Continuous AR(1)" if self.spec.kind == "car1" else "Compound symmetry"

    @property
    def start(self) -> float:
        """The unconstrained start: φ = 0 (AR(1)), φ = 0.2 (continuous, nlme's), ρ = 0."""
        return self.unconstrained(0.2 if self.spec.kind == "car1" else 0.0)

    def natural(self, u: float) -> float:
        """The parameter on its natural scale."""
        if self.spec.kind == "ar1":
            return math.tanh(u)
        p = 1.0 / (1.0 + math.exp(-u)) if u > -700 else 0.0
        return p if self.spec.kind == "car1" else self.lower + (1.0 - self.lower) * p

    def unconstrained(self, value: float) -> float:
        """The inverse of :meth:`natural`."""
        if self.spec.kind == "ar1":
            return math.atanh(value)
        p = value if self.spec.kind == "car1" else (value - self.lower) / (1.0 - self.lower)
        return math.log(p / (1.0 - p))

    def matrices(self, u: float) -> list[Array]:
        """The correlation matrices per bucket of :attr:`layout` at ``u``."""
        value = self.natural(u)
        out = []
        for bucket in self.layout.buckets:
            if self.spec.kind == "cs":
                m = bucket.size
                R = np.full((bucket.rows.shape[0], m, m), value)
                R[:, np.arange(m), np.arange(m)] = 1.0
            else:
                with np.errstate(under="ignore"):
                    R = np.power(value, bucket.lags())  # 0^0 = 1 on the diagonal
            out.append(R)
        return out


@dataclass(frozen=True)
class ResidualVariance:
    """A variance function on the model's rows: its covariate or strata and parameters.

    Attributes
    ----------
    spec
        As written.
    values
        The covariate per row (power, exp; empty for the fitted values) or the stratum code
        per row (ident, as floats).
    names
        The parameters' names as nlme prints them (the non-reference levels, ``power``,
        ``expon``).
    reference
        The reference level of ``var_ident`` (ratio 1; empty otherwise).
    """

    spec: VarianceSpec
    values: Array
    names: tuple[str, ...]
    reference: str = ""

    @property
    def uses_fitted(self) -> bool:
        """Whether the covariate is the fitted values (updated between optimizations)."""
        return self.spec.kind != "ident" and self.spec.column == FITTED

    @property
    def title(self) -> str:
        """The function as nlme names it."""
        return {"ident": "varIdent", "power": "Power", "exp": "Exponential"}[self.spec.kind]

    def natural(self, u: Array) -> Array:
        """Ratios (ident: ``exp(u)``) or the power / exponent (``u`` itself)."""
        return np.exp(u) if self.spec.kind == "ident" else np.asarray(u, dtype=np.float64)

    def multipliers(self, u: Array, fitted: Array | None = None) -> Array:
        """The SD multipliers ``s_i`` per row at ``u`` (``fitted``: the covariate when it is)."""
        if self.spec.kind == "ident":
            ratios = np.concatenate([[0.0], np.asarray(u, dtype=np.float64)])
            return np.exp(ratios[self.values.astype(np.intp)])
        v = self.values if not self.uses_fitted else _fitted_covariate(fitted)
        with np.errstate(over="ignore"):
            if self.spec.kind == "power":
                return np.exp(u[0] * np.log(np.abs(v)))
            return np.exp(u[0] * v)


def _fitted_covariate(fitted: Array | None) -> Array:
    if fitted is None:
        raise ModelSpecificationError("the variance function of the fitted values needs them")
    if np.any(fitted == 0.0):
        raise DataError("a fitted value is 0: var_power of the fitted values needs them nonzero")
    return fitted


@dataclass(frozen=True)
class ResidualStructure:
    """A correlation structure and/or a variance function evaluated on a model's rows.

    Attributes
    ----------
    correlation, variance
        Either may be ``None`` (not both).
    layout
        The residual groups: the correlation's, or every row alone.
    """

    correlation: ResidualCorrelation | None
    variance: ResidualVariance | None
    layout: GroupLayout

    @property
    def n_correlation(self) -> int:
        """Number of correlation parameters (0 or 1)."""
        return 0 if self.correlation is None else 1

    @property
    def n_params(self) -> int:
        """Number of residual parameters."""
        return self.n_correlation + (0 if self.variance is None else len(self.variance.names))

    @property
    def start(self) -> Array:
        """Unconstrained start: no correlation (continuous AR(1): 0.2), ratios 1, power 0."""
        cor = [] if self.correlation is None else [self.correlation.start]
        return np.array(cor + [0.0] * (self.n_params - self.n_correlation))

    @property
    def uses_fitted(self) -> bool:
        """Whether the variance function is of the fitted values."""
        return self.variance is not None and self.variance.uses_fitted

    def parts(
        self, u: Array, fitted: Array | None = None
    ) -> tuple[list[Array | None], Array | None]:
        """The correlation matrices per bucket and the SD multipliers per row at ``u``."""
        u = np.asarray(u, dtype=np.float64)
        k = self.n_correlation
        if self.correlation is None:
            correlations: list[Array | None] = [None] * len(self.layout.buckets)
        else:
            correlations = list(self.correlation.matrices(float(u[0])))
        sd = None if self.variance is None else self.variance.multipliers(u[k:], fitted)
        return correlations, sd

    @property
    def markov(self) -> bool:
        """Whether the correlation is AR(1)-type (or absent): a bidiagonal inverse factor."""
        return self.correlation is None or self.correlation.spec.kind in ("ar1", "car1")

    def phi(self, u: Array) -> float:
        """The correlation parameter on its natural scale (0 without a correlation)."""
        if self.correlation is None:
            return 0.0
        return self.correlation.natural(float(np.asarray(u, dtype=np.float64)[0]))

    def sd(self, u: Array, fitted: Array | None = None) -> Array | None:
        """The SD multipliers per row at ``u`` (``None`` without a variance function)."""
        if self.variance is None:
            return None
        u = np.asarray(u, dtype=np.float64)
        return self.variance.multipliers(u[self.n_correlation :], fitted)

    def correlation_parameters(self, u: Array) -> dict[str, float]:
        """The correlation parameter by nlme's name, on its natural scale."""
        if self.correlation is None:
            return {}
        return {self.correlation.name: self.correlation.natural(float(u[0]))}

    def variance_parameters(self, u: Array) -> dict[str, float]:
        """The variance function's parameters by nlme's names, on their natural scales."""
        if self.variance is None:
            return {}
        values = self.variance.natural(np.asarray(u, dtype=np.float64)[self.n_correlation :])
        return dict(zip(self.variance.names, (float(v) for v in values), strict=True))


def residual_structure(
    correlation: CorrelationSpec | None,
    variance: VarianceSpec | None,
    data: pd.DataFrame,
    terms: list[RandomEffectsTerm],
) -> ResidualStructure:
    """Evaluate the specs on the rows a model uses (``data``: those rows, in order).

    Raises
    ------
    UnknownColumnError
        For a column the data do not have.
    DataError
        For missing or non-numeric times or covariates, non-integer AR(1) times, a time
        repeated within a group, or a zero covariate of ``var_power``.
    ModelSpecificationError
        For a spec of the wrong kind, or a residual group that spans several levels of a
        random-effects grouping factor.
    """
    if correlation is not None and not isinstance(correlation, CorrelationSpec):
        raise ModelSpecificationError(
            f"correlation must come from cor_ar1, cor_car1 or cor_cs, not {correlation!r}"
        )
    if variance is not None and not isinstance(variance, VarianceSpec):
        raise ModelSpecificationError(
            f"variance must come from var_ident, var_power or var_exp, not {variance!r}"
        )
    n = len(data)
    cor = None if correlation is None else _correlation(correlation, data, terms)
    var = None if variance is None else _variance(variance, data)
    layout = GroupLayout.singletons(n) if cor is None else cor.layout
    return ResidualStructure(cor, var, layout)


def _columns(data: pd.DataFrame, names: tuple[str, ...]) -> None:
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise UnknownColumnError(missing, data.columns)


def _correlation(
    spec: CorrelationSpec, data: pd.DataFrame, terms: list[RandomEffectsTerm]
) -> ResidualCorrelation:
    """The groups (checked nested in every grouping factor) and times of a structure."""
    codes, labels, label = _group_codes(spec, data, terms)
    times = None if spec.time is None else _times(spec, data)
    _check_nested(codes, labels, label, terms)
    layout = GroupLayout.of(codes, times)
    if times is not None:
        _check_unique_times(layout, labels, times, spec.time or "")
    name, lower = "Phi", -1.0
    if spec.kind == "ar1" and times is not None and _has_gaps(layout):
        name = "Phi1"  # nlme treats integer times with gaps as ARMA(1, 0)
    if spec.kind == "car1":
        lower = 0.0
    if spec.kind == "cs":
        name, m = "Rho", layout.max_size
        lower = -1.0 / (m - 1) if m > 1 else -1.0
    return ResidualCorrelation(spec, layout, name, lower, label)


def _group_codes(
    spec: CorrelationSpec, data: pd.DataFrame, terms: list[RandomEffectsTerm]
) -> tuple[NDArray[np.intp], list[str], str]:
    """Group code per row, the groups' labels and how the grouping is named."""
    if spec.group is None:
        groups = {t.group for t in terms}
        if len(groups) != 1:
            raise ModelSpecificationError(
                "the random effects have several grouping factors "
                f"({', '.join(sorted(groups))}): give the correlation's group=, e.g. "
                f"cor_{spec.kind}(group={sorted(groups)[0]!r})"
            )
        term = terms[0]
        return term.refs.astype(np.intp), list(term.levels), term.group
    _columns(data, spec.group)
    for term in terms:  # the grouping factor itself: its codes (the same groups)
        if spec.group == (term.group,):
            return term.refs.astype(np.intp), list(term.levels), term.group
    frame = data.loc[:, list(spec.group)]
    for column in spec.group:
        if frame[column].isna().any():
            raise DataError(f"the residual group column {column!r} has missing values")
    keys = frame.astype(str).agg("/".join, axis=1) if len(spec.group) > 1 else frame.iloc[:, 0]
    codes, uniques = pd.factorize(keys.astype(str), sort=True)
    return codes.astype(np.intp), [str(u) for u in uniques], "/".join(spec.group)


def _times(spec: CorrelationSpec, data: pd.DataFrame) -> Array:
    """The time column: numeric, finite, integer-valued for AR(1)."""
    column = spec.time or ""
    _columns(data, (column,))
    raw = data[column]
    if not (pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)):
        raise DataError(f"the time column {column!r} must be numeric, not {raw.dtype}")
    times = raw.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(times)):
        raise DataError(f"the time column {column!r} has missing or infinite values")
    if spec.kind == "ar1" and np.any(times != np.round(times)):
        raise DataError(
            f"cor_ar1 needs integer times, and {column!r} has non-integer values; "
            "use cor_car1 for continuous times"
        )
    return times


def _check_unique_times(layout: GroupLayout, labels: list[str], t: Array, name: str) -> None:
    """No time twice in a group (the layout orders a group's rows by time, then position)."""
    repeated = [
        b.rows[:, 1:][np.diff(b.times, axis=1) == 0.0] for b in layout.buckets if b.size > 1
    ]
    rows = np.concatenate([np.empty(0, np.intp), *repeated])
    if rows.size:
        i = int(rows.min())  # the first row in the data that repeats a time of its group
        raise DataError(
            f"the time {name!r} = {t[i]:g} occurs more than once in residual group "
            f"{labels[layout.codes[i]]!r}: times must be unique within a group"
        )


def _has_gaps(layout: GroupLayout) -> bool:
    return any(np.any(np.diff(b.times, axis=1) != 1.0) for b in layout.buckets if b.size > 1)


def _check_nested(
    codes: NDArray[np.intp], labels: list[str], label: str, terms: list[RandomEffectsTerm]
) -> None:
    """Every residual group within one level of every random-effects grouping factor."""
    for term in terms:
        level = np.empty(len(labels), dtype=np.intp)
        level[codes] = term.refs  # some level of each group: nested when every row has it
        wide = codes[level[codes] != term.refs]
        if wide.size:
            group = labels[int(wide.min())]
            raise ModelSpecificationError(
                f"residual group {group!r} of {label!r} spans several levels of the "
                f"random-effects grouping factor {term.group!r}: the residual groups must be "
                "nested in every grouping factor (e.g. group by the innermost factor)"
            )


def _variance(spec: VarianceSpec, data: pd.DataFrame) -> ResidualVariance:
    """The strata or covariate of a variance function, checked."""
    if spec.kind == "ident":
        _columns(data, (spec.column,))
        raw = data[spec.column]
        if raw.isna().any():
            raise DataError(f"the variance column {spec.column!r} has missing values")
        codes, levels = pd.factorize(raw.astype(str), sort=True)
        if len(levels) < 2:
            raise ModelSpecificationError(
                f"var_ident({spec.column!r}) needs at least two levels; {spec.column!r} has "
                f"{len(levels)}"
            )
        names = tuple(str(v) for v in levels[1:])
        return ResidualVariance(spec, codes.astype(np.float64), names, str(levels[0]))
    name = "power" if spec.kind == "power" else "expon"
    if spec.column == FITTED:
        return ResidualVariance(spec, np.empty(0), (name,))
    _columns(data, (spec.column,))
    raw = data[spec.column]
    if not (pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)):
        raise DataError(f"the variance covariate {spec.column!r} must be numeric, not {raw.dtype}")
    values = raw.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DataError(f"the variance covariate {spec.column!r} has missing or infinite values")
    if spec.kind == "power" and np.any(values == 0.0):
        raise DataError(
            f"var_power({spec.column!r}) needs a nonzero covariate (|v|^power), and "
            f"{spec.column!r} has zeros; use var_exp or shift the covariate"
        )
    return ResidualVariance(spec, values, (name,))
