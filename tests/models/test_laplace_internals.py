"""The pieces under glmer: weighted blocks, block solves, selected inverse, exact gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.linalg import BlockedCholesky, cross_products
from mixedmodels.linalg.blocksolve import lower_solve, upper_solve
from mixedmodels.linalg.crossprod import term_matrix
from mixedmodels.linalg.selected_inverse import selected_inverse
from mixedmodels.linalg.weighted_blocks import WeightedBlocks
from mixedmodels.models.generalized import GeneralizedLinearMixedModel
from mixedmodels.objective.laplace import BlockedEngine
from mixedmodels.objective.laplace_gradient import laplace_gradient
from mixedmodels.objective.laplace_scalar import ScalarEngine, gauss_hermite
from mixedmodels.optimize.newton import quasi_newton
from mixedmodels.results.glmm_vcov import theta_from_tmb, tmb_from_theta
from mixedmodels.spec.families import Binomial, Gamma

FORMULAS = [
    "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)",
    "TICKS ~ YEAR + (1 + cHEIGHT|BROOD) + (1|LOCATION) + (1|YEAR)",
    "TICKS ~ YEAR + (1|LOCATION) + (1 + cHEIGHT|BROOD)",
    "TICKS ~ 1 + (1 + cHEIGHT|LOCATION)",
    "TICKS ~ 1 + (1|BROOD) + (1|LOCATION) + (cHEIGHT||YEAR)",
]


@pytest.fixture(scope="module")
def grouse() -> pd.DataFrame:
    frame = mm.datasets.load("grouseticks")
    for column in ("YEAR", "BROOD", "LOCATION"):
        frame[column] = frame[column].astype(str)
    return frame


def _model(formula: str, data: pd.DataFrame, family: Any = "poisson") -> Any:
    return GeneralizedLinearMixedModel(formula, data, family=family)


def _dense(model: Any, w: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Z`` and ``Λ'Z'WZΛ + I`` as dense matrices (small models only)."""
    Z = sp.hstack([term_matrix(t, None) for t in model.terms]).toarray()
    L = BlockedCholesky(model.terms, cross_products(model.terms, np.zeros((len(w), 1))))
    blocks = [
        np.kron(np.eye(t.nlevels), T) for t, T in zip(model.terms, L.templates(theta), strict=True)
    ]
    Lam = scipy.linalg.block_diag(*blocks)
    return Z, Lam.T @ Z.T @ np.diag(w) @ Z @ Lam + np.eye(Z.shape[1])


@pytest.mark.parametrize("formula", FORMULAS)
def test_weighted_blocks_match_cross_products(grouse: pd.DataFrame, formula: str) -> None:
    model = _model(formula, grouse)
    rng = np.random.default_rng(1)
    w, z = rng.random(len(grouse)) + 0.5, rng.standard_normal(len(grouse))
    ours = WeightedBlocks(model.terms, model.fixed.X).build(w, z)
    ref = cross_products(model.terms, np.column_stack([model.fixed.X, z]), np.sqrt(w))
    for a, b in zip(ours.diag, ref.diag, strict=True):
        np.testing.assert_allclose(a, b)
    for a, b in zip(ours.sparse, ref.sparse, strict=True):
        if b is not None:
            assert a is not None
            np.testing.assert_allclose(a.to_scipy().toarray(), b.to_scipy().toarray())
    for a, b in zip(ours.xz, ref.xz, strict=True):
        np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(ours.xx, ref.xx)


@pytest.mark.parametrize("formula", FORMULAS)
def test_block_solves_and_selected_inverse(grouse: pd.DataFrame, formula: str) -> None:
    model = _model(formula, grouse)
    rng = np.random.default_rng(2)
    w = rng.random(len(grouse)) + 0.5
    theta = model.theta * 0.7 + 0.05
    A = WeightedBlocks(model.terms, model.fixed.X).build(w, np.zeros(len(w)))
    L = BlockedCholesky(model.terms, A)
    L.update(theta)
    _, M = _dense(model, w, theta)
    chol = np.linalg.cholesky(M)
    V = rng.standard_normal((M.shape[0], 3))
    np.testing.assert_allclose(lower_solve(L, V), np.linalg.solve(chol, V), atol=1e-10)
    np.testing.assert_allclose(upper_solve(L, V), np.linalg.solve(chol.T, V), atol=1e-10)
    S = np.linalg.inv(M)
    si = selected_inverse(L, fixed=False)
    starts = np.cumsum([0] + [t.q for t in model.terms])
    for r, term in enumerate(model.terms):  # the diagonal blocks of every term
        k, start = term.k, starts[r]
        blocks = [
            S[start + g * k : start + (g + 1) * k][:, start + g * k : start + (g + 1) * k]
            for g in range(term.nlevels)
        ]
        np.testing.assert_allclose(si.diagonal_blocks(r), np.array(blocks), atol=1e-12)
    for r in range(1, len(model.terms)):  # every pair of levels with the first term and later
        for s in range(r + 1):
            tr, ts = model.terms[r], model.terms[s]
            if s == r and L.blockdiag[r]:
                continue  # only the diagonal blocks are held (checked above)
            gr, gs = (
                g.ravel()
                for g in np.meshgrid(np.arange(tr.nlevels), np.arange(ts.nlevels), indexing="ij")
            )
            got = si.pair_blocks(r, s, gr, gs)
            D = S[starts[r] : starts[r + 1], starts[s] : starts[s + 1]]
            D4 = D.reshape(tr.nlevels, tr.k, ts.nlevels, ts.k)
            np.testing.assert_allclose(got, D4[gr, :, gs, :], atol=1e-12)


