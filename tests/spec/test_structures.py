"""Covariance structures: θ ↦ T, the natural parameters, the derivatives and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.errors import FormulaError, ModelSpecificationError
from mixedmodels.spec.structure_derivatives import covariance_derivatives, template_jacobian
from mixedmodels.spec.structures import (
    Structure,
    levinson,
    levinson_jacobian,
    make_structure,
    partial_autocorrelations,
)

KINDS = [
    ("us", None),
    ("diag", None),
    ("diag", True),
    ("cs", None),
    ("cs", True),
    ("ar1", None),
    ("ar1", False),
    ("toep", None),
    ("toep", True),
]


def _point(s: Structure, seed: int = 3) -> np.ndarray:
    """A θ away from the start with positive SDs."""
    rng = np.random.default_rng(seed)
    theta = s.initial() + 0.4 * rng.standard_normal(s.ntheta)
    bounded = s.lower_bounds() == 0.0
    theta[bounded] = np.abs(theta[bounded]) + 0.1
    return theta


def _covariance(s: Structure, natural: np.ndarray) -> np.ndarray:
    """``S R S`` written out from the natural parameters."""
    sd = natural[: s.n_sd]
    sd = np.full(s.k, sd[0]) if s.homogeneous else sd
    rho = natural[s.n_sd :]
    lag = np.abs(np.subtract.outer(np.arange(s.k), np.arange(s.k)))
    if s.name == "ar1":
        R = rho[0] ** lag
    elif s.name == "cs":
        R = np.where(lag == 0, 1.0, rho[0])
    elif s.name == "toep":
        R = np.concatenate([[1.0], rho])[lag]
    else:
        R = np.eye(s.k)
    return np.outer(sd, sd) * R


@pytest.mark.parametrize(("name", "hom"), KINDS)
def test_counts_bounds_and_start(name: str, hom: bool | None) -> None:
    s = make_structure(name, 4, hom, "term")
    expected = {
        ("us", None): 10,
        ("diag", None): 4,
        ("diag", True): 1,
        ("cs", None): 5,
        ("cs", True): 2,
        ("ar1", None): 2,
        ("ar1", False): 5,
        ("toep", None): 7,
        ("toep", True): 4,
    }[(name, hom)]
    assert s.ntheta == expected == len(s.initial()) == len(s.lower_bounds())
    T0 = s.template(s.initial())
    np.testing.assert_allclose(T0 @ T0.T, np.eye(4), atol=1e-14)  # unit SDs, no correlation


@pytest.mark.parametrize(("name", "hom"), [k for k in KINDS if k[0] != "us"])
def test_template_is_the_cholesky_factor_of_the_structure(name: str, hom: bool | None) -> None:
    s = make_structure(name, 5, hom, "term")
    theta = _point(s)
    T = s.template(theta)
    assert np.allclose(T, np.tril(T))
    natural = s.natural(theta, 2.0)
    np.testing.assert_allclose(4.0 * T @ T.T, _covariance(s, natural), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s.from_natural(natural, 2.0), theta, rtol=1e-10, atol=1e-12)


def test_correlations_stay_in_range_for_any_parameters() -> None:
    for name in ("cs", "ar1", "toep"):
        s = make_structure(name, 6, None, "term")
        for value in (-40.0, -3.0, 0.0, 3.0, 40.0):
            theta = np.concatenate([np.ones(s.n_sd), np.full(s.n_cor, value)])
            R = s.correlation_matrix(s.correlations(theta))
            assert np.all(np.linalg.eigvalsh(R) > -1e-12), (name, value)
    cs = make_structure("cs", 6, None, "term")
    assert cs.correlations(np.r_[np.ones(6), -50.0])[0] == pytest.approx(-0.2, abs=1e-4)
    assert cs.correlation_at_limit(np.r_[np.ones(6), -50.0])
    assert not cs.correlation_at_limit(np.r_[np.ones(6), 3.0])


@pytest.mark.parametrize(("name", "hom"), KINDS)
def test_template_jacobian_matches_differences(name: str, hom: bool | None) -> None:
    s = make_structure(name, 4, hom, "term")
    theta = _point(s, seed=7)
    h = 1e-6
    numeric = np.array(
        [
            (s.template(theta + h * e) - s.template(theta - h * e)) / (2 * h)
            for e in np.eye(s.ntheta)
        ]
    )
    np.testing.assert_allclose(template_jacobian(s, theta), numeric, atol=1e-8)


@pytest.mark.parametrize(("name", "hom"), [k for k in KINDS if k[0] != "us"])
def test_covariance_derivatives_match_differences(name: str, hom: bool | None) -> None:
    s = make_structure(name, 4, hom, "term")
    natural = s.natural(_point(s, seed=11), 1.5)
    first, second = covariance_derivatives(s, natural)
    linear = s.homogeneous and name in ("cs", "toep")

    def cov(psi: np.ndarray) -> np.ndarray:
        if linear:  # variance and covariances (per lag)
            rho = psi[1:] / psi[0]
            return _covariance(s, np.concatenate([[np.sqrt(psi[0])], rho]))
        sd = np.sqrt(psi[: s.n_sd])
        return _covariance(s, np.concatenate([sd, psi[s.n_sd :]]))

    if linear:
        psi = np.concatenate([[natural[0] ** 2], natural[0] ** 2 * natural[1:]])
    else:
        psi = np.concatenate([natural[: s.n_sd] ** 2, natural[s.n_sd :]])
    h, E = 1e-4, np.eye(len(psi))
    d1 = np.array([(cov(psi + h * e) - cov(psi - h * e)) / (2 * h) for e in E])
    d2 = np.array(
        [
            [
                (
                    cov(psi + h * a + h * b)
                    - cov(psi + h * a - h * b)
                    - cov(psi - h * a + h * b)
                    + cov(psi - h * a - h * b)
                )
                / (4 * h * h)
                for b in E
            ]
            for a in E
        ]
    )
    np.testing.assert_allclose(first, d1, atol=1e-7)
    np.testing.assert_allclose(second, d2, atol=1e-5)


def test_levinson_and_its_inverse() -> None:
    kappa = np.array([0.5, -0.3, 0.2, 0.4, -0.6])
    rho = levinson(kappa)
    assert rho[0] == kappa[0]
    np.testing.assert_allclose(partial_autocorrelations(rho), kappa, atol=1e-14)
    value, jac = levinson_jacobian(kappa)
    np.testing.assert_array_equal(value, rho)
    h = 1e-6
    numeric = np.column_stack(
        [(levinson(kappa + h * e) - levinson(kappa - h * e)) / (2 * h) for e in np.eye(5)]
    )
    np.testing.assert_allclose(jac, numeric, atol=1e-9)
    # an AR(1)'s partial autocorrelations are (ρ, 0, 0, ...)
    np.testing.assert_allclose(levinson(np.array([0.7, 0.0, 0.0])), [0.7, 0.49, 0.343])


def test_natural_names() -> None:
    cols = ["t0", "t1", "t2"]
    assert make_structure("ar1", 3, None, "x").natural_names(cols) == ["sd", "rho"]
    assert make_structure("cs", 3, None, "x").natural_names(cols) == [
        "sd_t0",
        "sd_t1",
        "sd_t2",
        "rho",
    ]
    assert make_structure("toep", 3, True, "x").natural_names(cols) == [
        "sd",
        "rho_lag1",
        "rho_lag2",
    ]


def test_out_of_range_correlations_are_refused() -> None:
    with pytest.raises(np.linalg.LinAlgError):
        make_structure("ar1", 3, None, "x").from_natural(np.array([1.0, 1.2]), 1.0)
    with pytest.raises(np.linalg.LinAlgError):
        make_structure("cs", 3, None, "x").from_natural(np.array([1.0, 1.0, 1.0, -0.6]), 1.0)
    with pytest.raises(np.linalg.LinAlgError):
        make_structure("toep", 3, True, "x").from_natural(np.array([1.0, 0.9, -0.9]), 1.0)


def test_refusals() -> None:
    with pytest.raises(FormulaError, match="unknown covariance structure"):
        make_structure("ar2", 3, None, "ar2(0 + t | g)")
    with pytest.raises(FormulaError, match="no homogeneous variant"):
        make_structure("us", 3, True, "us(0 + t | g)")
    with pytest.raises(ModelSpecificationError, match="ar1\\(\\) correlates the columns"):
        make_structure("ar1", 1, None, "ar1(0 + t | g)")


def test_kenward_roger_derivatives_need_positive_sds() -> None:
    s = make_structure("ar1", 3, None, "x")
    with pytest.raises(ValueError, match="zero"):
        covariance_derivatives(s, np.array([0.0, 0.5]))
