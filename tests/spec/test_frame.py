"""Column names as R users write them, and the columns a formula uses."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import UnknownColumnError
from mixedmodels.formula import parse_formula
from mixedmodels.spec.frame import identifiers, used_columns


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def fit(formula: str, data: pd.DataFrame) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        return mm.lmer(formula, data)


@pytest.mark.parametrize(
    ("columns", "formula"),
    [
        ({"Reaction": "Reaction.Time"}, "Reaction.Time ~ Days + (Days | Subject)"),
        ({"Reaction": "Reaction.Time"}, "`Reaction.Time` ~ Days + (Days | Subject)"),
        ({"Reaction": "Reaction.Time"}, "Q('Reaction.Time') ~ Days + (Days | Subject)"),
        ({"Reaction": "Reaction.Time"}, "log(Reaction.Time) ~ Days + (Days | Subject)"),
        ({"Days": "days.since"}, "Reaction ~ days.since + (days.since | Subject)"),
        ({"Days": "days since"}, "Reaction ~ `days since` + (`days since` | Subject)"),
        ({"Days": "days since"}, "Reaction ~ Q('days since') + (Q('days since') | Subject)"),
        ({"Days": "days since"}, 'Reaction ~ Q("days since") + (1 + I(`days since`^1) | Subject)'),
        ({"Reaction": "réaction", "Subject": "sujet_β"}, "réaction ~ Days + (Days | sujet_β)"),
        ({"Subject": "sujet β"}, "Reaction ~ Days + (Days | `sujet β`)"),
        ({"Subject": "sujet β"}, "Reaction ~ Days + (Days | Q('sujet β'))"),
        ({"Subject": "Sub.ject"}, "Reaction ~ Days + (Days | Sub.ject)"),
        ({"Days": "jours_é"}, "Reaction ~ I(jours_é^1) + (jours_é | Subject)"),
    ],
)
def test_r_style_column_names_fit_like_plain_ones(
    sleep: pd.DataFrame, columns: dict[str, str], formula: str
) -> None:
    data = sleep.rename(columns=columns)
    before = data.copy()
    model = fit(formula, data)
    plain = "Reaction ~ Days + (Days | Subject)"
    if "log(" in formula:
        plain = "log(Reaction) ~ Days + (Days | Subject)"
    reference = fit(plain, sleep)
    assert model.objective == pytest.approx(reference.objective, rel=1e-9)
    np.testing.assert_allclose(model.fixef.to_numpy(), reference.fixef.to_numpy(), rtol=1e-7)
    pd.testing.assert_frame_equal(data, before)


def test_grouping_factor_names_are_kept(sleep: pd.DataFrame) -> None:
    model = fit("Reaction ~ Days + (1 | sujet_β)", sleep.rename(columns={"Subject": "sujet_β"}))
    assert list(model.ranef) == ["sujet_β"]
    spaced = fit("Reaction ~ Days + (1 | `a b`)", sleep.rename(columns={"Subject": "a b"}))
    assert list(spaced.ranef) == ["a b"]


@pytest.mark.parametrize(
    ("formula", "missing"),
    [
        ("Reaction.Tim ~ Days + (1 | Subject)", "Reaction.Tim"),
        ("Reaction ~ `Day s` + (1 | Subject)", "Day s"),
        ("Reaction ~ Q('nope') + (1 | Subject)", "nope"),
        ("Reaction ~ log(réactions) + (1 | Subject)", "réactions"),
        ("Reaction ~ Days + (1 | sujet_β)", "sujet_β"),
        ("Reaction ~ Days + (1 | Q('no group'))", "no group"),
        ("Reaction ~ Days + (x.y | Subject)", "x.y"),
        ("Reaction ~ Days + offset(log(n.trials)) + (1 | Subject)", "n.trials"),
        ("Reaction ~ factor(dayz) + (1 | Subject)", "dayz"),
    ],
)
def test_unknown_names_are_named(sleep: pd.DataFrame, formula: str, missing: str) -> None:
    with pytest.raises(UnknownColumnError) as info:
        mm.lmer(formula, sleep)
    assert info.value.names == [missing]


def test_used_columns_come_from_the_checked_pieces() -> None:
    frame = pd.DataFrame(columns=["y", "x.1", "a b", "g", "log", "np", "n", "unused"])
    parsed = parse_formula("log(y) ~ x.1 + I(Q('a b')^2) + offset(log(n)) + (1 | g)")
    assert used_columns(parsed, frame) == ["y", "x.1", "a b", "g", "n"]


def test_identifiers_of_pieces() -> None:
    assert identifiers("np.log(x) + C(f, contr.sum) + `a b`") == {"x", "f", "a b"}
    assert identifiers("logit(p)") == {"logit", "p"}  # not allowed here: every name-like token
    assert identifiers("logit(p)", frozenset({"logit"})) == {"p"}


def test_quoted_names_in_uncorrelated_terms(sleep: pd.DataFrame) -> None:
    spaced = fit(
        "Reaction ~ 1 + (Q('days since') || Subject)", sleep.rename(columns={"Days": "days since"})
    )
    plain = fit("Reaction ~ 1 + (Days || Subject)", sleep)
    assert spaced.objective == pytest.approx(plain.objective, rel=1e-10)
