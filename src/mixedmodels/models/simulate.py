"""Simulation of responses from a fitted linear mixed model (lme4's ``simulate.merMod``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mixedmodels._typing import FloatArray

if TYPE_CHECKING:
    from mixedmodels.models.linear import LinearMixedModel

__all__ = ["simulate_linear_predictor", "simulate_responses"]


def simulate_responses(
    model: LinearMixedModel,
    nsim: int,
    rng: np.random.Generator,
    *,
    use_ranef: bool = True,
) -> FloatArray:
    """Draw ``nsim`` response vectors at the estimates: ``Xβ̂ + Zb* + ε* + offset``.

    Parameters
    ----------
    model
        A fitted model.
    nsim
        Number of simulated responses.
    rng
        Source of random numbers.
    use_ranef
        Draw new random effects ``b* ~ N(0, σ̂²ΛΛ')`` (lme4's ``re.form = NA`` when False keeps
        only the residual noise around the population mean).

    Returns
    -------
    numpy.ndarray
        ``(nobs, nsim)``: one simulated response per column.
    """
    sigma = model.sigma
    out = simulate_linear_predictor(model, nsim, rng, use_ranef=use_ranef, scale=sigma)
    noise = rng.standard_normal(out.shape) * (sigma / np.sqrt(model.frame.weights))[:, None]
    return out + noise


def simulate_linear_predictor(
    model: Any, nsim: int, rng: np.random.Generator, *, use_ranef: bool, scale: float
) -> FloatArray:
    """``Xβ̂ + offset`` plus, with ``use_ranef``, new random effects ``Zb*``.

    ``b* = Λu*`` with ``u* ~ N(0, scale² I)``: ``scale`` is σ̂ for a linear mixed model and 1 for
    a GLMM. Returns ``(nobs, nsim)``.
    """
    eta = model.fixed.X @ model.beta + model.frame.offset
    out = np.repeat(eta[:, None], nsim, axis=1)
    if use_ranef:
        for term, T in zip(model.terms, model.templates(), strict=True):
            u = rng.standard_normal((nsim, term.nlevels, term.k)) * scale
            b = u @ T.T  # (nsim, levels, k)
            out += np.einsum("ik,sik->is", term.z, b[:, term.refs, :])
    return out
