"""Denominator df for fixed effects against lmerTest 3.1.3 and pbkrtest 0.5.2 (lme4 1.1-31).

Reference values come from R; the code that made them is in the comments, after this setup::

    library(lmerTest); library(pbkrtest)
    rd <- function(name, factors) {
      d <- read.csv(file.path("/work/shared/data", paste0(name, ".csv")))
      for (f in factors) d[[f]] <- factor(as.character(d[[f]]))
      d
    }
    sleep <- rd("sleepstudy", "Subject")
    # a made-up between-subject factor from the Subject id, and an unbalanced subset
    sleep$grp <- factor(c("a", "b", "c")[as.integer(as.character(sleep$Subject)) %% 3 + 1])
    unbal <- sleep[(seq_len(nrow(sleep)) - 1) %% 7 != 0, ]
    coefs <- function(m, ddf) summary(m, ddf = ddf)$coefficients  # Estimate, SE, df, t, p

Each case is checked twice: at our own fit (1e-3 relative; p-values, which amplify the tiny
differences between our θ̂ and lme4's in the far tail, to 1e-2) and at lme4's θ̂ (1e-5), which
isolates the df methods from the optimizer.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.sparse as sp
from conftest import case_frame, load_reference

import mixedmodels as mm
from mixedmodels.inference import (
    coefficient_table,
    kenward_roger,
    kenward_roger_df,
    satterthwaite,
    satterthwaite_df,
)
from mixedmodels.inference import ddf as ddf_module
from mixedmodels.inference.ddf import richardson_derivatives

COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value"]

CASES: dict[str, dict[str, Any]] = {
    "sleep": {
        "formula": "Reaction ~ Days + (Days | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ Days + (Days | Subject), sleep); getME(m, "theta")
        "theta": [0.966741773967412, 0.0151690588960361, 0.230909953207795],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [251.405104848485, 10.467285959596],
            "std_error": [6.82459669495491, 1.54578964390598],
            "df": [16.9997262884927, 16.9999837255917],
            "statistic": [36.8380896462844, 6.77148148899918],
            "p_value": [1.17155811120826e-17, 3.26382446992738e-06],
        },
        # coefs(m, "Kenward-Roger")
        "kenward-roger": {
            "estimate": [251.405104848485, 10.467285959596],
            "std_error": [6.82459669495491, 1.54578964390598],
            "df": [17.0, 17.0000000000005],
            "statistic": [36.8380896462844, 6.77148148899917],
            "p_value": [1.17100331571078e-17, 3.26380801814764e-06],
        },
        # as.matrix(pbkrtest::vcovAdj(m))
        "vcov_adjusted": [
            [46.5751200487895, -1.45108841663253],
            [-1.45108841663253, 2.38946562320699],
        ],
        # m@vcov_varpar (lmerTest: 2 H⁻¹ in (θ, σ))
        "vcov_varpar": [
            [0.0576527510149207, -0.00449704273204492, 0.00181251012879351, -0.117658739855673],
            [-0.00449704273204491, 0.00554159859997567, -0.00115945122779156, 0.00917763489079993],
            [0.00181251012879351, -0.00115945122779156, 0.00278818346102557, -0.0258747550513711],
            [-0.117658739855673, 0.00917763489079993, -0.0258747550513711, 2.27409500693395],
        ],
    },
    "sleep_ml": {
        "formula": "Reaction ~ Days + (Days | Subject)",
        "data": "sleep",
        "reml": False,
        # m <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE); getME(m, "theta")
        "theta": [0.929190605278248, 0.018165754720412, 0.222643205612618],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [251.405104848486, 10.4672859595958],
            "std_error": [6.63212274219029, 1.50223021383204],
            "df": [18.0011347663803, 18.0001769285147],
            "statistic": [37.9071851685088, 6.9678308046373],
            "p_value": [1.2637519375195e-18, 1.65222790511593e-06],
        },
    },
    "penicillin": {
        "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)",
        "data": "Penicillin",
        "reml": True,
        # pen <- rd("Penicillin", c("plate", "sample"))
        # m <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen); getME(m, "theta")
        "theta": [1.53967555415216, 3.51251886000646],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [22.9722222222137],
            "std_error": [0.808595361420651],
            "df": [5.48659242477372],
            "statistic": [28.4100346332101],
            "p_value": [3.62351977066194e-07],
        },
        # coefs(m, "Kenward-Roger")
        "kenward-roger": {
            "estimate": [22.9722222222137],
            "std_error": [0.808595361420867],
            "df": [5.48706186032786],
            "statistic": [28.4100346332025],
            "p_value": [3.61997539051767e-07],
        },
    },
    "pastes": {
        "formula": "strength ~ 1 + (1 | batch/cask)",
        "data": "Pastes",
        "reml": True,
        # m <- lmer(strength ~ 1 + (1 | batch/cask), rd("Pastes", c("batch", "cask")))
        # getME(m, "theta")
        "theta": [3.52690178773174, 1.56346140209686],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [60.0533333333354],
            "std_error": [0.676870215074031],
            "df": [8.99999754463259],
            "statistic": [88.7220799437411],
            "p_value": [1.48784721703534e-14],
        },
        # coefs(m, "Kenward-Roger")
        "kenward-roger": {
            "estimate": [60.0533333333354],
            "std_error": [0.676870215074026],
            "df": [8.99999999999937],
            "statistic": [88.7220799437418],
            "p_value": [1.48783647493477e-14],
        },
    },
    "grp": {
        "formula": "Reaction ~ Days * grp + (Days | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ Days * grp + (Days | Subject), sleep); getME(m, "theta")
        "theta": [1.02442406403423, 0.0318433754708335, 0.226790750531908],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [
                258.819850606063,
                7.24859727272488,
                -12.9022555411272,
                -8.62992696969859,
                5.29092636363926,
                4.1799823636388,
            ],
            "std_error": [
                12.3394858356797,
                2.65484117757913,
                16.8158846628343,
                18.3024152372212,
                3.6179386754695,
                3.9377658249283,
            ],
            "df": [
                15.0001503020502,
                15.0000080793394,
                15.0001502577201,
                15.0001502501613,
                15.0000080736605,
                15.0000080719391,
            ],
            "statistic": [
                20.9749299162598,
                2.730331793081,
                -0.767265939308158,
                -0.471518477635023,
                1.46241460628203,
                1.06151115873299,
            ],
            "p_value": [
                1.58112486461024e-12,
                0.015486623706654,
                0.454831558698699,
                0.644055647677439,
                0.164263040153562,
                0.305250585341785,
            ],
        },
        # coefs(m, "Kenward-Roger")
        "kenward-roger": {
            "estimate": [
                258.819850606063,
                7.24859727272488,
                -12.9022555411272,
                -8.62992696969859,
                5.29092636363926,
                4.1799823636388,
            ],
            "std_error": [
                12.3394858356797,
                2.65484117757912,
                16.8158846628342,
                18.3024152372212,
                3.61793867546949,
                3.9377658249283,
            ],
            "df": [
                14.9999999999993,
                14.9999999999996,
                14.9999999999995,
                14.9999999999996,
                14.9999999999998,
                14.9999999999998,
            ],
            "statistic": [
                20.9749299162599,
                2.73033179308101,
                -0.76726593930816,
                -0.471518477635024,
                1.46241460628203,
                1.06151115873299,
            ],
            "p_value": [
                1.58142282753218e-12,
                0.0154866294905471,
                0.454831676256311,
                0.644055714875066,
                0.164263051084925,
                0.305250594217107,
            ],
        },
        # as.matrix(pbkrtest::vcovAdj(m))
        "vcov_adjusted": [
            [
                152.26291068894,
                -2.39319296729705,
                -152.26291068894,
                -152.26291068894,
                2.39319296729705,
                2.39319296729704,
            ],
            [
                -2.39319296729704,
                7.04818167816967,
                2.39319296729704,
                2.39319296729704,
                -7.04818167816967,
                -7.04818167816967,
            ],
            [
                -152.26291068894,
                2.39319296729705,
                282.773976993744,
                152.26291068894,
                -4.44450122497964,
                -2.39319296729705,
            ],
            [
                -152.26291068894,
                2.39319296729705,
                152.26291068894,
                334.978403515665,
                -2.39319296729705,
                -5.26502452805271,
            ],
            [
                2.39319296729704,
                -7.04818167816967,
                -4.44450122497963,
                -2.39319296729704,
                13.0894802594579,
                7.04818167816967,
            ],
            [
                2.39319296729704,
                -7.04818167816967,
                -2.39319296729704,
                -5.2650245280527,
                7.04818167816967,
                15.5059996919732,
            ],
        ],
    },
    "grp_sum": {
        "formula": "Reaction ~ Days * C(grp, contr.sum) + (Days | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ Days * grp + (Days | Subject), sleep,
        #           contrasts = list(grp = "contr.sum")); getME(m, "theta")
        "theta": [1.02442406404759, 0.0318433754690802, 0.226790750536119],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [
                251.642456435784,
                10.4055668484852,
                7.17739417027432,
                -5.72486137085137,
                -3.15696957575761,
                2.13395678787875,
            ],
            "std_error": [
                7.19173499255076,
                1.54730224993102,
                10.1230112005691,
                9.75831650296421,
                2.17796651613856,
                2.0995024283035,
            ],
            "df": [
                15.0001502315325,
                15.0000080599467,
                15.0001502448549,
                15.000150247256,
                15.0000080576794,
                15.0000080565536,
            ],
            "statistic": [
                34.9905073944517,
                6.72497364296415,
                0.709017705114344,
                -0.58666485854526,
                -1.44950326479526,
                1.01641072623245,
            ],
            "p_value": [
                8.52406757617524e-16,
                6.8087251562173e-06,
                0.489187650719927,
                0.566154021708621,
                0.1677820399154,
                0.325548819017404,
            ],
        },
    },
    "grp_half": {
        "formula": "Reaction ~ grp * half + (1 | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ grp * half + (1 | Subject), sleep); getME(m, "theta")
        "theta": [1.15494405137752],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [
                272.284680000001,
                -0.596917142857509,
                -1.52052000000063,
                38.3077166666665,
                23.0076604761907,
                23.4010273333334,
            ],
            "std_error": [
                17.1032244669161,
                23.3077661280353,
                25.3681814832002,
                8.73393725230293,
                11.9023501824108,
                12.9545224473835,
            ],
            "df": [
                17.1572843880395,
                17.157284376599,
                17.1572843754531,
                159.000000222858,
                159.000000224472,
                159.000000221968,
            ],
            "statistic": [
                15.9200787270668,
                -0.0256102253462856,
                -0.0599380764051843,
                4.38607646929977,
                1.93303508328895,
                1.8063983005456,
            ],
            "p_value": [
                1.03473568823466e-11,
                0.979863747164349,
                0.952897583637794,
                2.0921658738486e-05,
                0.0550087677301587,
                0.0727472457867975,
            ],
        },
    },
    "unbal": {
        "formula": "Reaction ~ Days * grp + (Days | Subject)",
        "data": "unbal",
        "reml": True,
        # m <- lmer(Reaction ~ Days * grp + (Days | Subject), unbal); getME(m, "theta")
        "theta": [1.28037628379308, -0.0286037272661175, 0.334671644083036],
        # coefs(m, "Satterthwaite")
        "satterthwaite": {
            "estimate": [
                258.056739128461,
                7.37344623782041,
                -12.6456365721857,
                -9.59277722506736,
                4.90458717886692,
                4.22223420725639,
            ],
            "std_error": [
                12.2892801715641,
                3.06566168704453,
                16.8327644014973,
                18.3374944875416,
                4.19351716273535,
                4.56972829891333,
            ],
            "df": [
                14.6078254478748,
                14.4477943411984,
                14.9082468948505,
                14.9592189210667,
                14.6646402920435,
                14.7350975288209,
            ],
            "statistic": [
                20.9985235527117,
                2.40517284375525,
                -0.751251325721689,
                -0.523123659646341,
                1.16956411254265,
                0.923957384569325,
            ],
            "p_value": [
                2.55141070604083e-12,
                0.0300799835162094,
                0.464196109241451,
                0.608550431037897,
                0.26083529434474,
                0.370392372613497,
            ],
        },
        # coefs(m, "Kenward-Roger")
        "kenward-roger": {
            "estimate": [
                258.056739128461,
                7.37344623782041,
                -12.6456365721857,
                -9.59277722506736,
                4.90458717886692,
                4.22223420725639,
            ],
            "std_error": [
                12.2923251567855,
                3.06604860191267,
                16.8370361538319,
                18.3427032706439,
                4.19414442015422,
                4.57046790103296,
            ],
            "df": [
                14.5498523865447,
                14.6599174881377,
                14.8491315589863,
                14.8999130610424,
                14.8796058653932,
                14.9509896602247,
            ],
            "statistic": [
                20.9933219172949,
                2.40486932699654,
                -0.751060724503324,
                -0.522975108059448,
                1.16938919778222,
                0.923807867965144,
            ],
            "p_value": [
                2.75580394515529e-12,
                0.0298790637272631,
                0.464353272461716,
                0.608681428328281,
                0.260639019329057,
                0.370256350178523,
            ],
        },
        # as.matrix(pbkrtest::vcovAdj(m))
        "vcov_adjusted": [
            [
                151.101257760143,
                -7.2073778667453,
                -151.101257760143,
                -151.101257760143,
                7.2073778667453,
                7.20737786674531,
            ],
            [
                -7.20737786674529,
                9.40065402929062,
                7.20737786674529,
                7.20737786674529,
                -9.40065402929062,
                -9.40065402929062,
            ],
            [
                -151.101257760143,
                7.2073778667453,
                283.485786445444,
                151.101257760143,
                -13.9616345332883,
                -7.2073778667453,
            ],
            [
                -151.101257760143,
                7.2073778667453,
                151.101257760143,
                336.454763274889,
                -7.2073778667453,
                -16.7100101494119,
            ],
            [
                7.20737786674529,
                -9.40065402929062,
                -13.9616345332883,
                -7.20737786674528,
                17.5908474171107,
                9.40065402929062,
            ],
            [
                7.20737786674529,
                -9.40065402929062,
                -7.20737786674529,
                -16.7100101494119,
                9.40065402929062,
                20.8891768343727,
            ],
        ],
    },
}


def frame(name: str) -> pd.DataFrame:
    """The data of a case, as the R code above builds it."""
    if name in ("Penicillin", "Pastes"):
        data = mm.datasets.load(name)
        factors = ["plate", "sample"] if name == "Penicillin" else ["batch", "cask"]
        return data.astype({f: str for f in factors})
    data = mm.datasets.load("sleepstudy").astype({"Subject": str})
    data["grp"] = np.array(["a", "b", "c"])[data["Subject"].astype(int) % 3]
    data["half"] = np.where(data["Days"] < 5, "early", "late")
    if name == "unbal":
        data = data[np.arange(len(data)) % 7 != 0].reset_index(drop=True)
    return data


_FITS: dict[str, mm.LinearMixedModel] = {}


def fit(name: str, cases: dict[str, dict[str, Any]] = CASES) -> mm.LinearMixedModel:
    """The case fitted (once per session)."""
    if name not in _FITS:
        case = cases[name]
        _FITS[name] = mm.lmer(case["formula"], frame(case["data"]), reml=case["reml"])
    return _FITS[name]


def at_lme4_theta(name: str, cases: dict[str, dict[str, Any]] = CASES) -> mm.LinearMixedModel:
    """A fresh fit moved to lme4's θ̂ (every result is then computed there)."""
    case = cases[name]
    model = mm.lmer(case["formula"], frame(case["data"]), reml=case["reml"])
    return model.at_theta(np.array(case["theta"], dtype=float))


