"""The one checked evaluator of the Python expressions inside a formula.

A formula is data: it never runs code. Every Python piece of a formula (``I(x^2)``,
``np.log(y)``, ``{a + b}``, ``offset(log(n))``, ...) is parsed with :mod:`ast` and allowed only
when it is made of column names, numeric and string literals, arithmetic, comparison and
logical operators, and calls of an explicit allow-list: NumPy's elementwise math functions
(``np.log``, ``numpy.sqrt``, ...), the formula transforms we support (``C``, ``I``, ``poly``,
``scale``, ``center``, splines, contrast specifications), R's names (``factor``, ``log``,
``as.numeric``, ...) and the functions a user passes explicitly (``functions=``). Anything else
(attributes, dunder names, lambdas, comprehensions, subscripts of non-columns, ...) is refused
with a :class:`~mixedmodels.errors.FormulaError` pointing at it, before anything is evaluated.

The check also translates R's idioms into the Python formulaic evaluates: ``x^2`` is a power
inside any call, ``factor(x)`` and ``as.factor(x)`` are ``C(x)``, ``TRUE``/``FALSE`` are
Python's, ``Reaction.Time`` and ``Q('a b')`` are column names.
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from mixedmodels.errors import FormulaError

__all__ = [
    "CONTRASTS",
    "NUMPY_FUNCTIONS",
    "R_FUNCTIONS",
    "TRANSFORMS",
    "CheckedExpression",
    "RefusedPieceError",
    "check_python",
]

#: NumPy's elementwise functions a formula may call as ``np.<name>`` or ``numpy.<name>``.
NUMPY_FUNCTIONS = frozenset(
    """abs absolute arccos arccosh arcsin arcsinh arctan arctan2 arctanh cbrt ceil clip cos
    cosh deg2rad degrees exp exp2 expm1 fabs floor fmax fmin fmod hypot isfinite isnan log
    log10 log1p log2 logaddexp maximum minimum mod negative power rad2deg radians reciprocal
    rint round sign sin sinh sqrt square tan tanh trunc where""".split()
)
#: NumPy constants a formula may read (``np.pi``).
NUMPY_CONSTANTS = frozenset({"pi", "e", "inf", "nan"})
#: The transforms of formulaic we support, called by their bare names.
TRANSFORMS = frozenset(
    {"C", "I", "poly", "scale", "center", "standardize", "bs", "cr", "cs", "cc", "Q"}
)
#: Contrast specifications: ``contr.<name>`` and patsy's names.
CONTRASTS = frozenset({"treatment", "sum", "helmert", "poly", "diff", "custom"})
CONTRAST_NAMES = frozenset({"Treatment", "Sum", "Helmert", "Poly", "Diff"})
#: R's functions, by the names a formula uses (dotted R names become these first).
R_FUNCTIONS = frozenset(
    {"factor", "as_factor", "as_numeric", "as_integer", "as_double", "log", "log2", "log10"}
    | {"log1p", "exp", "expm1", "sqrt", "abs", "sin", "cos", "tan", "floor", "ceiling"}
    | {"round", "sign", "cbind"}
)
_R_DOTTED = {
    "as.factor": "as_factor",
    "as.numeric": "as_numeric",
    "as.integer": "as_integer",
    "as.double": "as_double",
}
_FACTOR = frozenset({"factor", "as_factor"})
_MODULES = frozenset({"np", "numpy"})
_R_CONSTANTS = {"TRUE": True, "FALSE": False, "pi": math.pi}  # R's constants
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_LOGICAL = (ast.BitAnd, ast.BitOr)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_UNARY = (ast.UAdd, ast.USub, ast.Not)
_MAX_DIGITS = 308  # a constant beyond float64's range is refused
_PLACEHOLDER = "_mmq{}_"
_WORD = re.compile(r"[^\W\d][\w.]*")
_NUMBER = re.compile(r"(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?")


class RefusedPieceError(FormulaError):
    """A refused piece of a formula: why, and where (``offset``, an index into the piece).

    Raised inside the check only; callers turn it into a :class:`FormulaError` that quotes
    the whole formula with a caret.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class CheckedExpression:
    """A Python piece of a formula that passed the check.

    Attributes
    ----------
    text
        The text for formulaic: the original one when no R idiom needed translating.
    variables
        The column names the piece reads.
    categorical
        Columns used as the first argument of ``C()`` (their values name the levels).
    name
        The column name when the whole piece is one column (``Q('a b')``), else ``None``.
    """

    text: str
    variables: frozenset[str]
    categorical: frozenset[str] = frozenset()
    name: str | None = None


