"""The model matrices of checked formula text: bounded, in float64, in the restricted context."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import FormulaError, ModelSpecificationError
from mixedmodels.spec.evaluate import count_columns, float_frame, model_matrices


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def test_user_functions_in_lmer_glmer_and_prediction(sleep: pd.DataFrame) -> None:
    data = sleep.assign(p=(sleep["Days"] + 1) / 11)
    functions = {"logit": logit}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.lmer("Reaction ~ logit(p) + (logit(p) | Subject)", data, functions=functions)
        by_hand = mm.lmer(
            "Reaction ~ lp + (lp | Subject)", data.assign(lp=logit(data["p"])), functions=None
        )
    assert model.objective == pytest.approx(by_hand.objective, rel=1e-10)
    rows = data.iloc[:7]
    np.testing.assert_allclose(
        model.predict(rows), by_hand.predict(rows.assign(lp=logit(rows["p"])))
    )
    with pytest.raises(FormulaError, match="'logit' is not allowed"):
        mm.lmer("Reaction ~ logit(p) + (1 | Subject)", data)
    cbpp = mm.datasets.load("cbpp")
    g = mm.glmer(
        "cbind(incidence, size - incidence) ~ period + twice(size) + (1 | herd)",
        cbpp,
        functions={"twice": lambda x: 2 * x},
    )
    assert "twice(size)" in g.fixef.index
    model_class = mm.LinearMixedModel(
        "Reaction ~ logit(p) + (1 | Subject)", data, functions=functions
    )
    assert model_class.fixed.names == ["(Intercept)", "logit(p)"]


def test_spec_pickles_with_its_functions(sleep: pd.DataFrame) -> None:
    data = sleep.assign(p=(sleep["Days"] + 1) / 11)
    model = mm.LinearMixedModel(
        "Reaction ~ logit(p) + (1 | Subject)", data, functions={"logit": logit}
    )
    spec = pickle.loads(pickle.dumps(model.fixed.model_spec()))
    new = spec.rhs.get_model_matrix(data.iloc[:3])
    np.testing.assert_allclose(np.asarray(new)[:, 1], logit(data["p"].to_numpy()[:3]))


def test_too_many_columns_are_refused_before_materializing() -> None:
    n = 30_000
    data = pd.DataFrame(
        {"y": np.arange(n, dtype=float) % 7, "x": np.arange(n), "g": np.arange(n) % 9}
    )
    with pytest.raises(FormulaError, match="about 30,00. columns"):
        model_matrices("y ~ C(x)", data)
    text = data.assign(s=data["x"].astype(str))
    with pytest.raises(FormulaError, match="the term 's' makes the most"):
        model_matrices("y ~ s", text)
    with pytest.raises(FormulaError, match="more than 10,000"):
        model_matrices("y ~ poly(g, 20000)", data)
    with pytest.raises(FormulaError, match="more than 10,000"):
        mm.lmer("y ~ C(x) + (1 | g)", data)
    with pytest.raises(FormulaError, match="more than 24"):
        mm.lmer("y ~ 1 + (poly(g, 30, raw=True) | g)", data)


def test_column_count_is_an_upper_bound() -> None:
    from mixedmodels.formula.formulaic_cache import formulaic_formula

    data = pd.DataFrame({"f": list("abcab"), "h": list("xyxyx"), "z": np.arange(5.0)})
    count, widest = count_columns(formulaic_formula("f * h + poly(z, 2) + C(z)"), data)
    matrix, _ = model_matrices("f * h + poly(z, 2) + C(z)", data)
    assert count >= matrix.shape[1]
    assert count == 1 + 3 + 2 + 6 + 2 + 5
    assert widest == "f:h"


def test_huge_literals_are_refused_without_computing_them() -> None:
    data = pd.DataFrame({"y": np.arange(5.0), "x": np.arange(5.0)})
    for text in ["y ~ I(9**9**9)", "y ~ I(x + 10**10**10)", "y ~ {2**99999999}", "y ~ I(x^9^9^9)"]:
        with pytest.raises(FormulaError, match="number this large"):
            model_matrices(text, data)


def test_many_random_terms_are_refused_with_the_reason() -> None:
    rng = np.random.default_rng(1)
    n = 180
    data = pd.DataFrame({f"g{i}": rng.integers(0, 6, n).astype(str) for i in range(30)})
    data["y"] = rng.normal(size=n)
    formula = "y ~ 1 + " + " + ".join(f"(1 | g{i})" for i in range(30))
    with pytest.raises(ModelSpecificationError, match="30 random-effects terms"):
        mm.lmer(formula, data)
    with pytest.raises(ModelSpecificationError, match="30 random-effects terms"):
        mm.glmer(formula.replace("y ~", "b ~"), data.assign(b=data["y"] > 0))


def test_integer_columns_enter_as_float_except_factors() -> None:
    frame = pd.DataFrame(
        {"a": np.array([1, 2], dtype=np.int64), "b": np.array([3, 4], dtype=np.uint8)}
    )
    out = float_frame(frame, frozenset({"b"}))
    assert out["a"].dtype == np.float64 and out["b"].dtype == np.uint8
    assert frame["a"].dtype == np.int64
    plain = pd.DataFrame({"x": [1.0, 2.0]})
    assert float_frame(plain, frozenset()) is plain
