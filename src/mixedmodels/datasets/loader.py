"""Bundled datasets from lme4 and nlme, loaded with R's column types.

pandas is imported on the first call to :func:`load`, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from mixedmodels.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DATASETS", "DatasetInfo", "info", "load", "names"]


@dataclass(frozen=True)
class DatasetInfo:
    """What is known of one bundled dataset.

    Attributes
    ----------
    file
        File name in the package's ``data`` folder.
    factors
        Columns that R holds as factors (loaded as pandas categoricals).
    description
        One line: what the data are and where they come from.
    floats
        Columns that R holds as doubles although the file writes them as whole numbers.
    """

    file: str
    factors: tuple[str, ...]
    description: str
    floats: tuple[str, ...] = ()


DATASETS: dict[str, DatasetInfo] = {
    "Dyestuff": DatasetInfo(
        "Dyestuff.csv",
        ("Batch",),
        "Yield of dyestuff in 6 batches of 5 preparations (lme4)",
        floats=("Yield",),
    ),
    "Dyestuff2": DatasetInfo(
        "Dyestuff2.csv", ("Batch",), "Simulated yields with no batch effect (lme4)"
    ),
    "InstEval": DatasetInfo(
        "InstEval.csv.gz",
        ("s", "d", "studage", "lectage", "service", "dept"),
        "73,421 lecture ratings by 2,972 students of 1,128 lecturers (lme4)",
    ),
    "Pastes": DatasetInfo(
        "Pastes.csv",
        ("batch", "cask", "sample"),
        "Strength of paste from 3 casks in each of 10 batches (lme4)",
    ),
    "Penicillin": DatasetInfo(
        "Penicillin.csv",
        ("plate", "sample"),
        "Inhibition zones of 6 penicillin samples on 24 plates (lme4)",
        floats=("diameter",),
    ),
    "Rail": DatasetInfo(
        "Rail.csv", ("Rail",), "Ultrasonic travel times on 6 rails (nlme)", floats=("travel",)
    ),
    "cbpp": DatasetInfo(
        "cbpp.csv", ("herd", "period"), "Contagious bovine pleuropneumonia in 15 herds (lme4)"
    ),
    "grouseticks": DatasetInfo(
        "grouseticks.csv",
        ("INDEX", "BROOD", "YEAR", "LOCATION"),
        "Ticks on red grouse chicks by brood, location and year (lme4)",
    ),
    "sleepstudy": DatasetInfo(
        "sleepstudy.csv",
        ("Subject",),
        "Reaction times of 18 subjects over 10 days of sleep deprivation (lme4)",
    ),
}


def names() -> list[str]:
    """Names of the bundled datasets.

    Returns
    -------
    list of str
        The names in their registered spelling, as accepted by :func:`load`.
    """
    return list(DATASETS)


def info(name: str) -> DatasetInfo:
    """Describe a bundled dataset.

    Parameters
    ----------
    name
        Dataset name, matched without regard to case.

    Returns
    -------
    DatasetInfo
        File name, factor columns and a one-line description.

    Raises
    ------
    DataError
        When no dataset has that name.
    """
    return DATASETS[_canonical(name)]


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a new pandas DataFrame.

    Parameters
    ----------
    name
        Dataset name, matched without regard to case (``"sleepstudy"``, ``"rail"``, ...).

    Returns
    -------
    pandas.DataFrame
        Factor columns are categoricals of string labels whose levels are sorted as numbers
        when they all look like numbers and alphabetically otherwise; every call returns a
        fresh frame.

    Raises
    ------
    DataError
        When no dataset has that name.

    Examples
    --------
    >>> from mixedmodels import datasets
    >>> datasets.load("Rail").shape
    (18, 2)
    """
    import pandas as pd

    entry = DATASETS[_canonical(name)]
    dtypes: dict[str, type] = {column: str for column in entry.factors}
    dtypes.update({column: float for column in entry.floats})
    source = resources.files("mixedmodels.datasets").joinpath("data", entry.file)
    with resources.as_file(source) as path:
        frame = pd.read_csv(path, dtype=dtypes)
    for column in entry.factors:
        frame[column] = _as_factor(frame[column])
    return frame


def _canonical(name: str) -> str:
    """The registered spelling of ``name``, or a DataError listing the choices."""
    if isinstance(name, str):
        for known in DATASETS:
            if known.lower() == name.lower():
                return known
    raise DataError(f"no bundled dataset named {name!r}; available: {', '.join(DATASETS)}")


def _as_factor(column: pd.Series) -> pd.Series:
    """A categorical with numeric-looking labels in numeric order, others alphabetical."""
    import pandas as pd

    labels = [str(label) for label in column.dropna().unique()]
    try:
        order = sorted(labels, key=float)
    except ValueError:
        order = sorted(labels)
    return pd.Series(pd.Categorical(column, categories=order), index=column.index, name=column.name)
