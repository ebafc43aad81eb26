"""The check of formula text: plain text is checked without formulaic's tokenizer, the same way."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "text",
    [
        "Days",
        "0 + x",
        "1 + Days",
        "a*b - 1",
        "x1 + x_2",
        "Reaction ~ Days",
        "batch/cask",
        "(a + b):c",
        "type + match",
        "_x",
        "a__b",
        " y~x ",
        "g | h",
    ],
)
def test_plain_text_is_checked_as_the_tokenizer_checks_it(text: str) -> None:
    from mixedmodels.formula import formulaic_cache

    plain = formulaic_cache._plain_formula(text)
    assert plain is not None
    formulaic_cache._check_formula.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formulaic_cache, "_plain_formula", lambda text: None)
        assert formulaic_cache._check_formula(text, frozenset()) == plain
    formulaic_cache._check_formula.cache_clear()


@pytest.mark.parametrize(
    "text", ["f(x)", "x (y)", "__x", "x__", "True", "x.y", "1.5", "2x", "é", "x^2", "`a b`", "{x}"]
)
def test_other_text_goes_to_the_tokenizer(text: str) -> None:
    from mixedmodels.formula import formulaic_cache

    assert formulaic_cache._plain_formula(text) is None