TABLES = [
    (name, method)
    for name, case in CASES.items()
    for method in ("satterthwaite", "kenward-roger")
    if method in case
]


@pytest.mark.parametrize(("name", "method"), TABLES)
def test_coefficient_table_at_our_fit(name: str, method: str) -> None:
    table = coefficient_table(fit(name), ddf=method)
    expected = CASES[name][method]
    assert list(table.columns) == COLUMNS
    for column in COLUMNS[:-1]:
        np.testing.assert_allclose(table[column], expected[column], rtol=1e-3, err_msg=column)
    np.testing.assert_allclose(table["p_value"], expected["p_value"], rtol=1e-2)


@pytest.mark.parametrize(("name", "method"), TABLES)
def test_coefficient_table_at_lme4_theta(name: str, method: str) -> None:
    table = coefficient_table(at_lme4_theta(name), ddf=method)
    expected = CASES[name][method]
    for column in COLUMNS:
        np.testing.assert_allclose(table[column], expected[column], rtol=1e-5, err_msg=column)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if "vcov_adjusted" in c])
def test_kenward_roger_adjusted_covariance(name: str) -> None:
    expected = np.array(CASES[name]["vcov_adjusted"])
    np.testing.assert_allclose(kenward_roger(fit(name)).vcov_adjusted, expected, rtol=1e-3)
    exact = kenward_roger(at_lme4_theta(name)).vcov_adjusted
    np.testing.assert_allclose(exact, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())


