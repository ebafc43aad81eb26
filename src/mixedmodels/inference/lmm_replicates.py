"""The parametric bootstrap's refits of a linear mixed model, on the model's stored blocks.

A replicate of :func:`~mixedmodels.inference.bootstrap.parametric_bootstrap` is, for an LMM,
exactly four steps and nothing else:

1. simulate a response at the estimates (the draws of ``model.simulate(1, seed=rng)``, in the
   same order, so the table is the one the generic ``simulate`` + ``refit`` path gives);
2. write its parts of the stored blocks, ``Z'Wy*``, ``X'Wy*`` and ``y*'Wy*``, into the response
   row of working copies of the ``[X y]`` blocks (the ``Z`` blocks are the model's own, shared;
   the ``X`` rows of the copies are written once, when the replicates are set up);
3. optimize θ by :func:`~mixedmodels.fit.lmm.fit_theta` on those blocks with a factor of its
   own, started at the original θ̂ (where a refit starts, the moment estimate, when θ̂ is
   near a bound) — the criterion and optimizer of
   ``model.refit(y*, check_convergence=False)``, which is what the bootstrap always ran;
4. read the estimates from the factor at the optimum.

For a model with one small term (sleepstudy's ``(Days | Subject)``, whose criterion has an
exact gradient in closed form) step 3 runs for a batch of replicates at once: a projected
Newton method on all their criteria together
(:func:`~mixedmodels.optimize.batch_newton.batch_newton` on
:class:`~mixedmodels.objective.lmm_batch.ReplicateCriteria`), so that each NumPy call serves
every replicate of the batch, followed, as in ``fit_theta``, by a second search from a
variance found near zero moved off its bound (the better optimum is kept). A replicate the
searches do not bring to an optimum (a saddle, no decrease, a second search that fails) is
refitted alone as above; every replicate's estimates are read from its own factor at its
optimum (step 4).

No model, frame or result object is built per replicate. The stored response is ``y* − shift``
with the original model's shift (its mean, or its least-squares fit ``Xβ₀``, see
:mod:`mixedmodels.linalg.shift`): it only guards the last pivot against cancellation, and the
simulated responses are of the data's scale, so the estimates are those of a refit to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import MixedModelsError
from mixedmodels.fit.lmm import OFF_BOUND, fit_theta, gradient_scaling, near_bound
from mixedmodels.inference.parameters import sdcor_from_theta
from mixedmodels.linalg.crossprod import CrossProducts, term_matrix
from mixedmodels.linalg.single import OneTerm, entries_are_theta
from mixedmodels.linalg.single_batch import OneTermBatch
from mixedmodels.linalg.threads import blas_threads
from mixedmodels.objective.lmm import LmmObjective
from mixedmodels.objective.lmm_batch import ReplicateCriteria
from mixedmodels.optimize.batch_newton import batch_newton
from mixedmodels.optimize.scaling import CHECK_LIMIT, SEARCH_LIMIT, theta_scaling

if TYPE_CHECKING:
    import scipy.sparse as sp

    from mixedmodels.fitted import FittedLinearModel
    from mixedmodels.linalg.model_blocks import Shift

__all__ = ["LmmReplicates", "replicate_batch"]

Array = FloatArray
FAILURES = (MixedModelsError, np.linalg.LinAlgError, ArithmeticError)
BATCH = 256  # replicates optimized together, at most
BATCH_ENTRIES = 2_000_000  # ... and at most this many entries of their A_xz rows
BATCH_LEVELS = 4096  # the batched search for terms of up to this many levels × columns
NEAR_BOUND = 10.0  # an optimum this close to a bound (× fit_theta's) is searched for again
SERIAL_CHUNK = 10  # replicates between progress reports without the batched search


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
        self.search = theta_scaling(self.terms, self.A, model.nobs, SEARCH_LIMIT)
        # a refit starts at θ̂, or where refit starts when θ̂ is singular (on a bound, a poor
        # start: the optimizer can stay on its boundary face)
        singular_fit = _singular_start(model)
        self.start = None if singular_fit else self.theta_hat
        self.one = _batchable(model, singular_fit)
        self.batch = _batch_size(self.one, model)
        # the batched search's parameters, fixed by the model's own response (with σ fixed
        # they depend on it), so that no replicate's search depends on another's response
        self.local = gradient_scaling(self.devfun)

    def run(self, seeds: Sequence[np.random.SeedSequence]) -> Array:
        """Rows ``[objective, β, σ, θ, SDs/correlations, converged, singular]``, in order.

        A replicate whose simulation or fit fails is a row of ``nan``.
        """
        out = np.full((len(seeds), self.width), np.nan)
        with blas_threads(self.factor.thread_limit()):
            if self.one is None:
                for i, child in enumerate(seeds):
                    out[i] = self._attempt(partial(self.replicate, child))
                return out
            for start in range(0, len(seeds), self.batch):
                part = seeds[start : start + self.batch]
                out[start : start + len(part)] = self._run_batch(part)
        return out

    def replicate(self, seed: np.random.SeedSequence) -> Array:
        """One replicate's row: simulate, new response parts, optimize θ, read the estimates."""
        return self._refit(self.simulate(np.random.default_rng(seed)))

    def _refit(self, y: Array) -> Array:
        """The row of response ``y``, optimized alone from θ̂."""
        self.set_response(y)
        optsum, _ = fit_theta(self.devfun, False, False, self.start)
        return self._row(np.asarray(optsum.final, dtype=float), optsum.converged)

    def _row(self, theta: Array, converged: bool) -> Array:
        """The estimates at ``theta`` from the working factor (for the current response)."""
        self.factor.update(theta)
        objective = self.devfun.criterion()
        if self.fixed_sigma is not None:
            sigma = self.fixed_sigma
        else:
            sigma = math.sqrt(self.factor.pwrss() / self.dof)
        sdcor = sdcor_from_theta(self.terms, theta, sigma)
        flags = [float(converged), float(self.singular(theta))]
        beta = self.factor.fixed_effects()
        return np.concatenate([[objective], beta, [sigma], theta, sdcor, flags])

    def _attempt(self, row: Callable[[], Array]) -> Array:
        """``row()``, or a row of ``nan`` when the replicate fails."""
        try:
            return row()
        except FAILURES:
            return np.full(self.width, np.nan)

    def _run_batch(self, seeds: Sequence[np.random.SeedSequence]) -> Array:
        """The rows of some replicates, optimized together (see the module docstring)."""
        assert self.one is not None
        out = np.full((len(seeds), self.width), np.nan)
        ys = [self.simulate(np.random.default_rng(seed)) for seed in seeds]
        parts = [self.response_parts(y) for y in ys]
        yz = [np.stack([part[0][c] for part in parts]) for c in range(len(self.one.xz))]
        xy = np.stack([part[1] for part in parts])
        yy = np.array([part[2] for part in parts])
        batch = OneTermBatch(self.one, yz, xy, yy)
        criteria = ReplicateCriteria(batch, self.devfun, self.local.factors)
        thetas, converged = self._optimize_batch(criteria)
        for i, y in enumerate(ys):
            if converged[i]:
                self.set_response(y, parts[i])
                out[i] = self._attempt(partial(self._row, thetas[i], True))
            else:
                out[i] = self._attempt(partial(self._refit, y))
        return out

    def _optimize_batch(self, criteria: ReplicateCriteria) -> tuple[Array, NDArray[np.bool_]]:
        """The replicates' θ, and which converged, by Newton's method from θ̂.

        As ``fit_theta`` does, an optimum with a variance near zero is searched for again,
        from that variance moved off the bound: the better of the two is kept when the second
        search converged too, else the replicate counts as not converged.
        """
        local = self.local
        m = criteria.batch.xx.shape[0]
        start = np.broadcast_to(local.to_phi(self.theta_hat), (m, len(self.theta_hat)))
        found = batch_newton(criteria, start, self.devfun.lower)
        thetas, converged = local.to_theta(found.x), found.converged.copy()
        near = near_bound(self.devfun.lower, self.search.to_phi(thetas) / NEAR_BOUND)
        again = np.flatnonzero(converged & np.any(near, axis=1))
        if again.size:
            off = self.search.to_theta(np.full(thetas.shape[1], OFF_BOUND))
            moved = np.where(near[again], off, thetas[again])
            second = batch_newton(
                lambda x, rows: criteria(x, again[rows]), local.to_phi(moved), self.devfun.lower
            )
            better = second.converged & (second.f < found.f[again])
            thetas[again[better]] = local.to_theta(second.x[better])
            converged[again[~second.converged]] = False
        return thetas, converged

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

    def response_parts(self, y: Array) -> tuple[list[Array], Array, float]:
        """``A_yz`` per column of the terms, ``A_xy`` and ``A_yy`` of a response ``y``.

        ``A_yz`` comes as one ``(levels,)`` array per column of each term, term by term.
        """
        stored = (y - self.offset) - self.stored_shift
        wy = stored if self.sqrtw is None else stored * self.sqrtw
        yz: list[Array] = []
        for block, zt in zip(self.A.xz, self.zt, strict=True):
            per_level = (zt @ wy).reshape(block.shape[1:])
            yz.extend(per_level[:, c] for c in range(per_level.shape[1]))
        return yz, self.Xw.T @ wy, float(wy @ wy)

    def set_response(self, y: Array, parts: tuple[list[Array], Array, float] | None = None) -> None:
        """Write the parts of ``y`` into the working blocks and refresh the factor.

        ``parts`` are its :meth:`response_parts`, when known.
        """
        yz, xy, yy = self.response_parts(y) if parts is None else parts
        p = self.A.xx.shape[0] - 1
        at = 0
        for block in self.A.xz:
            k = block.shape[2]
            block[p] = np.stack(yz[at : at + k], axis=1)
            at += k
        self.A.xx[:p, p] = xy
        self.A.xx[p, :p] = xy
        self.A.xx[p, p] = yy
        self.factor.set_blocks(self.A, same_z=True)


