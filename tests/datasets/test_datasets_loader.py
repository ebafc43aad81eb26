"""The bundled datasets: names, row counts, R's column types and level order, errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from mixedmodels import datasets
from mixedmodels.errors import DataError

ROWS = {
    "Dyestuff": 30,
    "Dyestuff2": 30,
    "InstEval": 73421,
    "Pastes": 60,
    "Penicillin": 144,
    "Rail": 18,
    "cbpp": 56,
    "grouseticks": 403,
    "sleepstudy": 180,
}

FACTORS = {
    "Dyestuff": ["Batch"],
    "Dyestuff2": ["Batch"],
    "InstEval": ["s", "d", "dept", "service", "studage", "lectage"],
    "Pastes": ["batch", "cask", "sample"],
    "Penicillin": ["plate", "sample"],
    "Rail": ["Rail"],
    "cbpp": ["herd", "period"],
    "grouseticks": ["INDEX", "BROOD", "YEAR", "LOCATION"],
    "sleepstudy": ["Subject"],
}

FLOATS = {
    "Rail": ["travel"],
    "sleepstudy": ["Reaction"],
    "Dyestuff": ["Yield"],
    "Dyestuff2": ["Yield"],
    "Penicillin": ["diameter"],
    "Pastes": ["strength"],
    "grouseticks": ["cHEIGHT"],
}

INTEGERS = {
    "InstEval": ["y"],
    "cbpp": ["incidence", "size"],
    "grouseticks": ["TICKS"],
}

# (dataset, column, leading levels in R's order)
LEVELS = [
    ("Rail", "Rail", ["1", "2", "3", "4", "5", "6"]),
    ("sleepstudy", "Subject", ["308", "309", "310", "330", "331"]),
    ("Dyestuff", "Batch", ["A", "B", "C", "D", "E", "F"]),
    ("Penicillin", "plate", ["a", "b", "c"]),
    ("Penicillin", "sample", ["A", "B", "C", "D", "E", "F"]),
    ("Pastes", "batch", ["A", "B", "C"]),
    ("Pastes", "cask", ["a", "b", "c"]),
    ("Pastes", "sample", ["A:a", "A:b", "A:c", "B:a"]),
    ("InstEval", "s", ["1", "2", "3"]),
    ("InstEval", "service", ["0", "1"]),
    ("InstEval", "studage", ["2", "4", "6", "8"]),
    ("InstEval", "lectage", ["1", "2", "3", "4", "5", "6"]),
    ("InstEval", "dept", ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
    ("cbpp", "herd", ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]),
    ("cbpp", "period", ["1", "2", "3", "4"]),
    ("grouseticks", "YEAR", ["95", "96", "97"]),
    ("grouseticks", "INDEX", ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {name: datasets.load(name) for name in datasets.names()}


def test_names_lists_every_bundled_dataset() -> None:
    assert sorted(datasets.names()) == sorted(ROWS)
    assert set(datasets.__all__) >= {"load", "names"}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_counts_match_the_csv(frames: dict[str, pd.DataFrame], name: str) -> None:
    frame = frames[name]
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == ROWS[name]
    assert not frame.isna().any().any()


@pytest.mark.parametrize("name", sorted(FACTORS))
def test_factor_columns_are_categoricals_of_strings(
    frames: dict[str, pd.DataFrame], name: str
) -> None:
    frame = frames[name]
    for column in FACTORS[name]:
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), (name, column)
        assert all(isinstance(level, str) for level in frame[column].cat.categories)
    others = set(frame.columns) - set(FACTORS[name])
    assert not any(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in others)


@pytest.mark.parametrize(("name", "columns"), sorted(FLOATS.items()))
def test_float_columns(frames: dict[str, pd.DataFrame], name: str, columns: list[str]) -> None:
    for column in columns:
        assert pd.api.types.is_float_dtype(frames[name][column]), (name, column)


@pytest.mark.parametrize(("name", "columns"), sorted(INTEGERS.items()))
def test_integer_columns(frames: dict[str, pd.DataFrame], name: str, columns: list[str]) -> None:
    for column in columns:
        assert pd.api.types.is_integer_dtype(frames[name][column]), (name, column)


def test_numeric_columns_with_either_type(frames: dict[str, pd.DataFrame]) -> None:
    assert pd.api.types.is_numeric_dtype(frames["sleepstudy"]["Days"])
    assert pd.api.types.is_numeric_dtype(frames["grouseticks"]["HEIGHT"])
    assert frames["sleepstudy"]["Days"].tolist()[:10] == list(range(10))


@pytest.mark.parametrize(("name", "column", "first"), LEVELS)
def test_levels_in_r_order(
    frames: dict[str, pd.DataFrame], name: str, column: str, first: list[str]
) -> None:
    levels = list(frames[name][column].cat.categories)
    assert levels[: len(first)] == first


@pytest.mark.parametrize(
    ("name", "column", "count"),
    [
        ("sleepstudy", "Subject", 18),
        ("InstEval", "s", 2972),
        ("InstEval", "d", 1128),
        ("InstEval", "dept", 14),
        ("Penicillin", "plate", 24),
        ("Pastes", "sample", 30),
        ("cbpp", "herd", 15),
    ],
)
def test_level_counts(frames: dict[str, pd.DataFrame], name: str, column: str, count: int) -> None:
    assert len(frames[name][column].cat.categories) == count


def test_numeric_labels_sorted_as_numbers(frames: dict[str, pd.DataFrame]) -> None:
    for name, columns in FACTORS.items():
        for column in columns:
            levels = list(frames[name][column].cat.categories)
            try:
                values = [float(level) for level in levels]
            except ValueError:
                assert levels == sorted(levels), (name, column)
            else:
                assert values == sorted(values), (name, column)


def test_values_keep_their_labels(frames: dict[str, pd.DataFrame]) -> None:
    sleep = frames["sleepstudy"]
    assert sleep["Subject"].iloc[0] == "308"
    assert sleep["Reaction"].iloc[0] == pytest.approx(249.56)
    rail = frames["Rail"]
    assert rail["Rail"].iloc[0] == "1"
    assert rail["travel"].iloc[0] == pytest.approx(55.0)


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("sleepstudy", "sleepstudy"),
        ("SleepStudy", "sleepstudy"),
        ("Rail", "Rail"),
        ("rail", "Rail"),
        ("instEval", "InstEval"),
        ("DYESTUFF2", "Dyestuff2"),
        ("CBPP", "cbpp"),
    ],
)
def test_names_are_case_insensitive(spelling: str, expected: str) -> None:
    frame = datasets.load(spelling)
    assert len(frame) == ROWS[expected]
    assert datasets.info(spelling) is datasets.info(expected)


@pytest.mark.parametrize("bad", ["nosuchdata", "sleep", "", "Rail.csv"])
def test_unknown_name_raises_data_error_listing_names(bad: str) -> None:
    with pytest.raises(DataError) as caught:
        datasets.load(bad)
    message = str(caught.value)
    assert repr(bad) in message
    for name in datasets.names():
        assert name in message


def test_non_string_name_raises_data_error() -> None:
    with pytest.raises(DataError):
        datasets.load(3)  # type: ignore[arg-type]


def test_loads_are_independent() -> None:
    first = datasets.load("sleepstudy")
    first.loc[0, "Reaction"] = -1.0
    first["extra"] = 1
    first = first.drop(index=[1, 2])
    first["Subject"] = first["Subject"].cat.rename_categories(lambda level: "S" + level)
    second = datasets.load("sleepstudy")
    assert second is not first
    assert len(second) == 180
    assert "extra" not in second.columns
    assert second.loc[0, "Reaction"] == pytest.approx(249.56)
    assert list(second["Subject"].cat.categories[:3]) == ["308", "309", "310"]


def test_info_describes_each_dataset() -> None:
    for name in datasets.names():
        entry = datasets.info(name)
        assert entry.file.startswith(name)
        assert entry.description
        assert "lme4" in entry.description or "nlme" in entry.description
    assert datasets.info("InstEval").file == "InstEval.csv.gz"


def test_import_does_not_load_pandas() -> None:
    code = (
        "import sys, mixedmodels.datasets as d; d.names(); "
        "print('pandas' in sys.modules, 'numpy' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]