def check_python(code: str, functions: frozenset[str] = frozenset()) -> CheckedExpression:
    """Check one Python expression of a formula and translate its R idioms.

    Parameters
    ----------
    code
        The expression, e.g. ``"I(x^2)"`` or ``"np.log(y + 1)"``.
    functions
        Names of the functions the user added (``functions=``).

    Raises
    ------
    RefusedPieceError
        What is refused and its position in ``code``.
    """
    return _check_python(code, functions)


@lru_cache(maxsize=2048)
def _check_python(code: str, functions: frozenset[str]) -> CheckedExpression:
    source, names, where = _prepare(code)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        offset = (error.offset or 1) - 1 if error.lineno in (None, 1) else len(source)
        raise RefusedPieceError(
            f"cannot read {code!r} as an expression", _at(where, offset)
        ) from None
    checker = _Checker(names, where, functions)
    body = checker.visit(tree.body)
    name = names.get(body.id) if isinstance(body, ast.Name) else None
    changed = checker.changed or source != code
    text = code
    if changed:
        text = ast.unparse(body)
        for placeholder, original in names.items():
            text = text.replace(placeholder, _quoted(original))
    return CheckedExpression(
        text, frozenset(checker.variables), frozenset(checker.categorical), name
    )


def _quoted(name: str) -> str:
    """A column name as formulaic reads it inside Python code."""
    return name if name.isidentifier() and name.isascii() else f"`{name}`"


def _at(where: list[int], offset: int) -> int:
    """Position in the original text of ``offset`` in the prepared source."""
    if not where:
        return 0
    return where[min(max(offset, 0), len(where) - 1)]


def _prepare(code: str) -> tuple[str, dict[str, str], list[int]]:
    """Python source for ``ast``: backticked and dotted column names become placeholders.

    R's ``^`` becomes ``**`` (the same precedence and right associativity: ``2*x^2`` is
    ``2*x**2`` and ``x^2^3`` is ``x**(2**3)``; Python's XOR would bind looser than ``*``).

    Returns the source, the placeholder → column name map and, for each character of the
    source, its position in ``code``.
    """
    out: list[str] = []
    where: list[int] = []
    names: dict[str, str] = {}
    i = 0

    def emit(text: str, position: int) -> None:
        out.append(text)
        where.extend([position] * len(text))

    while i < len(code):
        ch = code[i]
        if ch in "'\"":
            end = _string_end(code, i)
            for k in range(i, end):
                emit(code[k], k)
            i = end
        elif ch == "`":
            end = code.find("`", i + 1)
            if end < 0:
                raise RefusedPieceError("unclosed '`'", i)
            emit(_placeholder(names, code[i + 1 : end]), i)
            i = end + 1
        elif (number := _NUMBER.match(code, i)) is not None and (ch.isdigit() or ch == "."):
            for k in range(i, number.end()):
                emit(code[k], k)
            i = number.end()
        elif (word := _WORD.match(code, i)) is not None:
            replaced = _word(word.group(), names)
            if replaced == word.group():
                for k in range(i, word.end()):
                    emit(code[k], k)
            else:
                emit(replaced, i)
            i = word.end()
        elif ch == "^":  # R's power: Python's ** has its precedence and associativity
            emit("**", i)
            i += 1
        else:
            emit(ch, i)
            i += 1
    return "".join(out), names, where


def _string_end(code: str, start: int) -> int:
    """Index just after the string literal starting at ``start``."""
    quote, i = code[start], start + 1
    while i < len(code):
        if code[i] == "\\":
            i += 2
            continue
        if code[i] == quote:
            return i + 1
        i += 1
    raise RefusedPieceError("unclosed string", start)


def _word(word: str, names: dict[str, str]) -> str:
    """A name of the source: R's dotted functions renamed, dotted column names quoted."""
    if "." not in word:
        return word
    if word in _R_DOTTED:
        return _R_DOTTED[word]
    parts = word.split(".")
    if parts[0] in _MODULES or parts[0] == "contr" or any(_dunder(p) for p in parts):
        return word  # an attribute, checked as such
    return _placeholder(names, word)


def _dunder(name: str) -> bool:
    name = unicodedata.normalize("NFKC", name)
    return name.startswith("__") or name.endswith("__")


def _placeholder(names: dict[str, str], name: str) -> str:
    """A Python identifier that stands for the column ``name``."""
    for placeholder, original in names.items():
        if original == name:
            return placeholder
    placeholder = _PLACEHOLDER.format(len(names))
    names[placeholder] = name
    return placeholder


