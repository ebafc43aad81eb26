"""Parametric bootstrap of GLMMs: lme4's ``bootMer(glmer_fit)`` and ``confint(method = "boot")``.

The reference is lme4 1.1-31 (tests/data/r/glmm_boot.R → tests/inference/data/glmm_boot.json):
2000 bootMer replicates of a binomial GLMM (cbpp) and of a Poisson GLMM (grouseticks),
summarized per parameter (the SD of the random intercept, then the fixed effects), and the
percentile intervals of ``confint(m, method = "boot", nsim = 2000)`` from a second run. Our
bootstrap draws other random numbers, so the two agree up to Monte Carlo error, which the
tolerances below are made of (see :func:`_disagreements`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import PirlsError
from mixedmodels.inference.bootstrap import parametric_bootstrap
from mixedmodels.spec.families import Gamma

REFERENCE = json.loads((Path(__file__).parent / "data" / "glmm_boot.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + (1 | BROOD)"
K = 4.0  # Monte Carlo standard errors allowed per comparison


def fit_cbpp() -> mm.GeneralizedLinearMixedModel:
    return mm.glmer(CBPP, mm.datasets.load("cbpp"), family="binomial")


def fit_grouse() -> mm.GeneralizedLinearMixedModel:
    return mm.glmer(GROUSE, mm.datasets.load("grouseticks"), family="poisson")


FITS = {"cbpp": fit_cbpp, "grouse": fit_grouse}


@pytest.fixture(scope="module")
def cbpp() -> mm.GeneralizedLinearMixedModel:
    return fit_cbpp()


def snapshot(m: mm.GeneralizedLinearMixedModel) -> dict[str, Any]:
    """What a fitted GLMM reports, and its engine's state."""
    e = m.engine
    return {
        "engine": (e.theta.copy(), e.beta.copy(), e.u.copy(), e.eta.copy()),
        "theta": m.theta.copy(),
        "beta": m.beta.copy(),
        "objective": m.objective,
        "summary": m.summary(),
        "ranef": {k: v.copy() for k, v in m.ranef.items()},
        "fitted": m.fitted().copy(),
        "y": m.response.y.copy(),
    }


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key == "ranef":
            for group in a[key]:
                pd.testing.assert_frame_equal(a[key][group], b[key][group], check_exact=True)
        elif isinstance(a[key], tuple):
            for x, y in zip(a[key], b[key], strict=True):
                np.testing.assert_array_equal(x, y, err_msg=key)
        elif isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key], key


# ---- the table --------------------------------------------------------------------------------
def test_layout_without_a_dispersion(cbpp: mm.GeneralizedLinearMixedModel) -> None:
    table = cbpp.bootstrap(6, seed=3, n_jobs=1, progress=False)
    assert list(table.columns) == [
        "replicate",
        "objective",
        "(Intercept)",
        "period[T.2]",
        "period[T.3]",
        "period[T.4]",
        "theta_1",
        "sd_(Intercept)|herd",
        "converged",
        "singular",
    ]  # no sigma: lme4's confint of a binomial glmer has no .sigma row
    assert table["replicate"].tolist() == list(range(6))
    assert table["converged"].all() and table["converged"].dtype == bool
    assert table.attrs["n_failed"] == 0 and table.attrs["seed"] == 3
    est = table.attrs["estimates"]
    assert est["objective"] == cbpp.objective
    assert est["period[T.4]"] == cbpp.fixef["period[T.4]"]
    assert est["sd_(Intercept)|herd"] == pytest.approx(cbpp.varcorr["sd_cor"].iloc[0])
    np.testing.assert_array_equal(table["sd_(Intercept)|herd"], table["theta_1"])


def test_a_family_with_a_dispersion_has_sigma() -> None:
    frame = pd.read_csv(Path(__file__).parents[1] / "data" / "parity" / "gamma_sim.csv")
    model = mm.glmer("y ~ x + (1 | g)", frame, family=Gamma(link="log"))
    table = model.bootstrap(4, seed=1, n_jobs=1, progress=False)
    assert list(table.columns[2:7]) == ["(Intercept)", "x", "sigma", "theta_1", "sd_(Intercept)|g"]
    assert table.attrs["estimates"]["sigma"] == pytest.approx(model.sigma)
    # the SDs are on the response scale, as lme4's VarCorr of a Gamma fit: σ θ
    np.testing.assert_allclose(table["sd_(Intercept)|g"], table["sigma"] * table["theta_1"])
    ci = model.confint("boot", replicates=table)
    assert list(ci.index) == [".sig01", ".sigma", "(Intercept)", "x"]


