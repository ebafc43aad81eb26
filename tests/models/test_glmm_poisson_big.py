"""Poisson GLMMs with counts up to 1e14 and crossed, nested or vector-valued effects, vs R.

``data/glmm_poisson_big*.csv`` and ``data/glmm_poisson_big.json`` come from
``data/r/glmm_poisson_big.R``: ``y ~ x + (1 | a) + (1 | b)`` (10 × 8 crossed levels, two rows
per cell) and ``y ~ x + (1 + x | g)`` (12 groups of 10), each with counts of 1e7–3e8 and of
4e12–1e14, and ``y ~ x + (1 | a/b)`` (8 × 4 nested levels) with counts of 4e12–4e13. lme4 1.1-31
fits the moderate ones and stops on the huge ones ("Downdated VtV is not positive definite",
"PIRLS step-halvings failed"); the reference for all five is R's minimum of the same Laplace
deviance computed without cancellation (QR of ``[W^½ZΛ; I]``, R's ``dpois``), which on the
moderate ones reproduces lme4's fit and glmmTMB's standard errors. Tolerances as in
``tests/test_parity.py``: objective 1e-4 relative, fixed effects, standard errors and standard
deviations 1e-3 relative, correlations 1e-3 absolute.

The pieces of the fix are checked on ordinary data against the plain computations: the
orthogonal elimination gives the Cholesky factor, the Schur complement as two sums equals the
subtraction, the step solved for as an increment is the PIRLS update of the dense system, and the
log-determinant's θ-derivative from the diagonal of ``M⁻¹`` equals the one from ``M⁻¹Λ'Z'``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.crossprod import term_matrix
from mixedmodels.linalg.orthogonal import (
    digits_lost,
    orthogonal_applicable,
    orthogonal_update,
)
from mixedmodels.linalg.weighted_blocks import WeightedBlocks
from mixedmodels.models.generalized import GeneralizedLinearMixedModel
from mixedmodels.objective.laplace import BlockedEngine, newton_shift, working
from mixedmodels.objective.laplace_gradient import theta_directions
from mixedmodels.objective.pirls_steps import schur_by_sums

DATA = Path(__file__).resolve().parent / "data"
CASES: list[dict[str, Any]] = json.loads((DATA / "glmm_poisson_big.json").read_text())
IDS = [c["id"] for c in CASES]


def _fit(case: dict[str, Any]) -> Any:
    frame = pd.read_csv(DATA / case["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.ConvergenceWarning)  # eigenvalue ratios ~1e13
        return mm.glmer(case["formula"], frame, family="poisson")


@pytest.fixture(scope="module")
def fits() -> dict[str, Any]:
    return {case["id"]: _fit(case) for case in CASES}


def _problems(model: Any, ref: dict[str, Any], se: bool = True) -> list[str]:
    out = []
    if abs(model.objective - ref["objective"]) > 1e-4 * abs(ref["objective"]):
        out.append(f"objective {model.objective:.10g} vs {ref['objective']:.10g}")
    names = list(ref["fixef"])
    fixef = model.fixef[names].to_numpy()
    if not np.allclose(fixef, [ref["fixef"][n] for n in names], rtol=1e-3, atol=0):
        out.append(f"fixef {fixef} vs {ref['fixef']}")
    if se:
        ours = model.coef_table["std_error"][names].to_numpy()
        if not np.allclose(ours, [ref["se"][n] for n in names], rtol=1e-3, atol=0):
            out.append(f"se {ours} vs {ref['se']}")
    rows = [r for _, r in model.varcorr.iterrows() if r["group"] != "Residual"]
    assert len(rows) == len(ref["varcorr"])
    for row, r in zip(rows, ref["varcorr"], strict=True):
        value, target = float(row["sd_cor"]), r["sdcor"]
        good = abs(value - target) <= (1e-3 if r["var2"] else 1e-3 * abs(target))
        if not good:
            out.append(f"{r['grp']} {r['var1']} {r['var2']}: {value:.7g} vs {target:.7g}")
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fit_matches_the_r_reference(case: dict[str, Any], fits: dict[str, Any]) -> None:
    assert _problems(fits[case["id"]], case["reference"]) == []


@pytest.mark.parametrize(
    "case", [c for c in CASES if "error" not in c["lme4"]], ids=lambda c: str(c["id"])
)
def test_moderate_counts_match_lme4_and_glmmtmb(case: dict[str, Any], fits: dict[str, Any]) -> None:
    model = fits[case["id"]]
    assert _problems(model, case["lme4"], se=False) == []
    names = list(case["glmmTMB"]["se"])
    ours = model.coef_table["std_error"][names].to_numpy()
    np.testing.assert_allclose(ours, [case["glmmTMB"]["se"][n] for n in names], rtol=1e-3)


def test_lme4_fails_on_the_huge_counts() -> None:
    errors = {c["id"]: c["lme4"].get("error", "") for c in CASES}
    assert "not positive definite" in errors["crossed_1e13"]
    assert "step-halvings failed" in errors["slope_1e14"]
    assert "step-halvings failed" in errors["nested_1e13"]


def test_huge_crossed_counts_take_the_orthogonal_factor(fits: dict[str, Any]) -> None:
    assert fits["crossed_1e13"].engine.orthogonal and fits["nested_1e13"].engine.orthogonal
    assert not fits["crossed_1e8"].engine.orthogonal  # ordinary weights: the Cholesky update


@pytest.mark.parametrize("name", ["crossed_1e13", "nested_1e13"])
def test_huge_crossed_objective_is_smooth(fits: dict[str, Any], name: str) -> None:
    # a Cholesky factor of Λ'Z'WZΛ + I gets its eigenvalue ~1 wrong by ~1e-3 here: second
    # differences at a step of 1e-3 (~2e-5 in truth) would be noise
    model = fits[name]
    x, h = model.params.copy(), 1e-3
    H = model.hessian.to_numpy()
    for j in range(model.n_theta):
        e = np.zeros(len(x))
        e[j] = h
        second = model.objective_at(x + e) - 2 * model.objective_at(x) + model.objective_at(x - e)
        assert second / h**2 == pytest.approx(H[j, j], rel=2e-2)


# ---- the pieces, on ordinary data --------------------------------------------------------
FORMULAS = [
    "y ~ x + (1|a) + (1|b)",
    "y ~ x + (1 + x|a) + (1|b)",
    "y ~ x + (1|a) + (1|b) + (1 + x|c)",
    "y ~ x + (1|a/b) + (1|c)",  # a:b nested in a (a block-diagonal L_11)
]


@pytest.fixture(scope="module")
def crossed() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 300
    a, b, c = rng.integers(0, 15, n), rng.integers(0, 6, n), rng.integers(0, 4, n)
    x = rng.standard_normal(n)
    eta = 1 + 0.3 * x + rng.normal(0, 0.5, 15)[a] + rng.normal(0, 0.3, 6)[b] + 0.2 * x * (c - 1.5)
    frame = pd.DataFrame({"a": a, "b": b, "c": c}).astype(str).radd("l")
    return frame.assign(x=x, y=rng.poisson(np.exp(eta)))


def _blocks(formula: str, data: pd.DataFrame, seed: int) -> tuple[Any, BlockedCholesky, Any]:
    model = GeneralizedLinearMixedModel(formula, data, family="poisson")
    rng = np.random.default_rng(seed)
    n = len(data)
    w, r = rng.random(n) + 0.5, rng.standard_normal(n)
    theta = model.theta * 0.7 + 0.05
    L = BlockedCholesky(model.terms, WeightedBlocks(model.terms, model.fixed.X).build(w, r))
    return model, L, (w, r, theta)


@pytest.mark.parametrize("formula", FORMULAS)
def test_orthogonal_elimination_gives_the_cholesky_factor(
    crossed: pd.DataFrame, formula: str
) -> None:
    model, L, (w, r, theta) = _blocks(formula, crossed, 3)
    assert orthogonal_applicable(L, len(crossed))
    L.update(theta)
    assert not digits_lost(L, theta)
    expected = (list(L.diag), [list(row) for row in L.dense], list(L.xz), L.xx, L.logdet_z)
    orthogonal_update(L, model.fixed.X, w, r, theta)
    m = len(model.terms)
    assert L.blockdiag[1] == ("/" in formula)
    for j in range(1, m):
        np.testing.assert_allclose(np.tril(L.diag[j]), np.tril(expected[0][j]), atol=1e-10)
        np.testing.assert_allclose(L.xz[j], expected[2][j], atol=1e-10)
        for i in range(j + 1, m):
            np.testing.assert_allclose(L.dense[i][j], expected[1][i][j], atol=1e-10)
    np.testing.assert_allclose(np.tril(L.xx), np.tril(expected[3]), rtol=1e-10, atol=1e-10)
    assert L.logdet_z == pytest.approx(expected[4], rel=1e-12)


@pytest.mark.parametrize("formula", FORMULAS)
def test_schur_complement_by_sums_equals_the_subtraction(
    crossed: pd.DataFrame, formula: str
) -> None:
    model, L, (w, _, theta) = _blocks(formula, crossed, 4)
    L.update(theta)
    engine = BlockedEngine(model.data)
    engine.set_theta(theta)
    p = model.n_fixed
    RX = L.xx[:p, :p]
    S = schur_by_sums(L, model.fixed.X, w, engine.random_part_multi)
    np.testing.assert_allclose(S, RX @ RX.T, rtol=1e-10, atol=1e-10)


def _dense_update(engine: BlockedEngine, u: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The PIRLS update of (u, β) from the dense penalized least-squares system."""
    d = engine.data
    wk = working(d, engine.linear_predictor(u, beta))
    Z = sp.hstack([term_matrix(t, None) for t in d.terms]).toarray()
    Lam = scipy.linalg.block_diag(
        *[np.kron(np.eye(t.nlevels), T) for t, T in zip(d.terms, engine.templates, strict=True)]
    )
    A = np.hstack([Z @ Lam, d.X])
    z = wk.eta - d.offset - newton_shift(wk.d1, wk.w)
    penalty = np.diag(np.r_[np.ones(d.q), np.zeros(d.X.shape[1])])
    return np.linalg.solve(A.T @ (wk.w[:, None] * A) + penalty, A.T @ (wk.w * z))


