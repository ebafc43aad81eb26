"""Checks that a linear mixed model can be estimated from its data (lme4's ``check.*``).

Each check raises an error that names the term, factor or column at fault:

* a grouping factor needs at least two levels (``check.nlev.gtr.1``);
* a grouping factor needs fewer levels than observations (``check.nobs.vs.nlev``): with one
  observation per level a random intercept is confounded with the residual;
* a term needs fewer random effects than observations (``check.nobs.vs.nRE``);
* a term may appear only once;
* the response must vary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, ModelSpecificationError
from mixedmodels.terms.random import RandomEffectsTerm

__all__ = ["check_model"]


def check_model(terms: Sequence[RandomEffectsTerm], y: FloatArray, response: str) -> None:
    """Raise when the model cannot be estimated (see the module docstring)."""
    n = int(y.shape[0])
    _check_duplicates(terms)
    for term in terms:
        if term.nlevels < 2:
            raise ModelSpecificationError(
                f"grouping factor {term.group!r} has {term.nlevels} level; "
                "a random-effects term needs at least 2"
            )
        if term.nlevels >= n:
            raise ModelSpecificationError(
                f"number of levels of grouping factor {term.group!r} ({term.nlevels}) must be "
                f"< number of observations ({n}): the term {term.spec} would be confounded "
                "with the residual"
            )
        if term.q >= n:
            raise ModelSpecificationError(
                f"number of observations ({n}) <= number of random effects ({term.q}) for "
                f"term {term.spec}; its variance parameters and the residual variance are "
                "unidentifiable"
            )
    if n > 1 and float(np.ptp(y)) == 0.0:
        raise DataError(f"the response {response!r} is constant: there is nothing to model")


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
