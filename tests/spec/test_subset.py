"""``subset=``: a boolean mask or a checked query string, applied before missing values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, FormulaError, UnknownColumnError
from mixedmodels.spec.subset import subset_mask

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture()
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def _same_fit(a: Any, b: Any) -> None:
    assert a.nobs == b.nobs
    assert a.objective == pytest.approx(b.objective, rel=1e-10)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-8)


def test_mask_series_and_query_select_the_same_rows(sleep: pd.DataFrame) -> None:
    wanted = sleep["Days"] >= 2
    reference = mm.lmer(FORMULA, sleep[wanted].reset_index(drop=True))
    for subset in (wanted.to_numpy(), list(wanted), wanted, "Days >= 2", "not (Days < 2)"):
        _same_fit(mm.lmer(FORMULA, sleep, subset=subset), reference)
    before = sleep.copy()
    mm.lmer(FORMULA, sleep, subset="Days >= 2")
    pd.testing.assert_frame_equal(sleep, before)


def test_query_string_operators(sleep: pd.DataFrame) -> None:
    days = sleep["Days"]
    subject = sleep["Subject"].astype(str)
    cases = {
        "Days >= 2 and Subject != '308'": (days >= 2) & (subject != "308"),
        "(Days < 2) | (Days > 7)": (days < 2) | (days > 7),
        "Subject in ['308', '309', '310', '330']": subject.isin(["308", "309", "310", "330"]),
        "Subject not in ('308',)": subject != "308",
        "1 <= Days < 8": (days >= 1) & (days < 8),
        "Days * 2 + 1 > 9 or Reaction > 400": (days * 2 + 1 > 9) | (sleep["Reaction"] > 400),
        "~(Days == 0)": days != 0,
        "`Days` % 2 == 0": days % 2 == 0,
    }
    for text, expected in cases.items():
        np.testing.assert_array_equal(subset_mask(sleep, text), expected.to_numpy(), text)


def test_query_names_with_dots_spaces_and_missing_values() -> None:
    frame = pd.DataFrame({"Reaction.Time": [1.0, 2.0, np.nan, 4.0], "my col": [1, 2, 3, 4]})
    np.testing.assert_array_equal(
        subset_mask(frame, "Reaction.Time > 1.5"), [False, True, False, True]
    )
    np.testing.assert_array_equal(subset_mask(frame, "`my col` != 2"), [True, False, True, True])
    nullable = pd.Series([True, pd.NA, False, True], dtype="boolean")
    np.testing.assert_array_equal(subset_mask(frame, nullable), [True, False, False, True])


def test_series_mask_is_taken_by_label(sleep: pd.DataFrame) -> None:
    wanted = sleep["Days"] >= 5
    reversed_mask = wanted.iloc[::-1]  # the same labels in another order: aligned by label
    np.testing.assert_array_equal(subset_mask(sleep, reversed_mask), wanted.to_numpy())
    other = pd.Series(wanted.to_numpy(), index=np.arange(1000, 1180))
    with pytest.raises(DataError, match="index is not the data's index"):
        mm.lmer(FORMULA, sleep, subset=other)


def test_subset_comes_before_missing_values_and_weights_follow(sleep: pd.DataFrame) -> None:
    sleep.loc[[0, 31], "Reaction"] = np.nan  # row 0 (day 0) is outside the subset anyway
    weights = np.linspace(1.0, 2.0, len(sleep))
    m = mm.lmer(FORMULA, sleep, subset="Days >= 1", weights=weights)
    kept = (sleep["Days"] >= 1) & sleep["Reaction"].notna()
    reference = mm.lmer(FORMULA, sleep[kept].reset_index(drop=True), weights=weights[kept])
    _same_fit(m, reference)
    assert m.frame.n_dropped == 1
    np.testing.assert_array_equal(m.frame.rows, np.flatnonzero(kept))


def test_glmer_takes_subset() -> None:
    cbpp = mm.datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    g = mm.glmer(formula, cbpp, subset="herd != '1'")
    reference = mm.glmer(formula, cbpp[cbpp["herd"] != "1"].reset_index(drop=True))
    assert g.nobs == reference.nobs
    assert g.objective == pytest.approx(reference.objective, rel=1e-8)


@pytest.mark.parametrize(
    ("subset", "caret"),
    [
        ("__import__('os').system('touch MARKER') == 0", 0),
        ("Days.__class__ == 1", 0),
        ("Days > @limit", 7),
        ("(lambda: 1)() == 1", 0),
        ("Days[0] == 1", 0),
        ("Subject in [x for x in 'ab']", 11),
        ("Days == print", None),
        ("Days > 1 if True else 0", 0),
        ("Subject in Subject", 11),
        ("Days == None", 8),
        ("Days >", None),
        ("", None),
        ("not " * 2400 + "Days > 1", None),
        ("-" * 9000 + "Days > 1", None),
        ("Days > 1" + " and Days > 1" * 1000, None),
    ],
)
def test_query_code_is_refused_and_never_run(
    sleep: pd.DataFrame, subset: str, caret: int | None, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises((FormulaError, UnknownColumnError)) as info:
        mm.lmer(FORMULA, sleep, subset=subset)
    assert not (tmp_path / "MARKER").exists()
    if isinstance(info.value, FormulaError) and len(subset) < 1000:
        assert subset in str(info.value)
        if caret is not None:
            assert info.value.position == caret


@pytest.mark.parametrize(
    ("subset", "error", "message"),
    [
        ("Dayz > 2", UnknownColumnError, "unknown column 'Dayz'"),
        ("Days > 20", DataError, "selects no rows"),
        (np.zeros(180, dtype=bool), DataError, "selects no rows"),
        (np.arange(100), DataError, "one boolean per row"),
        (np.arange(180), DataError, "must be booleans"),
        (np.ones(10, dtype=bool), DataError, "one boolean per row of the data \\(180\\)"),
        ("Days + 1", DataError, "must be booleans"),
        ("Subject > 3", DataError, "cannot evaluate subset"),
        ("Days > 9**9**9", DataError, "cannot evaluate subset"),  # floats: no endless power
        ("Subject == 'a' * 10**9", DataError, "cannot evaluate subset"),
        (pd.DataFrame({"a": [True] * 180}), DataError, "not a DataFrame"),
    ],
)
def test_bad_subsets_get_our_errors(
    sleep: pd.DataFrame, subset: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        mm.lmer(FORMULA, sleep, subset=subset)


def test_subset_is_refused_for_chunked_data(tmp_path: Path, sleep: pd.DataFrame) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "sleep.parquet"
    sleep.to_parquet(path)
    with pytest.raises(mm.errors.NotSupportedError, match="subset"):
        mm.lmer(FORMULA, str(path), subset="Days > 2")
