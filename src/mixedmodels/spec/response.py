"""The response of a generalized linear mixed model, as R's ``family$initialize`` makes it.

Binomial responses come in four forms, all turned into proportions ``y`` with prior weights
``w`` (the number of trials times any user weights) and trials ``n`` (lme4's ``resp$n``):

* ``cbind(successes, failures)`` in the formula: ``y = s/(s+f)``, ``w = s+f``, ``n = s+f``;
* 0/1 numbers or ``True``/``False``: Bernoulli trials;
* a factor (strings, categorical): the first level is failure, every other level success;
* proportions with ``weights=`` giving the number of trials.

Impossible values are refused with a :class:`~mixedmodels.errors.DataError` naming the column.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, FormulaError, MixedModelsError
from mixedmodels.formula.formulaic_cache import NO_FUNCTIONS, Functions
from mixedmodels.spec.families import Binomial, Family
from mixedmodels.spec.grouping import factor_codes

__all__ = ["GlmResponse", "cbind_arguments", "frame_response", "glm_response"]

_CBIND = re.compile(r"^cbind\s*\((.*)\)$", re.DOTALL)
_NAME = re.compile(r"^(?:[^\W\d][\w.]*|`[^`]+`)$")
INTEGER_TOL = 1e-3  # R's tolerance for "non-integer #successes"


@dataclass(frozen=True)
class GlmResponse:
    """The response as the family models it.

    Attributes
    ----------
    y
        Response values (proportions for the binomial).
    weights
        Prior weights, the number of trials included for ``cbind`` responses.
    trials
        Binomial trials per row (lme4's ``resp$n``); ones otherwise.
    kind
        ``"cbind"``, ``"proportion"``, ``"binary"``, ``"factor"`` or ``"numeric"``.
    levels
        The factor's levels for a factor response (the first is failure).
    """

    y: FloatArray
    weights: FloatArray
    trials: FloatArray
    kind: str
    levels: tuple[str, ...] = ()


def cbind_arguments(response: str) -> list[str] | None:
    """The two expressions of ``cbind(a, b)``, or ``None`` for any other response."""
    match = _CBIND.match(response.strip())
    if match is None:
        return None
    inner = match.group(1)
    depth, parts, start = 0, [], 0
    for i, ch in enumerate(inner):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    if len(parts) != 2 or not all(parts):
        raise FormulaError(f"cbind() in the response needs two columns: {response!r}")
    return parts


def frame_response(response: str) -> str:
    """The response as formulaic can read (``cbind(a, b)`` becomes ``{a} + {b}``).

    Used only to find the columns the response needs, so that the model frame keeps them and
    drops rows where they are missing.
    """
    parts = cbind_arguments(response)
    if parts is None:
        return response if _NAME.match(response) else f"{{{response}}}"
    return " + ".join(f"{{{p}}}" for p in parts)


def glm_response(
    response: str,
    frame: pd.DataFrame,
    family: Family,
    prior: FloatArray,
    user_weights: bool,
    functions: Functions = NO_FUNCTIONS,
) -> GlmResponse:
    """Evaluate the response on the model frame and check it against the family.

    Parameters
    ----------
    response
        The left side of the formula, e.g. ``"cbind(incidence, size - incidence)"``.
    frame
        The model frame (complete rows only).
    family
        The response distribution.
    prior
        Prior weights from ``weights=`` (ones when none were given).
    user_weights
        Whether ``weights=`` was given (proportions then count successes out of them).
    functions
        The user's functions the response may call.
    """
    parts = cbind_arguments(response)
    if parts is not None:
        if not isinstance(family, Binomial):
            raise FormulaError(f"cbind() responses are for the binomial family, not {family.name}")
        return _cbind_response(parts, frame, prior, functions)
    values = _evaluate(response, frame, functions)
    if isinstance(family, Binomial):
        return _binomial_response(values, response, prior, user_weights)
    y = _numeric(values, response)
    family.check_response(y, _label(response))
    return GlmResponse(y, prior, np.ones_like(y), "numeric")


def _label(expression: str) -> str:
    """How messages name a response expression."""
    return repr(expression)


def _evaluate(expression: str, frame: pd.DataFrame, functions: Functions) -> pd.Series:
    """The values of a column name or an expression of columns, one per row."""
    name = expression.strip()
    if _NAME.match(name):
        column = name.strip("`")
        if column in frame.columns:
            return frame[column]
    arithmetic = _arithmetic(name, frame)
    if arithmetic is not None:
        return pd.Series(arithmetic)
    from mixedmodels.spec.fixed import build_matrices

    try:  # the one checked evaluator: nothing of a refused expression runs
        matrix = build_matrices(f"0 + {{{name}}}", frame, name, functions)
    except MixedModelsError:
        raise
    except Exception as error:  # NumPy's conversions
        raise DataError(f"cannot evaluate the response {name!r}: {error}") from None
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 1:
        raise DataError(f"the response {name!r} must give one number per row")
    return pd.Series(values[:, 0])


_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _arithmetic(expression: str, frame: pd.DataFrame) -> FloatArray | None:
    """``a - b``, ``a / b``, ``2 * a`` ... of numeric columns and numbers, without formulaic.

    ``None`` for anything else (function calls, unknown names), which formulaic evaluates.
    """
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in frame.columns:
            column = frame[node.id]
            if column.dtype.kind in "biuf":
                return column.to_numpy(dtype=np.float64)
        raise LookupError(expression)

    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            result = value(tree)
    except LookupError:
        return None
    return np.broadcast_to(np.asarray(result, dtype=np.float64), (len(frame),)).copy()


def _numeric(values: pd.Series, what: str) -> FloatArray:
    """Values as finite floats (booleans become 0/1)."""
    try:
        y = np.asarray(values.to_numpy(), dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"the response {what!r} must be numeric") from None
    if not np.all(np.isfinite(y)):
        raise DataError(f"the response {what!r} has non-finite values (inf or NaN)")
    return y


def _cbind_response(
    parts: list[str], frame: pd.DataFrame, prior: FloatArray, functions: Functions
) -> GlmResponse:
    """``cbind(successes, failures)``: counts, their sum the number of trials."""
    successes = _numeric(_evaluate(parts[0], frame, functions), parts[0])
    failures = _numeric(_evaluate(parts[1], frame, functions), parts[1])
    for values, what in ((successes, parts[0]), (failures, parts[1])):
        if np.any(values < 0):
            raise DataError(
                f"binomial response: negative counts in {what!r} "
                f"({int(np.sum(values < 0))} rows); cbind() needs successes and failures >= 0"
            )
        if np.any(np.abs(values - np.rint(values)) > INTEGER_TOL):
            raise DataError(f"binomial response: non-integer counts in {what!r}")
    trials = successes + failures
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(trials > 0, successes / trials, 0.0)
    return GlmResponse(y, prior * trials, trials, "cbind")


def _binomial_response(
    values: pd.Series, what: str, prior: FloatArray, user_weights: bool
) -> GlmResponse:
    """A one-column binomial response: a factor, booleans, 0/1 or proportions."""
    ones = np.ones(len(values))
    if values.dtype == bool:
        return GlmResponse(values.to_numpy(dtype=np.float64), prior, ones, "binary")
    if values.dtype.kind not in "biuf" or isinstance(values.dtype, pd.CategoricalDtype):
        codes, levels = factor_codes(values.astype(str) if values.dtype == object else values)
        y = (codes != 0).astype(np.float64)
        return GlmResponse(y, prior, ones, "factor", tuple(levels))
    y = _numeric(values, what)
    if np.any((y < 0) | (y > 1)):
        bad = y[(y < 0) | (y > 1)]
        raise DataError(
            f"binomial response {what!r}: values must be in [0, 1] (0/1 outcomes or "
            f"proportions with weights), found {bad.size} outside, e.g. {bad[0]:g}; "
            "use cbind(successes, failures) for counts"
        )
    successes = prior * y
    if np.any(np.abs(successes - np.rint(successes)) > INTEGER_TOL):
        hint = (
            "weights must be the numbers of trials"
            if user_weights
            else "give the numbers of trials with weights="
        )
        raise DataError(
            f"binomial response {what!r}: non-integer numbers of successes "
            f"(proportion × weight); {hint}"
        )
    kind = "binary" if np.all((y == 0) | (y == 1)) and not user_weights else "proportion"
    return GlmResponse(y, prior, ones, kind)
