"""Shared fixtures: reference fits from lme4 and the datasets they were made on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = Path(__file__).resolve().parent / "data"


def load_reference() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Cases and lme4 results, from the test data (copied from ../shared/reference)."""
    cases = json.loads((REFERENCE / "cases.json").read_text())
    refs = {r["id"]: r for r in json.loads((REFERENCE / "lme4.json").read_text())}
    return cases, refs


def case_frame(case: dict[str, Any]) -> pd.DataFrame:
    """The case's dataset with its factor columns as strings (as the conformance check does)."""
    import mixedmodels as mm

    frame = mm.datasets.load(case["data"])
    for column in case.get("factors", []):
        frame[column] = frame[column].astype(str)
    return frame


@pytest.fixture(scope="session")
def reference() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    return load_reference()