@pytest.mark.parametrize("formula", FORMULAS)
def test_increment_step_is_the_pirls_update(crossed: pd.DataFrame, formula: str) -> None:
    model = GeneralizedLinearMixedModel(formula, crossed, family="poisson")
    engine = model.engine
    assert isinstance(engine, BlockedEngine)
    engine.set_theta(model.theta * 0.7 + 0.05)
    rng = np.random.default_rng(5)
    u = 0.3 * rng.standard_normal(model.data.q)
    beta = np.array([0.9, 0.2])
    wk = working(model.data, engine.linear_predictor(u, beta))
    for with_beta in (True, False):
        u_new, b_new = engine.step(wk, wk.w, u, beta, with_beta)
        if with_beta:
            np.testing.assert_allclose(
                np.r_[u_new, b_new], _dense_update(engine, u, beta), rtol=1e-9, atol=1e-9
            )
        else:
            np.testing.assert_array_equal(b_new, beta)


@pytest.mark.parametrize("formula", FORMULAS)
def test_logdet_derivative_from_the_diagonal_of_the_inverse(
    crossed: pd.DataFrame, formula: str
) -> None:
    model = GeneralizedLinearMixedModel(formula, crossed, family="poisson")
    engine = model.engine
    assert isinstance(engine, BlockedEngine)
    x = np.r_[model.theta * 0.7 + 0.05, 0.9, 0.2]
    engine.fit_modes(x[: model.n_theta], x[model.n_theta :], with_beta=False)
    wk = engine.wk
    assert wk is not None
    _, _, where = theta_directions(model.terms, engine.split(engine.u), wk.d1, model.data.q)
    rho = engine.leverages()
    plain = engine.logdet_traces(rho, where)
    engine.orthogonal = True  # the form taken after orthogonal elimination
    np.testing.assert_allclose(engine.logdet_traces(rho, where), plain, rtol=1e-9)
