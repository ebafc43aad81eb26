"""Separated binomial and Poisson GLMMs finish with a SeparationWarning; huge counts fit.

``data/glmm_separation.csv`` and ``.json`` come from ``data/r/glmm_separation.R`` (lme4
1.1-31): lme4 fits the quasi-complete case with ``fc`` = 20.4 (any large value will do) and a
convergence warning, and stops with "pwrssUpdate did not converge" on the complete one.
``data/glmm_huge_counts.csv`` (R, ``set.seed(11)``): Poisson counts from 4e12 to 7e13,
``y ~ rpois(exp(log(2e13) + 0.5 x + b_g))``, 15 groups of 8, ``b_g ~ N(0, 0.3²)``, on which
lme4 stops with "PIRLS step-halvings failed to reduce deviance".
A separated fit's other estimates and standard errors are those of its limit, the fit without
the separated rows (``tests/data/parity/README.md``, the case ``cbpp_separated``).
"""

from __future__ import annotations

import json
import warnings
from decimal import Decimal, getcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import SeparationWarning
from mixedmodels.glmm_api import glmer
from mixedmodels.spec.families import Poisson

DATA = Path(__file__).resolve().parent / "data"
PARITY = DATA.parent.parent / "data" / "parity"
REF: dict[str, Any] = json.loads((DATA / "glmm_separation.json").read_text())


@pytest.fixture(scope="module")
def sep() -> pd.DataFrame:
    return pd.read_csv(DATA / "glmm_separation.csv")


