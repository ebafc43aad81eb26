"""The checked evaluator: what a formula's Python pieces may contain, and where a refusal points."""

from __future__ import annotations

import builtins

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.formula import parse_formula
from mixedmodels.formula.expressions import RefusedPieceError, check_python
from mixedmodels.formula.formulaic_cache import (
    check_formula,
    check_functions,
    evaluation_context,
    formulaic_formula,
)


@pytest.mark.parametrize(
    ("piece", "text", "variables"),
    [
        ("I(x^2)", "I(x ** 2)", {"x"}),
        ("I(x**2)", "I(x**2)", {"x"}),
        ("{x ^ 3}", "{x ** 3}", {"x"}),
        ("factor(f)", "C(f)", {"f"}),
        ("as.factor(f)", "C(f)", {"f"}),
        ("as.numeric(x)", "as_numeric(x)", {"x"}),
        ("np.log(y + 1)", "np.log(y + 1)", {"y"}),
        ("numpy.sqrt(y)", "numpy.sqrt(y)", {"y"}),
        ("log2(y) + log10(y) + log1p(y) + exp(y) + sqrt(y) + abs(y)", None, {"y"}),
        ("poly(x, 2, raw=TRUE)", "poly(x, 2, raw=True)", {"x"}),
        ("poly(x, 2, raw=T)", "poly(x, 2, raw=True)", {"x"}),
        ("C(f, contr.sum)", "C(f, contr.sum)", {"f"}),
        ("C(f, contr.treatment(base='b'))", "C(f, contr.treatment(base='b'))", {"f"}),
        ("C(f, Sum)", "C(f, Sum)", {"f"}),
        ("C(f, levels=['b', 'a'])", "C(f, levels=['b', 'a'])", {"f"}),
        ("scale(x) + center(x) + bs(x, df=4) + cr(x, df=3)", None, {"x"}),
        ("log(Reaction.Time)", "log(`Reaction.Time`)", {"Reaction.Time"}),
        ("Reaction.Time", "Reaction.Time", {"Reaction.Time"}),
        ("I(`a b` * 2)", "I(`a b` * 2)", {"a b"}),
        ("Q('a b')", "`a b`", {"a b"}),
        ("I(Q('a b') + x)", "I(`a b` + x)", {"a b", "x"}),
        ("réaction + I(sujet_β^2)", "réaction + I(sujet_β ** 2)", {"réaction", "sujet_β"}),
        ("I((x > 1) & (z <= 2))", "I((x > 1) & (z <= 2))", {"x", "z"}),
        ("I(x == 'a')", "I(x == 'a')", {"x"}),
        ("x[1]", "x[1]", {"x"}),
        ("I(np.pi * x)", "I(np.pi * x)", {"x"}),
        ("(a + b)^2 + a:b - 1", "(a + b)^2 + a:b - 1", {"a", "b"}),
        ("I(9**9)", "I(9**9)", set()),
    ],
)
def test_allowed_pieces_and_their_translation(
    piece: str, text: str | None, variables: set[str]
) -> None:
    checked = check_formula(piece)
    if text is not None:
        assert checked.text == text
    assert checked.variables == variables
    formulaic_formula(piece)  # formulaic reads the translation; its factors pass again


def test_factor_marks_its_column_categorical() -> None:
    assert check_formula("factor(g) + C(h) + x").categorical == {"g", "h"}


REFUSED = [
    ("I(__import__('os').system('touch M'))", "__import__"),
    ("{__import__('os')}", "__import__"),
    ("np.save('f', x)", "np.save"),
    ("I(np.save)", "save"),
    ("np.__builtins__", "np.__builtins__"),
    ("I(np.__builtins__['open'])", "__builtins__"),
    ("open('/etc/passwd')", "open"),
    ("exec('1')", "exec"),
    ("eval('1')", "eval"),
    ("I(getattr(x, 'real'))", "getattr"),
    ("I(x.__class__)", "__class__"),
    ("I(lambda: 1)", "lambda"),
    ("{[i for i in x]}", "[i"),
    ("I({i: 1 for i in x})", "{i"),
    ("I({'a': 1})", "{'a'"),
    ("I({1, 2})", "{1"),
    ("I(x if x else 1)", "x if"),
    ("I(f(x)(y))", "f(x)"),
    ("I(x)[0]", "I(x)"),
    ("I((x)[0:2])", "(x)"),
    ("I(9**9**9)", "9**9**9"),
    ("I(10**400)", "10**400"),
    ("I('a' * 100000000)", "'a'"),
    ("I(x > 1 & z < 2)", "1 & z"),
    ("I(*x)", "*x"),
    ("I(f'{x}')", "f'"),
    ("I((y := x))", "y :="),
    ("np.log(x, **{})", "{}"),
    ("I(x is None)", "x is"),
    ("I(offset(x))", "offset"),
    ("I(`a b`(x))", "`a b`"),
]


