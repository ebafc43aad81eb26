"""Predictions, residuals, simulated responses and other results of a fitted GLMM (lme4's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.objective.laplace import BlockedEngine
from mixedmodels.objective.laplace_scalar import ScalarEngine
from mixedmodels.objective.leverage import penalized_leverages
from mixedmodels.results.predict import predict
from mixedmodels.results.ranef import conditional_variances
from mixedmodels.results.simulate import simulate_linear_predictor

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedGeneralizedModel
    from mixedmodels.spec.families import Family

__all__ = [
    "fitted_means",
    "glmm_conditional_variances",
    "glmm_hat_values",
    "glmm_residuals",
    "predict_glmm",
    "simulate_glmm",
    "z_table",
]

Array = FloatArray
RESIDUAL_TYPES = ("deviance", "pearson", "response", "working")


def predict_glmm(
    model: FittedGeneralizedModel,
    new_data: Any,
    type: str,
    re_form: str | None,
    allow_new_levels: bool,
    offset: Any,
) -> Array:
    """The linear predictor from the LMM's prediction code, then the inverse link if asked.

    ``results.predict`` needs only what both kinds of model share (the fixed-effects spec,
    β̂, the terms and their conditional modes, the frame's offset), so it serves GLMMs too.
    """
    if type not in ("link", "response"):
        raise ModelSpecificationError(f"type must be 'link' or 'response', not {type!r}")
    if new_data is not None:
        model.ensure_spec()
    eta = predict(
        model,  # type: ignore[arg-type]
        new_data,
        re_form=re_form,
        allow_new_levels=allow_new_levels,
        offset=offset,
    )
    if new_data is None:  # the fitted rows: NaN-padded with na_action="exclude"
        eta = model.frame.padded(eta)
    if type == "link":
        return eta
    out = np.full_like(eta, np.nan)
    ok = np.isfinite(eta)
    out[ok] = model.family.link.inverse(eta[ok])
    return out


def fitted_means(model: FittedGeneralizedModel) -> Array:
    """``μ̂`` per observation used (``fitted()`` pads it with ``na_action="exclude"``)."""
    model._require_fit()
    wk = model.engine.wk
    assert wk is not None
    return wk.mu.copy()


def glmm_residuals(model: FittedGeneralizedModel, type: str) -> Array:
    """Residuals of one of lme4's types at the estimates (the engine is at the optimum)."""
    if type not in RESIDUAL_TYPES:
        raise ModelSpecificationError(
            f"residual type must be one of {', '.join(RESIDUAL_TYPES)}, not {type!r}"
        )
    wk = model.engine.wk
    assert wk is not None
    y, wt = model.data.y, model.data.weights
    r = y - wk.mu
    if type == "response":
        return r
    if type == "working":
        return r / wk.mu_eta
    if type == "pearson":
        return r * np.sqrt(wt) / np.sqrt(wk.var)
    return np.sign(r) * np.sqrt(np.maximum(wk.dev, 0.0))


def glmm_hat_values(model: FittedGeneralizedModel) -> Array:
    """lme4's ``hatvalues`` of a glmer fit: ``aᵢ vᵢᵀ M⁻¹ vᵢ``, one per observation used.

    ``M`` is the penalized weighted least-squares system in ``(u, β)`` at the working weights
    of the converged PIRLS and ``vᵢ = [Λᵀzᵢ; xᵢ]``
    (:func:`~mixedmodels.objective.leverage.penalized_leverages`). As in lme4 the factor ``aᵢ``
    is the prior weight (the number of trials of a ``cbind`` response), not the working weight
    ``wᵢ``: the values are not bounded by 1 and do not sum to an effective number of
    parameters (``wᵢ vᵢᵀ M⁻¹ vᵢ`` would be the diagonal of the PWLS hat matrix).
    """
    model._require_fit()
    return model.data.weights * penalized_leverages(model.engine)


def simulate_glmm(
    model: FittedGeneralizedModel,
    nsim: int,
    rng: np.random.Generator,
    use_ranef: bool,
    re_form: str | None = "NA",
) -> Array:
    """Draw ``nsim`` responses: new random effects ``b* ~ N(0, ΛΛ')``, then ``y ~ F(μ*)``.

    Parameters
    ----------
    model
        A fitted model.
    nsim
        Number of simulated responses.
    rng
        Source of random numbers.
    use_ranef
        Draw new random effects; otherwise simulate around the population means.
    re_form
        Terms whose conditional modes are kept instead of drawn (lme4's ``re.form``).

    Returns
    -------
    numpy.ndarray
        ``(nobs, nsim)``, on the scale of the response as given (successes for ``cbind``).
    """
    if nsim < 1:
        raise ModelSpecificationError(f"nsim must be at least 1, not {nsim}")
    out = simulate_linear_predictor(
        model, nsim, rng, use_ranef=use_ranef, scale=1.0, re_form=re_form
    )
    mu = model.family.link.inverse(out)
    _check_simulated_means(model.family, mu)
    response = model.response
    is_binomial = model.family.name == "binomial"
    weights = response.weights if is_binomial else model.frame.weights
    draws = np.column_stack(
        [model.family.simulate(rng, mu[:, s], weights, model.sigma) for s in range(nsim)]
    )
    if is_binomial and response.kind == "cbind":
        return np.rint(draws * response.trials[:, None])
    return draws


def _check_simulated_means(family: Family, mu: Array) -> None:
    """Refuse means outside a family's range (an inverse link at new random effects)."""
    if not family.valid_means(mu):
        raise ModelSpecificationError(
            f"simulating from this {family.name} GLMM gave means outside its range (the "
            f"{family.link.name} link at new random effects); a log link keeps the means positive"
        )


def glmm_conditional_variances(model: FittedGeneralizedModel) -> dict[str, Array]:
    """Conditional covariance blocks ``(levels, k, k)`` per term (lme4's ``condVar``)."""
    model._require_fit()
    engine = model.engine
    scale = model.sigma
    if isinstance(engine, ScalarEngine):
        T = float(model.theta[0])
        values = scale**2 * T**2 / engine._diagonal(engine._current().w)
        return {model.terms[0].name: values.reshape(-1, 1, 1)}
    assert isinstance(engine, BlockedEngine)
    return conditional_variances(engine.L, model.templates(), scale)


def z_table(beta: Array, vcov: Array, names: list[str]) -> pd.DataFrame:
    """Estimate, standard error, z statistic and two-sided normal p value of each coefficient."""
    se = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    table = {
        "estimate": beta,
        "std_error": se,
        "statistic": stat,
        "p_value": 2.0 * special.ndtr(-np.abs(stat)),
    }
    return pd.DataFrame(table, index=names)
