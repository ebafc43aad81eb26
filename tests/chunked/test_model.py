"""Models fitted from chunks (Parquet files, Dask, PyArrow datasets) equal the in-memory fits."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, NotSupportedError, UnknownColumnError

dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

OBJECTIVE_RTOL = 1e-9
ESTIMATE_RTOL = 1e-8


def write_chunks(frame: pd.DataFrame, directory: Path, n: int = 7) -> Path:
    """The frame as ``n`` Parquet files of nearly equal size."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), n)):
        frame.iloc[rows].to_parquet(directory / f"part-{i}.parquet")
    return directory


def fit_both(formula: str, frame: pd.DataFrame, data: Any, **kwargs: Any) -> tuple[Any, Any]:
    """The in-memory fit and the chunked fit, both with the convergence check (and polish)."""
    kwargs.setdefault("check_convergence", True)
    return mm.lmer(formula, frame, **kwargs), mm.lmer(formula, data, **kwargs)


def assert_same(
    memory: mm.LinearMixedModel,
    chunked: mm.LinearMixedModel,
    theta_rtol: float = ESTIMATE_RTOL,
    estimate_rtol: float = ESTIMATE_RTOL,
) -> None:
    """Objective to 1e-9 and every estimate to 1e-8 (relative), as the issue asks."""
    assert isinstance(chunked, mm.ChunkedLinearMixedModel)
    assert chunked.nobs == memory.nobs
    assert chunked.objective == pytest.approx(memory.objective, rel=OBJECTIVE_RTOL)
    np.testing.assert_allclose(chunked.theta, memory.theta, rtol=theta_rtol, atol=1e-10)
    pd.testing.assert_series_equal(chunked.fixef, memory.fixef, rtol=estimate_rtol)
    assert chunked.sigma == pytest.approx(memory.sigma, rel=estimate_rtol)
    pd.testing.assert_frame_equal(
        chunked.coef_table, memory.coef_table, rtol=1e-6, check_exact=False
    )
    pd.testing.assert_frame_equal(chunked.varcorr, memory.varcorr, rtol=2 * theta_rtol)
    for group, modes in memory.ranef.items():
        scale = float(np.abs(modes.to_numpy()).max())  # modes near zero: relative to the largest
        pd.testing.assert_frame_equal(
            chunked.ranef[group], modes, rtol=max(1e-7, 4 * theta_rtol), atol=1e-8 * scale
        )
    assert chunked.ngroups == memory.ngroups


def summary_body(model: mm.LinearMixedModel) -> list[str]:
    """The summary without its "Data:" line."""
    return [line for line in model.summary().splitlines() if "Data:" not in line]


def test_sleepstudy_from_seven_parquet_files(tmp_path: Path) -> None:
    frame = mm.datasets.load("sleepstudy")
    memory, chunked = fit_both(
        "Reaction ~ Days + (Days | Subject)", frame, write_chunks(frame, tmp_path)
    )
    assert_same(memory, chunked)
    assert summary_body(chunked) == summary_body(memory)
    assert chunked.data_name == str(tmp_path)
    assert chunked.aic == pytest.approx(memory.aic, rel=OBJECTIVE_RTOL)


def test_crossed_and_nested_from_dask_frames() -> None:
    for name, formula in [
        ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
        ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
    ]:
        frame = mm.datasets.load(name)
        memory, chunked = fit_both(formula, frame, dd.from_pandas(frame, npartitions=7))
        assert_same(memory, chunked)


def test_no_intercept() -> None:
    # Without an intercept the response is not centred: y'y ≈ 1.6e7 next to r² ≈ 1e5 costs
    # two digits of the objective, so rows summed in another order (chunks) move θ by up to
    # ~3e-8 and β by ~1e-8 (the finite-difference gradient's noise floor at that precision)
    frame = mm.datasets.load("sleepstudy")
    formula = "Reaction ~ 0 + Days + (Days | Subject)"  # θ₁ ≈ 10
    memory, chunked = fit_both(formula, frame, dd.from_pandas(frame, npartitions=7))
    assert_same(memory, chunked, theta_rtol=5e-8, estimate_rtol=3e-8)


