"""F tests (lmerTest's ``anova`` and ``contest``) against lmerTest 3.1.3 / pbkrtest 0.5.2.

Reference values come from R; the code that made them is in the comments, after this setup::

    library(lmerTest); library(pbkrtest)
    rd <- function(name, factors) {
      d <- read.csv(file.path("/work/shared/data", paste0(name, ".csv")))
      for (f in factors) d[[f]] <- factor(as.character(d[[f]]))
      d
    }
    sleep <- rd("sleepstudy", "Subject")
    # made-up factors: grp between subjects (from the Subject id), half within subjects
    sleep$grp <- factor(c("a", "b", "c")[as.integer(as.character(sleep$Subject)) %% 3 + 1])
    sleep$half <- factor(ifelse(sleep$Days < 5, "early", "late"))
    unbal <- sleep[(seq_len(nrow(sleep)) - 1) %% 7 != 0, ]
    anv <- function(m, type, ddf = "Satterthwaite") anova(m, type = type, ddf = ddf)
    # columns: Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)

As in test_ddf.py, tables are checked at our fit (1e-3; p-values 1e-2) and at lme4's θ̂ (1e-5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.inference import anova_table, coefficient_table, contrast, term_contrasts
from mixedmodels.inference.ftest import F_COLUMNS, R_LABELS

CASES: dict[str, dict[str, Any]] = {
    "sleep": {
        "formula": "Reaction ~ Days + (Days | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ Days + (Days | Subject), sleep); getME(m, "theta")
        "theta": [0.966741773967412, 0.0151690588960361, 0.230909953207795],
        # anv(m, 3)
        "3/satterthwaite": {
            "terms": ["Days"],
            "sum_sq": [30030.9390201377],
            "mean_sq": [30030.9390201377],
            "num_df": [1.0],
            "den_df": [16.9999837255917],
            "statistic": [45.8529615558586],
            "p_value": [3.26382446992738e-06],
        },
        # anv(m, 1)
        "1/satterthwaite": {
            "terms": ["Days"],
            "sum_sq": [30030.9390201377],
            "mean_sq": [30030.9390201377],
            "num_df": [1.0],
            "den_df": [16.9999837255917],
            "statistic": [45.8529615558586],
            "p_value": [3.26382446992738e-06],
        },
        # anv(m, 3, "Kenward-Roger")
        "3/kenward-roger": {
            "terms": ["Days"],
            "sum_sq": [30030.9390201376],
            "mean_sq": [30030.9390201376],
            "num_df": [1.0],
            "den_df": [17.0000000000005],
            "statistic": [45.8529615558584],
            "p_value": [3.26380801814764e-06],
        },
    },
    "sleep_ml": {
        "formula": "Reaction ~ Days + (Days | Subject)",
        "data": "sleep",
        "reml": False,
        # m <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE); getME(m, "theta")
        "theta": [0.929190605278248, 0.018165754720412, 0.222643205612618],
        # anv(m, 3)
        "3/satterthwaite": {
            "terms": ["Days"],
            "sum_sq": [31798.0502886292],
            "mean_sq": [31798.0502886292],
            "num_df": [1.0],
            "den_df": [18.0001769285147],
            "statistic": [48.5506661220524],
            "p_value": [1.65222790511593e-06],
        },
    },
    "grp": {
        "formula": "Reaction ~ Days * grp + (Days | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ Days * grp + (Days | Subject), sleep); getME(m, "theta")
        "theta": [1.02442406403423, 0.0318433754708335, 0.226790750531908],
        # anv(m, 3)
        "3/satterthwaite": {
            "terms": ["Days", "grp", "Days:grp"],
            "sum_sq": [29619.9075428667, 392.89103961744, 1499.77490761535],
            "mean_sq": [29619.9075428667, 196.44551980872, 749.887453807674],
            "num_df": [1.0, 2.0, 2.0],
            "den_df": [15.0000080712484, 15.0001502383168, 15.0000080708542],
            "statistic": [45.2252679244953, 0.299943585342342, 1.14496849669732],
            "p_value": [6.80872735362637e-06, 0.745201102641422, 0.344535396115398],
        },
        # anv(m, 1)
        "1/satterthwaite": {
            "terms": ["Days", "grp", "Days:grp"],
            "sum_sq": [30543.2250843889, 180.161123592974, 1499.77490761535],
            "mean_sq": [30543.2250843889, 90.0805617964871, 749.887453807674],
            "num_df": [1.0, 2.0, 2.0],
            "den_df": [15.0000080715787, 15.0000181030984, 15.0000080708542],
            "statistic": [46.635038806943, 0.13753984667708, 1.14496849669732],
            "p_value": [5.70551119453658e-06, 0.872586132695835, 0.344535396115398],
        },
        # anv(m, 3, "Kenward-Roger")
        "3/kenward-roger": {
            "terms": ["Days", "grp", "Days:grp"],
            "sum_sq": [29619.9075428668, 392.891039617442, 1499.77490761536],
            "mean_sq": [29619.9075428668, 196.445519808721, 749.887453807678],
            "num_df": [1.0, 2.0, 2.0],
            "den_df": [14.9999999999999, 14.9999999999996, 14.9999999999999],
            "statistic": [45.2252679244954, 0.299943585342343, 1.14496849669732],
            "p_value": [6.80874623681576e-06, 0.745201145123186, 0.344535409505987],
        },
    },
    "grp_sum": {
        "formula": "Reaction ~ Days * C(grp, contr.sum) + (Days | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ Days * grp + (Days | Subject), sleep,
        #           contrasts = list(grp = "contr.sum")); getME(m, "theta")
        "theta": [1.02442406404759, 0.0318433754690802, 0.226790750536119],
        # anv(m, 3)
        "3/satterthwaite": {
            "terms": ["Days", "grp", "Days:grp"],
            "sum_sq": [29619.9075420473, 392.891039609645, 1499.77490757192],
            "mean_sq": [29619.9075420473, 196.445519804823, 749.887453785959],
            "num_df": [1.0, 2.0, 2.0],
            "den_df": [15.0000080599467, 15.0001502426754, 15.0000080589534],
            "statistic": [45.2252679234277, 0.299943585337607, 1.14496849666881],
            "p_value": [6.80872738098973e-06, 0.745201102643582, 0.344535396143665],
        },
    },
    "grp_half": {
        "formula": "Reaction ~ grp * half + (1 | Subject)",
        "data": "sleep",
        "reml": True,
        # m <- lmer(Reaction ~ grp * half + (1 | Subject), sleep); getME(m, "theta")
        "theta": [1.15494405137752],
        # anv(m, 3)
        "3/satterthwaite": {
            "terms": ["grp", "half", "grp:half"],
            "sum_sq": [314.753012198552, 127707.282782252, 5370.34176726319],
            "mean_sq": [157.376506099276, 127707.282782252, 2685.17088363159],
            "num_df": [2.0, 1.0, 2.0],
            "den_df": [14.9999993964674, 159.000000222248, 159.000000223239],
            "statistic": [0.137539837010663, 111.610298730773, 2.34671600504013],
            "p_value": [0.872586142318233, 4.25416299370744e-20, 0.0989889392801287],
        },
        # anv(m, 1)
        "1/satterthwaite": {
            "terms": ["grp", "half", "grp:half"],
            "sum_sq": [314.753012198552, 130034.059949649, 5370.34176726319],
            "mean_sq": [157.376506099276, 130034.059949649, 2685.17088363159],
            "num_df": [2.0, 1.0, 2.0],
            "den_df": [14.9999993964675, 159.000000222791, 159.00000022324],
            "statistic": [0.137539837010663, 113.643795091164, 2.34671600504013],
            "p_value": [0.872586142318233, 2.33403223181751e-20, 0.0989889392801288],
        },
        # anv(m, 3, "Kenward-Roger")
        "3/kenward-roger": {
            "terms": ["grp", "half", "grp:half"],
            "sum_sq": [314.753012198552, 127707.282782252, 5370.34176726319],
            "mean_sq": [157.376506099276, 127707.282782252, 2685.17088363159],
            "num_df": [2.0, 1.0, 2.0],
            "den_df": [15.0000000000001, 159.0, 159.0],
            "statistic": [0.137539837010663, 111.610298730773, 2.34671600504013],
            "p_value": [0.872586142275017, 4.2541630513398e-20, 0.0989889392847592],
        },
    },
    "grp_half_ml": {
        "formula": "Reaction ~ grp * half + (1 | Subject)",
        "data": "sleep",
        "reml": False,
        # m <- lmer(Reaction ~ grp * half + (1 | Subject), sleep, REML = FALSE); getME(m, "theta")
        "theta": [1.0570991784567],
        # anv(m, 3)
        "3/satterthwaite": {
            "terms": ["grp", "half", "grp:half"],
            "sum_sq": [370.709101001805, 127707.282782252, 5370.34176726312],
            "mean_sq": [185.354550500902, 127707.282782252, 2685.17088363156],
            "num_df": [2.0, 1.0, 2.0],
            "den_df": [17.9999991490604, 162.000000318671, 162.000000316192],
            "statistic": [0.165047803578304, 113.716153540355, 2.39099366796309],
            "p_value": [0.849121767477682, 1.8985169110227e-20, 0.0947622741631741],
        },
        # anv(m, 1)
        "1/satterthwaite": {
            "terms": ["grp", "half", "grp:half"],
            "sum_sq": [370.709101001805, 130034.059949649, 5370.34176726312],
            "mean_sq": [185.354550500902, 130034.059949649, 2685.17088363156],
            "num_df": [2.0, 1.0, 2.0],
            "den_df": [17.9999991490604, 162.000000319121, 162.000000316192],
            "statistic": [0.165047803578304, 115.788017758726, 2.39099366796309],
            "p_value": [0.849121767477681, 1.02998070046187e-20, 0.0947622741631742],
        },
    },
    "unbal": {
        "formula": "Reaction ~ Days * grp + (Days | Subject)",
        "data": "unbal",
        "reml": True,
        # m <- lmer(Reaction ~ Days * grp + (Days | Subject), unbal); getME(m, "theta")
        "theta": [1.28037628379308, -0.0286037272661175, 0.334671644083036],
        # anv(m, 3)
        "3/satterthwaite": {
            "terms": ["Days", "grp", "Days:grp"],
            "sum_sq": [15032.4197099825, 266.829382622156, 684.544294654458],
            "mean_sq": [15032.4197099825, 133.414691311078, 342.272147327229],
            "num_df": [1.0, 2.0, 2.0],
            "den_df": [14.7866662199502, 15.0371772130159, 14.7801999091846],
            "statistic": [33.5876959977551, 0.298095195573543, 0.764755977728033],
            "p_value": [3.73600372406646e-05, 0.746516554124959, 0.483008895719525],
        },
        # anv(m, 1)
        "1/satterthwaite": {
            "terms": ["Days", "grp", "Days:grp"],
            "sum_sq": [14924.367273836, 97.1685692964637, 684.544294654458],
            "mean_sq": [14924.367273836, 48.5842846482318, 342.272147327229],
            "num_df": [1.0, 2.0, 2.0],
            "den_df": [14.747987362676, 14.9911984245458, 14.7807994094369],
            "statistic": [33.3462689722247, 0.108554325552098, 0.764755977728033],
            "p_value": [3.92062679514727e-05, 0.89782889452978, 0.483008216270186],
        },
        # anv(m, 3, "Kenward-Roger")
        "3/kenward-roger": {
            "terms": ["Days", "grp", "Days:grp"],
            "sum_sq": [15027.4317742225, 266.69357123035, 684.346143373029],
            "mean_sq": [15027.4317742225, 133.346785615175, 342.173071686514],
            "num_df": [1.0, 2.0, 2.0],
            "den_df": [15.0032304698915, 14.9783134280581, 14.9971013090241],
            "statistic": [33.5765512004971, 0.297942340742631, 0.764532755635491],
            "p_value": [3.53308325033581e-05, 0.74664276432302, 0.482864256166642],
        },
    },
}


def frame(name: str) -> pd.DataFrame:
    """The sleepstudy data with the made-up factors, as the R code above builds them."""
    data = mm.datasets.load("sleepstudy").astype({"Subject": str})
    data["grp"] = np.array(["a", "b", "c"])[data["Subject"].astype(int) % 3]
    data["half"] = np.where(data["Days"] < 5, "early", "late")
    if name == "unbal":
        data = data[np.arange(len(data)) % 7 != 0].reset_index(drop=True)
    return data


_FITS: dict[str, mm.LinearMixedModel] = {}


def fit(name: str) -> mm.LinearMixedModel:
    """The case fitted (once per session)."""
    if name not in _FITS:
        case = CASES[name]
        _FITS[name] = mm.lmer(case["formula"], frame(case["data"]), reml=case["reml"])
    return _FITS[name]


def at_lme4_theta(name: str) -> mm.LinearMixedModel:
    """A fresh fit moved to lme4's θ̂."""
    case = CASES[name]
    model = mm.lmer(case["formula"], frame(case["data"]), reml=case["reml"])
    return model.at_theta(np.array(case["theta"], dtype=float))


