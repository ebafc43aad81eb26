"""The column names a formula piece reads."""

from __future__ import annotations

import re

from mixedmodels.errors import FormulaError
from mixedmodels.formula.formulaic_cache import check_formula

__all__ = ["identifiers"]

_IDENTIFIER = re.compile(r"`([^`]+)`|([^\W\d][\w.]*|\.[\w.]+)")


def identifiers(text: str, functions: frozenset[str] = frozenset()) -> set[str]:
    """The column names a formula piece reads (``np.log(x)`` gives x).

    From the checked evaluator; for text it refuses, every name-like token.
    """
    try:
        return set(check_formula(text, functions).variables)
    except FormulaError:
        pass
    out: set[str] = set()
    for quoted, plain in _IDENTIFIER.findall(text):
        out.add(quoted or plain)
    return out