def test_each_replicate_is_a_fit_to_a_simulated_response(
    cbpp: mm.GeneralizedLinearMixedModel,
) -> None:
    table = cbpp.bootstrap(3, seed=11, n_jobs=1, progress=False)
    child = np.random.SeedSequence(11).spawn(3)[2]
    y = cbpp.simulate(1, seed=np.random.default_rng(child))[:, 0]
    fresh = mm.glmer(CBPP, mm.datasets.load("cbpp").assign(incidence=y), family="binomial")
    row = table.iloc[2]
    assert row["objective"] == pytest.approx(fresh.objective, rel=1e-8)
    np.testing.assert_allclose(row[list(fresh.fixed.names)].to_numpy(float), fresh.beta, rtol=1e-4)
    assert row["theta_1"] == pytest.approx(fresh.theta[0], rel=1e-4)


def test_reproducible_with_a_seed(cbpp: mm.GeneralizedLinearMixedModel) -> None:
    a = cbpp.bootstrap(5, seed=123, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(a, cbpp.bootstrap(5, seed=123, n_jobs=1, progress=False))
    seq = np.random.SeedSequence(123)
    pd.testing.assert_frame_equal(a, cbpp.bootstrap(5, seed=seq, n_jobs=1, progress=False))
    other = cbpp.bootstrap(5, seed=124, n_jobs=1, progress=False)
    assert not np.any(a["(Intercept)"].to_numpy() == other["(Intercept)"].to_numpy())
    longer = cbpp.bootstrap(8, seed=123, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(longer.iloc[:5], a)  # a replicate's draws are its own


def test_worker_processes_give_the_same_table_bit_for_bit() -> None:
    model = fit_grouse()
    before = snapshot(model)
    serial = model.bootstrap(24, seed=7, n_jobs=1, progress=False)
    parallel = model.bootstrap(24, seed=7, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel, check_exact=True)
    assert serial.attrs == parallel.attrs
    a = model.confint("bootstrap", nsim=24, seed=7, n_jobs=1, progress=False)
    b = model.confint("bootstrap", nsim=24, seed=7, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert_same(snapshot(model), before)


def test_the_model_is_unchanged_by_bootstrap_and_confint() -> None:
    model = fit_cbpp()
    before = snapshot(model)
    model.bootstrap(5, seed=2, n_jobs=1, progress=False)
    assert_same(snapshot(model), before)
    model.confint("boot", nsim=5, seed=2, n_jobs=1, progress=False)
    assert_same(snapshot(model), before)
    assert_same(snapshot(fit_cbpp()), before)  # and it reads as a fresh fit


def test_failed_refits_are_counted(
    cbpp: mm.GeneralizedLinearMixedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = cbpp.bootstrap(12, seed=5, n_jobs=1, progress=False)
    refit = mm.GeneralizedLinearMixedModel.refit

    def failing(self: mm.GeneralizedLinearMixedModel, y: Any = None) -> Any:
        if y is not None and int(np.sum(y)) % 3 == 0:  # PIRLS fails on these responses
            raise PirlsError("PIRLS did not reduce the penalized deviance")
        return refit(self, y)

    monkeypatch.setattr(mm.GeneralizedLinearMixedModel, "refit", failing)
    table = cbpp.bootstrap(12, seed=5, n_jobs=1, progress=False)
    children = np.random.SeedSequence(5).spawn(12)
    sums = [int(cbpp.simulate(1, seed=np.random.default_rng(c)).sum()) for c in children]
    fails = np.array([s % 3 == 0 for s in sums])
    assert 0 < fails.sum() < 12  # the seed gives both kinds
    assert table.attrs["n_failed"] == int(fails.sum())
    assert table.loc[fails, "objective":"sd_(Intercept)|herd"].isna().all().all()
    assert not table.loc[fails, "converged"].any() and not table.loc[fails, "singular"].any()
    pd.testing.assert_frame_equal(table[~fails], good[~fails])
    ci = cbpp.confint("boot", replicates=table)  # the percentiles of the refits that worked
    kept = cbpp.confint("boot", replicates=good[~fails].reset_index(drop=True))
    pd.testing.assert_frame_equal(ci, kept)


def test_bad_arguments(cbpp: mm.GeneralizedLinearMixedModel) -> None:
    with pytest.raises(mm.DataError, match="positive integer"):
        cbpp.bootstrap(0)
    with pytest.raises(mm.ModelSpecificationError, match="level"):
        cbpp.confint("boot", level=1.5, nsim=3)
    with pytest.raises(mm.ModelSpecificationError, match="unknown parameter"):
        cbpp.confint("boot", which="sigma", nsim=3)
    unfitted = mm.GeneralizedLinearMixedModel(CBPP, mm.datasets.load("cbpp"))
    with pytest.raises(mm.ModelSpecificationError, match="not been fitted"):
        unfitted.bootstrap(3)
    with pytest.raises(mm.ModelSpecificationError, match="not been fitted"):
        parametric_bootstrap(unfitted, 3)


# ---- intervals --------------------------------------------------------------------------------
def test_confint_rows_and_options(cbpp: mm.GeneralizedLinearMixedModel) -> None:
    table = cbpp.bootstrap(40, seed=8, n_jobs=1, progress=False)
    ci = cbpp.confint("bootstrap", nsim=40, seed=8, n_jobs=1, progress=False)
    assert list(ci.index) == [".sig01", "(Intercept)", "period[T.2]", "period[T.3]", "period[T.4]"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"] and ci.attrs["method"] == "bootstrap"
    pd.testing.assert_frame_equal(ci, cbpp.confint("boot", replicates=table))
    readable = cbpp.confint("boot", replicates=table, names="readable", which="theta_", level=0.9)
    assert list(readable.index) == ["sd_(Intercept)|herd"]
    assert list(readable.columns) == ["5 %", "95 %"]
    sd = np.sort(table["sd_(Intercept)|herd"].to_numpy())
    # boot's norm.inter: (R + 1) α = 2.05 and 38.95 fall between order statistics
    assert sd[1] <= readable.iloc[0, 0] <= sd[2] and sd[37] <= readable.iloc[0, 1] <= sd[38]
    assert ci.loc["period[T.2]", "2.5 %"] < cbpp.fixef["period[T.2]"] < ci.iloc[2, 1]


# ---- against lme4 -------------------------------------------------------------------------------
def _disagreements(
    model: mm.GeneralizedLinearMixedModel, table: pd.DataFrame, case: str
) -> list[str]:
    """Our bootstrap against lme4's, statistic by statistic, beyond K Monte Carlo SEs.

    Both are Monte Carlo estimates: ours from ``n`` replicates, lme4's from ``N`` (2000), so
    each tolerance is ``K = 4`` standard errors of the difference, from lme4's replicates
    (their SD ``s``, kurtosis ``κ`` and quantiles):

    - mean: ``s² (1/n + 1/N)``;
    - SD: the sample SD has variance ``(κ − 1) s² / (4n)`` (the delta method on the sample
      variance, whose variance is ``(μ₄ − σ⁴)/n``), so ``(κ − 1) s² (1/n + 1/N) / 4``;
    - a percentile ``q_p`` has variance ``p (1 − p) / (n f(q_p)²)``, the density ``f`` from
      lme4's quantiles around it, ``1/f ≈ (q_{p+0.01} − q_{p−0.01}) / 0.02``.

    For a near-normal parameter and n = 250 the tolerance of a mean is about a quarter of the
    bootstrap SD, of an SD or a percentile about a fifth of it (wider where separated refits
    give heavy tails: cbpp's ``period4`` has κ ≈ 400). A simulation that keeps the conditional
    modes or draws no random effects falls outside them at n = 250, Poisson counts in place of
    binomial ones at n = 1500 (the tests at the end).
    """
    ref = REFERENCE[case]
    n = int(np.isfinite(table["objective"]).sum())
    N = ref["nsim"] - ref["n_failed"]
    columns = [c for c in table.columns if c.startswith("sd_")] + list(model.fixed.names)
    ci = model.confint("boot", replicates=table)
    assert len(ci) == len(ref["parameters"]) == len(columns)
    out = []
    for j, (column, name) in enumerate(zip(columns, ref["parameters"], strict=True)):
        r = ref["boot"][name]
        x = table[column].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        s = r["sd"]
        checks = [
            ("mean", x.mean(), r["mean"], s * math.sqrt(1 / n + 1 / N)),
            ("sd", x.std(ddof=1), s, s * math.sqrt((r["kurtosis"] - 1) * (1 / n + 1 / N) / 4)),
        ]
        q = dict(zip(r["probs"], r["quantiles"], strict=True))
        limits = ref["confint"]["lower"][j], ref["confint"]["upper"][j]
        for k, (p, below, above) in enumerate([(0.025, 0.015, 0.035), (0.975, 0.965, 0.985)]):
            inverse_density = (q[above] - q[below]) / (above - below)
            se = math.sqrt(p * (1 - p) * (1 / n + 1 / N)) * inverse_density
            checks.append((f"{100 * p:g} %", ci.iloc[j, k], limits[k], se))
        for stat, ours, theirs, se in checks:
            if not abs(ours - theirs) <= K * se:
                out.append(
                    f"{name} {stat}: {ours:.4g} vs lme4 {theirs:.4g} (tolerance {K * se:.3g})"
                )
    return out


@pytest.mark.parametrize("case", ["cbpp", "grouse"])
def test_within_monte_carlo_error_of_lme4(case: str) -> None:
    model = FITS[case]()
    table = model.bootstrap(250, seed=20260301, n_jobs=1, progress=False)
    assert table.attrs["n_failed"] == 0 and table["converged"].mean() > 0.99
    assert _disagreements(model, table, case) == []


@pytest.mark.slow
@pytest.mark.parametrize("case", ["cbpp", "grouse"])
def test_within_monte_carlo_error_of_lme4_1500_replicates(case: str) -> None:
    model = FITS[case]()
    table = model.bootstrap(1500, seed=20260302, progress=False)
    assert table.attrs["n_failed"] == 0
    assert _disagreements(model, table, case) == []
    sd = table[[c for c in table.columns if c.startswith("sd_")][0]]
    assert float((sd < 1e-4).mean()) == pytest.approx(REFERENCE[case]["singular"], abs=0.02)


class _WrongSimulation:
    """A model whose ``simulate`` is not lme4's bootstrap's (everything else is the model's)."""

    def __init__(
        self, model: mm.GeneralizedLinearMixedModel, draw: Callable[[Any], np.ndarray]
    ) -> None:
        self._model = model
        self._draw = draw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def simulate(self, nsim: int = 1, *, seed: Any = None) -> np.ndarray:
        return self._draw(np.random.default_rng(seed))


def _cbpp_poisson_draws() -> Callable[[Any], np.ndarray]:
    """Counts from a Poisson GLMM of cbpp (offset log(size)), cut at the herd size."""
    frame = mm.datasets.load("cbpp")
    poisson = mm.glmer(
        "incidence ~ period + offset(log(size)) + (1 | herd)", frame, family="poisson"
    )
    size = frame["size"].to_numpy(dtype=float)[:, None]
    return lambda rng: np.minimum(poisson.simulate(1, seed=rng), size)


WRONG = {  # simulations that are not lme4's bootMer (use.u = FALSE)
    "keeps-the-conditional-modes": lambda m: lambda rng: m.simulate(1, seed=rng, re_form=None),
    "no-random-effects": lambda m: lambda rng: m.simulate(1, seed=rng, use_ranef=False),
}


@pytest.mark.parametrize("kind", list(WRONG))
def test_the_tolerances_catch_a_wrong_simulation(
    cbpp: mm.GeneralizedLinearMixedModel, kind: str
) -> None:
    wrong = _WrongSimulation(cbpp, WRONG[kind](cbpp))
    table = parametric_bootstrap(wrong, 250, seed=20260301, n_jobs=1, progress=False)  # type: ignore[arg-type]
    assert _disagreements(cbpp, table, "cbpp") != []


@pytest.mark.slow
def test_the_tolerances_catch_the_wrong_family(cbpp: mm.GeneralizedLinearMixedModel) -> None:
    # Poisson variance μ against binomial μ(1 − μ/size): 10-30 % more, seen at 1500 replicates
    wrong = _WrongSimulation(cbpp, _cbpp_poisson_draws())
    table = parametric_bootstrap(wrong, 1500, seed=20260302, progress=False)  # type: ignore[arg-type]
    assert _disagreements(cbpp, table, "cbpp") != []
