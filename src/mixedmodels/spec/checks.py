"""Checks that a linear mixed model can be estimated from its data (lme4's ``check.*``).

Each check raises an error that names the term, factor or column at fault:

* a grouping factor needs at least two levels (``check.nlev.gtr.1``);
* a grouping factor needs fewer levels than observations (``check.nobs.vs.nlev``): with one
  observation per level a random intercept is confounded with the residual — except in a GLMM
  (``allow_n``, lme4's ``allow.n = TRUE`` in ``glFormula``), where an observation-level effect
  models overdispersion;
* a term needs fewer random effects than observations (``check.nobs.vs.nRE``; in a GLMM no more
  than observations);
* a term with more covariance parameters than levels gets a warning;
* a term may appear only once;
* the response must vary;
* the columns of a term should be linearly independent (a warning, and a singular fit);
* bounded work: at most :data:`MAX_RANDOM_TERMS` terms and :data:`MAX_THETA` covariance
  parameters (and fewer than the observations).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import (
    DataError,
    ModelSpecificationError,
    ModelSpecificationWarning,
    RankDeficiencyWarning,
)
from mixedmodels.formula import ParsedFormula, parse_formula
from mixedmodels.spec.fixed import estimable_columns
from mixedmodels.spec.random import RandomEffectsTerm

#: The most random-effects terms (after expanding ``||`` and ``/``) a model may have.
MAX_RANDOM_TERMS = 20
#: The most covariance parameters θ a model may have.
MAX_THETA = 300

__all__ = [
    "MAX_RANDOM_TERMS",
    "MAX_THETA",
    "check_fixed_count",
    "check_model",
    "check_response_varies",
    "check_terms",
    "check_work",
    "collinear_terms",
    "mixed_model_formula",
]


def mixed_model_formula(
    formula: str, functions: Mapping[str, Callable[..., Any]] | None = None
) -> ParsedFormula:
    """Parse an lme4 formula (with the user's ``functions``), refusing one without random terms."""
    parsed = parse_formula(formula, functions)
    if not parsed.random:
        raise ModelSpecificationError(
            f"the formula {formula!r} has no random-effects term such as (1 | group)"
        )
    return parsed


def check_model(
    terms: Sequence[RandomEffectsTerm], y: FloatArray, response: str, *, allow_n: bool = False
) -> None:
    """Raise when the model cannot be estimated (see the module docstring)."""
    check_terms(terms, int(y.shape[0]), allow_n=allow_n)
    check_response_varies(y.shape[0], float(np.ptp(y)) if y.size else 0.0, response)


def check_response_varies(n: int, spread: float, response: str) -> None:
    """Refuse a constant response (``spread`` is its range, max − min)."""
    if n > 1 and spread == 0.0:
        raise DataError(f"the response {response!r} is constant: there is nothing to model")


def check_terms(terms: Sequence[RandomEffectsTerm], n: int, *, allow_n: bool = False) -> None:
    """lme4's checks of the terms against each other and the number of observations ``n``.

    ``allow_n`` (GLMMs) allows as many levels and random effects per term as observations.
    """
    limit = n + 1 if allow_n else n
    _check_duplicates(terms)
    check_work(terms, n)
    for term in terms:
        if term.nlevels < 2:
            raise ModelSpecificationError(
                f"grouping factor {term.group!r} has {term.nlevels} level; "
                "a random-effects term needs at least 2"
            )
        if term.nlevels >= limit:
            raise ModelSpecificationError(
                f"number of levels of grouping factor {term.group!r} ({term.nlevels}) must be "
                f"< number of observations ({n}): the term {term.spec} would be confounded "
                "with the residual (glmer allows one level per observation)"
            )
        if term.ntheta > term.nlevels:
            warnings.warn(
                f"the random-effects term {term.spec} has {term.ntheta} covariance parameters "
                f"but grouping factor {term.group!r} has only {term.nlevels} levels: the fit "
                "is likely singular; consider uncorrelated (||) or fewer random effects",
                ModelSpecificationWarning,
                stacklevel=4,
            )
        if term.q >= limit and term.spec.structure is None:  # lme4's terms (glmmTMB: no limit)
            relation = "<" if allow_n else "<="
            raise ModelSpecificationError(
                f"number of observations ({n}) {relation} number of random effects ({term.q}) "
                f"for term {term.spec}; its variance parameters "
                f"{'are' if allow_n else 'and the residual variance are'} unidentifiable"
            )


def check_work(terms: Sequence[RandomEffectsTerm], n: int) -> None:
    """Refuse random-effects structures whose fit would not finish in reasonable time.

    Each evaluation of the criterion factors every pair of terms (fill-in between crossed
    terms makes the cost grow with the cube of their number) and the optimizer and the
    convergence check need about as many evaluations as the square of the number of
    covariance parameters: 30 random intercepts on 180 rows take over five minutes.
    """
    ntheta = sum(t.ntheta for t in terms)
    if len(terms) > MAX_RANDOM_TERMS:
        raise ModelSpecificationError(
            f"the formula has {len(terms)} random-effects terms (at most {MAX_RANDOM_TERMS}): "
            f"too many covariance parameters ({ntheta}) for the data ({n} observations); "
            "each evaluation factors every pair of terms and the optimizer needs about "
            f"{ntheta}² evaluations. Merge terms on the same grouping factor or use fewer"
        )
    if ntheta > min(MAX_THETA, n - 1):
        raise ModelSpecificationError(
            f"the random-effects terms have {ntheta} covariance parameters, more than "
            f"{min(MAX_THETA, n - 1)} ({'the limit' if MAX_THETA < n else 'the observations'}): "
            "use uncorrelated terms (||) or fewer random effects"
        )


def collinear_terms(
    terms: Sequence[RandomEffectsTerm], columns: Sequence[FloatArray] | None = None
) -> list[str]:
    """Warn about terms whose columns are linearly dependent; return their names.

    Such a term's covariance matrix is not identifiable (only combinations of its effects
    are), so its fit is degenerate whatever the optimizer reports: the model flags it as
    singular. ``columns`` replaces each term's ``z`` by a matrix with the same column geometry
    (its ``R`` factor, when the rows are not in memory).
    """
    names = []
    for j, term in enumerate(terms):
        z = term.z if columns is None else columns[j]
        keep = estimable_columns(z) if term.k > 1 else list(range(term.k))
        if len(keep) < term.k:
            dropped = [c for i, c in enumerate(term.column_names) if i not in keep]
            warnings.warn(
                f"the columns of the random-effects term {term.spec} are linearly dependent "
                f"({', '.join(dropped)} on the others): its covariance is not identifiable",
                RankDeficiencyWarning,
                stacklevel=4,
            )
            names.append(term.name)
    return names


def _check_duplicates(terms: Sequence[RandomEffectsTerm]) -> None:
    """The same columns on the same grouping factor twice make θ unidentifiable."""
    seen: dict[tuple[tuple[str, ...], str], RandomEffectsTerm] = {}
    for term in terms:
        for column in term.column_names:
            key = (term.spec.factors, column)
            if key in seen:
                raise ModelSpecificationError(
                    f"the random effect {column!r} for grouping factor {term.group!r} appears "
                    f"twice (in {seen[key].spec} and {term.spec})"
                )
            seen[key] = term


def check_fixed_count(nobs: int, names: Sequence[str], dropped: Sequence[str]) -> None:
    """Refuse a model with as many estimable fixed effects as observations, or more.

    The fixed effects then reproduce the response exactly: the residuals are zero, REML has
    ``n − p ≤ 0`` degrees of freedom and the ML deviance is −∞, so no variance component can
    be estimated (lme4 refuses too).

    Raises
    ------
    ModelSpecificationError
        Naming the counts (and how many columns were dropped as linearly dependent).
    """
    p = len(names)
    if p < nobs:
        return
    extra = (
        f" (of {p + len(dropped)} columns; {len(dropped)} dropped as dependent)" if dropped else ""
    )
    raise ModelSpecificationError(
        f"the model has {p} estimable fixed effects{extra} for {nobs} observations: with n ≤ p "
        f"(n − p = {nobs - p}) the fixed effects fit the response exactly and neither REML nor "
        "ML can estimate the variance components; use fewer fixed-effect terms (a factor with "
        "a level per row, such as C() of a continuous column, is one per observation)"
    )
