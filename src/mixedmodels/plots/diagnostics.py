"""Residual and random-effects diagnostics: residuals vs fitted, normal Q-Q plots, a panel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.plots._common import new_axes, ppoints, qq_line, ranef_panels
from mixedmodels.plots.caterpillar import draw_caterpillar

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mixedmodels.fitted import FittedModelBase

__all__ = ["diagnostics_panel", "kernel_smooth", "qq_plot", "ranef_qq_plot", "residual_plot"]

GRID = 100  # points of the smoother's curve


def residual_plot(model: FittedModelBase, *, smooth: bool = True, ax: Axes | None = None) -> Figure:
    """Scaled Pearson residuals against fitted values, with a zero line and a smoother.

    Parameters
    ----------
    model
        A fitted model.
    smooth
        Add a Gaussian-kernel (Nadaraya–Watson) smoother, to show a trend in the mean.
    ax
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    figure, (axis,) = new_axes(1, 1, ax=ax)
    fitted, res = _used(model.fitted()), _used(model.residuals("pearson", scaled=True))
    axis.scatter(fitted, res, s=10, alpha=0.6, color="C0")
    axis.axhline(0.0, color="0.4", linewidth=0.8, linestyle="--")
    if smooth and len(fitted) > 2:
        grid, curve = kernel_smooth(fitted, res)
        axis.plot(grid, curve, color="C3", linewidth=1.5)
    axis.set_title("Residuals vs fitted")
    axis.set_xlabel("fitted values")
    axis.set_ylabel("scaled Pearson residuals")
    return figure


def kernel_smooth(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Nadaraya–Watson estimate of ``E(y | x)`` on a grid, Silverman's bandwidth.

    Parameters
    ----------
    x, y
        The points.

    Returns
    -------
    grid, curve
        ``GRID`` values of ``x`` and the smoothed ``y`` there.
    """
    spread = min(np.std(x), scipy.stats.iqr(x) / 1.349) or np.std(x) or 1.0
    bandwidth = 0.9 * spread * len(x) ** (-0.2)
    grid = np.linspace(np.min(x), np.max(x), GRID)
    curve = np.empty(GRID)
    for i, g in enumerate(grid):
        w = np.exp(-0.5 * ((x - g) / bandwidth) ** 2)
        curve[i] = np.sum(w * y) / np.sum(w) if np.sum(w) > 0 else np.nan
    return grid, curve


def qq_plot(model: FittedModelBase, *, ax: Axes | None = None) -> Figure:
    """Normal Q-Q plot of the scaled Pearson residuals, with R's ``qqline``.

    Parameters
    ----------
    model
        A fitted model.
    ax
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    figure, (axis,) = new_axes(1, 1, ax=ax)
    _draw_qq(axis, _used(model.residuals("pearson", scaled=True)), "C0", None)
    axis.set_title("Normal Q-Q of residuals")
    axis.set_ylabel("scaled Pearson residuals")
    return figure


def _draw_qq(axis: Axes, sample: FloatArray, color: str, label: str | None) -> None:
    """Sorted sample against normal quantiles, with the line through the quartiles."""
    values = np.sort(np.asarray(sample, dtype=float))
    theoretical = scipy.stats.norm.ppf(ppoints(len(values)))
    axis.scatter(theoretical, values, s=10, alpha=0.7, color=color, label=label)
    intercept, slope = qq_line(values)
    ends = np.array([theoretical[0], theoretical[-1]])
    axis.plot(ends, intercept + slope * ends, color=color, linewidth=0.8, linestyle="--")
    axis.set_xlabel("standard normal quantiles")


def ranef_qq_plot(
    model: FittedModelBase,
    group: str | None = None,
    *,
    fig: Figure | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Normal Q-Q plots of the conditional modes (lme4's ``qqmath(ranef(m))``).

    One panel per random effect of each grouping factor. With ``ax``, every effect is drawn on
    that one axes, each divided by its estimated standard deviation so they share a scale.

    Parameters
    ----------
    model
        A fitted model.
    group
        Only this grouping factor; every factor when ``None``.
    fig
        A figure to draw on (cleared first).
    ax
        One axes for all effects (standardized), instead of one panel each.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    panels = ranef_panels(model, group)
    if ax is not None:
        figure, (axis,) = new_axes(1, 1, ax=ax)
        for i, panel in enumerate(panels):
            scale = panel.scale if panel.scale > 0 else 1.0
            _draw_qq(axis, panel.modes / scale, f"C{i % 10}", panel.title)
        axis.set_title("Normal Q-Q of conditional modes")
        axis.set_ylabel("mode / estimated SD")
        axis.legend(fontsize="small")
        return figure
    figure, axes = new_axes(1, len(panels), fig=fig)
    for panel, axis in zip(panels, axes, strict=True):
        _draw_qq(axis, panel.modes, "C0", None)
        axis.set_title(panel.title)
        axis.set_ylabel("conditional mode")
    figure.tight_layout()
    return figure


def diagnostics_panel(model: FittedModelBase, *, fig: Figure | None = None) -> Figure:
    """Four diagnostics in a 2×2 grid.

    Residuals vs fitted, normal Q-Q of the residuals, normal Q-Q of the (standardized)
    conditional modes of every term, and the caterpillar plot of the first effect of the first
    grouping factor (the one with most levels).

    Parameters
    ----------
    model
        A fitted model.
    fig
        A figure to draw on (cleared first); a new one when ``None``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, e.g. for ``.savefig("diagnostics.png")``.
    """
    figure, axes = new_axes(2, 2, fig=fig, panel_size=(5.0, 4.0))
    residual_plot(model, ax=axes[0])
    qq_plot(model, ax=axes[1])
    ranef_qq_plot(model, ax=axes[2])
    first = ranef_panels(model, model.terms[0].group)[0]
    draw_caterpillar(axes[3], first, np.argsort(first.modes, kind="stable"))
    figure.suptitle(model.formula)
    figure.tight_layout()
    return figure


def _used(values: FloatArray) -> FloatArray:
    """Per-row values of the observations used (the NaN of ``na_action="exclude"`` left out)."""
    return values[~np.isnan(values)]
