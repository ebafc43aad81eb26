"""Fit generalized linear mixed models: a formula and data in, a fitted model out.

``glmer`` and ``glmer_nb`` mirror lme4's functions of the same names; ``fit_from_cli`` is what
the command line calls for ``mixedmodels fit ... --family binomial [--nagq 9]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mixedmodels.models.generalized import GeneralizedLinearMixedModel
from mixedmodels.models.negbin import fit_negative_binomial
from mixedmodels.spec.arguments import check_glmm_start
from mixedmodels.spec.data_kinds import csv_in_memory
from mixedmodels.spec.families import Family, NegativeBinomial
from mixedmodels.spec.family_names import get_family
from mixedmodels.spec.frame import NaAction

__all__ = ["fit_from_cli", "glmer", "glmer_nb"]


def glmer(
    formula: str,
    data: Any,
    family: str | Family = "binomial",
    nagq: int = 1,
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
    *,
    verbose: bool = False,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    subset: Any = None,
    contrasts: dict[str, str] | None = None,
    start: Any = None,
    link: str | None = None,
) -> GeneralizedLinearMixedModel:
    """Fit a generalized linear mixed model, as lme4's ``glmer``.

    Parameters
    ----------
    formula
        An lme4 formula, e.g. ``"cbind(incidence, size - incidence) ~ period + (1 | herd)"``.
    data
        A pandas DataFrame (never modified).
    family
        ``"binomial"`` (default), ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"negative_binomial"`` (θ estimated, as :func:`glmer_nb`) or a Family object such as
        ``Binomial(link="probit")`` or ``NegativeBinomial(theta=2)`` (θ fixed); also
        ``"gaussian"`` with ``link="log"`` or ``"inverse"`` (lme4's ``gaussian(link = "log")``:
        PIRLS and the Laplace approximation with a scale σ; the identity link is ``lmer``'s).
    nagq
        1 (default) for the Laplace approximation; up to 100 points of adaptive Gauss–Hermite
        quadrature for a single scalar random-effects term; 0 for glmer's fast ``nAGQ = 0``.
    weights
        Prior weights: a column name or one value per row (trials for proportions).
    offset
        A column name or one value per row, added to the linear predictor.
    na_action
        ``"omit"`` (default) drops incomplete rows; ``"exclude"`` drops them too, but
        ``fitted()``, ``residuals()`` and ``predict()`` give one value per row of the data
        (NaN for the dropped rows, R's ``na.exclude``); ``"fail"`` raises.
    verbose
        Print the objective at each evaluation.
    functions
        Functions the formula may call besides the allowed ones, e.g. ``{"logit": fn}``.
    subset
        The rows to fit: booleans, one per row, or a checked query string (as for
        :func:`~mixedmodels.lmer`).
    contrasts
        R's contrasts for factors of the fixed part, e.g. ``{"period": "sum"}`` (as for
        :func:`~mixedmodels.lmer`).
    start
        lme4's ``start``: θ, or ``{"theta": ..., "fixef": ...}`` (either key): θ starts the
        first stage; with ``fixef`` the second stage starts from (θ, β) (θ lme4's initial one
        when not given).
    link
        The link of a family given by name (``"probit"``, ``"log"``, ...; the canonical one by
        default), as R's ``family(link = ...)``.

    Returns
    -------
    GeneralizedLinearMixedModel
        The fitted model.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> cbpp = mm.datasets.load("cbpp")
    >>> g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    >>> round(g.objective, 3)
    184.053
    """
    data = csv_in_memory(data)
    model = GeneralizedLinearMixedModel(
        formula,
        data,
        family=family if link is None else get_family(family, link),
        weights=weights,
        offset=offset,
        na_action=na_action,
        nagq=nagq,
        functions=functions,
        subset=subset,
        contrasts=contrasts,
    )
    if isinstance(family, str) and model.family.name == "negative_binomial":
        return fit_negative_binomial(model, verbose=verbose)
    return _fit_from(model, start, verbose)


def _fit_from(
    model: GeneralizedLinearMixedModel, start: Any, verbose: bool
) -> GeneralizedLinearMixedModel:
    """Fit from lme4's ``start``: θ starts stage 1, θ and β together start stage 2."""
    if start is None:
        return model.fit(verbose=verbose)
    theta, beta = check_glmm_start(start, model.lower, model.terms, model.n_fixed)
    if beta is None or model.nagq == 0:  # nAGQ = 0: β is estimated inside PIRLS
        return model.fit(verbose=verbose, start_theta=theta)
    theta0 = model.theta if theta is None else theta  # before a fit: lme4's default start
    return model.fit(verbose=verbose, start=np.concatenate([theta0, beta]))


def glmer_nb(
    formula: str,
    data: Any,
    *,
    link: str = "log",
    weights: Any = None,
    offset: Any = None,
    na_action: NaAction = "omit",
    verbose: bool = False,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    subset: Any = None,
    contrasts: dict[str, str] | None = None,
) -> GeneralizedLinearMixedModel:
    """Fit a negative binomial GLMM with θ estimated, as lme4's ``glmer.nb``.

    The estimated θ is ``model.family.theta``.

    Parameters
    ----------
    formula, data, weights, offset, na_action, functions, subset, contrasts
        As for :func:`glmer`.
    link
        The link function (``"log"`` by default).
    verbose
        Print θ and the objective at each step of the search over θ.
    """
    data = csv_in_memory(data)
    model = GeneralizedLinearMixedModel(
        formula,
        data,
        family=NegativeBinomial(1.0, link=link),
        weights=weights,
        offset=offset,
        na_action=na_action,
        functions=functions,
        subset=subset,
        contrasts=contrasts,
    )
    return fit_negative_binomial(model, verbose=verbose)


def fit_from_cli(args: Any, data: Any) -> GeneralizedLinearMixedModel:
    """Fit the GLMM described by parsed command-line options.

    Parameters
    ----------
    args
        The ``argparse`` namespace of ``mixedmodels fit``: ``formula``, ``family`` (a name),
        ``nagq`` (default 1), and optionally ``link``, ``weights`` and ``offset`` (column
        names) and ``verbose``.
    data
        The data frame the command line loaded (``--data``).
    """
    family_name = str(args.family)
    link = getattr(args, "link", None)
    weights = getattr(args, "weights", None)
    offset = getattr(args, "offset", None)
    verbose = bool(getattr(args, "verbose", False))
    if family_name.lower() in ("negative_binomial", "negative.binomial", "nb", "negbin"):
        return glmer_nb(
            args.formula, data, link=link or "log", weights=weights, offset=offset, verbose=verbose
        )
    family = get_family(family_name, link)
    nagq = getattr(args, "nagq", 1)
    nagq = 1 if nagq is None else int(nagq)
    return glmer(args.formula, data, family, nagq, weights=weights, offset=offset, verbose=verbose)
