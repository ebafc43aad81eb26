"""Split an lme4-style formula into its response, fixed part and random-effects terms.

The fixed part is left as text for formulaic; every random-effects term ``(lhs | group)`` is
expanded the way lme4 does it:

* ``(x || g)``   -> ``(1 | g) + (0 + x | g)``: one term per formula term of ``x``, uncorrelated;
* ``(1 | a/b)``  -> ``(1 | a) + (1 | b:a)``: nesting;
* ``(1 | a:b)``  -> one grouping factor whose levels are the observed combinations;
* ``ar1(0 + t | g)``, ``us``, ``diag``, ``cs``, ``toep`` (glmmTMB's structures, with an optional
  ``hom = TRUE``) -> one term of that covariance structure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mixedmodels.errors import FormulaError
from mixedmodels.formula.expressions import RefusedPieceError, check_python
from mixedmodels.formula.formulaic_cache import (
    NO_FUNCTIONS,
    as_formula_error,
    check_formula,
    check_functions,
    formulaic_formula,
)

__all__ = ["ParsedFormula", "RandomTermSpec", "parse_formula"]

_OPEN = "([{"
_CLOSE = ")]}"
_OFFSET = re.compile(r"^offset\((.*)\)$", re.DOTALL)
_NAME = re.compile(r"^(?:[^\W\d][\w.]*|\.[\w.]*|`[^`]+`)$")
_PLAIN = re.compile(r"^[^\W\d][\w.]*$")
_STRUCTURED = re.compile(r"^(us|diag|cs|ar1|toep)\s*\((.*)\)$", re.DOTALL)
_HOM = re.compile(r"^hom\s*=\s*(TRUE|FALSE|True|False|T|F)$")
_QUOTED = re.compile(r"""\bQ\(\s*(?:'([^'`]+)'|"([^"`]+)")\s*\)""")


@dataclass(frozen=True)
class RandomTermSpec:
    """One random-effects term after expansion, e.g. ``(1 + Days | Subject)``.

    Attributes
    ----------
    lhs
        Formula (right-hand side only) of the per-row model matrix, e.g. ``"1 + Days"``.
    factors
        Names of the columns whose interaction is the grouping factor, e.g. ``("cask", "batch")``.
    structure
        The covariance structure the term is wrapped in (``"ar1"`` for ``ar1(0 + t | g)``), or
        ``None`` for lme4's plain term (unstructured).
    homogeneous
        ``hom = TRUE``/``FALSE`` as written (``None``: the structure's default).
    """

    lhs: str
    factors: tuple[str, ...]
    structure: str | None = None
    homogeneous: bool | None = None

    @property
    def group(self) -> str:
        """Name of the grouping factor as lme4 prints it (``"cask:batch"``)."""
        return ":".join(self.factors)

    def __str__(self) -> str:
        if self.structure is None:
            return f"({self.lhs} | {self.group})"
        hom = "" if self.homogeneous is None else f", hom = {str(self.homogeneous).upper()}"
        return f"{self.structure}({self.lhs} | {self.group}{hom})"


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into parts.

    Attributes
    ----------
    formula
        The formula as written.
    response
        Left-hand side, e.g. ``"Reaction"`` or ``"np.log(y)"``.
    fixed
        Right-hand side of the fixed part in formulaic syntax (``"1"`` when only random terms).
    random
        Expanded random-effects terms, in the order written.
    offsets
        Expressions inside ``offset(...)`` terms, as lme4 allows in the formula.
    functions
        The functions the user added (``functions=``), by name.

    Every piece is checked (see :mod:`mixedmodels.formula.expressions`) and kept in the text
    formulaic reads: R's idioms translated (``I(x^2)`` is ``I(x ** 2)``).
    """

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTermSpec, ...]
    offsets: tuple[str, ...] = ()
    functions: Mapping[str, Callable[..., Any]] = field(
        default_factory=lambda: NO_FUNCTIONS, compare=False, repr=False
    )

    @property
    def function_names(self) -> frozenset[str]:
        """Names of the functions the user added."""
        return frozenset(self.functions)


def parse_formula(
    formula: str, functions: Mapping[str, Callable[..., Any]] | None = None
) -> ParsedFormula:
    """Parse an lme4-style model formula.

    Parameters
    ----------
    formula
        For example ``"Reaction ~ Days + (Days | Subject)"``.
    functions
        Functions the formula may call besides the allowed ones, e.g. ``{"logit": fn}``.

    Returns
    -------
    ParsedFormula
        Response, fixed part and expanded random-effects terms.

    Raises
    ------
    FormulaError
        When the formula is malformed or a piece of it is refused; the message quotes it and
        points at the problem.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"a formula must be a string, not {type(formula).__name__}")
    user = check_functions(functions)
    names = frozenset(user)
    _check_brackets(formula)
    tilde = _top_level_positions(formula, "~")
    if not tilde:
        raise FormulaError("the formula has no '~' separating response and predictors", formula)
    if len(tilde) > 1:
        raise FormulaError("the formula has more than one '~'", formula, tilde[1])
    response = formula[: tilde[0]].strip()
    if not response:
        raise FormulaError("the formula has no response before '~'", formula, tilde[0])
    where = len(formula) - len(formula.lstrip())
    response = check_formula(response, names, formula=formula, offset=where).text
    offset = tilde[0] + 1
    rhs = formula[offset:]
    if not rhs.strip():
        raise FormulaError("the formula has nothing after '~'", formula, len(formula))
    fixed: list[str] = []
    random: list[RandomTermSpec] = []
    offsets: list[str] = []
    for sign, start, text in _split_terms(rhs, formula, offset):
        match = _OFFSET.match(text)
        if match and all(d >= 1 for d in _depths(text)[7:-1]):
            if sign == "-":
                raise FormulaError("an offset cannot be subtracted", formula, start)
            offsets.append(_offset_expression(match.group(1), names, formula, start + 7))
        elif _is_structured_term(text):
            if sign == "-":
                raise FormulaError("a random-effects term cannot be subtracted", formula, start)
            random.extend(_expand_structured_term(text, formula, start, names))
        elif _is_bar_term(text):
            if sign == "-":
                raise FormulaError("a random-effects term cannot be subtracted", formula, start)
            random.extend(_expand_bar_term(text, formula, start, names))
        else:
            text = check_formula(text, names, formula=formula, offset=start).text
            fixed.append(f"{sign} {text}" if fixed or sign == "-" else text)
    fixed_text = " ".join(fixed) if fixed else "1"
    if fixed_text.startswith("-"):
        fixed_text = "1 " + fixed_text
    return ParsedFormula(formula, response, fixed_text, tuple(random), tuple(offsets), user)


