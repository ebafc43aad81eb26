"""Methods that need the rows of the data in memory say so here, with one decorator.

A model fitted from chunks (:mod:`mixedmodels.chunked`) has the stored blocks but not the rows;
every method that needs only the blocks works on it unchanged. A method marked
:func:`needs_rows` raises one :class:`~mixedmodels.errors.NotSupportedError` on such a model,
naming what is not available and what to use instead; ``when`` limits the refusal to some
arguments (``anova(type=3)`` needs the rows, ``anova(type=1)`` does not).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from mixedmodels.errors import NotSupportedError

__all__ = [
    "AVAILABLE_ON_CHUNKS",
    "beyond_type1",
    "bootstrap_method",
    "fitted_rows",
    "kenward_roger",
    "needs_rows",
    "new_response",
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