TABLES = [(n, key) for n, case in CASES.items() for key in case if "/" in key]


def _check(table: pd.DataFrame, expected: dict[str, Any], rtol: float, p_rtol: float) -> None:
    assert list(table.columns) == F_COLUMNS
    assert len(table) == len(expected["terms"])
    for column in F_COLUMNS[:-1]:
        np.testing.assert_allclose(table[column], expected[column], rtol=rtol, err_msg=column)
    np.testing.assert_allclose(table["p_value"], expected["p_value"], rtol=p_rtol)


@pytest.mark.parametrize(("name", "key"), TABLES)
def test_anova_at_our_fit(name: str, key: str) -> None:
    kind, method = key.split("/")
    table = anova_table(fit(name), type=int(kind), ddf=method)
    _check(table, CASES[name][key], 1e-3, 1e-2)
    if name != "grp_sum":  # formulaic names the term C(grp, contr.sum)
        assert list(table.index) == CASES[name][key]["terms"]


@pytest.mark.parametrize(("name", "key"), TABLES)
def test_anova_at_lme4_theta(name: str, key: str) -> None:
    kind, method = key.split("/")
    table = anova_table(at_lme4_theta(name), type=int(kind), ddf=method)
    _check(table, CASES[name][key], 1e-5, 1e-5)


