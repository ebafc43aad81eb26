"""Profile-zeta plots (lme4's ``xyplot(profile(m))``) from a profile table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.stats

from mixedmodels.errors import DataError
from mixedmodels.plots._common import new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["profile_plot"]

LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)  # lme4's reference lines


def profile_plot(
    table: pd.DataFrame,
    *,
    absolute: bool = False,
    levels: Sequence[float] = LEVELS,
    ncols: int | None = None,
    fig: Figure | None = None,
) -> Figure:
    """ζ against each profiled parameter, one panel per parameter.

    A straight line means a quadratic log-likelihood, where Wald intervals are exact. Horizontal
    lines mark ``±z_{1−α/2}`` for each confidence level; where the curve crosses them are the
    profile confidence limits. A vertical line marks the estimate (``table.attrs["estimates"]``,
    when present).

    Parameters
    ----------
    table
        Profile points with columns ``parameter``, ``value`` and ``zeta`` (optionally
        ``label``, used as panel title), as :func:`mixedmodels.inference.profile.profile`
        returns.
    absolute
        Plot ``|ζ|`` (lme4's ``absVal = TRUE``).
    levels
        Confidence levels of the reference lines.
    ncols
        Panels per row (default: up to 3).
    fig
        A figure to draw on (cleared first); a new one when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    missing = {"parameter", "value", "zeta"} - set(table.columns)
    if missing:
        raise DataError(f"a profile table needs the columns {sorted(missing)}")
    names = list(dict.fromkeys(table["parameter"]))
    if not names:
        raise DataError("the profile table is empty")
    ncols = ncols or min(3, len(names))
    nrows = -(-len(names) // ncols)
    figure, axes = new_axes(nrows, ncols, fig=fig, panel_size=(3.5, 3.0))
    estimates = table.attrs.get("estimates", {})
    for name, axis in zip(names, axes, strict=False):
        rows = table[table["parameter"] == name].sort_values("value")
        title = str(rows["label"].iloc[0]) if "label" in rows.columns else str(name)
        _draw_profile(axis, rows, title, absolute, levels, estimates.get(name))
    for axis in axes[len(names) :]:
        axis.set_visible(False)
    figure.tight_layout()
    return figure


def _draw_profile(
    axis: Axes,
    rows: pd.DataFrame,
    title: str,
    absolute: bool,
    levels: Sequence[float],
    estimate: float | None,
) -> None:
    """One parameter's curve with its reference lines."""
    zeta = rows["zeta"].to_numpy(dtype=float)
    axis.plot(rows["value"], np.abs(zeta) if absolute else zeta, marker=".", color="C0")
    for level in levels:
        z = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
        for value in (z,) if absolute else (-z, z):
            axis.axhline(value, color="0.7", linewidth=0.7, linestyle="--")
    if estimate is not None and np.isfinite(estimate):
        axis.axvline(estimate, color="0.5", linewidth=0.7)
    axis.set_title(title)
    axis.set_xlabel("value")
    axis.set_ylabel("|ζ|" if absolute else "ζ")
