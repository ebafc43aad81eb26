"""Every plot renders to a non-empty PNG with the expected axes, titles and points."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels.models import LinearMixedModel  # noqa: E402
from mixedmodels.plots import (  # noqa: E402
    caterpillar_plot,
    diagnostics_panel,
    profile_plot,
    qq_plot,
    ranef_qq_plot,
    residual_plot,
)

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(scope="module")
def sleep() -> LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def penicillin() -> LinearMixedModel:
    return mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def render(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=50)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def visible_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_visible()]


def points(ax: Axes) -> int:
    """Points drawn as scatter collections (residual and Q-Q plots)."""
    return sum(
        np.asarray(c.get_offsets()).shape[0] for c in ax.collections if hasattr(c, "get_offsets")
    )


def test_residual_plot(sleep: LinearMixedModel, tmp_path: Path) -> None:
    fig = residual_plot(sleep)
    render(fig, tmp_path / "resid.png")
    (ax,) = fig.axes
    assert ax.get_title() == "Residuals vs fitted"
    assert ax.get_xlabel() == "fitted values"
    assert points(ax) == 180
    assert len(ax.lines) == 2  # zero line and smoother
    assert len(residual_plot(sleep, smooth=False).axes[0].lines) == 1


def test_qq_plot(sleep: LinearMixedModel, tmp_path: Path) -> None:
    fig = qq_plot(sleep)
    render(fig, tmp_path / "qq.png")
    (ax,) = fig.axes
    assert ax.get_title() == "Normal Q-Q of residuals"
    assert points(ax) == 180
    offsets = ax.collections[0].get_offsets()
    assert np.all(np.diff(offsets[:, 0]) > 0) and np.all(np.diff(offsets[:, 1]) >= 0)


def test_caterpillar_plot(sleep: LinearMixedModel, tmp_path: Path) -> None:
    fig = caterpillar_plot(sleep)
    render(fig, tmp_path / "caterpillar.png")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["Subject: (Intercept)", "Subject: Days"]
    for ax in axes:
        marker_line = ax.lines[-1]
        assert len(marker_line.get_xdata()) == 18
        assert len(ax.get_yticklabels()) == 18
    # sorted by the intercept's mode, the same order in both panels
    modes = np.asarray(axes[0].lines[-1].get_xdata())
    assert np.all(np.diff(modes) >= 0)
    labels = [t.get_text() for t in axes[1].get_yticklabels()]
    assert labels == [t.get_text() for t in axes[0].get_yticklabels()]
    expected = sleep.ranef["Subject"].sort_values("(Intercept)")
    assert labels == list(expected.index)


def test_caterpillar_crossed_and_single_group(penicillin: LinearMixedModel, tmp_path: Path) -> None:
    fig = caterpillar_plot(penicillin)
    render(fig, tmp_path / "crossed.png")
    assert [ax.get_title() for ax in fig.axes] == ["plate: (Intercept)", "sample: (Intercept)"]
    fig = caterpillar_plot(penicillin, "sample", level=0.68)
    assert [ax.get_title() for ax in fig.axes] == ["sample: (Intercept)"]
    with pytest.raises(mm.ModelSpecificationError, match="no grouping factor"):
        caterpillar_plot(penicillin, "nope")


def test_ranef_qq_plot(penicillin: LinearMixedModel, tmp_path: Path) -> None:
    fig = ranef_qq_plot(penicillin)
    render(fig, tmp_path / "ranef_qq.png")
    assert len(fig.axes) == 2
    assert [points(ax) for ax in fig.axes] == [24, 6]
    fig, ax = plt.subplots()
    assert ranef_qq_plot(penicillin, ax=ax) is fig
    assert points(ax) == 30
    assert ax.get_legend() is not None


def test_diagnostics_panel(sleep: LinearMixedModel, tmp_path: Path) -> None:
    fig = diagnostics_panel(sleep)
    render(fig, tmp_path / "panel.png")
    axes = fig.axes
    assert len(axes) == 4
    assert [ax.get_title() for ax in axes] == [
        "Residuals vs fitted",
        "Normal Q-Q of residuals",
        "Normal Q-Q of conditional modes",
        "Subject: (Intercept)",
    ]
    assert points(axes[0]) == 180 and points(axes[1]) == 180 and points(axes[2]) == 36
    assert fig.get_suptitle() == sleep.formula
    again = diagnostics_panel(sleep, fig=fig)  # reuse a figure
    assert again is fig and len(fig.axes) == 4


def test_plots_on_given_axes(sleep: LinearMixedModel) -> None:
    fig, (a, b, c) = plt.subplots(1, 3)
    assert residual_plot(sleep, ax=a) is fig
    assert qq_plot(sleep, ax=b) is fig
    assert caterpillar_plot(sleep, ax=c) is fig
    assert c.get_title() == "Subject: (Intercept)"


def profile_table() -> pd.DataFrame:
    rows = []
    for name, label, est, se in [(".sig01", "sd_(Intercept)|g", 2.0, 0.5), ("x", "x", 1.0, 0.2)]:
        values = est + se * np.linspace(-3, 3, 13)
        zeta = (values - est) / se + 0.05 * ((values - est) / se) ** 2
        rows.append(
            pd.DataFrame({"parameter": name, "label": label, "value": values, "zeta": zeta})
        )
    table = pd.concat(rows, ignore_index=True)
    table.attrs["estimates"] = {".sig01": 2.0, "x": 1.0}
    return table


def test_profile_plot_from_a_table(tmp_path: Path) -> None:
    fig = profile_plot(profile_table())
    render(fig, tmp_path / "profile.png")
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["sd_(Intercept)|g", "x"]
    for ax in axes:
        curve = ax.lines[0]
        assert np.asarray(curve.get_xdata()).shape == (13,)
        assert ax.get_ylabel() == "ζ"
        assert len(ax.lines) == 1 + 2 * 5 + 1  # curve, ±z for 5 levels, estimate
    fig = profile_plot(profile_table().drop(columns="label"), absolute=True, levels=[0.95])
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == [".sig01", "x"]
    assert np.all(np.asarray(axes[0].lines[0].get_ydata()) >= 0)
    assert len(axes[0].lines) == 1 + 1 + 1


def test_profile_plot_layout_and_errors() -> None:
    parts = []
    for i in range(2):
        part = profile_table()
        part["parameter"] = part["parameter"] + str(i)
        parts.append(part)
    table = pd.concat(parts)
    fig = profile_plot(table.drop(columns="label"))
    assert len(visible_axes(fig)) == 4 and len(fig.axes) == 6  # 2 rows of 3, 2 hidden
    with pytest.raises(mm.DataError, match="columns"):
        profile_plot(pd.DataFrame({"value": [1.0]}))
    with pytest.raises(mm.DataError, match="empty"):
        profile_plot(pd.DataFrame({"parameter": [], "value": [], "zeta": []}))


def test_profile_plot_from_a_profile(tmp_path: Path) -> None:
    from mixedmodels.inference.profile import profile

    model = mm.lmer("travel ~ 1 + (1 | Rail)", mm.datasets.load("Rail"), reml=False)
    table = profile(model)
    fig = profile_plot(table)
    render(fig, tmp_path / "rail_profile.png")
    assert [ax.get_title() for ax in visible_axes(fig)] == list(dict.fromkeys(table["label"]))


def test_missing_matplotlib_is_a_clear_error(
    sleep: LinearMixedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'mixedmodels\[plot\]'"):
        residual_plot(sleep)