def test_three_crossed_factors_and_a_random_slope() -> None:
    frame = simulated(11)
    rng = np.random.default_rng(2)
    frame["k"] = rng.integers(0, 12, len(frame)).astype(str)
    frame["y"] += rng.normal(size=12)[frame["k"].astype(int)]
    formula = "y ~ x + (1 + x | g) + (1 | h) + (1 | k)"  # terms reordered: g, k, h
    memory, chunked = fit_both(formula, frame, dd.from_pandas(frame, npartitions=6))
    assert [t.name for t in chunked.terms] == [t.name for t in memory.terms] == ["g", "k", "h"]
    assert_same(memory, chunked)


def test_glob_list_and_arrow_dataset_sources(tmp_path: Path) -> None:
    import pyarrow.dataset as ds

    frame = mm.datasets.load("Dyestuff")
    write_chunks(frame, tmp_path, n=3)
    formula = "Yield ~ 1 + (1 | Batch)"
    memory = mm.lmer(formula, frame, reml=False, check_convergence=True)
    paths = sorted(tmp_path.glob("*.parquet"))
    url = f"file://{tmp_path}/*.parquet"  # URLs (s3://, gs://, ...) are read through fsspec
    sources = [str(tmp_path / "*.parquet"), paths, ds.dataset(str(tmp_path), format="parquet"), url]
    for source in sources:
        chunked = mm.lmer(formula, source, reml=False, check_convergence=True)
        assert_same(memory, chunked)


def simulated(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 600
    g = rng.integers(0, 30, n)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "f": rng.choice(["lo", "mid", "hi"], n),
            "g": [f"s{i}" for i in g],
            "h": rng.integers(0, 8, n),
            "w": rng.uniform(0.5, 2.0, n),
            "exposure": rng.uniform(1.0, 3.0, n),
        }
    )
    effect = rng.normal(size=30)[g] + 0.5 * rng.normal(size=30)[g] * frame["x"]
    frame["y"] = 1.0 + 0.5 * frame["x"] + (frame["f"] == "hi") + effect + rng.normal(size=n)
    return frame


def test_categorical_predictors_weights_offset_and_missing_values(tmp_path: Path) -> None:
    frame = simulated()
    frame.loc[[3, 40], "x"] = np.nan
    frame.loc[11, "f"] = None
    # every row of level s0 has a missing x: the level must vanish, as in memory
    frame.loc[frame["g"] == "s0", "x"] = np.nan
    formula = "y ~ x * f + (1 + x | g) + (1 | h) + offset(np.log(exposure))"
    memory, chunked = fit_both(
        formula, frame, write_chunks(frame, tmp_path), weights="w", offset="exposure"
    )
    assert_same(memory, chunked)
    assert "s0" not in chunked.ranef["g"].index
    assert chunked.frame.n_dropped == memory.frame.n_dropped > 0
    assert summary_body(chunked) == summary_body(memory)


def test_random_slopes_on_a_categorical_column_and_ml() -> None:
    frame = simulated(5)
    codes = frame["f"].map({"lo": 0, "mid": 1, "hi": 2}).to_numpy()
    groups = frame["g"].str[1:].astype(int).to_numpy()
    effects = np.random.default_rng(7).normal(size=(30, 3)) @ np.array(
        [[1.0, 0.5, 0.2], [0.0, 1.0, 0.4], [0.0, 0.0, 0.8]]
    )
    frame["y"] += effects[groups, codes]
    formula = "y ~ x + f + (0 + f | g)"
    memory, chunked = fit_both(formula, frame, dd.from_pandas(frame, npartitions=7), reml=False)
    assert np.all(memory.theta[memory.lower == 0] > 1e-3)  # not singular: well determined
    assert_same(memory, chunked)


def test_fitted_and_residuals_are_lazy_and_equal_to_memory(tmp_path: Path) -> None:
    frame = simulated()
    frame.loc[[5, 77], "x"] = np.nan
    formula = "y ~ x + f + (1 | g)"
    memory, chunked = fit_both(formula, frame, dd.from_pandas(frame, npartitions=4))
    fitted = chunked.fitted()
    assert hasattr(fitted, "compute")  # a Dask series, nothing computed yet
    kept = memory.frame.rows
    np.testing.assert_allclose(fitted.compute().to_numpy(), memory.fitted(), rtol=1e-8)
    assert list(fitted.compute().index) == list(frame.index[kept])
    for kind in ("response", "pearson"):
        lazy = chunked.residuals(kind, scaled=True).compute().to_numpy()
        np.testing.assert_allclose(lazy, memory.residuals(kind, scaled=True), atol=1e-7)
    population = chunked.predict(re_form="~0").compute().to_numpy()
    np.testing.assert_allclose(population, memory.predict(re_form="~0"), rtol=1e-8)
    new = frame.iloc[:5].assign(g=["s1", "s2", "zz", "s3", "s4"])
    np.testing.assert_allclose(
        chunked.predict(new, allow_new_levels=True),
        memory.predict(new, allow_new_levels=True),
        rtol=1e-8,
    )