class _Checker(ast.NodeTransformer):
    """Refuses every node outside the allow-list; translates R's idioms on the way."""

    def __init__(self, names: dict[str, str], where: list[int], functions: frozenset[str]):
        self.names = names
        self.where = where
        self.functions = functions
        self.variables: set[str] = set()
        self.categorical: set[str] = set()
        self.changed = False

    def refuse(self, message: str, node: ast.AST, offset: int = 0) -> RefusedPieceError:
        return RefusedPieceError(message, _at(self.where, getattr(node, "col_offset", 0) + offset))

    def generic_visit(self, node: ast.AST) -> ast.AST:
        kind = type(node).__name__
        raise self.refuse(f"{_DESCRIPTIONS.get(kind, kind)} is not allowed in a formula", node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return node
        if isinstance(value, int | float | complex):
            if isinstance(value, int) and abs(value) >= 10**_MAX_DIGITS:
                raise self.refuse("a number this large is not allowed in a formula", node)
            return node
        raise self.refuse(f"a {type(value).__name__} literal is not allowed in a formula", node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        name = self.names.get(node.id, node.id)
        if node.id in _R_CONSTANTS:
            self.changed = True
            return ast.copy_location(ast.Constant(_R_CONSTANTS[node.id]), node)
        if node.id not in self.names:
            self.check_name(node.id, node)
            if node.id in _MODULES or node.id == "contr":
                raise self.refuse(f"{node.id!r} is allowed only as {node.id}.<function>", node)
            if node.id in CONTRAST_NAMES:
                return node
        self.variables.add(name)
        return node

    def check_name(self, name: str, node: ast.AST) -> None:
        name = unicodedata.normalize("NFKC", name)  # what Python reads: ＿＿x＿＿ is __x__
        if name.startswith("__") or name.endswith("__") or name.startswith("_mm"):
            raise self.refuse(f"the name {name!r} is not allowed in a formula", node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if not isinstance(node.op, _ARITHMETIC + _LOGICAL):
            raise self.refuse("this operator is not allowed in a formula", node)
        node.left = self.visit(node.left)
        node.right = self.visit(node.right)
        self.check_size(node)
        return node

    def check_size(self, node: ast.BinOp) -> None:
        """Refuse arithmetic that would make a huge Python object (``9**9**9``, ``'a'*10**9``)."""
        left, right = _constant(node.left), _constant(node.right)
        if isinstance(node.op, ast.Mult | ast.Add) and (
            _is_sequence(node.left) or _is_sequence(node.right)
        ):
            raise self.refuse("arithmetic on text or lists is not allowed in a formula", node)
        if isinstance(node.op, ast.Pow) and right is not None and left is not None:
            if _magnitude(left) * abs(right) > _MAX_DIGITS:
                raise self.refuse("a number this large is not allowed in a formula", node)
        elif isinstance(node.op, ast.Mult) and left is not None and right is not None:
            if _magnitude(left) + _magnitude(right) > _MAX_DIGITS:
                raise self.refuse("a number this large is not allowed in a formula", node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if not isinstance(node.op, _UNARY):
            raise self.refuse("this operator is not allowed in a formula", node)
        node.operand = self.visit(node.operand)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        node.values = [self.visit(v) for v in node.values]
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        for op in node.ops:
            if not isinstance(op, _COMPARE):
                raise self.refuse("this comparison is not allowed in a formula", node)
        for operand in [node.left, *node.comparators]:
            if isinstance(operand, ast.BinOp) and isinstance(operand.op, _LOGICAL):
                raise self.refuse("put each comparison in brackets: (a > 1) & (b < 2)", operand)
        node.left = self.visit(node.left)
        node.comparators = [self.visit(c) for c in node.comparators]
        return node

    def visit_List(self, node: ast.List) -> ast.AST:
        node.elts = [self.visit(e) for e in node.elts]
        return node

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        node.elts = [self.visit(e) for e in node.elts]
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if not isinstance(node.value, ast.Name):
            self.visit(node.value)  # a refused base is named first
        if not isinstance(node.value, ast.Name) or not isinstance(node.slice, ast.Constant):
            raise self.refuse("only a column may be indexed, by a number or text", node)
        node.value = self.visit(node.value)
        node.slice = self.visit(node.slice)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        base = node.value
        if isinstance(base, ast.Name) and base.id in _MODULES and node.attr in NUMPY_CONSTANTS:
            return node
        if isinstance(base, ast.Name) and base.id == "contr" and node.attr in CONTRASTS:
            return node
        if not isinstance(base, ast.Name):
            self.visit(base)  # a refused base is named first (``__import__('os').system``)
        raise self.refuse(f"the attribute {node.attr!r} is not allowed in a formula", *_attr(node))

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = self.function_name(node.func)
        if name == "Q":
            return self.quoted_column(node)
        if name == "offset":
            raise self.refuse("offset() must be a term of the formula on its own", node)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse("*arguments are not allowed in a formula", arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.refuse("**arguments are not allowed in a formula", keyword.value)
            if keyword.arg.startswith("_"):
                raise self.refuse(f"the argument {keyword.arg!r} is not allowed", keyword.value)
            if isinstance(keyword.value, ast.Name) and keyword.value.id in ("T", "F"):
                keyword.value = ast.Constant(keyword.value.id == "T")
                self.changed = True
        if name in _FACTOR:
            node.func = ast.copy_location(ast.Name("C", ast.Load()), node.func)
            self.changed = True
            name = "C"
        if name == "C" and node.args and isinstance(node.args[0], ast.Name):
            first = node.args[0].id
            self.categorical.add(self.names.get(first, first))
        node.args = [self.visit(a) for a in node.args]
        for keyword in node.keywords:
            keyword.value = self.visit(keyword.value)
        return node

    def function_name(self, func: ast.AST) -> str:
        """The allowed name of a called function, or a refusal."""
        if isinstance(func, ast.Name) and func.id not in self.names:
            self.check_name(func.id, func)
            allowed = TRANSFORMS | R_FUNCTIONS | self.functions | {"offset"}
            if func.id in allowed or func.id in CONTRAST_NAMES:
                return func.id
            raise self.refuse(f"the function {func.id!r} is not allowed in a formula", func)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            module, attr = func.value.id, func.attr
            if module in _MODULES and attr in NUMPY_FUNCTIONS:
                return f"{module}.{attr}"
            if module == "contr" and attr in CONTRASTS:
                return f"contr.{attr}"
            raise self.refuse(f"the function {module}.{attr} is not allowed in a formula", func)
        if isinstance(func, ast.Attribute):
            if not isinstance(func.value, ast.Name):
                self.visit(func.value)
            raise self.refuse(
                f"the attribute {func.attr!r} is not allowed in a formula", *_attr(func)
            )
        if isinstance(func, ast.Name):
            raise self.refuse(f"the column {self.names[func.id]!r} cannot be called", func)
        raise self.refuse("only a named function may be called in a formula", func)

    def quoted_column(self, node: ast.Call) -> ast.AST:
        """``Q('name')``: the column ``name``."""
        args = node.args
        if node.keywords or len(args) != 1 or not isinstance(args[0], ast.Constant):
            raise self.refuse("Q() takes one column name in quotes: Q('name')", node)
        name = args[0].value
        if not isinstance(name, str) or not name or "`" in name:
            raise self.refuse("Q() takes one column name in quotes: Q('name')", node)
        self.variables.add(name)
        self.changed = True
        return ast.copy_location(ast.Name(_placeholder(self.names, name), ast.Load()), node)


def _attr(node: ast.Attribute) -> tuple[ast.AST, int]:
    """The node and offset of an attribute's name (where the caret goes)."""
    end = getattr(node, "end_col_offset", None)
    offset = (end - len(node.attr) - node.col_offset) if end is not None else 0
    return node, offset


def _constant(node: ast.AST) -> float | None:
    """An upper bound of the size of a constant number expression (``None`` otherwise)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(abs(node.value)) if not isinstance(node.value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _constant(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = _constant(node.left), _constant(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Pow):
            digits = _magnitude(left) * right
            return math.inf if digits > _MAX_DIGITS else left**right
        if isinstance(node.op, ast.Mult):
            return left * right
        return max(left, right) * 2
    return None


def _magnitude(value: float) -> float:
    """Number of decimal digits of ``value`` (at least 0)."""
    if value == math.inf:
        return math.inf
    return math.log10(value) if value > 1 else 0.0


def _is_sequence(node: ast.AST) -> bool:
    return isinstance(node, ast.List | ast.Tuple) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


_DESCRIPTIONS = {
    "Lambda": "a lambda",
    "ListComp": "a comprehension",
    "SetComp": "a comprehension",
    "DictComp": "a comprehension",
    "GeneratorExp": "a comprehension",
    "Dict": "a {...} dictionary",
    "Set": "a {...} set",
    "IfExp": "an if-expression",
    "NamedExpr": "an assignment (:=)",
    "Starred": "a *argument",
    "JoinedStr": "an f-string",
    "Await": "await",
    "Yield": "yield",
    "YieldFrom": "yield",
    "Slice": "a slice",
}

FunctionMap = dict[str, Callable[..., object]]
