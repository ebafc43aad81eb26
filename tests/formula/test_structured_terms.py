"""Structured random-effects terms in the formula: ``ar1(0 + t | g)`` and glmmTMB's others."""

from __future__ import annotations

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.formula import parse_formula


@pytest.mark.parametrize("name", ["us", "diag", "cs", "ar1", "toep"])
def test_each_structure_wraps_one_term(name: str) -> None:
    parsed = parse_formula(f"y ~ x + {name}(0 + t | g)")
    (term,) = parsed.random
    assert (term.structure, term.lhs, term.factors, term.homogeneous) == (
        name,
        "0 + t",
        ("g",),
        None,
    )
    assert parsed.fixed == "x"
    assert str(term) == f"{name}(0 + t | g)"


def test_hom_option_and_plain_terms_beside() -> None:
    parsed = parse_formula("y ~ cs(0 + f | g, hom = TRUE) + (1 | h) + diag(1 + x | g, hom=F)")
    cs, plain, diag = parsed.random
    assert (cs.structure, cs.homogeneous) == ("cs", True)
    assert (plain.structure, plain.homogeneous) == (None, None)
    assert (diag.structure, diag.homogeneous, diag.lhs) == ("diag", False, "1 + x")
    assert str(cs) == "cs(0 + f | g, hom = TRUE)"


def test_nesting_gives_one_structured_term_per_level() -> None:
    parsed = parse_formula("y ~ ar1(0 + t | site/subject)")
    assert [(t.structure, t.factors) for t in parsed.random] == [
        ("ar1", ("site",)),
        ("ar1", ("subject", "site")),
    ]


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ ar1(0 + t || g)", "takes a single '|'"),
        ("y ~ cs(0 + f | g, hom = 3)", "at most 'hom = TRUE'"),
        ("y ~ cs(0 + f | g, hom = TRUE, x = 1)", "at most 'hom = TRUE'"),
        ("y ~ ar1( | g)", "nothing before '|'"),
        ("y ~ toep(0 + t | )", "no grouping factor"),
        ("y ~ x - ar1(0 + t | g)", "cannot be subtracted"),
        ("y ~ ar1(t)", "not allowed"),
        ("y ~ ar1(0 + t | g + h)", "grouping factor must be"),
    ],
)
def test_malformed_structured_terms_are_refused(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula)


def test_structure_arguments_cannot_run_code() -> None:
    with pytest.raises(FormulaError):
        parse_formula("y ~ ar1(0 + __import__('os').system('true') | g)")
    with pytest.raises(FormulaError):
        parse_formula("y ~ cs(0 + f | g, hom = print(1))")
