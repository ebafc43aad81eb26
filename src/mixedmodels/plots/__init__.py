"""Plots of a fitted model with matplotlib (an optional dependency: ``mixedmodels[plot]``).

Every function returns the matplotlib figure; those that draw a single panel also accept an
existing ``ax``. matplotlib is imported when a plot is first drawn, so the rest of the package
works without it.
"""

from mixedmodels.plots.caterpillar import caterpillar_plot
from mixedmodels.plots.diagnostics import diagnostics_panel, qq_plot, ranef_qq_plot, residual_plot
from mixedmodels.plots.profile import profile_plot

__all__ = [
    "caterpillar_plot",
    "diagnostics_panel",
    "profile_plot",
    "qq_plot",
    "ranef_qq_plot",
    "residual_plot",
]
