"""The summary text and HTML against lme4's print(summary(lmer(...))) for reference fits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.models import LinearMixedModel
from mixedmodels.results.r_format import abbreviate, format_numbers
from mixedmodels.results.summary import summary_text
from mixedmodels.results.summary_html import summary_html


def fit(formula: str, data: str | pd.DataFrame, reml: bool = True) -> LinearMixedModel:
    frame = mm.datasets.load(data) if isinstance(data, str) else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, frame, reml=reml)


@pytest.fixture(scope="module")
def sleep_reml() -> LinearMixedModel:
    model = fit("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    model.data_name = "sleepstudy"
    return model


@pytest.fixture(scope="module")
def rail_ml() -> LinearMixedModel:
    return fit("travel ~ 1 + (1 | Rail)", "Rail", reml=False)


def section(text: str, title: str) -> list[str]:
    """Lines after ``title`` up to the next blank line."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


# ---- REML: sleepstudy, as lmerTest prints it (lme4's layout with Satterthwaite t tests) ---------
def test_reml_header(sleep_reml: LinearMixedModel) -> None:
    lines = summary_text(sleep_reml).splitlines()
    assert lines[:6] == [
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method ['lmerModLmerTest']",
        "Formula: Reaction ~ Days + (Days | Subject)",
        "   Data: sleepstudy",
        "",
        "REML criterion at convergence: 1743.6",
        "",
    ]


def test_summary_method_is_summary_text(sleep_reml: LinearMixedModel) -> None:
    assert sleep_reml.summary() == summary_text(sleep_reml)


