"""The model frame keeps the used columns; its DataFrame is made on first use, as a copy was."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.spec.checks import mixed_model_formula
from mixedmodels.spec.frame import model_frame
from mixedmodels.spec.used_columns import UsedColumns, as_data_frame


def _sleep() -> pd.DataFrame:
    data = mm.datasets.load("sleepstudy").copy()
    data["c"] = pd.Categorical(data["Subject"].astype(int) % 3)
    data[7] = 1.0  # a column labelled by a number
    return data


def _copy_of(data: pd.DataFrame, used: list[object], kept: np.ndarray) -> pd.DataFrame:
    return data[used].iloc[kept].reset_index(drop=True)


@pytest.mark.parametrize("drop_a_row", [False, True])
def test_the_frame_is_the_copy_of_the_used_columns(drop_a_row: bool) -> None:
    data = _sleep()
    data.index = data.index * 2 + 5
    data.attrs["name"] = "sleep"
    if drop_a_row:
        data.loc[data.index[3], "Reaction"] = np.nan
    frame = model_frame(mixed_model_formula("Reaction ~ Days + c + (Days | Subject)"), data)
    assert isinstance(frame.source, UsedColumns)
    expected = _copy_of(data, ["Reaction", "Days", "Subject", "c"], frame.kept)
    pd.testing.assert_frame_equal(frame.data, expected, check_column_type=True)
    assert frame.data.attrs == expected.attrs and frame.data is frame.data  # made once
    assert len(frame.source) == len(expected)
    assert frame.source.columns == ["Reaction", "Days", "Subject", "c"]


def test_later_changes_to_the_callers_data_do_not_reach_the_model() -> None:
    data = _sleep()
    before = data[["Reaction", "Days", "Subject"]].copy()
    model = mm.LinearMixedModel("Reaction ~ Days + (Days | Subject)", data)
    data.loc[0, "Reaction"] = 1e6
    data["Days"] = data["Days"] * 10
    pd.testing.assert_frame_equal(model.frame.data, before)


def test_the_used_columns_pickle_without_their_frame() -> None:
    data = mm.datasets.load("Pastes")
    frame = model_frame(mixed_model_formula("strength ~ 1 + (1 | batch/cask)"), data)
    _ = frame.data
    again = pickle.loads(pickle.dumps(frame.source))
    assert again._frame is None
    pd.testing.assert_frame_equal(as_data_frame(again), frame.data)
    assert as_data_frame(data) is data
