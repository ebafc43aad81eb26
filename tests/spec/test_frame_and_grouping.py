"""Model frame, grouping factors and the errors on bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, ModelSpecificationError, UnknownColumnError
from mixedmodels.spec.grouping import factor_codes, grouping_factor


@pytest.fixture()
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.mark.parametrize(
    ("formula", "missing"),
    [
        ("Reaction ~ Dayz + (Days | Subject)", "Dayz"),
        ("Reaction ~ Days + (Dayz | Subject)", "Dayz"),
        ("Reaction ~ Days + (Days | Subjekt)", "Subjekt"),
        ("Reactio ~ Days + (Days | Subject)", "Reactio"),
        ("Reaction ~ np.log(Dayz + 1) + (1 | Subject)", "Dayz"),
    ],
)
def test_unknown_column_is_named_with_the_available_ones(
    sleep: pd.DataFrame, formula: str, missing: str
) -> None:
    with pytest.raises(UnknownColumnError) as info:
        mm.lmer(formula, sleep)
    message = str(info.value)
    assert repr(missing) in message
    assert "'Reaction', 'Days', 'Subject'" in message
    assert isinstance(info.value, mm.MixedModelsError)


def test_callers_frame_is_never_modified(sleep: pd.DataFrame) -> None:
    sleep.loc[3, "Reaction"] = np.nan
    before = sleep.copy()
    mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights=np.ones(len(sleep)))
    pd.testing.assert_frame_equal(sleep, before)


def test_rows_with_missing_values_are_dropped_or_refused(sleep: pd.DataFrame) -> None:
    sleep.loc[[0, 5], "Reaction"] = np.nan
    sleep.loc[7, "Subject"] = np.nan
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    assert model.nobs == 177
    assert model.frame.n_dropped == 3
    assert "3 observations deleted due to missingness" in model.summary()
    with pytest.raises(DataError, match="3 rows have missing values"):
        mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, na_action="fail")


def test_unused_columns_with_missing_values_do_not_drop_rows(sleep: pd.DataFrame) -> None:
    sleep["other"] = np.nan
    assert mm.lmer("Reaction ~ Days + (1 | Subject)", sleep).nobs == 180


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": -np.ones(180)}, "weights must be positive"),
        ({"weights": np.ones(10)}, "weights has 10 values but data has 180 rows"),
        ({"weights": "nope"}, "unknown column 'nope'"),
        ({"offset": ["a"] * 180}, "offset must be numeric"),
    ],
)
def test_bad_weights_and_offsets(sleep: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(mm.MixedModelsError, match=message):
        mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, **kwargs)


def test_data_must_be_a_non_empty_frame(sleep: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="must be a pandas DataFrame, not list"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", [1, 2, 3])
    with pytest.raises(DataError, match="no rows"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", sleep.iloc[:0])
    model = mm.lmer("Reaction ~ Days + (1 | Subject)", {c: sleep[c] for c in sleep.columns})
    assert model.nobs == 180


def test_non_numeric_response_and_single_level_factor(sleep: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="response 'Subject'"):
        mm.lmer("Subject ~ Days + (1 | Days)", sleep)
    sleep["one"] = "a"
    with pytest.raises(ModelSpecificationError, match="grouping factor 'one' has 1 level"):
        mm.lmer("Reaction ~ Days + (1 | one)", sleep)


def test_no_random_term_is_refused(sleep: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="no random-effects term"):
        mm.lmer("Reaction ~ Days", sleep)


def test_level_order_follows_r() -> None:
    codes, labels = factor_codes(pd.Series(["10", "9", "100", "9"]))
    assert labels == ["9", "10", "100"]
    assert codes.tolist() == [1, 0, 2, 0]
    assert factor_codes(pd.Series(["b", "a", "B"]))[1] == ["B", "a", "b"]
    assert factor_codes(pd.Series([3.0, 1.0, 2.5]))[1] == ["1", "2.5", "3"]
    categorical = pd.Series(pd.Categorical(["x", "z"], categories=["z", "y", "x"]))
    assert factor_codes(categorical)[1] == ["z", "x"]  # unused level dropped, order kept


def test_interaction_levels_are_observed_combinations() -> None:
    frame = pd.DataFrame({"cask": ["b", "a", "a", "b"], "batch": ["B", "A", "B", "B"]})
    codes, labels = grouping_factor(frame, ("cask", "batch"))
    assert labels == ["a:A", "a:B", "b:B"]
    assert codes.tolist() == [2, 0, 1, 2]


def test_categorical_column_inside_a_term() -> None:
    data = mm.datasets.load("Pastes")
    model = mm.lmer("strength ~ 1 + (0 + cask | batch)", data)
    assert model.terms[0].column_names == ["cask[a]", "cask[b]", "cask[c]"]
    assert model.terms[0].k == 3
    assert np.isfinite(model.objective)


def test_rank_deficient_fixed_effects_drop_later_columns(sleep: pd.DataFrame) -> None:
    sleep["Days2"] = 2.0 * sleep["Days"]
    with pytest.warns(mm.RankDeficiencyWarning, match="dropping 1 column: Days2"):
        model = mm.lmer("Reaction ~ Days + Days2 + (1 | Subject)", sleep)
    assert list(model.fixef.index) == ["(Intercept)", "Days"]
    reference = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep.drop(columns="Days2"))
    assert model.objective == pytest.approx(reference.objective, rel=1e-10)


def test_one_observation_per_level_is_refused(sleep: pd.DataFrame) -> None:
    sleep["obs"] = np.arange(len(sleep)).astype(str)
    with pytest.raises(ModelSpecificationError, match="levels of grouping factor 'obs' \\(180\\)"):
        mm.lmer("Reaction ~ Days + (1 | obs)", sleep)


def test_more_random_effects_than_observations_is_refused(sleep: pd.DataFrame) -> None:
    sleep["pair"] = (np.arange(len(sleep)) // 2).astype(str)
    with pytest.raises(ModelSpecificationError, match="<= number of random effects \\(180\\)"):
        mm.lmer("Reaction ~ Days + (Days | pair)", sleep)


def test_duplicate_random_terms_are_refused(sleep: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="'\\(Intercept\\)' for grouping factor"):
        mm.lmer("Reaction ~ Days + (1 | Subject) + (1 + Days | Subject)", sleep)


def test_constant_response_is_refused(sleep: pd.DataFrame) -> None:
    sleep["Reaction"] = 3.0
    with pytest.raises(DataError, match="response 'Reaction' is constant"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)


def test_non_finite_response_and_predictor_are_named(sleep: pd.DataFrame) -> None:
    bad = sleep.copy()
    bad.loc[4, "Reaction"] = np.inf
    with pytest.raises(DataError, match="response 'Reaction' has non-finite values"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", bad)
    bad = sleep.copy()
    bad["Days"] = bad["Days"].astype(float)
    bad.loc[4, "Days"] = -np.inf
    with pytest.raises(DataError, match="non-finite values in column\\(s\\): Days"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", bad)


def test_results_before_fit_and_bad_na_action(sleep: pd.DataFrame) -> None:
    model = mm.LinearMixedModel("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(ModelSpecificationError, match="not been fitted"):
        _ = model.fixef
    with pytest.raises(DataError, match="na_action must be one of 'omit', 'exclude', 'fail'"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, na_action="drop")  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::mixedmodels.SingularFitWarning")
def test_more_covariance_parameters_than_levels_warns() -> None:
    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=60),
            "x": rng.normal(size=60),
            "z": rng.normal(size=60),
            "g": np.repeat(["a", "b", "c", "d"], 15),
        }
    )
    with pytest.warns(mm.ModelSpecificationWarning, match="6 covariance parameters .* only 4"):
        mm.lmer("y ~ x + (1 + x + z | g)", data)


def test_missing_values_of_nullable_and_text_columns_are_found() -> None:

    data = mm.datasets.load("sleepstudy").copy()
    data["n"] = pd.array(np.arange(len(data)) % 5, dtype="Int64")
    data.loc[3, "n"] = pd.NA
    data["f"] = np.where(np.arange(len(data)) % 2 == 0, "a", "b").astype(object)
    data.loc[7, "f"] = None
    model = mm.lmer("Reaction ~ n + f + (1 | Subject)", data)
    assert model.nobs == len(data) - 2
    assert model.frame.n_dropped == 2


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(np.random.default_rng(1).integers(0, 50, 300)),
        pd.Series(np.array([8, 5, 5, 7, 8], dtype=np.uint8)),
        pd.Series(np.array([10**7, 3, 10**7])),  # a wide range: sorted by np.unique
        pd.Series([-3, 2, -3, 0]),
        pd.Series(["b", "a", "10", "a"], dtype="str"),
        pd.Series(["3", "1", "10", "2", "1"], dtype="str"),  # numbers as text: numeric order
        pd.Series(["é", "e", "E", "Z"], dtype="string"),
    ],
)
def test_fast_factor_codes_are_the_sorted_levels(column: pd.Series) -> None:
    codes, levels = factor_codes(column)
    texts = [str(v) for v in column.tolist()]
    numeric = all(t.lstrip("-").isdigit() for t in texts)
    expected = sorted(set(texts), key=(lambda t: (float(t), t)) if numeric else None)
    assert levels == expected
    assert [levels[c] for c in codes] == texts and codes.dtype == np.intp


def test_a_column_of_several_grouping_factors_is_coded_once() -> None:
    data = mm.datasets.load("Pastes")
    coded: dict[str, tuple[np.ndarray, list[str]]] = {}
    nested = grouping_factor(data, ("cask", "batch"), coded)
    alone = grouping_factor(data, ("batch",), coded)
    assert set(coded) == {"cask", "batch"} and alone[0] is coded["batch"][0]
    assert nested[1] == grouping_factor(data, ("cask", "batch"))[1]
    np.testing.assert_array_equal(alone[0], grouping_factor(data, ("batch",))[0])
