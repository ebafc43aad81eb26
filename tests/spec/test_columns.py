"""Bad in-memory inputs (issue 14 §3): each gets our error naming the culprit, or a right fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, ModelSpecificationError
from mixedmodels.spec.grouping import factor_codes

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture()
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def test_duplicate_column_names_are_refused_when_used(sleep: pd.DataFrame) -> None:
    twice = pd.concat([sleep, sleep[["Days"]]], axis=1)
    with pytest.raises(DataError, match="more than one column named 'Days'"):
        mm.lmer(FORMULA, twice)
    with pytest.raises(DataError, match="more than one column named 'Days'"):
        mm.glmer("I(Reaction > 300) ~ Days + (1 | Subject)", twice)
    weights = pd.concat([sleep, pd.DataFrame({"w": 1.0, "w2": 1.0}, index=sleep.index)], axis=1)
    weights.columns = ["Reaction", "Days", "Subject", "w", "w"]
    with pytest.raises(DataError, match="more than one column named 'w'"):
        mm.lmer(FORMULA, weights, weights="w")
    other = pd.concat([sleep, sleep[["Days", "Days"]].set_axis(["x", "x"], axis=1)], axis=1)
    assert mm.lmer(FORMULA, other).nobs == 180  # a duplicated name the model does not use


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_weights_and_offsets_are_refused(sleep: pd.DataFrame, bad: float) -> None:
    frame = sleep.assign(w=1.0, o=0.0)
    frame.loc[3, ["w", "o"]] = bad
    if bad > 0:
        with pytest.raises(DataError, match="weights column 'w' has 1 infinite"):
            mm.lmer(FORMULA, frame, weights="w")
        values = frame["w"].to_numpy()
        with pytest.raises(DataError, match="weights has 1 infinite"):
            mm.glmer("I(Reaction > 300) ~ Days + (1 | Subject)", frame, weights=values)
    with pytest.raises(DataError, match="offset \\(column 'o'\\) has 1 infinite"):
        mm.lmer(FORMULA, frame, offset="o")
    with pytest.raises(DataError, match="offset \\(offset\\) has 1 infinite"):
        mm.lmer(FORMULA, frame, offset=frame["o"].to_numpy())


def test_missing_weights_drop_the_row_like_any_missing_value(sleep: pd.DataFrame) -> None:
    weights = np.ones(len(sleep))
    weights[[4, 9]] = np.nan
    m = mm.lmer(FORMULA, sleep, weights=weights)
    assert m.nobs == 178
    with pytest.raises(DataError, match="2 rows have missing values \\(columns: weights\\)"):
        mm.lmer(FORMULA, sleep, weights=weights, na_action="fail")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.ones((90, 2)), "one value per row \\(one-dimensional\\), not 90x2"),
        (np.ones((180, 1)), "one-dimensional\\), not 180x1"),
        (np.ones((180, 2)), "not 180x2"),
        (pd.DataFrame({"a": np.ones(180)}), "one-dimensional"),
        (np.ones(180) + 0j, "numeric \\(real numbers\\), not complex"),
        (np.array(["1.5"] * 180), "not text values"),
        (2.0, "not a scalar"),
    ],
)
def test_weights_must_be_one_real_number_per_row(
    sleep: pd.DataFrame, weights: Any, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        mm.lmer(FORMULA, sleep, weights=weights)
    with pytest.raises(DataError, match=message.replace("weights", "offset")):
        mm.lmer(FORMULA, sleep, offset=weights)


def test_nullable_and_object_number_weights_are_read(sleep: pd.DataFrame) -> None:
    reference = mm.lmer(FORMULA, sleep, weights=np.full(180, 2.0))
    for weights in (pd.array([2] * 180, dtype="Int64"), np.array([2.0] * 180, dtype=object)):
        m = mm.lmer(FORMULA, sleep, weights=weights)
        assert m.objective == pytest.approx(reference.objective, rel=1e-12)


@pytest.mark.parametrize("column", ["Reaction", "Days"])
def test_complex_response_or_predictor_is_refused(sleep: pd.DataFrame, column: str) -> None:
    frame = sleep.assign(**{column: sleep[column] + 1j})
    with pytest.raises(DataError, match=f"column '{column}' holds complex numbers"):
        mm.lmer(FORMULA, frame)
    with pytest.raises(DataError, match=f"column '{column}' holds complex numbers"):
        mm.glmer("I(Reaction > 300) ~ Days + (1 | Subject)", frame)


@pytest.mark.parametrize("reml", ["maybe", 1, 0, None, "False"])
def test_reml_takes_booleans_only(sleep: pd.DataFrame, reml: Any) -> None:
    with pytest.raises(ModelSpecificationError, match="reml must be True or False"):
        mm.lmer(FORMULA, sleep, reml=reml)
    model = mm.lmer(FORMULA, sleep, reml=np.bool_(False))
    assert not model.reml
    if reml is not None:  # fit(reml=None) keeps the model's criterion
        with pytest.raises(ModelSpecificationError, match="reml must be True or False"):
            model.fit(reml=reml)


def test_a_factor_with_1_and_the_string_1_is_refused(sleep: pd.DataFrame) -> None:
    subject = sleep["Subject"].astype(object)
    subject[subject == "308"] = 308
    subject[0] = "308"
    with pytest.raises(DataError, match="factor 'Subject'.*'308' \\(str\\) and 308 \\(int\\)"):
        mm.lmer(FORMULA, sleep.assign(Subject=subject))
    with pytest.raises(DataError, match="factor 'Subject'.*'308' \\(str\\) and 308 \\(int\\)"):
        factor_codes(sleep.assign(Subject=subject)["Subject"])
    fixed = sleep.assign(f=pd.Series(["1", "2", 1][i % 3] for i in range(len(sleep))))
    with pytest.raises(DataError, match="factor 'f'.*'1' \\(str\\) and 1 \\(int\\)"):
        mm.lmer("Reaction ~ f + (1 | Subject)", fixed)  # formulaic: two levels named 1
    numbers = pd.Series([1, 2, "x", 3.5], dtype=object, name="g")  # distinct texts: fine
    assert factor_codes(numbers)[1] == ["1", "2", "3.5", "x"]


def test_dates_and_durations_group_but_do_not_predict(sleep: pd.DataFrame) -> None:
    codes = sleep["Subject"].cat.codes
    start = pd.Timestamp("2020-01-01")
    frame = sleep.assign(
        date=start + pd.to_timedelta(codes, unit="D"),
        span=pd.to_timedelta(codes, unit="h"),
        zoned=(start + pd.to_timedelta(codes, unit="D")).dt.tz_localize("UTC"),
    )
    reference = mm.lmer(FORMULA, sleep)
    for group in ("date", "span", "zoned"):
        m = mm.lmer(f"Reaction ~ Days + (Days | {group})", frame)
        assert m.ngroups == {group: 18}
        assert m.objective == pytest.approx(reference.objective, rel=1e-10)
        np.testing.assert_allclose(m.predict(frame), m.fitted(), rtol=1e-10)
    labels = mm.lmer("Reaction ~ Days + (1 | date)", frame).ranef["date"].index
    assert list(labels[:2]) == ["2020-01-01 00:00:00", "2020-01-02 00:00:00"]  # time order
    for column, what in (("date", "dates/times"), ("span", "durations"), ("zoned", "dates")):
        with pytest.raises(DataError, match=f"column '{column}' holds {what}"):
            mm.lmer(f"Reaction ~ {column} + (1 | Subject)", frame)
    with pytest.raises(DataError, match="column 'date' holds dates"):
        mm.lmer("Reaction ~ Days + (date | Subject)", frame)
