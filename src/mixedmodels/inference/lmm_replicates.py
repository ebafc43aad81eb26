"""The parametric bootstrap's refits of a linear mixed model, on the model's stored blocks.

A replicate of :func:`~mixedmodels.inference.bootstrap.parametric_bootstrap` is, for an LMM,
exactly four steps and nothing else:

1. simulate a response at the estimates (the draws of ``model.simulate(1, seed=rng)``, in the
   same order, so the table is the one the generic ``simulate`` + ``refit`` path gives);
2. write its parts of the stored blocks, ``Z'Wy*``, ``X'Wy*`` and ``y*'Wy*``, into the response
   row of working copies of the ``[X y]`` blocks (the ``Z`` blocks are the model's own, shared;
   the ``X`` rows of the copies are written once, when the replicates are set up);
3. optimize θ by :func:`~mixedmodels.fit.lmm.fit_theta` on those blocks with a factor of its
   own, started at the original θ̂ — the criterion and optimizer of
   ``model.refit(y*, check_convergence=False)``, which is what the bootstrap always ran;
4. read the estimates from the factor at the optimum.

No model, frame or result object is built per replicate. The stored response is ``y* − shift``
with the original model's shift (its mean, or its least-squares fit ``Xβ₀``, see
:mod:`mixedmodels.linalg.shift`): it only guards the last pivot against cancellation, and the
simulated responses are of the data's scale, so the estimates are those of a refit to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import MixedModelsError
from mixedmodels.fit.lmm import fit_theta
from mixedmodels.inference.parameters import sdcor_from_theta
from mixedmodels.linalg.crossprod import CrossProducts, term_matrix
from mixedmodels.linalg.threads import blas_threads
from mixedmodels.objective.lmm import LmmObjective

if TYPE_CHECKING:
    import scipy.sparse as sp

    from mixedmodels.fitted import FittedLinearModel
    from mixedmodels.linalg.model_blocks import Shift

__all__ = ["LmmReplicates"]

Array = FloatArray
FAILURES = (MixedModelsError, np.linalg.LinAlgError, ArithmeticError)


class LmmReplicates:
    """Simulate-and-refit replicates of a fitted LMM (built by the model's hook).

    Parameters
    ----------
    model
        The fitted model; it is read, never changed (the factor and the ``[X y]`` blocks used
        here are copies of its own).
    sqrtw
        Square roots of the prior weights, ``None`` for unit weights.
    shift
        The model's response shift (``ModelBlocks.shift``).
    singular
        lme4's ``isSingular`` of a θ of this model (``LinearMixedModel.singular_at``).
    """

    def __init__(
        self,
        model: FittedLinearModel,
        sqrtw: Array | None,
        shift: Shift,
        singular: Callable[[Array], bool],
    ) -> None:
        self.singular = singular
        self.theta_hat = np.array(model.theta, dtype=float)
        self.terms = list(model.terms)
        self.sigma_hat = model.sigma
        self.fixed_sigma = model.fixed_sigma
        self.dof = model.dof_residual
        X = model.fixed.X
        offset = model.frame.offset
        self.mean = X @ model.beta + offset  # the simulations' mean, as simulate's
        self.noise_sd = self.sigma_hat / np.sqrt(model.frame.weights)
        self.templates = [np.asarray(T, dtype=float) for T in model.templates()]
        self.offset = offset
        self.stored_shift = _shift_values(X, shift)
        self.sqrtw = sqrtw
        self.Xw = X if sqrtw is None else X * sqrtw[:, None]
        self.zt: list[sp.csr_array] = [term_matrix(t, sqrtw).T.tocsr() for t in self.terms]
        A = model.A
        self.A = CrossProducts(A.diag, A.sparse, A.dense, [b.copy() for b in A.xz], A.xx.copy())
        self.factor = model.L.spawn()
        self.factor.set_blocks(self.A, same_z=True)
        self.devfun = LmmObjective(
            self.terms,
            self.A,
            self.factor,
            model.nobs,
            model.n_fixed,
            model.log_weights,
            model.reml,
            model.lower,
            model.fixed_sigma,
        )
        sdcor = sdcor_from_theta(self.terms, self.theta_hat, self.sigma_hat)
        self.width = 4 + len(model.beta) + len(self.theta_hat) + len(sdcor)

    def run(self, seeds: Sequence[np.random.SeedSequence]) -> Array:
        """Rows ``[objective, β, σ, θ, SDs/correlations, converged, singular]``, in order.

        A replicate whose simulation or fit fails is a row of ``nan``.
        """
        out = np.full((len(seeds), self.width), np.nan)
        with blas_threads(self.factor.thread_limit()):
            for i, child in enumerate(seeds):
                try:
                    out[i] = self.replicate(child)
                except FAILURES:
                    continue
        return out

    def replicate(self, seed: np.random.SeedSequence) -> Array:
        """One replicate's row: simulate, new response parts, optimize θ, read the estimates."""
        y = self.simulate(np.random.default_rng(seed))
        self.set_response(y)
        optsum, _ = fit_theta(self.devfun, False, False, self.theta_hat)
        self.factor.update(optsum.final)
        objective = self.devfun.criterion()
        theta = np.asarray(optsum.final, dtype=float)
        if self.fixed_sigma is not None:
            sigma = self.fixed_sigma
        else:
            sigma = math.sqrt(self.factor.pwrss() / self.dof)
        sdcor = sdcor_from_theta(self.terms, theta, sigma)
        flags = [float(optsum.converged), float(self.singular(theta))]
        beta = self.factor.fixed_effects()
        return np.concatenate([[objective], beta, [sigma], theta, sdcor, flags])

    def simulate(self, rng: np.random.Generator) -> Array:
        """A response ``Xβ̂ + Zb* + ε* + offset`` drawn as ``model.simulate(1, seed=rng)``.

        Per term ``u* ~ N(0, σ̂² I)`` of shape ``(levels, k)`` and ``b* = u* Tᵀ``, then the
        noise: the same draws, in the same order, as :func:`~mixedmodels.results.simulate.
        simulate_responses` makes for one response.
        """
        y = self.mean.copy()
        for term, T in zip(self.terms, self.templates, strict=True):
            u = rng.standard_normal((term.nlevels, term.k)) * self.sigma_hat
            b = u @ T.T
            y += np.einsum("ik,ik->i", term.z, b[term.refs])
        return y + rng.standard_normal(y.shape[0]) * self.noise_sd

    def set_response(self, y: Array) -> None:
        """Write the response parts of ``y`` into the working blocks and refresh the factor."""
        stored = (y - self.offset) - self.stored_shift
        wy = stored if self.sqrtw is None else stored * self.sqrtw
        p = self.A.xx.shape[0] - 1
        for block, zt in zip(self.A.xz, self.zt, strict=True):
            block[p] = (zt @ wy).reshape(block.shape[1:])
        xy = self.Xw.T @ wy
        self.A.xx[:p, p] = xy
        self.A.xx[p, :p] = xy
        self.A.xx[p, p] = wy @ wy
        self.factor.set_blocks(self.A, same_z=True)


def _shift_values(X: Array, shift: Shift) -> Array | float:
    """What is subtracted from ``y − offset`` to store it (as ``frame_blocks`` does)."""
    value, intercept = shift
    if intercept is None and np.ndim(value) == 1:
        return X @ np.asarray(value, dtype=float)
    return float(np.asarray(value))
