"""Refuse data whose cross-products double precision cannot hold.

A linear mixed model is fitted from ``[Z X y]'W[Z X y]``: sums of squares of the (weighted)
columns. A column of size beyond about 1e150 (1e154 is the square root of the largest double)
overflows them, one below about 1e-150 underflows them into the subnormal range where digits
are lost; either way the fit would be meaningless (NaN objectives, columns dropped as "rank
deficient", LAPACK failures). The estimates themselves would not be representable either: a
response of 1e300 has a residual variance of about 1e600. So such data are refused with the
column and the reason, and the user rescales (the fit of ``y / c`` is the fit of ``y`` with
β, σ and the random effects divided by ``c`` and θ unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["LARGEST", "SMALLEST", "check_magnitudes"]

LARGEST = 1e150  # √n · max|√w·v| must stay below this: the squares stay below 1e300
SMALLEST = 1e-150  # a non-zero column's largest |√w·v| must stay above this


def check_magnitudes(
    X: FloatArray,
    names: Sequence[str],
    y: FloatArray,
    response: str,
    terms: Sequence[RandomEffectsTerm],
    sqrtw: FloatArray | None,
) -> None:
    """Raise :class:`DataError` naming the first column whose cross-products are not finite.

    Parameters
    ----------
    X, names
        Fixed-effects model matrix and its column names.
    y, response
        Response (offset subtracted) and its name.
    terms
        The random-effects terms (their per-row model matrices are checked too).
    sqrtw
        Square roots of the prior weights, or ``None``.
    """
    columns = [(f"the response {response!r}", y)]
    columns += [(f"the fixed-effects column {name!r}", X[:, j]) for j, name in enumerate(names)]
    for term in terms:
        columns += [
            (f"the column {name!r} of the random-effects term {term.spec}", term.z[:, a])
            for a, name in enumerate(term.column_names)
        ]
    rows = max(len(y), 1)
    for what, values in columns:
        _check_column(what, values, sqrtw, rows)


def _check_column(what: str, values: FloatArray, sqrtw: FloatArray | None, rows: int) -> None:
    """One column: its largest weighted magnitude within the range whose squares are exact."""
    with np.errstate(over="ignore"):
        plain = float(np.max(np.abs(values), initial=0.0))
        size = plain if sqrtw is None else float(np.max(np.abs(values * sqrtw), initial=0.0))
    weighted = " with the weights" if sqrtw is not None and _within(plain, rows) else ""
    if not math.isfinite(size) or size * math.sqrt(rows) >= LARGEST:
        raise DataError(
            f"{what} reaches {_order(size)}{weighted}: its sums of squares overflow double "
            f"precision (the limit is about {LARGEST:.0e} / √n); rescale it"
            + (" or the weights" if weighted else "")
        )
    if 0.0 < size < SMALLEST:
        raise DataError(
            f"{what} is at most {_order(size)}{weighted}: its sums of squares underflow double "
            f"precision (below about {SMALLEST:.0e}); rescale it"
            + (" or the weights" if weighted else "")
        )


def _within(size: float, rows: int) -> bool:
    """Whether a column of this largest magnitude is fine without weights."""
    return size == 0.0 or SMALLEST <= size and size * math.sqrt(rows) < LARGEST


def _order(size: float) -> str:
    """``1e+302``-style order of magnitude (``inf`` as is)."""
    return f"{size:.3g}" if math.isfinite(size) else "infinity (after weighting)"
