"""formulaic's model matrices of checked formula text, in the restricted evaluation context.

Every model matrix of a formula piece is made here: the text is checked first
(:func:`~mixedmodels.formula.formulaic_cache.formulaic_formula`), its number of columns is
bounded from the levels of the data before anything is materialized, integer columns enter
Python expressions as float64 (``I(x*x)`` cannot overflow), and formulaic evaluates with an
explicit context (no builtins, the allowed functions and the user's ``functions=`` only). The
spec kept to encode new data (:class:`CheckedSpec`) evaluates there the same way.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.errors import FormulaError
from mixedmodels.formula.formulaic_cache import (
    NO_FUNCTIONS,
    Functions,
    check_formula,
    evaluation_context,
    formulaic_formula,
)

__all__ = [
    "MAX_COLUMNS",
    "MAX_TERM_COLUMNS",
    "CheckedSpec",
    "count_columns",
    "float_frame",
    "model_matrices",
]

#: The most columns a model matrix of a formula may have.
MAX_COLUMNS = 10_000
#: The most columns of a random-effects term (24 columns: 300 covariance parameters).
MAX_TERM_COLUMNS = 24
_SPLINES = frozenset({"bs", "cr", "cs", "cc"})


class CheckedSpec:
    """formulaic's model spec with the functions and conversions it was built with.

    ``get_model_matrix`` evaluates in the restricted context; every other attribute is the
    wrapped spec's (``structure``, ``encoder_state``, ...); ``lhs``/``rhs`` are wrapped too.
    """

    __slots__ = ("categorical", "functions", "spec")

    def __init__(self, spec: Any, functions: Functions, categorical: frozenset[str]) -> None:
        self.spec = spec
        self.functions = functions
        self.categorical = categorical

    def get_model_matrix(self, data: Any, **kwargs: Any) -> Any:
        """The model matrix of new data, evaluated as the training data were."""
        kwargs.pop("context", None)
        context = evaluation_context(self.functions)
        return self.spec.get_model_matrix(
            float_frame(data, self.categorical), context=context, **kwargs
        )

    @property
    def lhs(self) -> CheckedSpec:
        """The response's spec."""
        return CheckedSpec(self.spec.lhs, self.functions, self.categorical)

    @property
    def rhs(self) -> CheckedSpec:
        """The predictors' spec."""
        return CheckedSpec(self.spec.rhs, self.functions, self.categorical)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in CheckedSpec.__slots__:
            raise AttributeError(name)
        return getattr(self.spec, name)

    def __getstate__(self) -> tuple[Any, Functions, frozenset[str]]:
        return self.spec, dict(self.functions), self.categorical

    def __setstate__(self, state: tuple[Any, Functions, frozenset[str]]) -> None:
        self.spec, self.functions, self.categorical = state


def model_matrices(
    text: str,
    frame: pd.DataFrame,
    functions: Functions = NO_FUNCTIONS,
    limit: int = MAX_COLUMNS,
    contrasts: Mapping[str, str] | None = None,
) -> tuple[Any, CheckedSpec]:
    """Formulaic's matrices of ``text`` on ``frame`` and the spec that encodes new data.

    ``contrasts`` (checked, column to R's contrast name) codes those factors as R does.

    Raises
    ------
    FormulaError
        When ``text`` is refused or its model matrix would have more than ``limit`` columns
        (nothing is evaluated then); formulaic's own errors are left to the caller.
    """
    from formulaic import model_matrix

    names = frozenset(functions)
    formula = formulaic_formula(text, names)
    categorical = check_formula(text, names).categorical
    data = float_frame(frame, categorical)
    count, widest = count_columns(formula, data)
    if count > limit:
        raise FormulaError(
            f"the model matrix would have about {count:,} columns (more than {limit:,}); "
            f"the term {widest!r} makes the most",
            text,
        )
    context = evaluation_context(functions)
    if contrasts:
        from mixedmodels.spec.contrasts import contrast_matrices

        matrices = contrast_matrices(formula, data, contrasts, context)
    else:
        matrices = model_matrix(formula, data, na_action="ignore", context=context)
    return matrices, CheckedSpec(matrices.model_spec, functions, categorical)


def float_frame(frame: Any, categorical: frozenset[str]) -> Any:
    """``frame`` with its integer columns as float64, except those used as ``C(x)``."""
    if not isinstance(frame, pd.DataFrame):
        return frame
    ints = [
        c
        for c in frame.columns
        if isinstance(frame[c].dtype, np.dtype)
        and frame[c].dtype.kind in "iu"
        and str(c) not in categorical
    ]
    if not ints:
        return frame
    return frame.assign(**{str(c): frame[c].to_numpy(dtype=np.float64) for c in ints})


def count_columns(formula: Any, frame: pd.DataFrame) -> tuple[int, str]:
    """An upper bound of the number of columns of the model matrix, from the levels.

    Returns the count and the term that makes the most columns.
    """
    parts = [getattr(formula, side) for side in ("lhs", "rhs") if hasattr(formula, side)]
    total, widest, most = 0, "", 0
    levels: dict[str, int] = {}
    for part in parts or [formula]:
        for term in part:
            width = 1
            for factor in term.factors:
                width *= _factor_width(factor, frame, levels)
            total += width
            if width > most:
                widest, most = str(term), width
    return total, widest


def _factor_width(factor: Any, frame: pd.DataFrame, levels: dict[str, int]) -> int:
    """Columns one factor can make: its levels when categorical, the degree of poly, ..."""
    method = factor.eval_method.value
    if method == "lookup":
        return _levels(factor.expr, frame, levels, numeric_is_one=True)
    if method != "python":
        return 1
    try:
        call = ast.parse(factor.expr.replace("`", ""), mode="eval").body
    except SyntaxError:
        return 1
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return 1
    name = call.func.id
    if name == "C" and call.args:
        first = ast.unparse(call.args[0])
        return _levels(first, frame, levels, numeric_is_one=False)
    if name == "poly":
        return _int_argument(call, 1, "degree", 1)
    if name in _SPLINES:
        return _int_argument(call, 1, "df", 3) + 1
    return 1


def _levels(name: str, frame: pd.DataFrame, cache: dict[str, int], numeric_is_one: bool) -> int:
    """Number of distinct values of a column (1 for a numeric column used as a number)."""
    if name not in frame.columns:
        return 1
    column = frame[name]
    if numeric_is_one and isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        return 1
    if name not in cache:
        cache[name] = max(int(column.nunique(dropna=True)), 1)
    return cache[name]


def _int_argument(call: ast.Call, index: int, keyword: str, default: int) -> int:
    """The integer argument ``keyword`` (or position ``index``) of a call."""
    values: list[ast.AST] = [k.value for k in call.keywords if k.arg == keyword]
    if not values and len(call.args) > index:
        values = [call.args[index]]
    if values and isinstance(values[0], ast.Constant) and isinstance(values[0].value, int):
        return max(int(values[0].value), 1)
    return default


FunctionsMap = Mapping[str, Any]
