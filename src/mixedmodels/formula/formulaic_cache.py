"""formulaic ``Formula`` objects, parsed once per text (they are immutable)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["formulaic_formula", "required_variables"]


@lru_cache(maxsize=512)
def formulaic_formula(text: str) -> Any:
    """The parsed formulaic ``Formula`` for ``text`` (cached: refits skip the parse)."""
    from formulaic import Formula

    return Formula(text)


@lru_cache(maxsize=512)
def required_variables(text: str) -> frozenset[str]:
    """The variables formulaic needs to evaluate ``text`` (cached like the parse)."""
    return frozenset(str(v) for v in formulaic_formula(text).required_variables)
