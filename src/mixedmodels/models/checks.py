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
* the columns of a term should be linearly independent (a warning, and a singular fit).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import (
    DataError,
    ModelSpecificationError,
    ModelSpecificationWarning,
    RankDeficiencyWarning,
)
from mixedmodels.formula import ParsedFormula, parse_formula
from mixedmodels.terms.fixed import estimable_columns
from mixedmodels.terms.random import RandomEffectsTerm

__all__ = [
    "check_model",
    "check_response_varies",
    "check_terms",
    "collinear_terms",
    "mixed_model_formula",
]


def mixed_model_formula(formula: str) -> ParsedFormula:
    """Parse an lme4 formula, refusing one without a random-effects term."""
    parsed = parse_formula(formula)
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
        if term.q >= limit:
            relation = "<" if allow_n else "<="
            raise ModelSpecificationError(
                f"number of observations ({n}) {relation} number of random effects ({term.q}) "
                f"for term {term.spec}; its variance parameters "
                f"{'are' if allow_n else 'and the residual variance are'} unidentifiable"
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
