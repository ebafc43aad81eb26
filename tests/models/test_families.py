"""Families and links of GLMMs: derivatives, deviance, lme4's aic, response checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mixedmodels.errors import DataError, FormulaError, ModelSpecificationError
from mixedmodels.spec.families import (
    Binomial,
    Gamma,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    get_link,
)
from mixedmodels.spec.family_names import get_family
from mixedmodels.spec.response import cbind_arguments, frame_response, glm_response

LINKS = ["logit", "probit", "cauchit", "cloglog", "log", "identity", "inverse", "sqrt", "1/mu^2"]
ETAS = {
    "logit": np.linspace(-4, 4, 9),
    "probit": np.linspace(-3, 3, 7),
    "cauchit": np.linspace(-20, 20, 9),
    "cloglog": np.linspace(-3, 1.5, 7),
    "log": np.linspace(-2, 2, 5),
    "identity": np.linspace(0.5, 3, 5),
    "inverse": np.linspace(0.5, 3, 5),
    "sqrt": np.linspace(0.5, 3, 5),
    "1/mu^2": np.linspace(0.5, 3, 5),
}


@pytest.mark.parametrize("name", LINKS)
def test_link_inverse_and_derivatives(name: str) -> None:
    link = get_link(name)
    eta = ETAS[name]
    mu = link.inverse(eta)
    np.testing.assert_allclose(link.link(mu), eta, rtol=1e-10, atol=1e-10)
    h = 1e-6
    numeric = (link.inverse(eta + h) - link.inverse(eta - h)) / (2 * h)
    np.testing.assert_allclose(link.mu_eta(eta), numeric, rtol=1e-6, atol=1e-9)
    numeric2 = (link.mu_eta(eta + h) - link.mu_eta(eta - h)) / (2 * h)
    np.testing.assert_allclose(link.mu_eta_deriv(eta), numeric2, rtol=1e-5, atol=1e-8)


def test_logit_inverse_is_clamped_as_lme4() -> None:
    link = get_link("logit")
    assert link.inverse(np.array([50.0]))[0] == 1.0 - np.finfo(float).eps
    assert link.mu_eta(np.array([-800.0]))[0] == np.finfo(float).eps


FAMILIES = [Binomial(), Poisson(), Gamma("log"), InverseGaussian("log"), NegativeBinomial(2.5)]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_variance_derivative(family) -> None:  # type: ignore[no-untyped-def]
    mu = np.array([0.2, 0.4, 0.7])
    h = 1e-6
    numeric = (family.variance(mu + h) - family.variance(mu - h)) / (2 * h)
    np.testing.assert_allclose(family.dvariance(mu), numeric, rtol=1e-6)


def test_aic_is_minus_twice_the_log_likelihood() -> None:
    y = np.array([0.0, 1, 3, 7])
    mu = np.array([0.5, 2, 3, 1])
    ones = np.ones(4)
    assert Poisson().aic(y, ones, mu, ones, 0.0) == pytest.approx(
        -2 * stats.poisson.logpmf(y, mu).sum()
    )
    nb = NegativeBinomial(2.3)
    expected = -2 * stats.nbinom.logpmf(y, 2.3, 2.3 / (2.3 + mu)).sum()
    assert nb.aic(y, ones, mu, ones, 0.0) == pytest.approx(expected)
    n = np.array([3.0, 4, 5, 7])
    k = np.array([0.0, 2, 5, 7])
    p = np.array([0.2, 0.5, 0.3, 0.9])
    expected = -2 * stats.binom.logpmf(k, n, p).sum()
    assert Binomial().aic(k / n, n, p, n, 0.0) == pytest.approx(expected)


def test_gamma_aic_uses_the_deviance_dispersion_and_its_derivative() -> None:
    family = Gamma("log")
    y = np.array([1.0, 2.0, 0.5, 3.0])
    mu = np.array([0.8, 2.5, 0.7, 2.0])
    wt = np.ones(4)

    def aic(m: np.ndarray) -> float:
        dev = float(family.dev_resid(y, m, wt).sum())
        return family.aic(y, wt, m, wt, dev)

    disp = family.dev_resid(y, mu, wt).sum() / 4
    expected = -2 * stats.gamma.logpdf(y, 1 / disp, scale=mu * disp).sum() + 2
    assert aic(mu) == pytest.approx(expected)
    # ∂aic/∂μ_i = c ∂dev_i/∂μ_i
    c = family.aic_factor(y, mu, wt, float(family.dev_resid(y, mu, wt).sum()))
    h = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        daic = (aic(mu + e) - aic(mu - e)) / (2 * h)
        ddev = (family.dev_resid(y, mu + e, wt)[i] - family.dev_resid(y, mu - e, wt)[i]) / (2 * h)
        assert daic == pytest.approx(c * ddev, rel=1e-5)


def test_deviance_residuals_vanish_at_the_data() -> None:
    y = np.array([0.0, 0.3, 1.0])
    np.testing.assert_allclose(
        Binomial().dev_resid(y, np.clip(y, 1e-12, 1 - 1e-12), 1.0), 0, atol=1e-9
    )
    y = np.array([0.0, 2.0, 5.0])
    np.testing.assert_allclose(Poisson().dev_resid(y, np.maximum(y, 1e-300), 1.0), 0, atol=1e-9)


def test_get_family_by_name_and_object() -> None:
    assert isinstance(get_family("binomial"), Binomial)
    assert isinstance(get_family("Poisson"), Poisson)
    assert isinstance(get_family("Gamma"), Gamma)
    assert get_family("Gamma").link.name == "inverse"
    assert isinstance(get_family("inverse.gaussian"), InverseGaussian)
    assert isinstance(get_family("negative_binomial"), NegativeBinomial)
    probit = Binomial(link="probit")
    assert get_family(probit) is probit
    assert get_family("binomial", "cloglog").link.name == "cloglog"
    assert NegativeBinomial(2.05221924).label == "Negative Binomial(2.0522)"


def test_bad_families_and_links() -> None:
    with pytest.raises(ModelSpecificationError, match="unknown family"):
        get_family("tweedie")
    with pytest.raises(ModelSpecificationError, match="lmer"):
        get_family("gaussian")
    with pytest.raises(ModelSpecificationError, match="unknown link"):
        Binomial(link="cauchy")
    with pytest.raises(ModelSpecificationError, match="not available"):
        Poisson(link="logit")
    with pytest.raises(ModelSpecificationError, match="positive"):
        NegativeBinomial(0.0)


# ---- responses ---------------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "s": [1, 0, 3, 2],
            "n": [4, 2, 5, 2],
            "p": [0.25, 0.0, 0.6, 1.0],
            "flag": [True, False, True, True],
            "answer": ["yes", "no", "yes", "no"],
            "count": [0, 3, 1, 2],
        }
    )


def test_cbind_parsing() -> None:
    assert cbind_arguments("cbind(incidence, size - incidence)") == [
        "incidence",
        "size - incidence",
    ]
    assert cbind_arguments("y") is None
    assert frame_response("cbind(a, b - a)") == "{a} + {b - a}"
    with pytest.raises(FormulaError):
        cbind_arguments("cbind(a)")


def test_binomial_response_forms_agree() -> None:
    frame = _frame()
    ones = np.ones(4)
    cb = glm_response("cbind(s, n - s)", frame, Binomial(), ones, False)
    np.testing.assert_allclose(cb.y, frame.s / frame.n)
    np.testing.assert_allclose(cb.weights, frame.n)
    assert cb.kind == "cbind"
    prop = glm_response("p", frame, Binomial(), frame.n.to_numpy(float), True)
    np.testing.assert_allclose(prop.y, frame.p)
    assert prop.kind == "proportion"
    logical = glm_response("flag", frame, Binomial(), ones, False)
    np.testing.assert_allclose(logical.y, [1, 0, 1, 1])
    factor = glm_response("answer", frame, Binomial(), ones, False)
    np.testing.assert_allclose(factor.y, [1, 0, 1, 0])  # "no" is the first level: failure
    assert factor.levels == ("no", "yes")
    ratio = glm_response("s / n", frame, Binomial(), frame.n.to_numpy(float), True)
    np.testing.assert_allclose(ratio.y, frame.s / frame.n)


def test_impossible_responses_name_the_column() -> None:
    frame = _frame()
    ones = np.ones(4)
    frame["neg"] = [1, -1, 0, 2]
    with pytest.raises(DataError, match="negative counts in 'neg'"):
        glm_response("cbind(neg, n)", frame, Binomial(), ones, False)
    with pytest.raises(DataError, match="non-integer counts in 'p'"):
        glm_response("cbind(s, p)", frame, Binomial(), ones, False)
    with pytest.raises(DataError, match=r"'count'.*\[0, 1\]"):
        glm_response("count", frame, Binomial(), ones, False)
    with pytest.raises(DataError, match="'p'.*non-integer numbers of successes"):
        glm_response("p", frame, Binomial(), ones, False)
    with pytest.raises(DataError, match="'p'.*non-integer numbers of successes"):
        glm_response("p", frame, Binomial(), np.array([3.0, 3, 3, 3]), True)
    with pytest.raises(DataError, match="poisson response 'neg': negative counts"):
        glm_response("neg", frame, Poisson(), ones, False)
    with pytest.raises(DataError, match="poisson response 'p': counts must be whole"):
        glm_response("p", frame, Poisson(), ones, False)
    with pytest.raises(DataError, match="negative binomial response 'neg'"):
        glm_response("neg", frame, NegativeBinomial(1.0), ones, False)
    with pytest.raises(DataError, match="Gamma response 'count': non-positive"):
        glm_response("count", frame, Gamma(), ones, False)
    with pytest.raises(DataError, match="inverse Gaussian response 'p': non-positive"):
        glm_response("p", frame, InverseGaussian(), ones, False)
    with pytest.raises(FormulaError, match="binomial family"):
        glm_response("cbind(s, n)", frame, Poisson(), ones, False)
