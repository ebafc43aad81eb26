"""Type II F tests against lmerTest 3.1.3 / pbkrtest 0.5.2 (``anova(m, type = 2)``).

The reference values and the simulated data are made by ``tests/data/r/anova_type2.R``
(``tests/inference/data/anova_type2.json``, ``anova_type2_sim.csv``). Tables are checked at
our fit (1e-4 relative) and at lme4's θ̂ (1e-6); the hypothesis matrices exactly.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.inference import anova_table, term_contrasts
from mixedmodels.inference.ftest import F_COLUMNS
from mixedmodels.inference.hypotheses import containment, formula_terms

DATA = Path(__file__).parent / "data"
REFERENCE: dict[str, Any] = json.loads((DATA / "anova_type2.json").read_text())["cases"]
METHODS = ("satterthwaite", "kenward-roger")
TABLES = [(name, ddf) for name, case in REFERENCE.items() for ddf in METHODS if case.get(ddf)]


def frame(name: str) -> pd.DataFrame:
    """The data of a case, built as the R script builds it."""
    if name in ("sim", "gap"):
        sim = pd.read_csv(DATA / "anova_type2_sim.csv")
        if name == "gap":  # an empty cell: X is rank deficient
            sim = sim[~((sim["A"] == "a3") & (sim["C"] == "c4"))].reset_index(drop=True)
        return sim
    data = mm.datasets.load("sleepstudy").astype({"Subject": str})
    data["grp"] = np.array(["a", "b", "c"])[data["Subject"].astype(int) % 3]
    data["half"] = np.where(data["Days"] < 5, "early", "late")
    if name == "unbal":
        data = data[np.arange(len(data)) % 7 != 0].reset_index(drop=True)
    return data


@cache
def fit(name: str) -> mm.LinearMixedModel:
    """The case fitted by us (once per session)."""
    case = REFERENCE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(case["formula"], frame(case["data"]), reml=case["reml"])


@cache
def at_lme4_theta(name: str) -> mm.LinearMixedModel:
    """A fresh fit moved to lme4's θ̂."""
    case = REFERENCE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        model = mm.lmer(case["formula"], frame(case["data"]), reml=case["reml"])
    return model.at_theta(np.atleast_1d(np.array(case["theta"], dtype=float)))


def _check(table: pd.DataFrame, expected: dict[str, Any], rtol: float, p_rtol: float) -> None:
    assert list(table.columns) == F_COLUMNS
    assert list(table.index) == expected["terms"]
    for column in F_COLUMNS:
        tol = p_rtol if column == "p_value" else rtol
        np.testing.assert_allclose(table[column], expected[column], rtol=tol, err_msg=column)


@pytest.mark.parametrize(("name", "ddf"), TABLES)
def test_type2_anova_at_our_fit(name: str, ddf: str) -> None:
    table = fit(name).anova(type=2, ddf=ddf)
    # small p-values magnify the optimizer's last digits: 1e-3 for them at our own optimum
    _check(table, REFERENCE[name][ddf], 1e-4, 1e-3)
    assert table.attrs["heading"].startswith("Type II Analysis of Variance Table with")


@pytest.mark.parametrize(("name", "ddf"), TABLES)
def test_type2_anova_at_lme4_theta(name: str, ddf: str) -> None:
    _check(anova_table(at_lme4_theta(name), type="II", ddf=ddf), REFERENCE[name][ddf], 1e-6, 1e-6)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_type2_hypotheses_are_lmertests(name: str) -> None:
    case = REFERENCE[name]
    hypotheses = term_contrasts(fit(name), type=2)
    assert list(hypotheses) == list(case["hypotheses"])
    for term, expected in case["hypotheses"].items():
        np.testing.assert_allclose(hypotheses[term], np.atleast_2d(expected), atol=1e-10)


def test_public_anova_takes_type_2_and_the_kenward_roger_spelling() -> None:
    model = fit("sim_AB")
    table = mm.anova(model, type=2, ddf="Kenward-Roger")
    assert table.attrs["heading"] == (
        "Type II Analysis of Variance Table with Kenward-Roger's method"
    )
    pd.testing.assert_frame_equal(table, model.anova(type="2", ddf="kenward-roger"))
    with pytest.raises(ModelSpecificationError, match="anova type"):
        model.anova(type=4)


def test_containment_follows_lmertest() -> None:
    # A:x contains x (same numeric variables) but not A; B is in no other term
    _, terms = formula_terms(fit("sim_Ax"))
    found = {t: [u.label for u in c] for t, c in containment(terms).items()}
    assert found == {"A": [], "x": ["A:x"], "B": [], "A:x": []}
    # in y ~ A + A:B, R codes A by all its levels inside A:B, so A:B does not contain A
    _, terms = formula_terms(fit("sim_nested"))
    assert all(not c for c in containment(terms).values())


def test_highest_order_terms_have_the_type3_marginal_test() -> None:
    # a term no other term contains is tested as in type III (its coefficients are zero)
    model = fit("sim_ABC")
    two, three = model.anova(type=2), model.anova(type=3)
    np.testing.assert_allclose(two.loc["A:B:C"], three.loc["A:B:C"], rtol=1e-10)
    assert not np.allclose(two.loc["A", "statistic"], three.loc["A", "statistic"])


def test_one_term_type2_is_type1() -> None:
    # with one term besides the intercept, types I, II and III are the same test (as lmerTest)
    single = mm.lmer("Reaction ~ Days + (Days | Subject)", frame("sleep"))
    pd.testing.assert_frame_equal(single.anova(type=2), single.anova(type=1))
    assert single.anova(type=2).attrs["heading"].startswith("Type II ")
