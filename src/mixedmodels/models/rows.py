"""Methods that need the rows of the data in memory say so here, with one decorator.

A model fitted from chunks (:mod:`mixedmodels.chunked`) has the stored blocks but not the rows;
every method that needs only the blocks works on it unchanged. A method marked
:func:`needs_rows` raises one :class:`~mixedmodels.errors.NotSupportedError` on such a model,
naming what is not available and what to use instead; ``when`` limits the refusal to some
arguments (``anova(type=3)`` needs the rows, ``anova(type=1)`` does not). Fitted values and
residuals of such a model come from the passes its blocks carry instead
(:func:`passed_fitted`, :func:`passed_residuals`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mixedmodels.errors import ModelSpecificationError, NotSupportedError

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel
    from mixedmodels.linalg.model_blocks import RowPasses

__all__ = [
    "AVAILABLE_ON_CHUNKS",
    "beyond_type1",
    "bootstrap_method",
    "fitted_rows",
    "kenward_roger",
    "needs_rows",
    "new_response",
    "passed_fitted",
    "passed_residuals",
    "refuse_without_rows",
]

F = TypeVar("F", bound=Callable[..., Any])
Predicate = Callable[[Mapping[str, Any]], bool]
AVAILABLE_ON_CHUNKS = (
    "fit, refit (same response), fixef, coef_table (Satterthwaite), vcov, varcorr, ranef, "
    "anova(type=1), contrast, profile, confint('wald' or 'profile'), summary, predict, "
    "prediction_intervals(new_data), fitted and residuals (lazy), plot_caterpillar, plot_ranef_qq"
)


def refuse_without_rows(what: str) -> NotSupportedError:
    """The error for ``what`` on a model whose rows are not in memory."""
    return NotSupportedError(
        f"{what} needs the rows in memory and is not available for a model fitted from "
        f"chunks; available: {AVAILABLE_ON_CHUNKS}"
    )


def needs_rows(what: str | None = None, *, when: Predicate | None = None) -> Callable[[F], F]:
    """Mark a method that needs the model's rows in memory.

    Parameters
    ----------
    what
        How the refusal names the method (its name by default).
    when
        Refuse only when this returns True for the call's arguments (by name, defaults
        applied); always by default.
    """

    def decorate(method: F) -> F:
        signature = inspect.signature(method)
        label = what or method.__name__

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not getattr(self, "has_rows", True):
                bound = signature.bind(self, *args, **kwargs)
                bound.apply_defaults()
                if when is None or when(bound.arguments):
                    raise refuse_without_rows(label)
            return method(self, *args, **kwargs)

        return cast(F, wrapper)

    return decorate


# ---- per-row results of the fitted data without the rows: passes over the data --------------
def passed_fitted(model: FittedLinearModel, passes: RowPasses, re_form: str | None) -> Any:
    """The fitted rows' predictions by a pass over data not in memory (lazy, one per row).

    ``re_form`` may ask for every random effect (``None``) or none (``"~0"``, ``"NA"``).
    """
    from mixedmodels.results.predict import NO_RANDOM

    if re_form is None:
        effects = model.random_effects()
    elif str(re_form).replace(" ", "") in NO_RANDOM:
        effects = []
    else:
        raise refuse_without_rows(f"predict(re_form={re_form!r}) on the fitted chunks")
    return passes.values("fitted", model.beta, effects)


def passed_residuals(model: FittedLinearModel, passes: RowPasses, type: str, scaled: bool) -> Any:
    """Residuals of ``type`` by a pass over data not in memory (lazy, one per used row)."""
    from mixedmodels.results.residuals import RESIDUAL_TYPES

    if type not in RESIDUAL_TYPES:
        allowed = ", ".join(repr(t) for t in RESIDUAL_TYPES)
        raise ModelSpecificationError(f"residual type must be one of {allowed}, not {type!r}")
    what = "pearson" if type in ("pearson", "deviance") else "response"
    values = passes.values(what, model.beta, model.random_effects())
    return values / model.sigma if scaled else values


# ---- when a call needs the rows (the arguments by name) -------------------------------------
def new_response(args: Mapping[str, Any]) -> bool:
    """``refit(y)`` with a new response (the same response refits on the blocks)."""
    return args["y"] is not None


def bootstrap_method(args: Mapping[str, Any]) -> bool:
    """``confint(method="bootstrap")`` (simulates responses row by row)."""
    return str(args["method"]).lower().startswith("boot")


def kenward_roger(args: Mapping[str, Any]) -> bool:
    """Kenward–Roger df (they need ``Z`` row by row)."""
    from mixedmodels.inference.ddf import ddf_method  # imported on demand: scipy.stats

    return ddf_method(args["ddf"]) == "kenward-roger"


def beyond_type1(args: Mapping[str, Any]) -> bool:
    """``anova`` of type 2 or 3 (their contrasts are coded from the rows)."""
    from mixedmodels.inference.hypotheses import anova_type

    return anova_type(args["type"]) != 1


def fitted_rows(args: Mapping[str, Any]) -> bool:
    """Intervals for the fitted rows rather than for ``new_data``."""
    return args["new_data"] is None
