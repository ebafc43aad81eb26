"""formulaic ``Formula`` objects, parsed once per text (they are immutable)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["formulaic_formula"]


@lru_cache(maxsize=512)
def formulaic_formula(text: str) -> Any:
    """The parsed formulaic ``Formula`` for ``text`` (cached: refits skip the parse)."""
    from formulaic import Formula

    return Formula(text)