def test_anova_heading_and_labels() -> None:
    table = anova_table(fit("grp"), type="III", ddf="Kenward-Roger")
    assert (
        table.attrs["heading"] == "Type III Analysis of Variance Table with Kenward-Roger's method"
    )
    assert anova_table(fit("grp"), type=1).attrs["heading"] == (
        "Type I Analysis of Variance Table with Satterthwaite's method"
    )
    assert [R_LABELS[c] for c in table.columns] == [
        "Sum Sq",
        "Mean Sq",
        "NumDF",
        "DenDF",
        "F value",
        "Pr(>F)",
    ]
    assert set(table.attrs["hypotheses"]) == {"Days", "grp", "Days:grp"}


# ---- the hypotheses themselves ------------------------------------------------------------
def test_type3_hypotheses_in_sum_coding_as_lmertest() -> None:
    # m <- lmer(Reaction ~ Days * grp + (Days | Subject), sleep,
    #           contrasts = list(grp = "contr.sum"))
    # attr(anova(m, type = 3), "hypotheses")
    # (columns: (Intercept) Days grp1 grp2 Days:grp1 Days:grp2)
    expected = {
        "Days": [[0, 1, 0, 0, 1e-07, 0]],
        "C(grp, contr.sum)": [[0, 0, -1, 1, 0, 0], [0, 0, -2, -1, 0, 0]],
        "Days:C(grp, contr.sum)": [[0, 0, 0, 0, -1, 1], [0, 0, 0, 0, -2, -1]],
    }
    found = term_contrasts(fit("grp_sum"), 3)
    assert list(found) == list(expected)
    for term, L in expected.items():
        np.testing.assert_allclose(found[term], L, atol=1e-12, err_msg=term)


