"""formulaic ``Formula`` objects of checked text only, parsed once per text (they are immutable).

Every formula text that reaches formulaic passes :func:`check_formula` first: formulaic's own
tokenizer (pure text processing, it evaluates nothing) finds the Python pieces, each is checked
and translated by :mod:`mixedmodels.formula.expressions`, and the ``Formula`` formulaic builds
of the translated text is checked once more, factor by factor, so that what formulaic will
evaluate is exactly what was checked. Evaluation then runs in :func:`evaluation_context`, where
Python's builtins are shadowed and ``np`` holds the allowed functions only.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from types import MappingProxyType, SimpleNamespace
from typing import Any

import numpy as np

from mixedmodels.errors import FormulaError
from mixedmodels.formula.expressions import (
    NUMPY_CONSTANTS,
    NUMPY_FUNCTIONS,
    CheckedExpression,
    RefusedPieceError,
    check_python,
)

__all__ = [
    "MAX_COLUMNS",
    "as_formula_error",
    "check_formula",
    "check_functions",
    "evaluation_context",
    "formulaic_formula",
    "required_variables",
]

#: The most columns (and formula terms) a model matrix of a formula may have.
MAX_COLUMNS = 10_000
_ANSI = re.compile(r"\x1b\[[0-9;]*m|[⧛⧚]")
Functions = Mapping[str, Callable[..., Any]]
NO_FUNCTIONS: Functions = {}  # shared, never changed (a mappingproxy would not pickle)


def as_formula_error(
    refusal: RefusedPieceError, formula: str, text: str, offset: int | None
) -> FormulaError:
    """Our error for a refused piece ``text`` found at ``offset`` of ``formula``."""
    if offset is None:
        found = formula.find(text) if formula else -1
        if found < 0:
            formula, found = text, 0
        offset = found
    return FormulaError(refusal.message, formula or text, offset + refusal.offset)


def check_formula(
    text: str,
    functions: frozenset[str] = frozenset(),
    *,
    formula: str = "",
    offset: int | None = None,
) -> CheckedExpression:
    """Check a piece of formula syntax (``"x * f + I(x^2)"``) and translate its R idioms.

    Parameters
    ----------
    text
        The piece, in formulaic's syntax.
    functions
        Names of the functions the user added.
    formula, offset
        The whole formula and where ``text`` starts in it, for the caret of the error.

    Raises
    ------
    FormulaError
        Quoting the formula with a caret under what is refused.
    """
    try:
        return _check_formula(text, functions)
    except RefusedPieceError as refusal:
        raise as_formula_error(refusal, formula, text, offset) from None


#: Text of plain names, integers and formula operators only (no calls, no Python pieces).
_PLAIN_TOKEN = re.compile(
    r"\s+|([A-Za-z_][A-Za-z0-9_]*)(?![\w.(])(?!\s*\()|\d+(?![\w.])|[-+*:/|~()]"
)


def _plain_formula(text: str) -> CheckedExpression | None:
    """The check of ``text`` when it has only plain names, integers and operators; else None.

    formulaic's tokenizer (and with it all of formulaic) costs a fresh process a quarter of a
    second; for such text it finds the names as they are, nothing to translate and no Python
    piece, which is what this returns. Anything else (calls, quotes, dotted or non-ASCII names,
    keywords, names refused by the check) is left to the tokenizer.
    """
    names: set[str] = set()
    position = 0
    while position < len(text):
        match = _PLAIN_TOKEN.match(text, position)
        if match is None:
            return None
        name = match.group(1)
        if name is not None:
            if keyword.iskeyword(name) or "__" in (name[:2], name[-2:]):
                return None
            names.add(name)
        position = match.end()
    return CheckedExpression(text, frozenset(names), frozenset())


@lru_cache(maxsize=2048)
def _check_formula(text: str, functions: frozenset[str]) -> CheckedExpression:
    plain = _plain_formula(text)
    if plain is not None:
        return plain
    from formulaic.parser.algos.tokenize import tokenize

    try:
        tokens = list(tokenize(text))
    except Exception as error:  # formulaic's FormulaSyntaxError, with terminal colours
        message = _ANSI.sub("", str(error)).splitlines()[0]
        raise RefusedPieceError(f"cannot read the formula: {message}", 0) from None
    out: list[str] = []
    variables: set[str] = set()
    categorical: set[str] = set()
    done = 0
    for token in tokens:
        start, end = token.source_start or 0, token.source_end or 0
        kind = token.kind.value if token.kind is not None else ""
        quoted = text[start] in "{`"
        stop = end + 2 if quoted else end + 1
        if kind == "python":
            piece = _python_token(token.token, text[start] == "{", functions, start)
            variables |= piece.variables
            categorical |= piece.categorical
            out.append(text[done:start] + _replacement(piece, text[start:stop], quoted))
            done = stop
        elif kind == "name":
            _check_name(token.token, start)
            variables.add(token.token)
    out.append(text[done:])
    rewritten = "".join(out)
    return CheckedExpression(rewritten, frozenset(variables), frozenset(categorical))


def _python_token(
    code: str, block: bool, functions: frozenset[str], start: int
) -> CheckedExpression:
    """Check the code of one Python token (a call ``f(x)`` or a ``{...}`` block)."""
    try:
        return check_python(code, functions)
    except RefusedPieceError as refusal:
        raise RefusedPieceError(refusal.message, start + int(block) + refusal.offset) from None


def _replacement(piece: CheckedExpression, original: str, block: bool) -> str:
    """The text of a checked Python token in the translated formula."""
    if piece.name is not None:
        return f"`{piece.name}`"
    if piece.text == (original[1:-1] if block else original):
        return original
    return f"{{{piece.text}}}" if block else piece.text


def _check_name(name: str, position: int) -> None:
    name = unicodedata.normalize("NFKC", name)
    if name.startswith("__") or name.endswith("__"):
        raise RefusedPieceError(f"the name {name!r} is not allowed in a formula", position)


def check_functions(functions: Functions | None) -> Functions:
    """The user's ``functions=`` mapping, checked: identifiers to callables."""
    if functions is None:
        return NO_FUNCTIONS
    if not isinstance(functions, Mapping):
        raise FormulaError(f"functions must be a dict of names to callables, not {functions!r}")
    for name, fn in functions.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise FormulaError(f"functions: {name!r} is not a valid function name")
        if not callable(fn):
            raise FormulaError(f"functions: {name!r} is not callable")
    return dict(functions)