def _central(f: Any, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty(len(x))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


CASES = [
    ("TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)", "poisson", [0.7, 0.5]),
    ("TICKS ~ YEAR + cHEIGHT + (1 + cHEIGHT|LOCATION)", "poisson", [0.9, 0.01, 0.02]),
    ("TICKS ~ YEAR + cHEIGHT + (1|LOCATION)", "poisson", [0.8]),
]


@pytest.mark.parametrize(("formula", "family", "theta"), CASES)
def test_exact_gradients_match_differences(
    grouse: pd.DataFrame, formula: str, family: str, theta: list[float]
) -> None:
    model = _model(formula, grouse, family)
    th = np.array(theta)
    engine = model.engine
    engine.start(np.zeros(model.n_fixed), model.data.family.initial_mu(model.data.y, 1.0))
    engine.evaluate_stage1(th)
    stage1 = laplace_gradient(engine, with_beta=True)
    np.testing.assert_allclose(stage1, _central(engine.evaluate_stage1, th), rtol=2e-5, atol=2e-5)
    x = np.concatenate([th, engine.beta * 0.9])
    grad = model.gradient_at(x)
    np.testing.assert_allclose(grad, _central(model.objective_at, x, 1e-7), rtol=1e-4, atol=1e-4)


def test_gradients_for_non_canonical_links_and_gamma() -> None:
    cbpp = mm.datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    for family in (Binomial("probit"), Binomial("cloglog")):
        model = GeneralizedLinearMixedModel(formula, cbpp, family=family)
        x = np.array([0.4, -0.8, -0.5, -0.6, -0.8])
        np.testing.assert_allclose(
            model.gradient_at(x), _central(model.objective_at, x), rtol=1e-4, atol=1e-4
        )
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"g": np.repeat(np.arange(20), 8), "x": rng.standard_normal(160)})
    frame["y"] = rng.gamma(3.0, np.exp(0.5 + 0.4 * frame.x + rng.normal(0, 0.4, 20)[frame.g]) / 3)
    model = GeneralizedLinearMixedModel("y ~ x + (1|g)", frame, family=Gamma("log"))
    x = np.array([0.6, 0.5, 0.4])
    np.testing.assert_allclose(
        model.gradient_at(x), _central(model.objective_at, x), rtol=1e-4, atol=1e-4
    )


def test_scalar_and_blocked_engines_agree() -> None:
    cbpp = mm.datasets.load("cbpp")
    model = GeneralizedLinearMixedModel(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp
    )
    assert isinstance(model.engine, ScalarEngine)
    blocked = BlockedEngine(model.data)
    theta, beta = np.array([0.64]), np.array([-1.4, -1.0, -1.1, -1.6])
    assert blocked.evaluate(theta, beta) == pytest.approx(model.engine.evaluate(theta, beta))
    np.testing.assert_allclose(laplace_gradient(blocked), laplace_gradient(model.engine))
    assert blocked.evaluate_stage1(theta) == pytest.approx(model.engine.evaluate_stage1(theta))


def test_gauss_hermite_rule_integrates_normal_moments() -> None:
    nodes, weights = gauss_hermite(9)
    assert weights.sum() == pytest.approx(1.0)
    assert (weights * nodes**2).sum() == pytest.approx(1.0)
    assert (weights * nodes**4).sum() == pytest.approx(3.0)


def test_glmmtmb_parameters_round_trip(grouse: pd.DataFrame) -> None:
    model = _model("TICKS ~ YEAR + (1 + cHEIGHT|LOCATION) + (1|BROOD)", grouse)
    theta = np.array([0.8, 0.7, -0.2, 0.3])
    psi = tmb_from_theta(model.terms, theta)
    np.testing.assert_allclose(theta_from_tmb(model.terms, psi), theta, atol=1e-12)


def test_quasi_newton_respects_bounds() -> None:
    def f(x: np.ndarray) -> float:
        return float((x[0] + 1.0) ** 2 + (x[1] - 2.0) ** 2)

    def g(x: np.ndarray) -> np.ndarray:
        return np.array([2 * (x[0] + 1.0), 2 * (x[1] - 2.0)])

    result = quasi_newton(f, g, np.array([1.0, 0.0]), np.array([0.0, -np.inf]), np.eye(2) * 2)
    assert result.converged
    np.testing.assert_allclose(result.x, [0.0, 2.0], atol=1e-8)
