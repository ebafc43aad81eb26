"""The lme4 formula parser: splitting, expansion of ||, / and :, and its errors."""

from __future__ import annotations

import pytest

from mixedmodels.errors import FormulaError, MixedModelsError
from mixedmodels.formula import RandomTermSpec, parse_formula


def terms(formula: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(t.lhs, t.factors) for t in parse_formula(formula).random]


def test_random_intercept_and_fixed_part() -> None:
    parsed = parse_formula("travel ~ 1 + (1 | Rail)")
    assert parsed.response == "travel"
    assert parsed.fixed == "1"
    assert terms("travel ~ 1 + (1 | Rail)") == [("1", ("Rail",))]


def test_random_slope_keeps_lhs_for_formulaic() -> None:
    parsed = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert parsed.fixed == "Days"
    assert terms("Reaction ~ Days + (Days | Subject)") == [("Days", ("Subject",))]
    assert terms("y ~ x + (0 + x | g)") == [("0 + x", ("g",))]
    assert terms("y ~ x + (1 + x | g)") == [("1 + x", ("g",))]


def test_double_bar_gives_one_term_per_formula_term() -> None:
    assert terms("y ~ x + (x || g)") == [("1", ("g",)), ("0 + x", ("g",))]
    assert terms("y ~ (1 + x + z || g)") == [("1", ("g",)), ("0 + x", ("g",)), ("0 + z", ("g",))]
    assert terms("y ~ (0 + x || g)") == [("0 + x", ("g",))]


def test_nesting_and_interaction() -> None:
    assert terms("y ~ 1 + (1 | batch/cask)") == [("1", ("batch",)), ("1", ("cask", "batch"))]
    assert terms("y ~ (1 | a/b/c)") == [("1", ("a",)), ("1", ("b", "a")), ("1", ("c", "b", "a"))]
    assert terms("y ~ (1 | a:b)") == [("1", ("a", "b"))]
    assert RandomTermSpec("1", ("cask", "batch")).group == "cask:batch"


def test_crossed_terms_and_several_on_one_factor() -> None:
    assert terms("y ~ (1 | plate) + (1 | sample)") == [("1", ("plate",)), ("1", ("sample",))]
    assert terms("y ~ (1 | g) + (0 + x | g)") == [("1", ("g",)), ("0 + x", ("g",))]


def test_fixed_part_with_transforms_and_interactions() -> None:
    parsed = parse_formula("np.log(y) ~ x * f + C(z) + I(x + 1e-3) + (1 | g)")
    assert parsed.response == "np.log(y)"
    assert parsed.fixed == "x * f + C(z) + I(x + 1e-3)"


def test_only_random_terms_gives_intercept_and_removal_of_intercept() -> None:
    assert parse_formula("y ~ (1 | g)").fixed == "1"
    assert parse_formula("y ~ 0 + x + (1 | g)").fixed == "0 + x"
    assert parse_formula("y ~ x - 1 + (1 | g)").fixed == "x - 1"


@pytest.mark.parametrize(
    ("formula", "message", "caret"),
    [
        ("y ~ x + (1 | g", "unclosed '('", 8),
        ("y ~ x + 1 | g)", "unmatched ')'", 13),
        ("y x + (1 | g)", "no '~'", None),
        ("y ~ x ~ z", "more than one '~'", 6),
        (" ~ x + (1 | g)", "no response", 1),
        ("y ~ ", "nothing after '~'", 4),
        ("y ~ x + (1 | )", "no grouping factor", 11),
        ("y ~ x + ( | g)", "nothing before '|'", 9),
        ("y ~ x ++ z", "term is missing", 7),
        ("y ~ (1 | a + b)", "grouping factor must be", 11),
        ("y ~ (1 | g | h)", "more than one '|'", 11),
        ("y ~ x - (1 | g)", "cannot be subtracted", 8),
    ],
)
def test_malformed_formulas_point_at_the_problem(
    formula: str, message: str, caret: int | None
) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    text = str(info.value)
    assert message in text
    assert formula in text
    if caret is not None:
        lines = text.splitlines()
        assert lines[-1].index("^") - 4 == caret
    assert isinstance(info.value, MixedModelsError)


def test_non_string_formula() -> None:
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(42)  # type: ignore[arg-type]
