"""Caterpillar plots of the conditional modes (lme4's ``dotplot(ranef(m, condVar = TRUE))``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.stats

from mixedmodels.errors import ModelSpecificationError
from mixedmodels.plots._common import Panel, new_axes, ranef_panels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mixedmodels.fitted import FittedModelBase

__all__ = ["caterpillar_plot", "draw_caterpillar"]

MAX_LABELS = 40  # more levels than this are drawn without tick labels


def caterpillar_plot(
    model: FittedModelBase,
    group: str | None = None,
    *,
    level: float = 0.95,
    fig: Figure | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Conditional modes with conditional intervals, levels sorted by mode.

    One panel per random effect (``(Intercept)``, ``Days``, ...) of each grouping factor; within
    a factor, levels are sorted by the mode of its first effect (as lme4's ``dotplot``) and the
    same order is kept across its panels. Intervals are ``mode ± z_{1−α/2} · sd`` with the
    conditional SDs of ``m.ranef_var`` (lme4's ``condVar``).

    Parameters
    ----------
    model
        A fitted model.
    group
        Only this grouping factor; every factor when ``None``.
    level
        Coverage of the intervals.
    fig
        A figure to draw on (cleared first); a new one when ``None``.
    ax
        Draw only the first panel, on this axes.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    panels = ranef_panels(model, group)
    if ax is not None:
        panels = panels[:1]
    figure, axes = new_axes(1, len(panels), fig=fig, ax=ax, panel_size=(3.5, 5.0))
    orders: dict[str, np.ndarray] = {}
    for panel, axis in zip(panels, axes, strict=True):
        order = orders.setdefault(panel.term.group, np.argsort(panel.modes, kind="stable"))
        draw_caterpillar(axis, panel, order, level=level)
    figure.tight_layout()
    return figure


def draw_caterpillar(ax: Axes, panel: Panel, order: np.ndarray, *, level: float = 0.95) -> None:
    """Draw one panel: modes as points, intervals as horizontal bars, a line at zero.

    Parameters
    ----------
    ax
        Axes to draw on.
    panel
        Modes and conditional SDs of one effect.
    order
        Order of the levels from bottom to top.
    level
        Coverage of the intervals.
    """
    if not 0.0 < level < 1.0:
        raise ModelSpecificationError(f"level must be between 0 and 1, not {level!r}")
    z = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
    position = np.arange(len(order))
    ax.axvline(0.0, color="0.6", linewidth=0.8, zorder=0)
    ax.errorbar(
        panel.modes[order],
        position,
        xerr=z * panel.sd[order],
        fmt="o",
        markersize=3,
        elinewidth=1,
        color="C0",
    )
    ax.set_title(panel.title)
    ax.set_xlabel("conditional mode")
    if len(order) <= MAX_LABELS:
        ax.set_yticks(position, [panel.term.levels[i] for i in order])
    else:
        ax.set_yticks([])
    ax.set_ylabel(panel.term.group)
