"""``subset=``: the rows a model is fitted to, from a boolean mask or a checked query string.

A query string is read as ``DataFrame.query`` reads it (``"Days > 2 and Subject != '308'"``),
but it is data, not code: it is parsed with :mod:`ast` and only column names (plain or in
backticks), literals, arithmetic, comparisons, ``and``/``or``/``not`` (and ``&``, ``|``, ``~``)
and ``in``/``not in`` with a literal list are allowed; they are evaluated here, column by column,
without ``eval``. Anything else (calls, attributes, ``@`` variables, subscripts, lambdas) is a
:class:`~mixedmodels.errors.FormulaError` pointing at the refused part, before anything is
evaluated. As in R, a comparison with a missing value is false, so such rows are left out.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels.errors import DataError, FormulaError, MixedModelsError, UnknownColumnError

__all__ = ["select_rows", "subset_mask"]

_BACKTICK = re.compile(r"`([^`]*)`")
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_LITERAL_TYPES = (bool, int, float, str)
MAX_LENGTH = 10_000  # characters of a query string


def select_rows(frame: pd.DataFrame, subset: Any) -> NDArray[np.intp]:
    """Positions of the rows of ``frame`` that ``subset`` selects (at least one).

    Parameters
    ----------
    frame
        The caller's data.
    subset
        Booleans, one per row (a NumPy array or list, taken by position; a pandas Series with
        the data's index, taken by label), or a query string such as ``"Days >= 2"``.

    Raises
    ------
    DataError
        For a mask of the wrong length or type, or a subset that selects no row.
    FormulaError
        For a query string that is not a plain expression of columns and literals.
    UnknownColumnError
        For a query that names a column the data do not have.
    """
    mask = subset_mask(frame, subset)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        raise DataError(f"subset {_shown(subset)} selects no rows of the data")
    return rows


def _shown(subset: Any) -> str:
    """How messages name the subset."""
    return repr(subset) if isinstance(subset, str) else "(the mask given)"


def subset_mask(frame: pd.DataFrame, subset: Any) -> NDArray[np.bool_]:
    """One boolean per row of ``frame`` (see :func:`select_rows`)."""
    if isinstance(subset, str):
        result = _evaluate_query(subset, frame)
        return _as_mask(result, len(frame), f"subset {subset!r}")
    if isinstance(subset, pd.DataFrame):
        raise DataError("subset must be one boolean per row (or a query string), not a DataFrame")
    if isinstance(subset, pd.Series):
        subset = _aligned(subset, frame)
    return _as_mask(subset, len(frame), "subset")


def _aligned(mask: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """A Series mask taken by index label, as pandas aligns ``data[mask]``."""
    if mask.index.equals(frame.index):
        return mask
    same_labels = (
        mask.index.is_unique
        and frame.index.is_unique
        and len(mask) == len(frame)
        and bool(mask.index.isin(frame.index).all())
    )
    if not same_labels:
        raise DataError(
            "subset is a Series whose index is not the data's index; it is matched by label, "
            "as pandas does: give it the data's index, or pass subset.to_numpy() to select by "
            "position"
        )
    return mask.reindex(frame.index)


def _as_mask(values: Any, n: int, what: str) -> NDArray[np.bool_]:
    """Booleans of length ``n`` from an array-like (missing values are false, as in R)."""
    if isinstance(values, bool | np.bool_):
        return np.full(n, bool(values))
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, pd.BooleanDtype):
            values = values.fillna(False)
        elif values.dtype == object and values.isna().any():
            values = values.where(values.notna(), False)
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        shape = "x".join(str(s) for s in arr.shape) or "a scalar"
        raise DataError(f"{what} must give one boolean per row of the data ({n}), not {shape}")
    if arr.dtype == object and all(isinstance(v, bool | np.bool_) for v in arr):
        arr = arr.astype(bool)
    if arr.dtype != bool:
        raise DataError(
            f"{what} must be booleans (True/False per row), not {arr.dtype} values; "
            "for row positions select them first, e.g. data.iloc[positions]"
        )
    return arr


# ---- the query string ------------------------------------------------------------------------
def _evaluate_query(text: str, frame: pd.DataFrame) -> Any:
    """Parse and check ``text``, then evaluate it on the columns of ``frame``."""
    names: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        key = f"_q{len(names)}"
        key += "_" * (len(match.group(0)) - len(key))  # the same length keeps the carets right
        names[key] = match.group(1)
        return key

    if len(text) > MAX_LENGTH:
        raise FormulaError(f"subset is longer than {MAX_LENGTH} characters", text[:80] + " ...")
    if "@" in text:
        raise FormulaError("subset: '@' variables are not allowed", text, text.index("@"))
    source = _BACKTICK.sub(placeholder, text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (RecursionError, MemoryError):  # the parser's stack
        raise FormulaError("subset is nested too deeply", text) from None
    except SyntaxError as error:
        position = None if error.offset is None else error.offset - 1
        raise FormulaError(
            f"subset is not a valid expression: {error.msg}", text, position
        ) from None
    columns = {str(c) for c in frame.columns}
    _check(tree.body, text, columns)
    evaluator = _Evaluator(frame, names, text)
    try:
        with np.errstate(all="ignore"):
            return evaluator.value(tree.body)
    except MixedModelsError:
        raise
    except RecursionError:
        raise FormulaError("subset is nested too deeply", text) from None
    except (TypeError, ValueError, ArithmeticError) as error:
        raise DataError(f"cannot evaluate subset {text!r}: {error}") from None


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name (R's dotted column names), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _check(node: ast.AST, text: str, columns: set[str]) -> None:
    """Refuse every node that is not a column, literal, operator or literal list."""
    todo = [node]
    while todo:
        child = todo.pop()
        if isinstance(child, ast.Attribute) and _dotted(child) in columns:
            continue  # a column such as Reaction.Time, read whole
        todo.extend(ast.iter_child_nodes(child))
        allowed = (
            isinstance(
                child,
                ast.BoolOp
                | ast.BinOp
                | ast.UnaryOp
                | ast.Compare
                | ast.Name
                | ast.Constant
                | ast.List
                | ast.Tuple
                | ast.Load
                | ast.And
                | ast.Or
                | ast.Not
                | ast.Invert
                | ast.USub
                | ast.UAdd
                | ast.In
                | ast.NotIn,
            )
            or type(child) in _BINARY
            or type(child) in _COMPARE
        )
        if isinstance(child, ast.Constant) and not isinstance(child.value, _LITERAL_TYPES):
            allowed = False
        if isinstance(child, ast.Name) and child.id.startswith("__"):
            allowed = False
        if isinstance(child, ast.List | ast.Tuple) and not all(
            isinstance(e, ast.Constant) for e in child.elts
        ):
            allowed = False
        if isinstance(child, ast.Compare):
            for op, right in zip(child.ops, child.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn) and not isinstance(
                    right, ast.List | ast.Tuple
                ):
                    raise _refused(right, text)
        if not allowed:
            raise _refused(child, text)


def _refused(node: ast.AST, text: str) -> FormulaError:
    """The error for a refused part of a query, with a caret under it when known."""
    kind = type(node).__name__
    part = ast.unparse(node) if isinstance(node, ast.expr) else kind
    position = getattr(node, "col_offset", None)
    return FormulaError(
        f"subset may only use columns, literals, arithmetic, comparisons, and/or/not and "
        f"'in' with a literal list; refused: {part} ({kind})",
        text,
        position,
    )


class _Evaluator:
    """Evaluates a checked query tree on the columns of a frame."""

    def __init__(self, frame: pd.DataFrame, quoted: dict[str, str], text: str) -> None:
        self.frame = frame
        self.quoted = quoted
        self.text = text

    def value(self, node: ast.AST) -> Any:
        """The value of a checked node: a Series per row, or a literal."""
        if isinstance(node, ast.Constant):  # numbers as floats: 9**9**9 cannot run for ever
            value = node.value
            return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(node, ast.Name):
            return self.column(self.quoted.get(node.id, node.id))
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            assert dotted is not None
            return self.column(dotted)
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self.value(node.left), self.value(node.right))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(v) for v in node.values]
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            out = parts[0]
            for part in parts[1:]:
                out = combine(out, part)
            return out
        assert isinstance(node, ast.Compare)
        return self.compare(node)

    def unary(self, node: ast.UnaryOp) -> Any:
        """``not``/``~`` (elementwise negation) and signs."""
        if isinstance(node.op, ast.Not | ast.Invert):
            operand = self.boolean(node.operand)
            return not operand if isinstance(operand, bool) else ~operand
        operand = self.value(node.operand)
        return -operand if isinstance(node.op, ast.USub) else +operand

    def boolean(self, node: ast.AST) -> Any:
        """A node's value as booleans (missing values false)."""
        value = self.value(node)
        if isinstance(value, pd.Series) and value.dtype != bool:
            if not isinstance(value.dtype, pd.BooleanDtype):
                raise DataError(
                    f"subset {self.text!r}: {ast.unparse(node)} is not true/false per row"
                )
            value = value.fillna(False).astype(bool)
        return value

    def compare(self, node: ast.Compare) -> Any:
        """Comparisons, chained as in Python (``1 < x <= 3``), elementwise."""
        left = self.value(node.left)
        out: Any = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value(right_node)
            if isinstance(op, ast.In | ast.NotIn):
                found = self.member(left, right, right_node)
                result = found if isinstance(op, ast.In) else ~found
            else:
                result = _COMPARE[type(op)](left, right)
            out = result if out is True else out & result
            left = right
        return out

    def member(self, left: Any, right: Any, node: ast.AST) -> Any:
        """``column in [literals]``."""
        if not isinstance(node, ast.List | ast.Tuple) or not isinstance(left, pd.Series):
            raise _refused(node, self.text)
        return left.isin(right)

    def column(self, name: str) -> pd.Series:
        """A column of the frame by name (a missing or duplicated name is our error)."""
        if name not in self.frame.columns:
            raise UnknownColumnError([name], self.frame.columns)
        values = self.frame[name]
        if isinstance(values, pd.DataFrame):
            raise DataError(f"the data have more than one column named {name!r}")
        return values.reset_index(drop=True)