def test_vcov_varpar_is_lmertest_2_inverse_hessian() -> None:
    info = satterthwaite(at_lme4_theta("sleep"))
    np.testing.assert_allclose(info.vcov_varpar, CASES["sleep"]["vcov_varpar"], rtol=1e-5)


# ---- every Gaussian reference case of tests/data/lme4.json --------------------------------
REFERENCE_CASES, REFERENCE = load_reference()
GAUSSIAN = [c for c in REFERENCE_CASES if c.get("family", "gaussian") == "gaussian"]


def _param(case: dict[str, Any]) -> Any:
    marks = [pytest.mark.slow] if REFERENCE[case["id"]]["nobs"] > 20000 else []
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in GAUSSIAN])
def test_satterthwaite_df_of_every_reference_case(case: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        model = mm.lmer(case["formula"], case_frame(case), reml=bool(case["reml"]))
    expected = REFERENCE[case["id"]]["df_satterthwaite"]
    table = coefficient_table(model)
    assert len(table) == len(expected)  # formulaic names service[T.1] what R names service1
    np.testing.assert_allclose(table["df"], list(expected.values()), rtol=1e-3)
    assert table.attrs["df_method"] == "Satterthwaite"


@pytest.mark.slow
def test_insteval_satterthwaite_is_a_few_dozen_factor_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mixedmodels.linalg.cholesky import BlockedCholesky

    case = next(c for c in GAUSSIAN if c["id"] == "insteval_crossed")
    model = mm.lmer(case["formula"], case_frame(case), reml=True)
    calls = []
    original = BlockedCholesky.update

    def counted(self: BlockedCholesky, theta: np.ndarray) -> None:
        calls.append(1)
        original(self, theta)

    monkeypatch.setattr(BlockedCholesky, "update", counted)
    table = coefficient_table(model)
    # numDeriv's stencil over 3 θ: 2·4·3 (diagonal) + 2·4·3 (mixed) updates of a factor of
    # its own (the model's is never moved), nothing of size n
    assert len(calls) == 48
    expected = REFERENCE["insteval_crossed"]["df_satterthwaite"]
    np.testing.assert_allclose(table["df"], list(expected.values()), rtol=1e-3)


# ---- the method itself -------------------------------------------------------------------
def _devfun_vp(model: mm.LinearMixedModel, varpar: np.ndarray) -> np.ndarray:
    """lmerTest's ``devfun_vp`` and ``get_covbeta`` in (θ, σ), straight from the factor."""
    theta, sigma = varpar[:-1], varpar[-1]
    objective = model.objective_function
    objective(theta)
    L, p, n = objective.factor, model.n_fixed, model.nobs
    dev = L.logdet_z + L.pwrss() / sigma**2 + n * math.log(2 * math.pi * sigma**2)
    if model.reml:
        dev += L.logdet_x() - p * math.log(2 * math.pi * sigma**2)
    cov = sigma**2 * scipy.linalg.cho_solve((L.xx[:p, :p], True), np.eye(p))
    return np.concatenate([[dev], cov.reshape(-1)])


@pytest.mark.parametrize("name", ["unbal", "penicillin", "sleep_ml"])
def test_hessian_and_jacobian_equal_lmertests_joint_derivatives(name: str) -> None:
    model = fit(name)
    info = satterthwaite(model)
    _, grad, hess = richardson_derivatives(lambda v: _devfun_vp(model, v), info.varpar)
    np.testing.assert_allclose(info.hessian, hess[0], rtol=1e-6, atol=1e-8 * np.abs(hess[0]).max())
    p = model.n_fixed
    jac = grad[1:].T.reshape(-1, p, p)
    np.testing.assert_allclose(info.jacobian, jac, rtol=1e-6, atol=1e-9 * np.abs(jac).max())
    np.testing.assert_allclose(info.vcov_beta, model.vcov.to_numpy(), rtol=1e-10)


def test_the_factor_is_left_at_the_estimates() -> None:
    model = mm.lmer("Reaction ~ Days * grp + (Days | Subject)", frame("unbal"))
    beta = model.beta.copy()
    satterthwaite(model)
    np.testing.assert_array_equal(model.L.theta, model.theta)
    np.testing.assert_allclose(model.L.fixed_effects(), beta, rtol=1e-12)


def test_richardson_derivatives_of_a_known_function() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        return np.array([np.exp(x[0]) * np.sin(x[1]), x[0] ** 2 * x[1] ** 3])

    x = np.array([0.3, 1.1])
    value, grad, hess = richardson_derivatives(f, x)
    e, s, c = np.exp(x[0]), np.sin(x[1]), np.cos(x[1])
    np.testing.assert_allclose(value, f(x))
    np.testing.assert_allclose(
        grad, [[e * s, e * c], [2 * x[0] * x[1] ** 3, 3 * x[0] ** 2 * x[1] ** 2]], rtol=1e-9
    )
    expected = [
        [[e * s, e * c], [e * c, -e * s]],
        [[2 * x[1] ** 3, 6 * x[0] * x[1] ** 2], [6 * x[0] * x[1] ** 2, 6 * x[0] ** 2 * x[1]]],
    ]
    np.testing.assert_allclose(hess, expected, rtol=1e-7)


def test_satterthwaite_df_of_a_contrast_is_invariant_to_its_scale() -> None:
    info = satterthwaite(fit("unbal"))
    row = np.array([0.0, 1.0, 0.0, 0.0, 0.5, 0.5])
    np.testing.assert_allclose(satterthwaite_df(info, 7.0 * row), satterthwaite_df(info, row))


def _dense_vcov_adj(model: mm.LinearMixedModel) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """pbkrtest's vcovAdj_internal written out with dense n × n matrices (residual G = W⁻¹)."""
    from mixedmodels.linalg.crossprod import term_matrix

    X = model.fixed.X
    G = []
    for term in model.terms:
        Z = term_matrix(term, None).toarray()
        rows, cols = term.theta_index()
        for a, b in zip(rows, cols, strict=True):
            E = np.zeros((term.k, term.k))
            E[a, b] = E[b, a] = 1.0
            G.append(Z @ np.kron(np.eye(term.nlevels), E) @ Z.T)
    G.append(np.diag(1.0 / model.frame.weights))
    s2 = model.sigma**2
    Zall = sp.hstack([term_matrix(t, None) for t in model.terms]).toarray()
    Lam = scipy.linalg.block_diag(
        *[
            np.kron(np.eye(t.nlevels), T)
            for t, T in zip(model.terms, model.templates(), strict=True)
        ]
    )
    Sigma = s2 * (Zall @ Lam @ Lam.T @ Zall.T + G[-1])
    Si = np.linalg.inv(Sigma)
    Phi = model.vcov.to_numpy()
    np.testing.assert_allclose(np.linalg.inv(X.T @ Si @ X), Phi, rtol=1e-8)
    H = [g @ Si for g in G]
    GSX = [h @ X for h in H]  # pbkrtest's OO
    P = [-o.T @ Si @ X for o in GSX]
    R = len(G)
    Q = {(r, s): GSX[r].T @ Si @ GSX[s] for r in range(R) for s in range(r, R)}
    K = np.array([[np.sum(H[r].T * H[s]) for s in range(R)] for r in range(R)])
    info = np.array(
        [
            [
                K[r, s]
                - 2 * np.sum(Phi * Q[min(r, s), max(r, s)])
                + np.sum((Phi @ P[r]) * (P[s] @ Phi))
                for s in range(R)
            ]
            for r in range(R)
        ]
    )
    W = 2 * np.linalg.inv(info)
    U = sum(W[r, s] * (Q[r, s] - P[r] @ Phi @ P[s]) for r in range(R) for s in range(r + 1, R))
    U = U + U.T + sum(W[r, r] * (Q[r, r] - P[r] @ Phi @ P[r]) for r in range(R))
    return Phi + 2 * Phi @ U @ Phi, P, W


@pytest.mark.parametrize(
    ("formula", "weights"),
    [
        ("Reaction ~ Days * grp + (Days | Subject)", None),
        ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", None),
        ("Reaction ~ Days + (Days | Subject)", "w"),
        ("Reaction ~ Days + (1 | Subject) + (1 | grp:half)", None),
    ],
)
def test_kenward_roger_equals_dense_pbkrtest_formulas(formula: str, weights: str | None) -> None:
    data = frame("unbal")
    data["w"] = 1.0 + (np.arange(len(data)) % 4) / 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        model = mm.lmer(formula, data, weights=weights)
    adjusted, P, W = _dense_vcov_adj(model)
    kr = kenward_roger(model)
    np.testing.assert_allclose(
        kr.vcov_adjusted, adjusted, rtol=1e-7, atol=1e-10 * np.abs(adjusted).max()
    )
    np.testing.assert_allclose(kr.W, W, rtol=1e-6, atol=1e-10 * np.abs(W).max())
    np.testing.assert_allclose(kr.P, np.array(P), rtol=1e-7, atol=1e-10 * np.abs(np.array(P)).max())


def test_kenward_roger_at_a_singular_fit() -> None:
    # d <- rd("Dyestuff2", "Batch"); m <- lmer(Yield ~ 1 + (1 | Batch), d)   # θ̂ = 0
    # summary(m, ddf = "Kenward-Roger")$coefficients
    expected = [5.6656, 0.678388031232524, 5.0, 8.35156243795531, 0.000402683257905119]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        model = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    table = coefficient_table(model, ddf="kenward-roger")
    np.testing.assert_allclose(table.iloc[0].to_numpy(), expected, rtol=1e-5)


def test_no_fixed_effects() -> None:
    model = mm.lmer("Reaction ~ 0 + (1 | Subject)", frame("sleep"))
    for method in ("satterthwaite", "kenward-roger", "wald"):
        table = coefficient_table(model, ddf=method)
        assert table.empty and list(table.columns) == COLUMNS


def test_residual_and_wald_tables() -> None:
    model = fit("unbal")
    residual = coefficient_table(model, ddf="residual")
    wald = coefficient_table(model, ddf="wald")
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    for table in (residual, wald):
        np.testing.assert_allclose(table["std_error"], se)
        np.testing.assert_allclose(table["statistic"], model.beta / se)
        assert "df_method" not in table.attrs
    assert np.all(residual["df"] == model.nobs - model.n_fixed)
    assert np.all(np.isinf(wald["df"]))
    t = np.abs(residual["statistic"].to_numpy())
    from scipy import stats

    np.testing.assert_allclose(residual["p_value"], 2 * stats.t.sf(t, model.nobs - model.n_fixed))
    np.testing.assert_allclose(wald["p_value"], 2 * stats.norm.sf(t))


def test_ddf_names_and_errors() -> None:
    model = fit("sleep")
    table = coefficient_table(model, ddf="Kenward-Roger")
    assert table.attrs["df_method"] == "Kenward-Roger"
    assert coefficient_table(model, ddf="KR").equals(table)
    with pytest.raises(mm.ModelSpecificationError, match="unknown ddf method 'bogus'"):
        coefficient_table(model, ddf="bogus")
    with pytest.raises(mm.ModelSpecificationError, match="only available for REML"):
        coefficient_table(fit("sleep_ml"), ddf="kenward-roger")


def test_kenward_roger_refuses_too_many_random_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ddf_module, "KR_MAX_RANDOM_EFFECTS", 20)
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", frame("sleep"))
    with pytest.raises(mm.ModelSpecificationError, match="KR_MAX_RANDOM_EFFECTS = 20 .* q = 36"):
        kenward_roger(model)