def _offset_expression(text: str, names: frozenset[str], formula: str, start: int) -> str:
    """The checked expression inside ``offset(...)``."""
    if not text.strip():
        raise FormulaError("offset() needs an expression, e.g. offset(log(n))", formula, start)
    where = start + len(text) - len(text.lstrip())
    try:
        return check_python(text.strip(), names).text
    except RefusedPieceError as refusal:
        raise as_formula_error(refusal, formula, text.strip(), where) from None


def _check_brackets(formula: str) -> None:
    """Raise a FormulaError at the first unbalanced bracket."""
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(formula):
        if ch in _OPEN:
            stack.append((ch, i))
        elif ch in _CLOSE:
            if not stack or _OPEN.index(stack[-1][0]) != _CLOSE.index(ch):
                raise FormulaError(f"unmatched '{ch}'", formula, i)
            stack.pop()
    if stack:
        raise FormulaError(f"unclosed '{stack[-1][0]}'", formula, stack[-1][1])


def _depths(text: str) -> list[int]:
    """Bracket depth before each character of ``text``."""
    depth, out = 0, []
    for ch in text:
        if ch in _CLOSE:
            depth -= 1
        out.append(depth)
        if ch in _OPEN:
            depth += 1
    return out


def _top_level_positions(text: str, symbol: str) -> list[int]:
    """Positions of ``symbol`` outside any brackets."""
    depths = _depths(text)
    return [i for i, ch in enumerate(text) if ch == symbol and depths[i] == 0]


def _split_terms(rhs: str, formula: str, offset: int) -> list[tuple[str, int, str]]:
    """Split a right-hand side at top-level ``+`` and ``-`` into (sign, position, text)."""
    depths = _depths(rhs)
    pieces: list[tuple[str, int, str]] = []
    sign, start = "+", 0
    for i, ch in enumerate(rhs):
        if depths[i] == 0 and ch in "+-" and not _is_exponent_sign(rhs, i):
            pieces.append((sign, start, rhs[start:i]))
            sign, start = ch, i + 1
    pieces.append((sign, start, rhs[start:]))
    out: list[tuple[str, int, str]] = []
    for index, (sgn, pos, text) in enumerate(pieces):
        if text.strip():
            out.append((sgn, offset + pos + len(text) - len(text.lstrip()), text.strip()))
        elif index > 0 or sgn != "+" or len(pieces) == 1:
            raise FormulaError("a term is missing around '+' or '-'", formula, offset + pos)
    return out


def _is_exponent_sign(text: str, i: int) -> bool:
    """True for the sign of a number's exponent, as in ``1e-3``."""
    return i >= 2 and text[i - 1] in "eE" and text[i - 2].isdigit()


