"""The blocked Cholesky objective against a dense brute-force marginal likelihood.

For random θ, the profiled ML deviance and REML criterion computed by the blocked factor must
equal those from the marginal covariance ``V = ZΛΛ'Z' + W⁻¹`` built densely (only possible on
small data) — for scalar, vector, crossed, nested and partially crossed terms, with weights and
offsets. This checks every block kernel independently of the optimizer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.linalg import cholesky, gram
from mixedmodels.linalg.crossprod import term_matrix
from mixedmodels.models import LinearMixedModel


def make_data(seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "f": rng.choice(["a", "b", "c"], size=n),
            "g": rng.integers(0, 15, size=n).astype(str),
            "h": rng.integers(0, 6, size=n).astype(str),
            "w": rng.uniform(0.5, 2.0, size=n),
            "o": rng.normal(size=n),
        }
    )
    frame["outer"] = (frame["g"].astype(int) // 5).astype(str)  # g nested in outer
    frame["y"] = 1 + frame["x"] + rng.normal(size=n) + frame["g"].astype(int) * 0.3
    return frame


def brute_force(model: LinearMixedModel, theta: np.ndarray, reml: bool) -> float:
    """-2 log-likelihood (or REML criterion) from the dense marginal covariance."""
    X, y = model.fixed.X, model.y
    n, p = X.shape
    Z = np.hstack([term_matrix(t, None).toarray() for t in model.terms])
    blocks = []
    start = 0
    for term in model.terms:
        T = term.template(theta[start : start + term.ntheta])
        blocks.append(np.kron(np.eye(term.nlevels), T))
        start += term.ntheta
    Lam = _block_diag(blocks)
    V = Z @ Lam @ Lam.T @ Z.T + np.diag(1.0 / model.frame.weights)
    Vinv_X = np.linalg.solve(V, X)
    XtVX = X.T @ Vinv_X
    beta = np.linalg.solve(XtVX, Vinv_X.T @ y)
    res = y - X @ beta
    r2 = float(res @ np.linalg.solve(V, res))
    logdet_v = np.linalg.slogdet(V)[1]
    dof = n - p if reml else n
    value = logdet_v + dof * (1 + np.log(2 * np.pi * r2 / dof))
    return float(value + np.linalg.slogdet(XtVX)[1]) if reml else float(value)


def _block_diag(blocks: list[np.ndarray]) -> np.ndarray:
    size = sum(b.shape[0] for b in blocks)
    out = np.zeros((size, size))
    at = 0
    for b in blocks:
        out[at : at + b.shape[0], at : at + b.shape[0]] = b
        at += b.shape[0]
    return out


FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (1 + x | g)",
    "y ~ x + (x || g)",
    "y ~ x + f + (1 | g) + (1 | h)",
    "y ~ x + (1 + x | g) + (1 | h)",
    "y ~ x + (1 | h) + (1 + x + z | g)",
    "y ~ x + (1 | g) + (1 + x | h)",
    "y ~ x + (1 | outer/g)",
    "y ~ x + (1 + x | outer/g)",
    "y ~ x + (1 | g) + (1 | h) + (1 | f)",
    "y ~ x + (1 | g) + (0 + f | h)",
    "y ~ x + (1 | g:h) + (1 | g) + (1 | h)",
]


@pytest.fixture(params=["small-dense", "sparse", "scatter"], autouse=True)
def storage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every test with small first-column blocks held densely, and with the sparse kernels
    forced, as on large data: Gram products of scalar terms by dense panels (or SciPy's
    product off the diagonal), or all by the compiled scatter."""
    if request.param != "small-dense":
        monkeypatch.setattr(cholesky, "SMALL_DENSE", 0)
    if request.param == "sparse":
        monkeypatch.setattr(gram, "SCATTER_PAIR_SECONDS", 1.0)
    if request.param == "scatter":
        monkeypatch.setattr(gram, "DENSE_FLOP_SECONDS", 1.0)
        monkeypatch.setattr(gram, "SPARSE_PRODUCT_SECONDS", 1.0)
    return str(request.param)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_objective_matches_dense_marginal_likelihood(formula: str, reml: bool) -> None:
    data = make_data(abs(hash(formula)) % 1000)
    model = LinearMixedModel(formula, data, reml=reml)
    rng = np.random.default_rng(7)
    for _ in range(3):
        theta = model.theta + rng.uniform(0.1, 1.5, size=model.theta.size) * (model.lower == 0)
        theta = theta + rng.normal(scale=0.3, size=theta.size) * (model.lower != 0)
        assert model.objective_at(theta) == pytest.approx(
            brute_force(model, theta, reml), rel=1e-10
        )


