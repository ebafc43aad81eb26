"""Simulation of responses from a fitted linear mixed model (lme4's ``simulate.merMod``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedmodels._typing import FloatArray

if TYPE_CHECKING:
    from mixedmodels.fitted import FittedLinearModel, FittedModelBase

__all__ = ["simulate_linear_predictor", "simulate_responses"]


def simulate_responses(
    model: FittedLinearModel,
    nsim: int,
    rng: np.random.Generator,
    *,
    use_ranef: bool = True,
    re_form: str | None = "NA",
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
        With False, no random effects at all: residual noise around the population mean.
    re_form
        The random-effects terms to condition on, as lme4's ``re.form``: ``"NA"`` or ``"~0"``
        (the default) draws new effects ``b* ~ N(0, σ̂²ΛΛ')`` for every term; ``None`` keeps
        the conditional modes ``b̃`` of every term; a formula such as ``"~(1 | plate)"`` keeps
        those terms' modes and draws the others.

    Returns
    -------
    numpy.ndarray
        ``(nobs, nsim)``: one simulated response per column.
    """
    sigma = model.sigma
    out = simulate_linear_predictor(
        model, nsim, rng, use_ranef=use_ranef, scale=sigma, re_form=re_form
    )
    noise = rng.standard_normal(out.shape) * (sigma / np.sqrt(model.frame.weights))[:, None]
    return out + noise


def simulate_linear_predictor(
    model: FittedModelBase,
    nsim: int,
    rng: np.random.Generator,
    *,
    use_ranef: bool,
    scale: float,
    re_form: str | None = "NA",
) -> FloatArray:
    """``Xβ̂ + offset`` plus the random effects ``Zb`` (see :func:`simulate_responses`).

    New effects are ``b* = Λu*`` with ``u* ~ N(0, scale² I)``: ``scale`` is σ̂ for a linear
    mixed model and 1 for a GLMM. Returns ``(nobs, nsim)``.
    """
    from mixedmodels.results.predict import included_terms

    eta = model.fixed.X @ model.beta + model.frame.offset
    kept = {t.name for t in included_terms(model, re_form)} if use_ranef else set()
    if kept:
        modes = dict(zip((t.name for t in model.terms), model.random_effects(), strict=True))
        for term in model.terms:
            if term.name in kept:
                eta = eta + np.einsum("ik,ik->i", term.z, modes[term.name][term.refs])
    out = np.repeat(eta[:, None], nsim, axis=1)
    if use_ranef:
        for term, T in zip(model.terms, model.templates(), strict=True):
            if term.name in kept:
                continue
            u = rng.standard_normal((nsim, term.nlevels, term.k)) * scale
            b = u @ T.T  # (nsim, levels, k)
            out += np.einsum("ik,sik->is", term.z, b[:, term.refs, :])
    return out
