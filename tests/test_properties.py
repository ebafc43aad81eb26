"""Property-based tests: invariances of the fit and robustness to arbitrary input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedmodels as mm
from mixedmodels.formula import parse_formula

FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (1 + x | g)",
    "y ~ x + (1 | g) + (1 | h)",
    "y ~ x + (x || g)",
]
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_data(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 8, n)
    h = rng.integers(0, 5, n)
    x = rng.normal(size=n)
    y = 1 + x + rng.normal(size=8)[g] + 0.5 * rng.normal(size=8)[g] * x
    y = y + 0.7 * rng.normal(size=5)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{v}" for v in g], "h": [f"h{v}" for v in h]})


def fit(formula: str, data: pd.DataFrame, reml: bool = True) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, data, reml=reml, check_convergence=False)


def assert_same_fit(a: mm.LinearMixedModel, b: mm.LinearMixedModel, rtol: float = 1e-5) -> None:
    assert a.objective == pytest.approx(b.objective, rel=1e-8, abs=1e-8)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=rtol, atol=rtol * a.sigma)
    assert a.sigma == pytest.approx(b.sigma, rel=rtol)


@SETTINGS
@given(seed=st.integers(0, 10_000), formula=st.sampled_from(FORMULAS))
def test_invariant_to_row_order(seed: int, formula: str) -> None:
    data = make_data(seed, 80)
    shuffled = data.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert_same_fit(fit(formula, data), fit(formula, shuffled))


@SETTINGS
@given(seed=st.integers(0, 10_000), formula=st.sampled_from(FORMULAS))
def test_invariant_to_relabeling_levels(seed: int, formula: str) -> None:
    data = make_data(seed, 80)
    relabeled = data.copy()
    rng = np.random.default_rng(seed)
    mapping = {f"g{i}": f"level_{v}" for i, v in enumerate(rng.permutation(8))}
    relabeled["g"] = relabeled["g"].map(mapping)
    assert_same_fit(fit(formula, data), fit(formula, relabeled))


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    formula=st.sampled_from(FORMULAS),
    scale=st.sampled_from([1e-8, 1e-3, 7.5, 1e4, 1e8]),
)
def test_rescaling_the_response(seed: int, formula: str, scale: float) -> None:
    data = make_data(seed, 80)
    scaled = data.assign(y=data["y"] * scale)
    a, b = fit(formula, data), fit(formula, scaled)
    np.testing.assert_allclose(b.fixef, a.fixef * scale, rtol=1e-4, atol=1e-4 * a.sigma * scale)
    assert b.sigma == pytest.approx(a.sigma * scale, rel=1e-4)
    if a.is_singular or b.is_singular:
        # on the boundary θ is not identified (the objective is flat along it): each fit's θ
        # must be as good for the other's data, not equal
        assert a.objective_at(b.theta) == pytest.approx(a.objective, rel=1e-8, abs=1e-6)
    else:
        np.testing.assert_allclose(b.theta, a.theta, rtol=1e-3, atol=1e-4)


@SETTINGS
@given(seed=st.integers(0, 10_000), shift=st.floats(-1e4, 1e4))
def test_shifting_the_response_moves_only_the_intercept(seed: int, shift: float) -> None:
    data = make_data(seed, 80)
    a = fit("y ~ x + (1 + x | g)", data)
    b = fit("y ~ x + (1 + x | g)", data.assign(y=data["y"] + shift))
    assert b.fixef["(Intercept)"] == pytest.approx(
        a.fixef["(Intercept)"] + shift, abs=1e-5 * (1 + abs(shift))
    )
    assert b.fixef["x"] == pytest.approx(a.fixef["x"], abs=1e-5 * a.sigma)
    assert b.sigma == pytest.approx(a.sigma, rel=1e-5)


@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_ml_optimum_is_below_a_grid_of_theta(seed: int) -> None:
    model = fit("y ~ x + (1 | g) + (1 | h)", make_data(seed, 60), reml=False)
    grid = np.linspace(0.0, 3.0, 13)
    best = min(model.objective_at(np.array([a, b])) for a in grid for b in grid)
    assert model.objective <= best + 1e-8 * abs(best)


FORMULA_ALPHABET = st.sampled_from(
    list("yxgh()|+-*/:~01 ") + ["||", "np.log(", "C(", "offset(", "I(", "z", "zz", "**2", ","]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FORMULA_ALPHABET, max_size=14).map("".join))
def test_parser_raises_only_formula_errors(text: str) -> None:
    try:
        parse_formula(text)
    except mm.FormulaError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FORMULA_ALPHABET, max_size=12).map(lambda parts: "y ~ " + "".join(parts)))
def test_any_formula_gives_a_fit_or_our_error(text: str) -> None:
    data = make_data(1, 40)
    try:
        fit(text, data)
    except mm.MixedModelsError:
        pass