@lru_cache(maxsize=512)
def formulaic_formula(text: str, functions: frozenset[str] = frozenset()) -> Any:
    """The formulaic ``Formula`` of ``text`` after the check (cached: refits skip the parse).

    Raises
    ------
    FormulaError
        When a piece of ``text`` is refused (nothing of it is evaluated).
    """
    from formulaic import Formula

    checked = check_formula(text, functions)
    try:
        terms = _term_bound(_formulaic_ast(checked.text))
        if terms > MAX_COLUMNS:
            raise FormulaError(f"the formula expands to more than {MAX_COLUMNS:,} terms", text)
        parsed = Formula(checked.text)
    except FormulaError:
        raise
    except Exception as error:  # formulaic raises many types for bad syntax
        message = _ANSI.sub("", str(error)).splitlines()[0] if str(error) else type(error).__name__
        raise FormulaError(f"cannot read the formula: {message}", text) from None
    for factor in _factors(parsed):
        method = factor.eval_method.value
        try:
            if method == "python":
                check_python(factor.expr, functions)
            elif method == "lookup":
                _check_name(factor.expr, 0)
        except RefusedPieceError as refusal:
            raise FormulaError(refusal.message, text) from None
    return parsed


def _formulaic_ast(text: str) -> Any:
    """Formulaic's syntax tree of ``text`` (its parser only reads text)."""
    from formulaic.parser import DefaultFormulaParser

    parser = DefaultFormulaParser()
    tokens = parser.get_tokens_from_formula(text, context={})
    return parser.get_ast_from_tokens(tokens, context={})


