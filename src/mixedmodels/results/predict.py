"""Predictions from a fitted model, for its own data or new data (lme4's ``predict.merMod``).

New data are encoded with the training encodings: formulaic's model spec for the fixed part and
for each random-effects term, and the fitted levels of each grouping factor. A level the model
has not seen contributes no random effect when ``allow_new_levels`` is true (the population
prediction, as lme4) and is an error naming the level otherwise.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedmodels._typing import FloatArray
from mixedmodels.errors import DataError, ModelSpecificationError, UnknownColumnError
from mixedmodels.formula import parse_formula
from mixedmodels.spec.fixed import column_label, to_float
from mixedmodels.spec.frame import as_frame, formula_offsets, identifiers
from mixedmodels.spec.grouping import row_labels
from mixedmodels.spec.random import RandomEffectsTerm, random_effects_terms

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel, FittedModelBase

__all__ = ["included_terms", "new_fixed_matrix", "predict"]

NO_RANDOM = {"~0", "0", "NA", "~NA", "~-1", "-1"}


def predict(
    model: FittedLinearModel,
    new_data: Any = None,
    *,
    re_form: str | None = None,
    allow_new_levels: bool = False,
    offset: Any = None,
) -> FloatArray:
    """Predicted responses (the linear predictor of an LMM).

    Parameters
    ----------
    model
        A fitted model.
    new_data
        Rows to predict for; ``None`` for the data the model was fitted to.
    re_form
        Which random effects to include: ``None`` for all, ``"~0"`` (or ``"NA"``) for none
        (the population prediction), or a formula of some of the model's random-effects terms
        such as ``"~(1 | plate)"``.
    allow_new_levels
        Give rows whose grouping level was not in the fitted data the population prediction
        for that term; otherwise such rows are an error.
    offset
        Offset for ``new_data`` when the model's offset was given as an array.

    Returns
    -------
    numpy.ndarray
        One prediction per row; ``nan`` where a needed value is missing.
    """
    terms = included_terms(model, re_form)
    if new_data is None:
        eta = model.fixed.X @ model.beta + model.frame.offset
        for term, b in _terms_and_modes(model, terms):
            eta += np.einsum("ik,ik->i", term.z, b[term.refs])
        return eta
    frame = as_frame(new_data)
    complete = _complete_rows(model, frame, terms)
    rows = frame.loc[complete].reset_index(drop=True)
    eta = _fixed_part(model, rows) + _new_offset(model, rows, offset, complete)
    for term, b in _terms_and_modes(model, terms):
        eta += _random_part(term, b, rows, allow_new_levels)
    out = np.full(len(frame), np.nan)
    out[complete] = eta
    return out


def _terms_and_modes(
    model: FittedLinearModel, terms: list[RandomEffectsTerm]
) -> list[tuple[RandomEffectsTerm, FloatArray]]:
    """The included terms with their conditional modes ``b`` (levels × k)."""
    modes = dict(zip((t.name for t in model.terms), model.random_effects(), strict=True))
    return [(term, modes[term.name]) for term in terms]


def included_terms(model: FittedModelBase, re_form: str | None) -> list[RandomEffectsTerm]:
    """The model's terms that ``re_form`` asks for."""
    if re_form is None:
        return list(model.terms)
    text = str(re_form).replace(" ", "")
    if text in NO_RANDOM:
        return []
    functions = model.parsed.functions
    parsed = parse_formula(
        "_response_ " + (text if text.startswith("~") else "~" + text), functions
    )
    known = {t.spec.factors for t in model.terms}
    for spec in parsed.random:
        if spec.factors not in known:
            raise ModelSpecificationError(
                f"re_form term {spec} is not a random-effects term of the model"
            )
    wanted = random_effects_terms(parsed.random, model.frame.data, str(re_form), functions)
    out: list[RandomEffectsTerm] = []
    for want in wanted:
        match = [
            t
            for t in model.terms
            if t.spec.factors == want.spec.factors and t.column_names == want.column_names
        ]
        if not match:
            raise ModelSpecificationError(
                f"re_form term {want.spec} is not a random-effects term of the model"
            )
        out.extend(m for m in match if m not in out)
    return out


def _complete_rows(
    model: FittedModelBase, frame: pd.DataFrame, terms: list[RandomEffectsTerm]
) -> Any:
    """Rows with every value the prediction needs; unknown grouping columns are errors."""
    parsed = model.parsed
    grouping = {name for term in terms for name in term.spec.factors}
    missing = sorted(name for name in grouping if name not in frame.columns)
    if missing:
        raise UnknownColumnError(missing, frame.columns)
    texts = [parsed.fixed, *parsed.offsets, *(t.spec.lhs for t in terms)]
    names = {str(c) for c in frame.columns}
    wanted = grouping | {n for text in texts for n in identifiers(text) & names}
    if model.offset_name is not None and model.offset_name in frame.columns:
        wanted.add(model.offset_name)
    columns = [c for c in frame.columns if str(c) in wanted]
    return ~frame[columns].isna().to_numpy().any(axis=1)