def test_type3_and_type1_hypotheses_of_two_factors_as_lmertest() -> None:
    # m <- lmer(Reaction ~ grp * half + (1 | Subject), sleep)
    # attr(anova(m, type = 3), "hypotheses"); attr(anova(m, type = 1), "hypotheses")
    # (columns: (Intercept) grpb grpc halflate grpb:halflate grpc:halflate)
    type3 = {
        "grp": [[0, 1, 0, 0, 0.5, 0], [0, 0, 1, 0, 0, 0.5]],
        "half": [[0, 0, 0, 1, 0.3333333, 0.3333333]],
        "grp:half": [[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]],
    }
    type1 = {
        "grp": [[0, 1, -0.4545455, 0, 0.5, -0.2272727], [0, 0, 1, 0, 0, 0.5]],
        "half": [[0, 0, 0, 1, 0.3888889, 0.2777778]],
        "grp:half": [[0, 0, 0, 0, 1, -0.4545455], [0, 0, 0, 0, 0, 1]],
    }
    model = fit("grp_half")
    for kind, expected in ((3, type3), (1, type1)):
        found = term_contrasts(model, kind)
        assert list(found) == list(expected)
        for term, L in expected.items():
            np.testing.assert_allclose(found[term], L, atol=5e-8, err_msg=f"type {kind} {term}")