@pytest.mark.parametrize("formula", ["y ~ x + (1 + x | g)", "y ~ x + (1 | g) + (1 | h)"])
def test_weights_and_offset_enter_the_likelihood(formula: str) -> None:
    data = make_data(3)
    model = LinearMixedModel(formula, data, weights="w", offset="o", reml=False)
    theta = model.theta * 0.7
    # the marginal covariance includes W⁻¹, so this is the full weighted -2 log-likelihood
    assert model.objective_at(theta) == pytest.approx(brute_force(model, theta, False), rel=1e-10)
    np.testing.assert_allclose(model.y, data["y"] - data["o"])


def test_theta_zero_is_allowed() -> None:
    data = make_data(5)
    model = LinearMixedModel("y ~ x + (1 | g) + (1 | h)", data)
    theta = np.zeros_like(model.theta)
    assert model.objective_at(theta) == pytest.approx(brute_force(model, theta, True), rel=1e-10)


def test_sparse_path_uses_gram_products_for_crossed_scalar_terms(storage: str) -> None:
    model = LinearMixedModel("y ~ x + (1 | g) + (1 | h) + (1 | f)", make_data(11))
    kinds = {key: type(product) for key, product in model.L.gram.items()}
    if storage == "small-dense":
        assert not kinds
    elif storage == "sparse":  # off the diagonal, SciPy's product
        assert kinds == {(1, 1): gram.DensePanels, (2, 2): gram.DensePanels}
    else:
        assert set(kinds) == {(1, 1), (2, 1), (2, 2)}
        assert set(kinds.values()) == {gram.ScatterGram}


@pytest.mark.filterwarnings("ignore::mixedmodels.SingularFitWarning")  # (1 | f) has 3 levels
def test_conditional_variances_match_dense_inverse() -> None:
    """Var(b | y) = σ² Λ (Λ'Z'ZΛ + I)⁻¹ Λ' on the diagonal blocks, for every storage path."""
    data = make_data(12, n=300)
    rng = np.random.default_rng(12)
    for column, scale in [("g", 1.0), ("h", 0.7), ("f", 0.5)]:
        codes = data[column].astype("category").cat.codes.to_numpy()
        data["y"] += rng.normal(scale=scale, size=codes.max() + 1)[codes]
    data["y"] += rng.normal(scale=0.5, size=15)[data["g"].astype(int)] * data["x"]
    model = LinearMixedModel("y ~ x + (1 + x | g) + (1 | h) + (1 | f)", data).fit()
    Z = np.hstack([term_matrix(t, None).toarray() for t in model.terms])
    Lam = _block_diag(
        [np.kron(np.eye(t.nlevels), T) for t, T in zip(model.terms, model.templates(), strict=True)]
    )
    omega = Lam.T @ Z.T @ Z @ Lam + np.eye(Z.shape[1])
    cov = model.sigma**2 * Lam @ np.linalg.solve(omega, Lam.T)
    start = 0
    for term in model.terms:
        k = term.k
        for g in range(term.nlevels):
            block = cov[start + g * k : start + (g + 1) * k, start + g * k : start + (g + 1) * k]
            np.testing.assert_allclose(model.ranef_var[term.name][g], block, rtol=1e-8, atol=1e-12)
        start += term.q


def test_compiled_first_column_has_the_bits_of_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from mixedmodels.datasets import simulate_crossed

    data = simulate_crossed(3000, (300, 40), seed=5)
    factors = {}
    for name, threshold in [("numpy", 10**12), ("compiled", 0)]:
        monkeypatch.setattr(cholesky, "COMPILED_COLUMNS", threshold)
        model = LinearMixedModel("y ~ x1 + (1 | g1) + (1 | g2)", data)
        model.L.update(np.array([0.7, 1.3]))
        factors[name] = model.L
    first, second = factors["numpy"].sparse[1], factors["compiled"].sparse[1]
    assert first is not None and second is not None
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(factors["numpy"].xx, factors["compiled"].xx)


def test_a_spawned_factor_keeps_its_first_column_when_the_parent_updates() -> None:
    from mixedmodels.datasets import simulate_crossed

    model = LinearMixedModel("y ~ x1 + (1 | g1) + (1 | g2)", simulate_crossed(2000, (200, 30)))
    parent = model.L
    parent.update(np.array([0.5, 0.5]))
    parent.update(np.array([0.6, 0.4]))  # the first column now in the parent's own array
    child = parent.spawn()
    kept = child.sparse[1].data.copy()
    parent.update(np.array([2.0, 3.0]))
    np.testing.assert_array_equal(child.sparse[1].data, kept)
    child.update(np.array([0.1, 0.2]))
    parent_now = parent.sparse[1].data.copy()
    child.update(np.array([0.3, 0.2]))
    np.testing.assert_array_equal(parent.sparse[1].data, parent_now)