def _term_bound(node: Any) -> float:
    """An upper bound of the number of terms a formulaic syntax tree expands to."""
    if not hasattr(node, "operator"):
        return 1.0
    sizes = [_term_bound(arg) for arg in node.args]
    if len(sizes) != 2:
        return sum(sizes)
    a, b = sizes
    symbol = node.operator.symbol
    if symbol == "*":
        return (a + 1.0) * (b + 1.0)
    if symbol in (":", "in", "%in%"):
        return a * b
    if symbol == "/":
        return a + a * b
    if symbol in ("^", "**"):
        return _power_bound(a, node.args[1])
    if symbol == "-":
        return a
    return a + b


def _power_bound(n: float, exponent: Any) -> float:
    """Terms of ``(a + b + ...)^k``: the interactions of up to ``k`` of the ``n`` terms."""
    try:
        k = int(str(getattr(exponent, "token", "1")))
    except ValueError:
        return n
    if n > MAX_COLUMNS:
        return math.inf
    count = 0.0
    for i in range(1, min(k, int(n)) + 1):
        count += math.comb(int(n), i)
        if count > MAX_COLUMNS:
            return math.inf
    return count


def _factors(formula: Any) -> Iterator[Any]:
    """Every factor of every term of a (possibly structured) formulaic formula."""
    parts = [getattr(formula, side) for side in ("lhs", "rhs") if hasattr(formula, side)]
    for part in parts or [formula]:
        for term in part:
            yield from term.factors


def required_variables(text: str, functions: frozenset[str] = frozenset()) -> frozenset[str]:
    """The columns that ``text`` reads (from the check; cached like the parse)."""
    return check_formula(text, functions).variables


class _Refused:
    """What a builtin name means during evaluation: nothing callable."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise FormulaError(f"the function {self.name!r} is not allowed in a formula")


def _as_numeric(x: Any) -> Any:
    """R's ``as.numeric``: the values as float64."""
    return np.asarray(x, dtype=np.float64)


def _cbind(*args: Any) -> Any:
    raise FormulaError("cbind() responses are for binomial GLMMs (glmer)")


@lru_cache(maxsize=1)
def _base_context() -> Mapping[str, Any]:
    from formulaic.transforms import TRANSFORMS

    numpy_names = NUMPY_FUNCTIONS | NUMPY_CONSTANTS
    safe_np = SimpleNamespace(**{name: getattr(np, name) for name in numpy_names})
    context: dict[str, Any] = {name: _Refused(name) for name in dir(builtins)}
    context.update({name: TRANSFORMS[name] for name in _FORMULAIC if name in TRANSFORMS})
    context.update(
        np=safe_np,
        numpy=safe_np,
        as_numeric=_as_numeric,
        as_double=_as_numeric,
        as_integer=_as_numeric,
        log1p=np.log1p,
        expm1=np.expm1,
        sqrt=np.sqrt,
        abs=np.abs,
        sin=np.sin,
        cos=np.cos,
        tan=np.tan,
        floor=np.floor,
        ceiling=np.ceil,
        round=np.round,
        sign=np.sign,
        cbind=_cbind,
    )
    return MappingProxyType(context)


_FORMULAIC = (
    "log log10 log2 exp bs cc cr cs center poly scale standardize C I Q contr Treatment Sum "
    "Helmert Poly Diff".split()
)


def evaluation_context(functions: Functions = NO_FUNCTIONS) -> dict[str, Any]:
    """The names formulaic may use besides the columns: no builtins, only the allow-list."""
    context = dict(_base_context())
    context.update(functions)
    return context