def test_type3_needs_marginal_terms_but_type1_does_not() -> None:
    model = mm.lmer("Reaction ~ Days + grp:half + (1 | Subject)", frame("sleep"))
    with pytest.raises(mm.ModelSpecificationError, match="marginal terms of 'grp:half'"):
        anova_table(model)
    assert list(anova_table(model, type=1).index) == ["Days", "grp:half"]


def test_intercept_only_and_single_term_models() -> None:
    model = mm.lmer("Reaction ~ 1 + (1 | Subject)", frame("sleep"))
    assert anova_table(model).empty
    single = anova_table(fit("sleep"), type=3)
    np.testing.assert_allclose(single.to_numpy(), anova_table(fit("sleep"), type=1).to_numpy())


def test_no_intercept_model() -> None:
    model = mm.lmer("Reaction ~ 0 + grp + Days + (1 | Subject)", frame("sleep"))
    table = anova_table(model)
    assert list(table.index) == ["grp", "Days"]
    assert list(table["num_df"]) == [3.0, 1.0]


# ---- contrasts ------------------------------------------------------------------------------
# Each row: Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)
CONTESTS = [
    # m <- lmer(Reaction ~ Days + (Days | Subject), sleep); contest(m, diag(2))
    ("sleep", np.eye(2), 0.0, "satterthwaite",
     [982345.112942736, 491172.556471368, 2, 16.9998460493499, 749.950453899299,
      2.63509709378805e-17]),
    # contest(m, diag(2), ddf = "Kenward-Roger")
    ("sleep", np.eye(2), 0.0, "kenward-roger",
     [982345.112942735, 491172.556471367, 2, 16.0000000000003, 705.835721316987,
      2.48847728658448e-16]),
    # contest(m, rbind(c(1, 0), c(1, 10)), rhs = c(250, 350))
    ("sleep", [[1, 0], [1, 10]], [250.0, 350.0], "satterthwaite",
     [100.7331556861, 50.3665778430499, 2, 16.9998254476781, 0.076902582233239, 0.926300317393635]),
    # m <- lmer(Reaction ~ Days * grp + (Days | Subject), sleep)
    # contest(m, rbind(c(0, 0, 1, -1, 0, 0), c(0, 0, 0, 0, 1, -1), c(0, 0, 0, 0, 1, 1)))
    ("grp", [[0, 0, 1, -1, 0, 0], [0, 0, 0, 0, 1, -1], [0, 0, 0, 0, 1, 1]], 0.0, "satterthwaite",
     [1531.66879407706, 510.556264692353, 3, 15.0027441957848, 0.779544764878981,
      0.523539027975835]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "L", "rhs", "method", "expected"), CONTESTS)
def test_contrast_as_lmertest_contest(
    name: str, L: Any, rhs: Any, method: str, expected: list[float]
) -> None:
    table = contrast(fit(name), L, rhs=rhs, ddf=method)
    np.testing.assert_allclose(table.iloc[0, :-1], expected[:-1], rtol=1e-3)
    np.testing.assert_allclose(table.iloc[0, -1], expected[-1], rtol=1e-2)
    exact = contrast(at_lme4_theta(name), L, rhs=rhs, ddf=method)
    np.testing.assert_allclose(exact.iloc[0], expected, rtol=1e-5)