def fit_recording(formula: str, data: pd.DataFrame, **kwargs: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = glmer(formula, data, **kwargs)
    messages = [str(w.message) for w in caught if w.category is SeparationWarning]
    return model, messages


def test_quasi_complete_separation_finishes_and_names_the_level(sep: pd.DataFrame) -> None:
    ref = REF["quasi"]
    model, messages = fit_recording(ref["formula"], sep)
    assert len(messages) == 1
    assert "'f[T.c]' diverge" in messages[0] and "'x'" not in messages[0]
    assert "probabilities numerically 0 or 1 for 31 of 120" in messages[0]
    assert model.objective <= ref["objective"]
    assert model.fixef["f[T.c]"] > 15
    keep = [0, 1, 2]
    np.testing.assert_allclose(model.fixef.to_numpy()[keep], np.array(ref["fixef"])[keep], 2e-3)
    np.testing.assert_allclose(model.theta, ref["theta"], rtol=2e-3)
    np.testing.assert_allclose(
        model.coef_table["std_error"].to_numpy()[keep], np.array(ref["se"])[keep], rtol=2e-2
    )
    assert model.fitted()[sep["f"].to_numpy() == "c"].min() > 1 - 1e-12


def test_complete_separation_finishes_at_the_supremum(sep: pd.DataFrame) -> None:
    assert "did not converge" in REF["complete"]["lme4"]  # lme4 gives up here
    model, messages = fit_recording(REF["complete"]["formula"], sep)
    assert len(messages) == 1 and "the estimates of 's' diverge" in messages[0]
    assert "(Intercept)" not in messages[0]
    assert 0.0 <= model.objective < 1e-8  # sup of the likelihood: 1
    np.testing.assert_allclose(model.fitted(), sep["yc"], atol=1e-10)
    assert np.all(np.isfinite(model.fixef)) and model.fixef["s"] > 100


def test_separating_direction_of_two_columns_is_named(sep: pd.DataFrame) -> None:
    model, messages = fit_recording("yc ~ x + s + (1 | g)", sep)
    assert len(messages) == 1 and "'s'" in messages[0]
    assert np.all(np.isfinite(model.fixef))


def test_no_separation_warning_without_separation(sep: pd.DataFrame) -> None:
    model, messages = fit_recording("y ~ x + f + (1 | g)", sep)
    assert messages == [] and np.all(np.abs(model.fixef) < 5)


def test_poisson_level_with_only_zero_counts_is_named() -> None:
    rng = np.random.default_rng(3)
    g = rng.integers(0, 10, 150)
    f = rng.choice(["a", "b", "z"], 150)
    x = rng.normal(size=150)
    y = rng.poisson(np.exp(1 + 0.3 * x + rng.normal(scale=0.5, size=10)[g]))
    y[f == "z"] = 0
    frame = pd.DataFrame({"y": y, "x": x, "f": f, "g": g.astype(str)})
    model, messages = fit_recording("y ~ x + f + (1 | g)", frame, family="poisson")
    assert len(messages) == 1 and "'f[T.z]' diverge" in messages[0]
    assert "means numerically 0" in messages[0]
    assert model.fixef["f[T.z]"] < -20 and abs(model.fixef["x"] - 0.3) < 0.15


def test_poisson_counts_of_1e13_fit_with_the_known_answer() -> None:
    frame = pd.read_csv(DATA / "glmm_huge_counts.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.ConvergenceWarning)  # eigenvalue ratio ~1e13
        warnings.simplefilter("error", SeparationWarning)
        model = glmer("y ~ x + (1 | g)", frame, family="poisson")
    beta = model.fixef.to_numpy()
    se = model.coef_table["std_error"].to_numpy()
    # with counts this large each group's rate is known to ~3e-7: the slope is the simulated
    # 0.5 to a few standard errors, and the intercept and SD are those of the group log rates
    assert abs(beta[1] - 0.5) < 5 * se[1] and se[1] == pytest.approx(2.33023e-8, rel=1e-4)
    rate = frame.assign(e=np.exp(beta[1] * frame["x"])).groupby("g")[["y", "e"]].sum()
    log_rate = np.log(rate["y"] / rate["e"])
    # the optimizer stops when the predicted decrease is below 1e-12 |f|: within ~1e-6 of the
    # known answer, a few times the ~3e-7 to which the data know each rate (machine-dependent)
    assert beta[0] == pytest.approx(log_rate.mean(), abs=1e-6)
    assert model.theta[0] == pytest.approx(
        np.sqrt(np.mean((log_rate - log_rate.mean()) ** 2)), rel=1e-4
    )


def test_poisson_aic_keeps_its_digits_for_huge_counts() -> None:
    getcontext().prec = 50
    y = np.array([0.0, 3.0, 16.0, 4.1e12, 6.9e13])
    mu = np.array([0.5, 2.5, 17.5, 4.1e12 + 3e6, 6.9e13 - 1e7])
    half_log_2pi = Decimal("0.91893853320467274178032973640561763986139747363778")

    def minus_two_log_p(k: float, m: float) -> Decimal:
        n, lam = Decimal(int(k)), Decimal(m)
        if n == 0:
            return 2 * lam
        if n < 100:  # log n! exactly
            lgamma = sum((Decimal(i).ln() for i in range(2, int(n) + 1)), Decimal(0))
        else:  # Stirling's series, its error ~1/n^7
            lgamma = (n + Decimal("0.5")) * n.ln() - n + half_log_2pi
            lgamma += 1 / (12 * n) - 1 / (360 * n**3) + 1 / (1260 * n**5)
        return -2 * (n * lam.ln() - lam - lgamma)

    ones = np.ones(1)
    for k, m in zip(y, mu, strict=True):
        ours = Poisson().aic(np.array([k]), ones, np.array([m]), ones, 0.0)
        assert ours == pytest.approx(float(minus_two_log_p(k, m)), abs=1e-8)


def _cbpp_separated() -> pd.DataFrame:
    frame = pd.read_csv(PARITY / "cbpp_separated.csv")  # cbpp with no cases in period 4
    return frame.assign(herd=frame["herd"].astype(str), period=frame["period"].astype(str))


@pytest.mark.parametrize(
    ("formula", "column", "factor", "level"),
    [
        ("yq ~ x + f + (1 | g)", "f[T.c]", "f", "c"),
        ("cbind(incidence, size - incidence) ~ period + (1|herd)", "period[T.4]", "period", "4"),
    ],
)
def test_separated_fit_is_the_limit_fit_without_the_separated_rows(
    sep: pd.DataFrame, formula: str, column: str, factor: str, level: str
) -> None:
    # as the separated coefficient diverges, the rows it picks out stop carrying information:
    # the other estimates, their standard errors, θ and the objective tend to those of the fit
    # without those rows (and without the column), which are well defined
    frame = sep if factor == "f" else _cbpp_separated()
    model, messages = fit_recording(formula, frame)
    assert len(messages) == 1 and f"'{column}' diverge" in messages[0]
    limit, none = fit_recording(formula, frame[frame[factor] != level])
    assert none == []
    keep = list(limit.fixef.index)
    assert keep == [n for n in model.fixef.index if n != column]
    np.testing.assert_allclose(model.fixef[keep], limit.fixef, rtol=1e-5)
    np.testing.assert_allclose(model.theta, limit.theta, rtol=1e-5)
    assert model.objective == pytest.approx(limit.objective, rel=1e-9)
    np.testing.assert_allclose(
        model.coef_table["std_error"][keep], limit.coef_table["std_error"], rtol=1e-5
    )
