"""R's formula idioms: ``^`` as a power inside calls, factor(), R's functions, poly(), offset().

Reference values from R (``tests/formula/data/r/poly.R`` → ``tests/formula/data/poly.json``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import FormulaError
from mixedmodels.spec.fixed import build_matrices

R = json.loads((Path(__file__).parent / "data" / "poly.json").read_text())


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def fit(formula: str, data: pd.DataFrame, **kwargs: object) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, data, **kwargs)  # type: ignore[arg-type]


def test_caret_is_a_power_inside_calls_and_differs_from_xor(sleep: pd.DataFrame) -> None:
    caret = fit("Reaction ~ Days + I(Days^2) + (1 | Subject)", sleep)
    power = fit("Reaction ~ Days + I(Days**2) + (1 | Subject)", sleep)
    np.testing.assert_array_equal(caret.fixed.X, power.fixed.X)
    assert caret.objective == power.objective
    xor = sleep.assign(d2=sleep["Days"].to_numpy() ^ 2)
    wrong = fit("Reaction ~ Days + d2 + (1 | Subject)", xor)
    assert not np.allclose(wrong.fixed.X[:, 2], caret.fixed.X[:, 2])
    braces = fit("Reaction ~ Days + {Days^2} + (1 | Subject)", sleep)
    np.testing.assert_array_equal(braces.fixed.X, power.fixed.X)


def test_caret_has_rs_precedence_and_associativity() -> None:
    data = pd.DataFrame({"x": np.array([0.5, 1.5, 2.0, 3.0])})
    matrix = build_matrices("0 + I(2*x^2) + I(-x^2) + I(x^2^0.5) + I((x + 1)^2 / 2)", data, "")
    x = data["x"].to_numpy()
    expected = np.column_stack([2 * x**2, -(x**2), x ** (2**0.5), (x + 1) ** 2 / 2])
    np.testing.assert_allclose(np.asarray(matrix), expected, rtol=1e-15)


def test_caret_outside_calls_keeps_the_formula_meaning() -> None:
    data = pd.DataFrame(
        {"y": np.arange(12.0) ** 1.5, "a": np.arange(12.0) % 5, "b": np.arange(12.0) % 3}
    )
    matrix = build_matrices("(a + b)^2", data, "")
    assert list(matrix.columns) == ["Intercept", "a", "b", "a:b"]


def test_caret_in_a_random_term(sleep: pd.DataFrame) -> None:
    caret = fit("Reaction ~ Days + (I(Days^2) | Subject)", sleep)
    power = fit("Reaction ~ Days + (I(Days**2) | Subject)", sleep)
    np.testing.assert_array_equal(caret.terms[0].z, power.terms[0].z)
    assert caret.objective == pytest.approx(power.objective, rel=1e-12)


@pytest.mark.parametrize("spelling", ["factor(Days)", "as.factor(Days)"])
def test_factor_is_c(sleep: pd.DataFrame, spelling: str) -> None:
    ours = fit(f"Reaction ~ {spelling} + (1 | Subject)", sleep)
    c = fit("Reaction ~ C(Days) + (1 | Subject)", sleep)
    np.testing.assert_array_equal(ours.fixed.X, c.fixed.X)
    assert ours.fixed.X.shape[1] == 10
    assert ours.objective == c.objective


def test_bare_r_functions_equal_numpy_ones(sleep: pd.DataFrame) -> None:
    data = sleep.assign(x=sleep["Days"] + 1)
    r = build_matrices(
        "0 + log(x) + log2(x) + log10(x) + log1p(x) + exp(x) + sqrt(x) + abs(x) + as.numeric(x)",
        data,
        "",
    )
    x = data["x"].to_numpy(dtype=float)
    expected = [np.log(x), np.log2(x), np.log10(x), np.log1p(x), np.exp(x), np.sqrt(x), x, x]
    np.testing.assert_allclose(np.asarray(r), np.column_stack(expected), rtol=1e-15)


@pytest.mark.parametrize("degree", ["1", "2", "3", "4"])
def test_poly_is_rs_orthogonal_polynomial(degree: str) -> None:
    data = pd.DataFrame({"x": R["x"]})
    matrix = build_matrices(f"0 + poly(x, {degree})", data, "")
    np.testing.assert_allclose(np.asarray(matrix), np.asarray(R["poly"][degree]), atol=1e-12)
    model = mm.LinearMixedModel(
        f"y ~ poly(x, {degree}) + (1 | g)",
        data.assign(y=np.sin(data["x"]), g=np.arange(len(data)) % 3),
    )
    new = model.fixed.model_spec().rhs.get_model_matrix(pd.DataFrame({"x": R["xnew"]}))
    np.testing.assert_allclose(np.asarray(new)[:, 1:], np.asarray(R["predict"][degree]), atol=1e-10)


@pytest.mark.parametrize("raw", ["raw=TRUE", "raw = TRUE", "raw=T", "raw=True"])
def test_raw_poly_is_the_powers(raw: str) -> None:
    data = pd.DataFrame({"x": R["x"]})
    matrix = build_matrices(f"0 + poly(x, 3, {raw})", data, "")
    np.testing.assert_allclose(np.asarray(matrix), np.asarray(R["raw3"]), rtol=1e-14)


@pytest.mark.parametrize("case", range(len(R["fits"])), ids=[f["formula"] for f in R["fits"]])
def test_fits_with_r_idioms_equal_lme4(sleep: pd.DataFrame, case: int) -> None:
    reference = R["fits"][case]
    model = fit(reference["formula"], sleep)
    assert model.objective == pytest.approx(reference["objective"], rel=1e-6)
    np.testing.assert_allclose(model.fixef.to_numpy(), reference["fixef"], rtol=1e-4, atol=1e-6)


def test_integer_overflow_inside_a_transform_is_computed_in_float() -> None:
    n = 24
    x = (np.arange(n, dtype=np.int64) % 6 + 1) * 4_000_000_000  # x*x overflows int64
    data = pd.DataFrame({"y": np.cos(np.arange(n)), "x": x, "g": np.arange(n) % 4})
    matrix = build_matrices("0 + I(x*x) + I(x^2) + {x * 3} + np.square(x)", data, "")
    xf = x.astype(np.float64)
    expected = np.column_stack([xf * xf, xf**2, xf * 3, xf**2])
    np.testing.assert_array_equal(np.asarray(matrix), expected)
    model = mm.LinearMixedModel("y ~ I(x*x) + (1 | g)", data)
    np.testing.assert_array_equal(model.fixed.X[:, 1], xf * xf)
    assert data["x"].dtype == np.int64  # the caller's data are untouched


def test_integer_factor_keeps_its_labels() -> None:
    data = pd.DataFrame({"x": [1, 2, 3, 1, 2, 3], "y": np.arange(6.0)})
    matrix = build_matrices("factor(x) + I(x*x)", data, "")
    assert list(matrix.columns)[:3] == ["Intercept", "C(x)[T.2]", "C(x)[T.3]"]


def test_offset_in_lmer_and_glmer() -> None:
    cbpp = mm.datasets.load("cbpp")
    inside = mm.glmer("incidence ~ period + offset(log(size)) + (1 | herd)", cbpp, "poisson")
    given = mm.glmer(
        "incidence ~ period + (1 | herd)", cbpp, "poisson", offset=np.log(cbpp["size"])
    )
    assert inside.objective == pytest.approx(given.objective, rel=1e-10)
    sleep = mm.datasets.load("sleepstudy")
    a = fit("Reaction ~ Days + offset(2 * Days) + (1 | Subject)", sleep)
    b = fit("Reaction ~ Days + (1 | Subject)", sleep, offset=2.0 * sleep["Days"])
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


@pytest.mark.parametrize("formula", ["y ~ x + offset() + (1 | g)", "y ~ x + offset( ) + (1 | g)"])
def test_empty_offset_is_our_plain_error(formula: str) -> None:
    data = pd.DataFrame({"y": np.arange(8.0), "x": np.arange(8.0) % 3, "g": np.arange(8) % 2})
    with pytest.raises(FormulaError, match=r"offset\(\) needs an expression") as info:
        mm.lmer(formula, data)
    assert "\x1b" not in str(info.value)
    assert info.value.position == formula.index("offset(") + 7


def test_formulaic_syntax_errors_are_plain_text() -> None:
    data = pd.DataFrame({"y": np.arange(8.0), "x": np.arange(8.0) % 3, "g": np.arange(8) % 2})
    for formula in ["y ~ x + {} + (1 | g)", "y ~ x ++ + (1 | g)", "y ~ x + a(b)c + (1 | g)"]:
        with pytest.raises(mm.MixedModelsError) as info:
            mm.lmer(formula, data)
        assert "\x1b" not in str(info.value)
