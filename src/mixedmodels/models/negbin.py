"""Negative binomial GLMMs with an estimated θ, as lme4's ``glmer.nb``.

glmer.nb fits a Poisson GLMM, estimates θ from its fitted means (MASS's ``theta.ml``), then
minimizes ``-2 log L`` over ``log θ`` in ``log θ₀ ± 3`` with a one-dimensional search, refitting
the GLMM for each θ. Each refit here starts from the previous estimates, so it costs a few
quasi-Newton steps.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, cast

import numpy as np
from scipy import special

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.spec.families import NegativeBinomial, Poisson

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel
    from mixedmodels.models.generalized import GeneralizedLinearMixedModel

__all__ = ["fit_negative_binomial", "theta_ml"]

Array = FloatArray


def theta_ml(y: Array, mu: Array, weights: Array, *, limit: int = 20, eps: float = 1e-4) -> float:
    """Maximum-likelihood θ of a negative binomial with known means (MASS's ``theta.ml``)."""
    n = float(np.sum(weights))
    theta = n / float(np.sum(weights * (y / mu - 1.0) ** 2))
    if not math.isfinite(theta) or theta <= 0:
        theta = 1.0
    for _ in range(limit):
        score = np.sum(
            weights
            * (
                special.digamma(theta + y)
                - special.digamma(theta)
                + math.log(theta)
                + 1.0
                - np.log(theta + mu)
                - (y + theta) / (mu + theta)
            )
        )
        info = np.sum(
            weights
            * (
                -special.polygamma(1, theta + y)
                + special.polygamma(1, theta)
                - 1.0 / theta
                + 2.0 / (mu + theta)
                - (y + theta) / (mu + theta) ** 2
            )
        )
        delta = float(score / info)
        theta = max(theta + delta, theta / 10.0)
        if abs(delta) <= eps:
            break
    return float(theta)


def fit_negative_binomial(
    model: GeneralizedLinearMixedModel, *, verbose: bool = False, tol: float = 1e-6
) -> GeneralizedLinearMixedModel:
    """Fit ``model`` (built with a Poisson or negative binomial family) with θ estimated.

    Parameters
    ----------
    model
        An unfitted model of counts.
    verbose
        Print θ and the objective at each step of the search.
    tol
        Absolute tolerance of the search in ``log θ``.

    Returns
    -------
    FittedGeneralizedModel
        A new model (``model`` is left as it was), fitted at the estimated θ
        (``family.theta``).
    """
    from mixedmodels.results.glmm import fitted_means

    link = model.family.link
    if not isinstance(model.family, Poisson | NegativeBinomial):
        raise ModelSpecificationError("glmer_nb needs a count response (Poisson family)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poisson = model.with_family(Poisson(link=link)).fit()
        theta0 = theta_ml(poisson.data.y, fitted_means(poisson), poisson.frame.weights)
        last = poisson.with_family(NegativeBinomial(theta0, link=link)).fit(start=poisson.params)
    # each fit starts at the last estimates, from the last model's modes (a copy of its engine)
    fits = {"last": last}

    def refit(log_theta: float, estimated: bool = False) -> FittedGeneralizedModel:
        before = fits["last"]
        family = NegativeBinomial(math.exp(log_theta), link=link)
        new = before.with_family(family, theta_estimated=estimated).fit(start=before.params)
        fits["last"] = new
        if verbose:
            print(f"θ = {math.exp(log_theta):.8g}: -2 log L = {new.objective:.8f}")
        return new

    def profile(log_theta: float) -> float:
        return refit(log_theta).objective

    from scipy import optimize

    center = math.log(theta0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = optimize.minimize_scalar(
            profile, bounds=(center - 3.0, center + 3.0), method="bounded", options={"xatol": tol}
        )
    return cast("GeneralizedLinearMixedModel", refit(float(result.x), estimated=True))