@pytest.mark.parametrize(("piece", "culprit"), REFUSED)
def test_refused_pieces_point_at_the_culprit(piece: str, culprit: str) -> None:
    formula = f"y ~ x + {piece} + (1 | g)"
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    assert info.value.formula == formula
    assert info.value.position == formula.index(culprit, 8)
    lines = str(info.value).splitlines()
    assert lines[1].strip() == formula
    assert lines[2].index("^") - 4 == info.value.position


@pytest.mark.parametrize(
    "piece", ["{ {i: 1 for i in x} }", "{ {'a': 1} }", "{x}.y", "I(x", "`a", "I('a)", "{x; y}"]
)
def test_unreadable_pieces_are_refused(piece: str) -> None:
    with pytest.raises(FormulaError):
        formulaic_formula(f"y ~ {piece}")


def test_a_dotted_name_is_a_column_name_not_an_attribute() -> None:
    assert check_formula("I(x.real)").variables == {"x.real"}
    assert check_formula("I(x.real)").text == "I(`x.real`)"


@pytest.mark.parametrize(
    ("formula", "culprit"),
    [
        ("open(y) ~ x + (1 | g)", "open"),
        ("y ~ x + (I(x.__class__) | g)", "__class__"),
        ("y ~ x + (exec('1') || g)", "exec"),
        ("y ~ x + offset(__import__('os')) + (1 | g)", "__import__"),
        ("cbind(a, eval('1')) ~ x + (1 | g)", "eval"),
    ],
)
def test_every_part_of_the_formula_is_checked(formula: str, culprit: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    assert info.value.position == formula.index(culprit)


def test_python_refusal_positions_are_in_the_text() -> None:
    with pytest.raises(RefusedPieceError) as info:
        check_python("log(Reaction.Time) + `a b` + np.save(x)")
    assert info.value.offset == len("log(Reaction.Time) + `a b` + ")


def test_user_functions_are_allowed_only_when_given() -> None:
    with pytest.raises(FormulaError, match="'logit' is not allowed"):
        parse_formula("y ~ logit(p) + (1 | g)")
    parsed = parse_formula("y ~ logit(p) + (1 | g)", {"logit": lambda p: p})
    assert parsed.fixed == "logit(p)"
    assert "logit" in parsed.functions


@pytest.mark.parametrize("bad", [{"__import__": len}, {"1x": len}, {"f": 3}, [("f", len)]])
def test_bad_functions_argument(bad: object) -> None:
    with pytest.raises(FormulaError):
        check_functions(bad)  # type: ignore[arg-type]


def test_evaluation_context_has_no_builtins_and_a_restricted_numpy() -> None:
    context = evaluation_context()
    for name in ("open", "exec", "eval", "__import__", "getattr", "compile", "globals"):
        with pytest.raises(FormulaError):
            context[name]("x")
    assert set(dir(builtins)) <= set(context)
    assert not hasattr(context["np"], "save")
    assert not hasattr(context["np"], "__builtins__")
    assert context["np"].log is context["numpy"].log
    assert context["log1p"](0.0) == 0.0


def test_check_is_cached_per_text() -> None:
    assert check_formula("I(x^2) + log(y)") is check_formula("I(x^2) + log(y)")


def test_formula_power_and_products_are_bounded_before_expansion() -> None:
    many = " + ".join(f"x{i}" for i in range(30))
    with pytest.raises(FormulaError, match="more than 10,000 terms"):
        formulaic_formula(f"({many})^30")
    with pytest.raises(FormulaError, match="more than 10,000 terms"):
        formulaic_formula("*".join(f"x{i}" for i in range(20)))
    assert len(list(formulaic_formula(f"({many})^2"))) == 1 + 30 + 435


def test_double_bar_keeps_quoted_names() -> None:
    lhs = [t.lhs for t in parse_formula("y ~ (Q('a b') * x + log(c.d) || g)").random]
    assert lhs == ["1", "0 + `a b`", "0 + x", "0 + log(`c.d`)", "0 + `a b`:x"]
