"""The residual-structure objective against the dense Gaussian log-likelihood (n = 30)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.models.residual import ResidualMixedModel
from mixedmodels.spec.random import term_templates


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for s in range(6):
        times = rng.choice(8, size=5, replace=False)
        b0, b1 = rng.normal(0, 1.5), rng.normal(0, 0.3)
        for t in times:
            g = "b" if s % 2 else "a"
            y = 2 + 0.5 * t + b0 + b1 * t + rng.normal(0, 1.0 if g == "a" else 2.0)
            rows.append({"s": f"s{s}", "t": int(t), "g": g, "x": rng.uniform(1, 3), "y": y})
    return pd.DataFrame(rows)


def _dense_criterion(model: ResidualMixedModel, x: np.ndarray, reml: bool) -> float:
    """−2 log L (REML: restricted) profiled over β and σ, from the dense n × n covariance."""
    objective = model.residual_objective
    theta, u = objective.split(x)
    terms = objective.terms
    n, p = objective.nobs, objective.n_fixed
    X, y = model.fixed.X, model.fixed.y
    Z = np.zeros((n, sum(t.q for t in terms)))
    start = 0
    for t in terms:
        for a in range(t.k):
            Z[np.arange(n), start + t.refs * t.k + a] = t.z[:, a]
        start += t.q
    Lam = np.zeros((Z.shape[1], Z.shape[1]))
    start = 0
    for t, T in zip(terms, term_templates(terms, theta), strict=True):
        for level in range(t.nlevels):
            i = start + level * t.k
            Lam[i : i + t.k, i : i + t.k] = T
        start += t.q
    correlations, sd = model.structure.parts(u)
    R = np.eye(n)
    for bucket, C in zip(model.structure.layout.buckets, correlations, strict=True):
        if C is not None:
            for rows, block in zip(bucket.rows, C, strict=True):
                R[np.ix_(rows, rows)] = block
    s = np.ones(n) if sd is None else sd
    V = Z @ Lam @ Lam.T @ Z.T + s[:, None] * R * s[None, :]
    Vi_X, Vi_y = np.linalg.solve(V, X), np.linalg.solve(V, y)
    beta = np.linalg.solve(X.T @ Vi_X, X.T @ Vi_y)
    r = y - X @ beta
    dof = n - p if reml else n
    quad = float(r @ np.linalg.solve(V, r))
    value = np.linalg.slogdet(V)[1] + dof * (1.0 + math.log(2 * math.pi * quad / dof))
    return value + (np.linalg.slogdet(X.T @ Vi_X)[1] if reml else 0.0)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(
    ("formula", "cor", "var"),
    [
        ("y ~ t + (1 | s)", mm.cor_ar1("t", "s"), mm.var_ident("g")),
        ("y ~ t + (t | s)", mm.cor_car1("t", "s"), mm.var_power("x")),
        ("y ~ t + x + (1 | s)", mm.cor_cs("s"), mm.var_exp("x")),
    ],
)
def test_objective_is_the_dense_log_likelihood(
    formula: str, cor: object, var: object, reml: bool
) -> None:
    model = ResidualMixedModel(formula, _data(), correlation=cor, variance=var, reml=reml)  # type: ignore[arg-type]
    objective = model.residual_objective
    rng = np.random.default_rng(5)
    for _ in range(3):
        theta = np.abs(rng.normal(0.8, 0.3, objective.n_theta))
        x = np.concatenate([theta, rng.normal(0.0, 0.4, model.structure.n_params)])
        assert objective(x) == pytest.approx(_dense_criterion(model, x, reml), rel=1e-10)


def test_normalizing_the_multipliers_rescales_theta_only() -> None:
    model = ResidualMixedModel(
        "y ~ t + (1 | s)", _data(), correlation=mm.cor_ar1("t"), variance=mm.var_power("x")
    )
    plain = model.residual_objective
    normalized = model._objective(normalize=True)
    x = np.array([0.7, 0.2, 0.9])
    theta = normalized.model_theta(x)
    assert not np.allclose(theta, x[:1])
    assert normalized(x) == pytest.approx(plain(np.r_[theta, x[1:]]), rel=1e-12)
    assert normalized.optimizer_theta(theta, x[1:]) == pytest.approx(x[:1])