def test_data_line_only_when_named() -> None:
    model = fit("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    assert "Data:" not in summary_text(model)


def test_data_line_from_the_frames_name_and_ddf_by_argument() -> None:
    data = mm.datasets.load("sleepstudy")
    data.attrs["name"] = "sleep"
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    text = summary_text(model, "kenward-roger")
    assert "   Data: sleep" in text.splitlines()
    assert text.splitlines()[0].endswith("t-tests use Kenward-Roger's method ['lmerModLmerTest']")
    assert model.summary().splitlines()[0].endswith("Satterthwaite's method ['lmerModLmerTest']")


def test_random_effects_table(sleep_reml: LinearMixedModel) -> None:
    rows = section(summary_text(sleep_reml), "Random effects:")
    # lme4 prints 612.10 / 24.741: its optimizer stops where the REML criterion is 1e-9 above
    # the optimum, at θ₁ = 0.966742; the optimum (found from any start) is θ₁ = 0.966733
    assert rows == [
        " Groups   Name        Variance Std.Dev. Corr",
        " Subject  (Intercept) 612.09   24.740       ",
        "          Days         35.07    5.922   0.07",
        " Residual             654.94   25.592       ",
        "Number of obs: 180, groups:  Subject, 18",
    ]


def test_random_effects_numbers_match_lme4(sleep_reml: LinearMixedModel) -> None:
    rows = section(summary_text(sleep_reml), "Random effects:")
    intercept, days, residual = (r.split() for r in rows[1:4])
    np.testing.assert_allclose(
        [float(intercept[2]), float(days[1]), float(residual[1])], [612.1, 35.07, 654.9], rtol=2e-4
    )
    np.testing.assert_allclose(
        [float(intercept[3]), float(days[2]), float(residual[2])], [24.74, 5.922, 25.59], rtol=2e-4
    )
    assert days[3] == "0.07"


def test_fixed_effects_table(sleep_reml: LinearMixedModel) -> None:
    assert section(summary_text(sleep_reml), "Fixed effects:") == [
        "            Estimate Std. Error      df t value Pr(>|t|)    ",
        "(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***",
        "Days          10.467      1.546  17.000   6.771 3.26e-06 ***",
        "---",
        "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1",
    ]


def test_fixed_effects_correlation(sleep_reml: LinearMixedModel) -> None:
    text = summary_text(sleep_reml)
    assert section(text, "Correlation of Fixed Effects:") == ["     (Intr)", "Days -0.138"]
    assert "boundary" not in text and "optimizer" not in text


def test_scaled_residual_quantiles(sleep_reml: LinearMixedModel) -> None:
    names, values = section(summary_text(sleep_reml), "Scaled residuals: ")
    assert names.split() == ["Min", "1Q", "Median", "3Q", "Max"]
    quantiles = np.quantile(sleep_reml.residuals(scaled=True), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose([float(v) for v in values.split()], quantiles, atol=5.1e-5)
    assert values.split() == ["-3.9536", "-0.4634", "0.0231", "0.4634", "5.1793"]


# ---- ML ----------------------------------------------------------------------------------------
def test_ml_header_and_information_criteria(rail_ml: LinearMixedModel) -> None:
    lines = summary_text(rail_ml).splitlines()
    assert lines[0] == (
        "Linear mixed model fit by maximum likelihood. t-tests use Satterthwaite's method "
        "['lmerModLmerTest']"
    )
    assert lines[1] == "Formula: travel ~ 1 + (1 | Rail)"
    assert not any(line.startswith("REML criterion") for line in lines)
    # lme4 rounds these to one decimal; df.resid = nobs - npar = 18 - 3
    assert lines[3:5] == [
        "     AIC      BIC   logLik deviance df.resid ",
        "   134.6    137.2    -64.3    128.6       15 ",
    ]


def test_ml_criteria_values_match_lme4(rail_ml: LinearMixedModel) -> None:
    assert rail_ml.aic == pytest.approx(134.56, abs=0.005)
    assert rail_ml.bic == pytest.approx(137.23, abs=0.005)
    assert rail_ml.loglik == pytest.approx(-64.28, abs=0.005)
    assert rail_ml.deviance == pytest.approx(128.56, abs=0.005)


def test_no_fixed_correlation_when_one_coefficient(rail_ml: LinearMixedModel) -> None:
    text = summary_text(rail_ml)
    row = "(Intercept)   66.500      9.285  6.000   7.162 0.000374 ***"  # as lmerTest
    assert section(text, "Fixed effects:")[1] == row
    assert "Correlation of Fixed Effects" not in text


def test_ml_sleepstudy_header_row() -> None:
    model = fit("Reaction ~ Days + (Days | Subject)", "sleepstudy", reml=False)
    assert "  1763.9   1783.1   -876.0   1751.9      174 " in summary_text(model).splitlines()


# ---- other layouts -----------------------------------------------------------------------------
def test_crossed_groups_line() -> None:
    model = fit("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    text = summary_text(model)
    assert "Number of obs: 144, groups:  plate, 24; sample, 6" in text.splitlines()
    row = section(text, "Fixed effects:")[1]  # lmerTest: ... 0.8086  5.4866   28.41 3.62e-07 ***
    assert row.startswith("(Intercept)  22.9722     0.8086  5.48")
    assert row.endswith("   28.41 3.62e-07 ***")


def test_singular_fit_note() -> None:
    model = fit("Yield ~ 1 + (1 | Batch)", "Dyestuff2")
    lines = summary_text(model).splitlines()
    assert lines[-1] == "boundary (singular) fit: see help('isSingular')"
    assert model.optsum.optimizer == "LD_LBFGS"  # one small term: the exact gradient
    assert lines[-2].startswith("optimizer (LD_LBFGS) convergence code:")
    assert " Batch    (Intercept)  0.00    0.000   " in lines


def test_uncorrelated_terms_listed_separately() -> None:
    model = fit("Reaction ~ Days + (Days || Subject)", "sleepstudy")
    rows = section(summary_text(model), "Random effects:")
    assert [r.split()[0] for r in rows[1:4]] == ["Subject", "Subject.1", "Residual"]
    assert rows[4] == "Number of obs: 180, groups:  Subject, 18"


def test_three_term_correlations_lower_triangle() -> None:
    data = mm.datasets.load("sleepstudy").copy()
    data["x"] = np.random.default_rng(1).normal(size=len(data))
    rows = section(
        summary_text(fit("Reaction ~ Days + (1 + Days + x | Subject)", data)), "Random effects:"
    )
    assert rows[0].split() == ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
    assert len(rows[1].split()) == 4  # no correlation on the first row
    assert len(rows[2].split()) == 4  # Name, Variance, Std.Dev., one correlation
    assert len(rows[3].split()) == 5  # Name, Variance, Std.Dev., two correlations


def test_missing_rows_and_rank_deficiency_notes() -> None:
    data = mm.datasets.load("sleepstudy").copy()
    data["Days2"] = 2.0 * data["Days"]
    data.loc[[3, 7], "Reaction"] = np.nan
    text = summary_text(fit("Reaction ~ Days + Days2 + (1 | Subject)", data))
    assert "  (2 observations deleted due to missingness)" in text.splitlines()
    assert "fit warnings:" in text
    assert "rank deficient so dropping 1 column / coefficient" in text
    assert "Number of obs: 178" in text


def test_correlation_omitted_for_many_coefficients() -> None:
    data = mm.datasets.load("sleepstudy").copy()
    rng = np.random.default_rng(2)
    for name in ("a", "b", "c"):
        data[name] = rng.normal(size=len(data))
    model = fit("Reaction ~ C(Days) + a + b + c + (1 | Subject)", data)
    text = summary_text(model)
    assert "Correlation of Fixed Effects" not in text
    assert "Correlation matrix not shown by default, as p = 13 > 12." in text


def test_lmertest_columns(sleep_reml: LinearMixedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    table = sleep_reml.coef_table.copy()
    table["df"] = [17.0, 17.0]
    table["p_value"] = [1.171e-17, 3.264e-06]
    table.attrs["df_method"] = "Satterthwaite"
    monkeypatch.setattr(LinearMixedModel, "coef_table", property(lambda self: table))
    text = summary_text(sleep_reml)
    assert text.startswith(
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method ['lmerModLmerTest']"
    )
    assert section(text, "Fixed effects:")[:3] == [
        "            Estimate Std. Error      df t value Pr(>|t|)    ",
        "(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***",
        "Days          10.467      1.546  17.000   6.771 3.26e-06 ***",
    ]
    assert "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1" in text


def test_html(sleep_reml: LinearMixedModel) -> None:
    page = summary_html(sleep_reml)
    assert page.startswith("<div") and page.endswith("</div>")
    assert page.count("<table>") == 4  # residuals, random effects, fixed effects, correlation
    for text in ("REML criterion at convergence: 1743.6", "612.09", "251.405", "(Intr)"):
        assert text in page
    assert "[&#x27;lmerModLmerTest&#x27;]" in page


def test_unfitted_model_is_refused() -> None:
    model = LinearMixedModel("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))
    with pytest.raises(mm.ModelSpecificationError, match="not been fitted"):
        summary_text(model)


# ---- R's formatting helpers ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "digits", "expected"),
    [
        ([612.1001, 35.0717, 654.94], 4, ["612.10", " 35.07", "654.94"]),
        ([24.740658, 5.922138, 25.591796], 4, ["24.741", " 5.922", "25.592"]),
        ([1743.6], 7, ["1743.6"]),
        ([100000.0], 7, ["1e+05"]),
        ([1e-5, 123456789.0], 7, ["1.000000e-05", "1.234568e+08"]),
        ([0.0, float("nan")], 4, ["  0", "NaN"]),
    ],
)
def test_format_numbers_like_r(values: list[float], digits: int, expected: list[str]) -> None:
    assert format_numbers(values, digits) == expected


@pytest.mark.parametrize(
    ("name", "minlength", "expected"),
    [
        ("(Intercept)", 6, "(Intr)"),
        ("Days", 6, "Days"),
        ("(Intercept)", 11, "(Intercept)"),
        ("treatmentB", 6, "trtmnB"),
        ("age:sexMale", 6, "ag:sxM"),
    ],
)
def test_abbreviate_like_r(name: str, minlength: int, expected: str) -> None:
    assert abbreviate(name, minlength) == expected