def _fixed_part(model: FittedLinearModel, rows: pd.DataFrame) -> FloatArray:
    """``Xβ̂`` for new rows, encoded with the training model spec."""
    return new_fixed_matrix(model, rows) @ model.beta


def new_fixed_matrix(model: FittedModelBase, rows: pd.DataFrame) -> FloatArray:
    """The kept fixed-effects columns for new rows, encoded as the training data were.

    Raises
    ------
    DataError
        For a level of a fixed-effect factor that the fitted data did not have (formulaic
        would code it as zeros, a silently wrong prediction), naming the column and levels.
    """
    from formulaic.errors import DataMismatchWarning

    spec = model.fixed.model_spec().rhs
    _refuse_unseen_levels(spec, rows)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataMismatchWarning)
            matrix = spec.get_model_matrix(rows, na_action="ignore")
    except Exception as error:  # formulaic raises many types
        raise DataError(f"cannot encode the new data for the fixed effects: {error}") from None
    mismatch = [w for w in caught if issubclass(w.category, DataMismatchWarning)]
    if mismatch:
        raise _unseen_in_expression(spec, rows, str(mismatch[0].message))
    labels = [column_label(str(c)) for c in matrix.columns]
    X = to_float(matrix, "the fixed-effects model matrix")
    return X[:, [labels.index(name) for name in model.fixed.names]]


def _unseen_in_expression(spec: Any, rows: pd.DataFrame, message: str) -> DataError:
    """The error for new levels of a factor made by an expression such as ``C(f)``."""
    found = re.search(r"\{.*\}", message)
    levels = found.group(0) if found else message
    factors = [
        expression
        for expression, (kind, _) in spec.encoder_state.items()
        if getattr(kind, "value", kind) == "categorical" and expression not in rows.columns
    ]
    where = f" (of {', '.join(repr(f) for f in factors)})" if factors else ""
    return DataError(
        f"new level(s) {levels} of a fixed-effect factor{where} not in the fitted data; a "
        "prediction needs a coefficient for each level"
    )


def _refuse_unseen_levels(spec: Any, rows: pd.DataFrame) -> None:
    """Name a factor column of new data with levels the fitted data did not have."""
    for expression, (kind, state) in spec.encoder_state.items():
        categories = state.get("categories") if isinstance(state, dict) else None
        if categories is None or getattr(kind, "value", kind) != "categorical":
            continue
        if expression not in rows.columns:
            continue
        values = rows[expression]
        unseen = pd.unique(values[~values.isin(categories)])
        if len(unseen):
            shown = ", ".join(repr(v) for v in list(unseen)[:5]) + (
                " ..." if len(unseen) > 5 else ""
            )
            known = ", ".join(repr(c) for c in list(categories)[:10])
            raise DataError(
                f"new level(s) {shown} of the fixed-effect factor {expression!r} not in the "
                f"fitted data (its levels: {known}); a prediction needs a coefficient for it"
            )


def _new_offset(
    model: FittedLinearModel, rows: pd.DataFrame, offset: Any, complete: Any
) -> FloatArray:
    """The offset for new rows: the fitted offset column, formula offsets and ``offset``."""
    total = formula_offsets(model.parsed, rows)
    if model.offset_name is not None:
        if model.offset_name not in rows.columns:
            raise UnknownColumnError([model.offset_name], rows.columns)
        total = total + rows[model.offset_name].to_numpy(dtype=np.float64)
    if offset is not None:
        values = np.asarray(offset, dtype=np.float64).reshape(-1)
        if values.size != len(complete):
            raise DataError(f"offset has {values.size} values but new_data has {len(complete)}")
        total = total + values[complete]
    return total


def _random_part(
    term: RandomEffectsTerm, b: FloatArray, rows: pd.DataFrame, allow_new_levels: bool
) -> FloatArray:
    """``z·b`` of one term for new rows; unseen levels give 0 or an error."""
    labels = row_labels(rows, term.spec.factors)
    position = {label: i for i, label in enumerate(term.levels)}
    index = np.array([position.get(label, -1) for label in labels], dtype=np.intp)
    unseen = index < 0
    if unseen.any() and not allow_new_levels:
        new = sorted({str(label) for label in labels[unseen]})
        shown = ", ".join(repr(v) for v in new[:5]) + (" ..." if len(new) > 5 else "")
        raise DataError(
            f"new level(s) {shown} of grouping factor {term.group!r} not in the fitted data; "
            "use allow_new_levels=True for the population prediction"
        )
    z = term.model_matrix(rows)
    values = np.einsum("ik,ik->i", z, b[np.where(unseen, 0, index)])
    return np.where(unseen, 0.0, values)
