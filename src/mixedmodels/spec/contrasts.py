"""R's contrasts for the factors of the fixed part: ``contrasts={"f": "sum"}`` as lme4's.

The codings are R's ``contr.treatment``, ``contr.sum``, ``contr.helmert``, ``contr.poly`` and
MASS's ``contr.sdif``. They reach formulaic without rewriting the formula: the model spec gets a
materializer (:class:`ContrastsMaterializer`) and, for each named factor, an encoder state that
holds the coding. formulaic keeps that state in the spec, so new data (``predict``) are encoded
with the same coding and the fitted levels.

Column names follow R where formulaic's scheme allows: ``f1, f2, ...`` for sum and Helmert
contrasts, ``f.L, f.Q, f.C, f^4, ...`` for polynomial contrasts, ``fb-a, fc-b, ...`` for
successive differences; treatment contrasts keep the package's default names (``f[T.b]``), and a
factor coded in full (``0 + f``, or ``f:x`` without ``f``) has indicator columns ``f[a]`` whatever
the contrasts, as in R. The levels are the category order of a categorical column, otherwise the
sorted values; levels that no row uses are dropped first (R's ``drop.unused.levels``).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from formulaic.materializers.pandas import PandasMaterializer
from formulaic.parser.types import Factor
from formulaic.transforms.contrasts import Contrasts, TreatmentContrasts, encode_contrasts
from formulaic.utils.cast import as_columns
from formulaic.utils.null_handling import drop_rows as drop_nulls
from interface_meta import override

from mixedmodels._typing import FloatArray
from mixedmodels.errors import (
    ModelSpecificationError,
    ModelSpecificationWarning,
    UnknownColumnError,
)

__all__ = [
    "CONTRASTS",
    "ContrastsMaterializer",
    "RContrasts",
    "check_contrasts",
    "contrast_matrices",
    "contrast_matrix",
]

CONTRASTS = ("treatment", "sum", "helmert", "poly", "sdif")
STATE_KEY = "mixedmodels_contrasts"  # where the coding sits in formulaic's encoder state
MATERIALIZER = "mixedmodels_contrasts"


def contrast_matrix(name: str, n: int) -> FloatArray:
    """R's coding matrix (``n`` levels × ``n − 1`` columns) of contrast ``name``.

    Examples
    --------
    >>> contrast_matrix("sum", 3).tolist()
    [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
    """
    if name == "treatment":
        return np.eye(n)[:, 1:]
    if name == "sum":
        out = np.eye(n, n - 1)
        out[-1, :] = -1.0
        return out
    if name == "helmert":
        out = np.zeros((n, n - 1))
        for j in range(n - 1):
            out[: j + 1, j] = -1.0
            out[j + 1, j] = j + 1.0
        return out
    if name == "sdif":
        col = np.arange(1, n)[None, :]
        row = np.arange(1, n + 1)[:, None]
        return np.where(row <= col, -(n - col) / n, col / n).astype(np.float64)
    if name == "poly":
        return _orthogonal_polynomials(n)
    raise ModelSpecificationError(_unknown_message(name))


def _orthogonal_polynomials(n: int) -> FloatArray:
    """R's ``contr.poly(n)``: orthonormal polynomials of degree 1..n−1 in the scores 1..n."""
    scores = np.arange(1.0, n + 1.0)
    powers = np.vander(scores - scores.mean(), n, increasing=True)
    q, r = np.linalg.qr(powers)
    q = q * np.sign(np.diag(r))  # Gram–Schmidt's signs, as R's qr.qy(QR, diag(R))
    return np.ascontiguousarray(q[:, 1:])


def _column_suffixes(name: str, levels: Sequence[Hashable]) -> list[str]:
    """R's names of the coding columns (appended to the factor's name)."""
    n = len(levels)
    if name == "poly":
        named = [".L", ".Q", ".C"]
        return [named[j] if j < 3 else f"^{j + 1}" for j in range(n - 1)]
    if name == "sdif":
        return [f"{levels[j + 1]}-{levels[j]}" for j in range(n - 1)]
    return [str(j + 1) for j in range(n - 1)]


class RContrasts(Contrasts):
    """One of R's contrasts as a formulaic coding (``sum``, ``helmert``, ``poly``, ``sdif``).

    Parameters
    ----------
    name
        The contrast, without R's ``contr.`` prefix.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"RContrasts({self.name!r})"

    @override
    def _get_coding_matrix(
        self, levels: Sequence[Hashable], reduced_rank: bool = True, sparse: bool = False
    ) -> Any:
        if not reduced_rank:
            return np.eye(len(levels))
        return contrast_matrix(self.name, len(levels))

    @override
    def get_coding_column_names(
        self, levels: Sequence[Hashable], reduced_rank: bool = True
    ) -> Sequence[Hashable]:
        """R's suffixes (``1``, ``.L``, ``b-a``), or the levels for a full coding."""
        return _column_suffixes(self.name, levels) if reduced_rank else list(levels)

    @override
    def get_coefficient_row_names(
        self, levels: Sequence[Hashable], reduced_rank: bool = True
    ) -> Sequence[Hashable]:
        """Names of the estimated contrasts (for formulaic's introspection)."""
        return ["(Intercept)", *self.get_coding_column_names(levels)] if reduced_rank else levels

    @override
    def get_factor_format(self, levels: Sequence[Hashable], reduced_rank: bool = True) -> str:
        """``f1``, ``f.L``, ``fb-a`` as R; ``f[a]`` for a full coding."""
        return "{name}{field}" if reduced_rank else "{name}[{field}]"


class ContrastsMaterializer(PandasMaterializer):
    """formulaic's pandas materializer, coding factors by the contrasts in their encoder state."""

    REGISTER_NAME = MATERIALIZER

    @override
    def _encode_categorical(
        self,
        values: Any,
        metadata: Any,
        encoder_state: dict[str, Any],
        spec: Any,
        drop_rows: Sequence[int],
        reduced_rank: bool = False,
    ) -> Any:
        coding = encoder_state.get(STATE_KEY)
        if coding is None:
            return super()._encode_categorical(
                values, metadata, encoder_state, spec, drop_rows, reduced_rank=reduced_rank
            )
        if drop_rows:
            values = drop_nulls(values, indices=drop_rows)
        # encoded at the rank asked for (not reduced later by dropping a column, as treatment)
        return as_columns(
            encode_contrasts(
                values,
                contrasts=coding,
                reduced_rank=reduced_rank,
                _metadata=metadata,
                _state=encoder_state,
                _spec=spec,
            )
        )


def _unknown_message(name: object) -> str:
    """The message for a contrast that is not one of R's we know."""
    choices = ", ".join(repr(c) for c in CONTRASTS)
    shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
    return f"unknown contrasts {shown}: choose one of {choices} (R's contr.<name>)"


def check_contrasts(contrasts: Any, frame: pd.DataFrame) -> dict[str, str]:
    """The contrasts argument as ``{column: name}``, checked against the data.

    Parameters
    ----------
    contrasts
        ``None`` or a mapping of column names to ``"treatment"``, ``"sum"``, ``"helmert"``,
        ``"poly"`` or ``"sdif"`` (R's ``"contr.sum"`` etc. are accepted too).
    frame
        The caller's data.

    Raises
    ------
    UnknownColumnError
        For a name that is not a column.
    ModelSpecificationError
        For an unknown contrast, or a column that is not a factor (numbers, booleans).
    """
    if contrasts is None:
        return {}
    if not isinstance(contrasts, Mapping):
        raise ModelSpecificationError(
            "contrasts must be a dict of column names to contrast names, e.g. {'f': 'sum'}, "
            f"not {type(contrasts).__name__}"
        )
    out: dict[str, str] = {}
    for column, value in contrasts.items():
        if column not in frame.columns:
            raise UnknownColumnError([str(column)], frame.columns)
        name = (
            value[len("contr.") :]
            if isinstance(value, str) and value.startswith("contr.")
            else value
        )
        if not isinstance(name, str) or name not in CONTRASTS:
            raise ModelSpecificationError(_unknown_message(value) + f" for column {column!r}")
        if not _is_factor(frame[column]):  # duplicated names were refused by the frame
            raise ModelSpecificationError(
                f"contrasts apply to factors, and column {column!r} holds "
                f"{frame[column].dtype} values: make it a factor first, e.g. "
                f"data.astype({{{column!r}: 'category'}})"
            )
        out[str(column)] = name
    return out


def _is_factor(column: Any) -> bool:
    """Whether formulaic codes the column as a factor (text or categorical)."""
    if isinstance(column, pd.DataFrame):  # a duplicated name: refused with the model frame
        return True
    dtype = column.dtype
    return isinstance(dtype, pd.CategoricalDtype | pd.StringDtype) or dtype.kind == "O"


def contrast_matrices(
    formula: Any, frame: pd.DataFrame, contrasts: Mapping[str, str], context: Any
) -> Any:
    """The model matrices (formulaic's) of ``formula`` with the factors coded by ``contrasts``.

    Parameters
    ----------
    formula
        The checked formulaic formula of ``"response ~ fixed part"``.
    frame
        The model frame (complete rows only).
    contrasts
        Checked contrasts (:func:`check_contrasts`), column name to contrast name.
    context
        The checked evaluation namespace (:mod:`mixedmodels.spec.evaluate`).

    Returns
    -------
    formulaic.ModelMatrices
        With ``lhs``, ``rhs`` and the ``model_spec`` that encodes new data the same way.
    """
    from formulaic import ModelSpec, ModelSpecs

    coded = {c: n for c, n in contrasts.items() if c in frame.columns}  # the others: unused
    frame = _drop_unused_categories(frame, coded)
    seed = {
        column: (Factor.Kind.CATEGORICAL, {STATE_KEY: _coding(name)})
        for column, name in coded.items()
    }
    specs = ModelSpec.from_spec(formula, materializer=MATERIALIZER, na_action="ignore")
    specs = ModelSpecs(lhs=specs.lhs, rhs=specs.rhs.update(encoder_state=seed))
    matrices = specs.get_model_matrix(frame, context=context)
    state = matrices.model_spec.rhs.encoder_state
    unused = [c for c in contrasts if "categories" not in state.get(c, (None, {}))[1]]
    if unused:
        warnings.warn(
            f"contrasts for {', '.join(repr(c) for c in unused)} not used: the fixed part has no "
            "such factor by itself (C(f) and factor(f) take their own contrasts, "
            "random-effects terms the default ones)",
            ModelSpecificationWarning,
            stacklevel=6,
        )
    return matrices


def _coding(name: str) -> Contrasts:
    """The formulaic coding object of one of R's contrasts."""
    return TreatmentContrasts() if name == "treatment" else RContrasts(name)


def _drop_unused_categories(frame: pd.DataFrame, contrasts: Mapping[str, str]) -> pd.DataFrame:
    """The frame with unused categories of the coded columns removed (a new frame if any)."""
    changes = {}
    for column in contrasts:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            changes[column] = values.cat.remove_unused_categories()
    return frame.assign(**changes) if changes else frame