def test_inference_on_the_blocks_and_what_needs_rows() -> None:
    frame = simulated()
    formula = "y ~ x * f + (1 | g)"
    memory, chunked = fit_both(formula, frame, dd.from_pandas(frame, npartitions=3))
    pd.testing.assert_frame_equal(chunked.anova(type=1), memory.anova(type=1), rtol=1e-6)
    pd.testing.assert_frame_equal(
        chunked.confint("wald"), memory.confint("wald"), rtol=1e-7, check_exact=False
    )
    L = np.zeros((1, len(memory.fixef)))
    L[0, 1] = 1.0
    pd.testing.assert_frame_equal(chunked.contrast(L), memory.contrast(L), rtol=1e-6)
    for call in (
        lambda: chunked.simulate(2),
        lambda: chunked.bootstrap(10),
        lambda: chunked.refit(np.ones(chunked.nobs)),
        lambda: chunked.coef_test("kenward-roger"),
        lambda: chunked.anova(type=3),
        lambda: chunked.hat_values(),
        lambda: chunked.plot_diagnostics(),
        lambda: chunked.confint("bootstrap"),
    ):
        with pytest.raises(NotSupportedError, match="needs the rows in memory"):
            call()


def test_likelihood_ratio_test_refits_chunked_reml_fits_by_ml() -> None:
    frame = simulated()
    data = dd.from_pandas(frame, npartitions=3)
    small = [mm.lmer("y ~ x + (1 | g)", d) for d in (frame, data)]
    large = [mm.lmer("y ~ x + f + (1 | g)", d) for d in (frame, data)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.RefitMLWarning)
        memory = mm.anova(small[0], large[0])
        chunked = mm.anova(small[1], large[1])
        mixed = mm.anova(small[0], large[1])
    pd.testing.assert_frame_equal(chunked, memory, rtol=1e-7)
    pd.testing.assert_frame_equal(mixed, memory, rtol=1e-7)
    other = dd.from_pandas(frame.assign(y=frame["y"] * 2), npartitions=3)
    with pytest.raises(mm.ModelSpecificationError, match="same data"):
        mm.anova(small[1], mm.lmer("y ~ x + f + (1 | g)", other))


def test_rank_deficient_fixed_effects_are_dropped_as_in_memory() -> None:
    frame = simulated().assign(x2=lambda d: 2.0 * d["x"])
    formula = "y ~ x + x2 + (1 | g)"
    with pytest.warns(mm.RankDeficiencyWarning, match="x2"):
        memory = mm.lmer(formula, frame)
    with pytest.warns(mm.RankDeficiencyWarning, match="x2"):
        chunked = mm.lmer(formula, dd.from_pandas(frame, npartitions=5))
    assert list(chunked.fixef.index) == list(memory.fixef.index) == ["(Intercept)", "x"]
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-8)


def test_empty_partitions_are_harmless() -> None:
    frame = mm.datasets.load("sleepstudy")
    parts = [frame.iloc[:0], frame.iloc[:90], frame.iloc[:0], frame.iloc[90:]]
    data = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts])
    memory, chunked = fit_both("Reaction ~ Days + (Days | Subject)", frame, data)
    assert_same(memory, chunked)