def _is_bar_term(text: str) -> bool:
    """True when ``text`` is one bracketed expression with a top-level ``|`` inside."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depths = _depths(text)
    if any(d == 0 for d in depths[1:-1]):
        return False  # e.g. "(a) * (b)"
    inner = text[1:-1]
    return bool(_top_level_positions(inner, "|"))


def _expand_bar_term(
    text: str, formula: str, start: int, names: frozenset[str] = frozenset()
) -> list[RandomTermSpec]:
    """Expand ``(lhs | group)`` or ``(lhs || group)`` into random-effects terms."""
    inner = text[1:-1]
    bars = _top_level_positions(inner, "|")
    double = len(bars) == 2 and bars[1] == bars[0] + 1
    if len(bars) > 1 and not double:
        raise FormulaError(
            "a random-effects term has more than one '|'", formula, start + 1 + bars[1]
        )
    lhs = inner[: bars[0]].strip()
    group_text = inner[bars[-1] + 1 :].strip()
    if not lhs:
        raise FormulaError("nothing before '|' in a random-effects term", formula, start + 1)
    if not group_text:
        raise FormulaError("no grouping factor after '|'", formula, start + 1 + bars[-1])
    raw_group = inner[bars[-1] + 1 :]
    group_start = start + 1 + bars[-1] + 1 + len(raw_group) - len(raw_group.lstrip())
    groupings = _expand_grouping(_unquote(group_text), formula, group_start)
    lhs_start = start + 1 + len(inner) - len(inner.lstrip())
    lhs = check_formula(lhs, names, formula=formula, offset=lhs_start).text
    lhs_parts = _uncorrelated_parts(lhs, names) if double else [lhs]
    return [RandomTermSpec(part, factors) for factors in groupings for part in lhs_parts]


def _is_structured_term(text: str) -> bool:
    """True for ``ar1(0 + t | g)`` and the like: a structure name around a bar term."""
    match = _STRUCTURED.match(text)
    if match is None or any(d == 0 for d in _depths(text)[len(match.group(1)) + 1 : -1]):
        return False
    return bool(_top_level_positions(match.group(2), "|"))


def _expand_structured_term(
    text: str, formula: str, start: int, names: frozenset[str]
) -> list[RandomTermSpec]:
    """Expand ``cs(0 + f | g, hom = TRUE)`` into terms with that structure (glmmTMB's)."""
    match = _STRUCTURED.match(text)
    assert match is not None
    structure, inner = match.group(1), match.group(2)
    at = start + text.index("(")  # the bracket that opens the bar term
    commas = _top_level_positions(inner, ",")
    homogeneous: bool | None = None
    if commas:
        option = inner[commas[0] + 1 :].strip()
        hom = _HOM.match(option)
        if len(commas) > 1 or hom is None:
            raise FormulaError(
                f"{structure}() takes a bar term and at most 'hom = TRUE' or 'hom = FALSE'",
                formula,
                at + 1 + commas[0],
            )
        homogeneous = hom.group(1) in ("TRUE", "True", "T")
        inner = inner[: commas[0]]
    bars = _top_level_positions(inner, "|")
    if len(bars) == 2 and bars[1] == bars[0] + 1:
        raise FormulaError(
            f"{structure}() takes a single '|'; diag() is the uncorrelated structure",
            formula,
            at + 1 + bars[0],
        )
    specs = _expand_bar_term(f"({inner})", formula, at, names)
    return [RandomTermSpec(s.lhs, s.factors, structure, homogeneous) for s in specs]


def _unquote(text: str) -> str:
    """``Q('my group')`` in a grouping factor as the backticked name."""
    return _QUOTED.sub(lambda m: f"`{m.group(1) or m.group(2)}`", text)


def _expand_grouping(text: str, formula: str, start: int) -> list[tuple[str, ...]]:
    """Expand ``a/b/c`` into ``[(a,), (b, a), (c, b, a)]``; each part may be ``x:y``."""
    if any(ch in text for ch in "+-*()"):
        pos = start + min(text.find(ch) for ch in "+-*()" if ch in text)
        raise FormulaError(
            "a grouping factor must be a column name, an interaction a:b or a nesting a/b",
            formula,
            pos,
        )
    levels = [part.strip() for part in text.split("/")]
    out: list[tuple[str, ...]] = []
    for depth in range(1, len(levels) + 1):
        names: list[str] = []
        for part in reversed(levels[:depth]):
            names.extend(_factor_names(part, formula, start))
        out.append(tuple(names))
    return out


def _factor_names(part: str, formula: str, start: int) -> list[str]:
    """Split ``a:b`` into column names, checking each."""
    names = [name.strip() for name in part.split(":")]
    for name in names:
        if not _NAME.match(name):
            where = formula.find(name, start) if name else start
            raise FormulaError(f"{name!r} is not a valid grouping factor name", formula, where)
    return [name.strip("`") for name in names]


def _uncorrelated_parts(lhs: str, names: frozenset[str] = frozenset()) -> list[str]:
    """Split the left side of ``||`` into one formula per term, as lme4 does."""
    try:  # formulaic knows how to expand x*z into its terms
        parsed = formulaic_formula(lhs, names)
        terms = list(getattr(parsed, "rhs", parsed))
    except FormulaError:
        raise
    except Exception as error:  # formulaic raises many types for bad syntax
        raise FormulaError(f"cannot parse {lhs!r} before '||': {error}") from error
    parts: list[str] = []
    for term in terms:
        name = ":".join(_factor_text(factor) for factor in term.factors)
        parts.append("1" if name == "1" else f"0 + {name}")
    return parts


def _factor_text(factor: Any) -> str:
    """A factor of a formulaic term as formula text (``a b`` back in backticks)."""
    text = str(factor.expr)
    if factor.eval_method.value == "lookup" and not _PLAIN.match(text):
        return f"`{text}`"
    return text
