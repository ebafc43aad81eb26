"""The blocks of a linear mixed model from a data frame in memory (the rows are kept).

formula + data → model frame, fixed part ``X`` (rank pivoted), random-effects terms and the
checks of :mod:`mixedmodels.spec` → ``[X y−shift]`` → the stored blocks of ``A``, once
(:func:`~mixedmodels.linalg.crossprod.cross_products`). :func:`with_response` makes the same
blocks for a new response (``refit(y)``, the bootstrap), recomputing only ``Z'y``, ``X'y`` and
``y'y``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import NotSupportedError
from mixedmodels.formula.parser import ParsedFormula
from mixedmodels.linalg.code_products import code_products
from mixedmodels.linalg.crossprod import replace_response
from mixedmodels.linalg.model_blocks import ModelBlocks, ModelRows, Shift
from mixedmodels.linalg.shift import coefficient_shift
from mixedmodels.spec import RandomEffectsTerm, fixed_effects, model_frame, random_effects_terms
from mixedmodels.spec.checks import check_fixed_count, check_model, collinear_terms
from mixedmodels.spec.fixed import FixedEffects
from mixedmodels.spec.frame import NaAction
from mixedmodels.spec.magnitudes import check_magnitudes

__all__ = ["frame_blocks", "with_response"]


def frame_blocks(
    parsed: ParsedFormula,
    data: Any,
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
    subset: Any = None,
    contrasts: Any = None,
) -> ModelBlocks:
    """The blocks, rows and checks of a linear mixed model of ``data`` (a pandas DataFrame).

    The arguments are those of :class:`~mixedmodels.models.LinearMixedModel`; ``data`` is
    never modified.
    """
    formula, user = parsed.formula, parsed.functions
    frame = model_frame(parsed, data, weights, offset, na_action, subset, contrasts)
    used = frame.source  # the used columns: a DataFrame only if a slow path needs one
    fixed = fixed_effects(parsed.response, parsed.fixed, used, formula, user, frame.contrasts)
    terms: list[RandomEffectsTerm] = random_effects_terms(parsed.random, used, formula, user)
    y = fixed.y - frame.offset
    check_model(terms, y, parsed.response)
    degenerate = collinear_terms(terms)
    weighted = not np.all(frame.weights == 1.0)
    sqrtw = np.sqrt(frame.weights) if weighted else None
    log_weights = float(np.sum(np.log(frame.weights))) if weighted else 0.0
    xy, shift = _stored_columns(parsed, fixed, y, terms, frame.weights if weighted else None, sqrtw)
    return ModelBlocks(
        parsed,
        code_products(terms, xy, sqrtw),
        terms,
        fixed,
        frame,
        int(y.shape[0]),
        shift,
        log_weights,
        bool(weighted),
        degenerate,
        data_name=frame.name,
        weights_name=weights if isinstance(weights, str) else None,
        offset_name=offset if isinstance(offset, str) else None,
        rows=ModelRows(y, sqrtw),
    )


def with_response(blocks: ModelBlocks, values: FloatArray) -> ModelBlocks:
    """The same blocks for a new (checked) response ``values``: new response blocks only."""
    if blocks.rows is None:
        raise NotSupportedError("a new response needs the rows of the data in memory")
    fixed = replace(blocks.fixed, y=values)
    y = values - blocks.frame.offset
    weights = None if blocks.rows.sqrtw is None else blocks.frame.weights
    xy, shift = _stored_columns(blocks.parsed, fixed, y, blocks.terms, weights, blocks.rows.sqrtw)
    A = replace_response(blocks.A, blocks.terms, xy, blocks.rows.sqrtw)
    return replace(blocks, A=A, fixed=fixed, shift=shift, rows=replace(blocks.rows, y=y))


def _stored_columns(
    parsed: ParsedFormula,
    fixed: FixedEffects,
    y: FloatArray,
    terms: list[RandomEffectsTerm],
    weights: FloatArray | None,
    sqrtw: FloatArray | None,
) -> tuple[FloatArray, Shift]:
    """``[X y−shift]``, the matrix whose cross-products are stored, and the shift.

    Refuses (with the data's names) more coefficients than rows and magnitudes the blocks
    cannot hold.
    """
    check_fixed_count(int(y.shape[0]), fixed.names, fixed.dropped)
    check_magnitudes(fixed.X, fixed.names, y, parsed.response, terms, sqrtw)
    shift, intercept = coefficient_shift(fixed.X, y, weights)
    if intercept is None and np.ndim(shift) == 1:
        return np.column_stack([fixed.X, y - fixed.X @ shift]), (shift, intercept)
    return np.column_stack([fixed.X, y - shift]), (shift, intercept)
