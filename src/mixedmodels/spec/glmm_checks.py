"""Checks of a GLMM's arguments: the data source, ``nagq`` and ``start``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["MAX_NAGQ", "check_nagq", "refuse_chunked"]

MAX_NAGQ = 100  # lme4's limit (mkGlmerDevfun: nAGQ <= 100; GHrule: ord < 101)


def check_nagq(nagq: Any, terms: Sequence[RandomEffectsTerm]) -> int:
    """Check nAGQ: an integer from 0 to 100, above 1 only for one scalar random-effects term."""
    try:
        value = int(nagq)
        exact = value == nagq and not isinstance(nagq, bool)
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact or not 0 <= value <= MAX_NAGQ:
        raise ModelSpecificationError(
            f"nagq must be an integer from 0 to {MAX_NAGQ} (lme4's limit), not {nagq!r}"
        )
    if value > 1 and (len(terms) != 1 or terms[0].k != 1):
        raise ModelSpecificationError(
            "nagq > 1 is only available for models with a single, scalar random-effects term"
        )
    return value


def refuse_chunked(data: Any) -> None:
    """GLMMs need the rows in memory: say so for Parquet paths and Dask or Arrow data."""
    from mixedmodels.spec.data_kinds import is_chunked_source

    if is_chunked_source(data):
        raise NotSupportedError(
            "GLMMs are fitted from data in memory (a pandas DataFrame): PIRLS would need a pass "
            "over the chunks at every iteration. Chunked data (Parquet files, Dask DataFrames, "
            "PyArrow datasets) are supported for linear mixed models (mm.lmer); for a GLMM, "
            "load the columns it uses into pandas"
        )
