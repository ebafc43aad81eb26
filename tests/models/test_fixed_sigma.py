"""A fixed residual SD (``sigma=``: nlme's ``lmeControl(sigma = )``, glmmTMB's ``dispformula``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError, NotSupportedError

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep() -> object:
    return mm.datasets.load("sleepstudy")


@pytest.mark.parametrize("reml", [False, True])
def test_fixing_sigma_at_its_estimate_gives_the_same_fit(sleep: object, reml: bool) -> None:
    free = mm.lmer(SLEEP, sleep, reml=reml)
    fixed = mm.lmer(SLEEP, sleep, reml=reml, sigma=free.sigma)
    assert fixed.sigma == free.sigma
    assert fixed.objective == pytest.approx(free.objective, abs=1e-7)
    np.testing.assert_allclose(fixed.theta, free.theta, rtol=1e-4)
    np.testing.assert_allclose(fixed.fixef, free.fixef, rtol=1e-7)
    np.testing.assert_allclose(fixed.vcov, free.vcov, rtol=1e-4)
    assert fixed.npar == free.npar - 1
    assert fixed.loglik == pytest.approx(free.loglik, abs=1e-7)


def test_the_criterion_at_a_fixed_sigma_is_the_gaussian_likelihood(sleep: object) -> None:
    """−2 log L with σ fixed, written out densely at the fitted θ (ML)."""
    sigma = 20.0
    model = mm.lmer(SLEEP, sleep, reml=False, sigma=sigma)
    term = model.terms[0]
    Z = np.zeros((model.nobs, term.q))
    for i, (level, row) in enumerate(zip(term.refs, term.z, strict=True)):
        Z[i, level * term.k : (level + 1) * term.k] = row
    T = model.templates()[0]
    V = sigma**2 * (Z @ np.kron(np.eye(term.nlevels), T @ T.T) @ Z.T + np.eye(model.nobs))
    r = model.y - model.fixed.X @ model.beta
    _, logdet = np.linalg.slogdet(V)
    dense = model.nobs * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(V, r)
    assert model.objective == pytest.approx(dense, rel=1e-10)
    # β̂ is the GLS estimate at V
    X = model.fixed.X
    gls = np.linalg.solve(X.T @ np.linalg.solve(V, X), X.T @ np.linalg.solve(V, model.y))
    np.testing.assert_allclose(model.beta, gls, rtol=1e-8)


def test_inference_with_a_fixed_sigma(sleep: object) -> None:
    model = mm.lmer(SLEEP, sleep, sigma=25.0)
    for ddf in ("satterthwaite", "kenward-roger"):
        table = model.coef_test(ddf)
        assert np.all(np.isfinite(table["df"])) and np.all(table["df"] > 0)
    assert "(residual SD fixed at 25, not estimated)" in model.summary()
    with pytest.raises(NotSupportedError, match="fixed residual SD"):
        model.confint(method="profile")
    boot = model.bootstrap(3, seed=1, n_jobs=1, progress=False)
    assert len(boot) == 3 and np.all(boot["sigma"] == 25.0)  # every replicate keeps σ
    refit = model.refit()
    assert refit.sigma == 25.0 and refit.objective == pytest.approx(model.objective, abs=1e-8)
    free = mm.lmer(SLEEP, sleep)
    table = mm.anova(model.ml_fit(), free.ml_fit())
    assert list(table["npar"]) == [5, 6]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan"), "1", True])
def test_bad_sigma_is_refused(sleep: object, bad: object) -> None:
    with pytest.raises(ModelSpecificationError, match="sigma"):
        mm.lmer(SLEEP, sleep, sigma=bad)


def test_a_fixed_sigma_with_a_residual_structure_is_refused(sleep: object) -> None:
    with pytest.raises(NotSupportedError, match="sigma="):
        mm.lmer(
            "Reaction ~ Days + (1 | Subject)",
            sleep,
            sigma=10.0,
            correlation=mm.cor_ar1(time="Days", group="Subject"),
        )


def test_no_residual_unstructured_over_every_visit(sleep: object) -> None:
    """An MMRM: ``us`` over the ten days with no residual (glmmTMB's dispformula = ~0)."""
    data = sleep.copy()
    data["fDays"] = data["Days"].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.lmer("Reaction ~ Days + us(0 + fDays | Subject)", data, sigma=2**-13)
        free = mm.lmer("Reaction ~ Days + (1 | Subject)", data)
    assert model.npar == 2 + 55
    assert model.objective < free.objective  # the unstructured covariance fits better
    cov = model.varcorr
    assert len(cov[cov["group"] == "Subject"]) == 55