def test_bad_input_gets_clear_errors(tmp_path: Path) -> None:
    frame = simulated()
    data = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(UnknownColumnError, match="nope"):
        mm.lmer("y ~ nope + (1 | g)", data)
    with pytest.raises(DataError, match="no Parquet file"):
        mm.lmer("y ~ x + (1 | g)", str(tmp_path / "missing" / "*.parquet"))
    with pytest.raises(DataError, match=r"mm.datasets.load\('sleepstudy'\)"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", "sleepstudy")
    with pytest.raises(DataError, match="name of a column"):
        mm.lmer("y ~ x + (1 | g)", data, weights=np.ones(len(frame)))
    with pytest.raises(NotSupportedError, match="center"):
        mm.lmer("y ~ center(x) + (1 | g)", data)
    with pytest.raises(NotSupportedError, match="categorical"):
        mm.lmer("y ~ C(h) + (1 | g)", data)
    with pytest.raises(DataError, match="missing values"):
        mm.lmer(
            "y ~ x + (1 | g)",
            dd.from_pandas(frame.assign(x=frame["x"].where(frame.index > 300)), npartitions=2),
            na_action="fail",
        )
    with pytest.raises(DataError, match="weights must be positive"):
        mm.lmer("y ~ x + (1 | g)", dd.from_pandas(frame.assign(w=-1.0), npartitions=2), weights="w")
    with pytest.raises(DataError, match="constant"):
        mm.lmer("y ~ x + (1 | g)", dd.from_pandas(frame.assign(y=1.0), npartitions=2))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("x", np.inf, r"non-finite values in column\(s\): x"),
        ("y", -np.inf, "the response 'y' has non-finite values"),
        ("x", 1e200, "overflow"),
    ],
)
def test_non_finite_and_huge_values_are_refused(column: str, value: float, message: str) -> None:
    frame = simulated()
    frame.loc[400, column] = value  # in the second partition
    data = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(DataError, match=message):
        mm.lmer("y ~ x + (1 | g)", data)
    if value != 1e200:  # in memory: the same message
        with pytest.raises(DataError, match=message):
            mm.lmer("y ~ x + (1 | g)", frame)


def test_the_caller_frame_is_not_modified() -> None:
    frame = simulated()
    frame.loc[3, "x"] = np.nan
    before = frame.copy()
    mm.lmer("y ~ x + f + (1 | g)", dd.from_pandas(frame, npartitions=3))
    pd.testing.assert_frame_equal(frame, before)


def test_on_a_local_cluster_with_two_workers(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    frame = mm.datasets.load("sleepstudy")
    path = write_chunks(frame, tmp_path)
    memory = mm.lmer("Reaction ~ Days + (Days | Subject)", frame, check_convergence=True)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        chunked = mm.lmer("Reaction ~ Days + (Days | Subject)", path, check_convergence=True)
        assert_same(memory, chunked)
        assert summary_body(chunked) == summary_body(memory)
        intercepts = "Reaction ~ Days + (1 | Subject)"  # the compiled sweep, in the workers
        assert_same(mm.lmer(intercepts, frame), mm.lmer(intercepts, path))
        workers = client.run(lambda: 1)
        assert len(workers) == 2


def test_progress_bar_over_the_partitions(capsys: pytest.CaptureFixture[str]) -> None:
    frame = mm.datasets.load("sleepstudy")
    data = dd.from_pandas(frame, npartitions=4)
    mm.lmer("Reaction ~ Days + (Days | Subject)", data, progress=True)
    err = capsys.readouterr().err
    assert "cross-products" in err and "100%" in err
    mm.lmer("Reaction ~ Days + (Days | Subject)", data, progress=False)
    assert capsys.readouterr().err == ""


def test_levels_seen_only_in_incomplete_rows_vanish_as_in_memory() -> None:
    frame = simulated(4)
    frame.loc[7, ["f", "x"]] = ["only-here", np.nan]  # a predictor level in an incomplete row
    frame.loc[9, ["g", "x"]] = ["s99", np.nan]  # a grouping level likewise
    memory, chunked = fit_both("y ~ x + f + (1 | g)", frame, dd.from_pandas(frame, npartitions=4))
    assert_same(memory, chunked)
    assert not any("only-here" in name for name in chunked.fixef.index)
    assert "s99" not in chunked.ranef["g"].index


def test_declared_categories_are_kept_whole_as_in_memory() -> None:
    frame = simulated(6)
    frame["f"] = pd.Categorical(frame["f"], categories=["lo", "mid", "hi", "unused"])
    with pytest.warns(mm.RankDeficiencyWarning, match="unused"):
        memory = mm.lmer("y ~ x + f + (1 | g)", frame, check_convergence=True)
    with pytest.warns(mm.RankDeficiencyWarning, match="unused"):
        chunked = mm.lmer(
            "y ~ x + f + (1 | g)", dd.from_pandas(frame, npartitions=3), check_convergence=True
        )
    assert_same(memory, chunked)