def test_results_follow_a_refit() -> None:
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", frame("unbal"))
    first = coefficient_table(model)
    before = satterthwaite(model)
    assert satterthwaite(model) is before  # cached
    refitted = model.refit(model.fixed.y + 20.0 * np.sin(np.arange(model.nobs)))
    assert satterthwaite(refitted) is not before
    assert satterthwaite(model) is before  # the original is unchanged
    assert not np.allclose(coefficient_table(refitted)["df"], first["df"])
    np.testing.assert_allclose(refitted.beta, coefficient_table(refitted)["estimate"])
    pd.testing.assert_frame_equal(coefficient_table(model), first)


def test_kenward_roger_df_of_a_single_row_matches_the_table() -> None:
    model = fit("unbal")
    kr = kenward_roger(model)
    table = coefficient_table(model, ddf="kenward-roger")
    assert kenward_roger_df(kr, np.eye(model.n_fixed)[3]) == pytest.approx(table["df"].iloc[3])


def test_summary_prints_the_df_method(monkeypatch: pytest.MonkeyPatch) -> None:
    model = fit("sleep")
    monkeypatch.setattr(type(model), "coef_table", property(lambda self: coefficient_table(self)))
    text = model.summary()
    assert "t-tests use Satterthwaite's method ['lmerModLmerTest']" in text
    assert "Pr(>|t|)" in text