def test_one_row_contrast_is_the_squared_t_test() -> None:
    model = fit("unbal")
    for method in ("satterthwaite", "kenward-roger", "residual", "wald"):
        coef = coefficient_table(model, ddf=method)
        row = contrast(model, np.eye(model.n_fixed)[1], ddf=method)
        if method != "kenward-roger":  # KR F tests carry pbkrtest's F scaling
            assert row["statistic"].iloc[0] == pytest.approx(coef["statistic"].iloc[1] ** 2)
            assert row["p_value"].iloc[0] == pytest.approx(coef["p_value"].iloc[1])
        assert row["den_df"].iloc[0] == pytest.approx(coef["df"].iloc[1])
        separate = contrast(model, np.eye(model.n_fixed)[:2], ddf=method, joint=False)
        np.testing.assert_allclose(separate.to_numpy(), coef.iloc[:2].to_numpy())


def test_contrast_accepts_named_rows_and_checks_shapes() -> None:
    model = fit("grp")
    names = list(model.fixed.names)
    shuffled = pd.DataFrame([np.eye(6)[2], np.eye(6)[3]], columns=names)[names[::-1]]
    pd.testing.assert_frame_equal(contrast(model, shuffled), contrast(model, np.eye(6)[2:4]))
    single = pd.Series(np.eye(6)[2], index=names)
    pd.testing.assert_frame_equal(contrast(model, single), contrast(model, np.eye(6)[2]))
    with pytest.raises(mm.DataError, match="contrast columns"):
        contrast(model, shuffled.iloc[:, 1:])
    with pytest.raises(mm.DataError, match="6 columns"):
        contrast(model, np.eye(5))
    with pytest.raises(mm.DataError, match="finite"):
        contrast(model, [np.nan, 0, 0, 0, 0, 0])
    with pytest.raises(mm.ModelSpecificationError, match="anova type"):
        anova_table(model, type=4)


def test_rank_deficient_contrast() -> None:
    model = fit("grp")
    L = np.array([[0, 0, 1, 0, 0, 0], [0, 0, 2, 0, 0, 0], [0, 0, 0, 1, 0, 0]], dtype=float)
    table = contrast(model, L)
    reduced = contrast(model, L[[0, 2]])
    np.testing.assert_allclose(table.to_numpy(), reduced.to_numpy(), rtol=1e-8)
    assert table["num_df"].iloc[0] == 2
    kr = contrast(model, L, ddf="kr")
    np.testing.assert_allclose(kr.to_numpy(), contrast(model, L[[0, 2]], ddf="kr").to_numpy())
    with pytest.warns(mm.RankDeficiencyWarning, match="rank deficient"):
        contrast(model, L, rhs=[1.0, 2.0, 0.0])


def test_denominator_df_of_the_f_statistic_follows_lmertest_rules() -> None:
    from mixedmodels.inference.ftest import _fstat_ddf

    assert _fstat_ddf(np.array([7.5])) == 7.5
    assert _fstat_ddf(np.array([4.0, 4.0 + 1e-9])) == pytest.approx(4.0)  # equal: their mean
    assert _fstat_ddf(np.array([1.5, 30.0])) == 2.0  # any ν ≤ 2
    E = 5 / 3 + 20 / 18
    assert _fstat_ddf(np.array([5.0, 20.0])) == pytest.approx(2 * E / (E - 2))


def test_wald_and_residual_f_tests() -> None:
    model = fit("unbal")
    satt = anova_table(model)
    wald = anova_table(model, ddf="wald")
    residual = anova_table(model, ddf="residual")
    np.testing.assert_allclose(wald["statistic"], satt["statistic"])
    assert np.all(np.isinf(wald["den_df"]))
    assert np.all(residual["den_df"] == model.nobs - model.n_fixed)
    from scipy import stats

    q = wald["num_df"].to_numpy()
    np.testing.assert_allclose(wald["p_value"], stats.chi2.sf(wald["statistic"] * q, q))
    assert wald.attrs["heading"].endswith("with Wald df")
