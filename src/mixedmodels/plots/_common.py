"""Helpers shared by the plots: importing matplotlib on demand, figures, panels, Q-Q points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.stats

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mixedmodels.fitted import FittedModelBase
    from mixedmodels.spec import RandomEffectsTerm

__all__ = ["Panel", "new_axes", "ppoints", "qq_line", "ranef_panels", "require_matplotlib"]

INSTALL_HINT = "plots need matplotlib: pip install 'mixedmodels[plot]'"


def require_matplotlib() -> Any:
    """Import and return ``matplotlib.pyplot``, or fail with an installation hint.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return plt


def new_axes(
    nrows: int,
    ncols: int,
    *,
    fig: Figure | None = None,
    ax: Axes | None = None,
    panel_size: tuple[float, float] = (4.0, 3.5),
) -> tuple[Figure, list[Axes]]:
    """The figure and axes to draw on: ``ax`` itself, a grid on ``fig``, or a new figure.

    Parameters
    ----------
    nrows, ncols
        Grid of axes wanted (ignored when ``ax`` is given: the caller then draws one panel).
    fig
        An existing figure to fill (it is cleared).
    ax
        An existing axes to draw one panel on.
    panel_size
        Width and height in inches of each panel of a new figure.
    """
    plt = require_matplotlib()
    if ax is not None:
        return cast("Figure", ax.figure), [ax]
    if fig is None:
        fig = plt.figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows))
    else:
        fig.clear()
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.reshape(-1))


def ppoints(n: int) -> FloatArray:
    """Probability points for a Q-Q plot, as R's ``ppoints``."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def qq_line(sample: FloatArray) -> tuple[float, float]:
    """Intercept and slope of the line through the quartiles, as R's ``qqline``."""
    y1, y3 = np.quantile(sample, [0.25, 0.75])
    x1, x3 = scipy.stats.norm.ppf([0.25, 0.75])
    slope = float((y3 - y1) / (x3 - x1))
    return float(y1 - slope * x1), slope


@dataclass(frozen=True)
class Panel:
    """The conditional modes of one column of one random-effects term.

    Attributes
    ----------
    term
        The term.
    column
        Index of the column (effect) within the term.
    modes
        Conditional mode of each level.
    sd
        Conditional standard deviation of each level.
    scale
        The estimated standard deviation of this random effect.
    """

    term: RandomEffectsTerm
    column: int
    modes: FloatArray
    sd: FloatArray
    scale: float

    @property
    def title(self) -> str:
        """``"Subject: (Intercept)"``."""
        return f"{self.term.group}: {self.term.column_names[self.column]}"


def ranef_panels(model: FittedModelBase, group: str | None = None) -> list[Panel]:
    """One panel per column of every term (of grouping factor ``group``, when given)."""
    terms = list(model.terms)
    if group is not None:
        terms = [t for t in terms if group in (t.group, t.name)]
        if not terms:
            names = sorted({t.group for t in model.terms})
            raise ModelSpecificationError(f"no grouping factor {group!r}; the model has {names}")
    variances = model.ranef_var
    modes = dict(zip((t.name for t in model.terms), model.random_effects(), strict=True))
    templates = dict(zip((t.name for t in model.terms), model.templates(), strict=True))
    panels = []
    for term in terms:
        sd = np.sqrt(np.diagonal(variances[term.name], axis1=1, axis2=2))
        T = templates[term.name]
        scale = model.sigma * np.sqrt(np.sum(T * T, axis=1))
        for c in range(term.k):
            panels.append(Panel(term, c, modes[term.name][:, c], sd[:, c], float(scale[c])))
    return panels