def _batchable(model: FittedLinearModel, singular_fit: bool) -> OneTerm | None:
    """The closed form of the batched search, or ``None`` when it does not apply.

    It applies to one small term of lme4's kind (not a structured one) whose levels × columns
    are at most :data:`BATCH_LEVELS`: beyond, an evaluation's arithmetic outweighs its NumPy
    calls and one replicate at a time by L-BFGS costs less. Not to a vector term of a
    singular fit (:func:`_singular_start`): from there Newton's searches can settle on a
    boundary face where ``fit_theta``'s restarts find a better optimum.
    """
    if not model.L.closed_form or not entries_are_theta(model.terms):
        return None
    one = OneTerm.of(model.A)
    if one is None or one.diag[0].shape[0] * len(one.xz) > BATCH_LEVELS:
        return None
    vector = len(one.xz) == 2 and not one.pair
    return None if vector and singular_fit else one


def _singular_start(model: FittedLinearModel) -> bool:
    """A bounded θ̂ within :data:`NEAR_BOUND` times ``fit_theta``'s tolerance of its bound.

    In θ over columns of unit size: a column of a large scale has a small θ that is not a
    zero variance.
    """
    phi = theta_scaling(model.terms, model.A, model.nobs, CHECK_LIMIT).to_phi(model.theta)
    return bool(np.any(near_bound(model.lower, phi / NEAR_BOUND)))


def _batch_size(one: OneTerm | None, model: FittedLinearModel) -> int:
    """Replicates run together: :data:`SERIAL_CHUNK` one at a time, else a batch.

    One at a time when ``one`` is ``None``; a batch holds :data:`BATCH` replicates, fewer for
    large ``A_xz`` rows or responses.
    """
    if one is None:
        return SERIAL_CHUNK
    A = model.A
    per_replicate = max(A.xx.shape[0] * sum(block[0].size for block in A.xz), model.nobs)
    return int(max(1, min(BATCH, BATCH_ENTRIES // per_replicate)))


def replicate_batch(model: FittedLinearModel) -> int:
    """How many of ``model``'s bootstrap replicates :class:`LmmReplicates` runs together."""
    return _batch_size(_batchable(model, _singular_start(model)), model)


def _shift_values(X: Array, shift: Shift) -> Array | float:
    """What is subtracted from ``y − offset`` to store it (as ``frame_blocks`` does)."""
    value, intercept = shift
    if intercept is None and np.ndim(value) == 1:
        return X @ np.asarray(value, dtype=float)
    return float(np.asarray(value))
