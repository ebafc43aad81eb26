"""The objective of a GLMM as a value: ``(θ, β) ↦ -2 log L`` and its exact gradient (lme4's devfun).

A :class:`GlmmObjective` holds the PIRLS engine of a model (:mod:`mixedmodels.objective.laplace`,
or :mod:`mixedmodels.objective.laplace_scalar` for one scalar term), the lower bounds of θ, the
numbers of covariance parameters and fixed effects, and the number of quadrature points. Called
at ``params = (θ, β)`` it runs PIRLS to the conditional modes and returns the Laplace
approximation of ``-2 log L`` on lme4's scale (``nagq = 1``, or ``0``: the same function, which
glmer's ``nAGQ = 0`` minimizes over θ only), or with ``nagq > 1`` lme4's adaptive Gauss–Hermite
deviance. It is what glmer's two stages (:mod:`mixedmodels.fit.glmm`) minimize and what a user
can evaluate anywhere::

    model = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    f = model.objective_function  # on its own copy of the engine
    f(model.params) == model.objective  # True
    f.gradient(model.params)  # ≈ 0 at the optimum

Evaluating moves the engine's modes (PIRLS starts from the last ones), so an objective shares
its state with whatever else uses the same engine: :meth:`GlmmObjective.detached` gives one with
its own copy. :meth:`GlmmObjective.with_nagq` gives the same objective with another number of
quadrature points, sharing the engine.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.linalg.selected_inverse import selected_inverse_cost
from mixedmodels.objective.laplace import BlockedEngine, GlmmData, LaplaceEngine
from mixedmodels.objective.laplace_gradient import laplace_gradient
from mixedmodels.objective.laplace_scalar import ScalarEngine, agq_deviance

__all__ = ["MAX_GRADIENT_COST", "GlmmObjective", "copy_engine"]

Array = FloatArray
MAX_GRADIENT_COST = 5e8  # flops of the selected inverse above which stage 2 is derivative-free


def copy_engine(engine: LaplaceEngine, data: GlmmData | None = None) -> LaplaceEngine:
    """A copy of ``engine`` in its current state that shares the data and the terms.

    Parameters
    ----------
    engine
        The engine to copy (its modes, factor and PIRLS history come along).
    data
        The data of the copy (e.g. the same with another family); the engine's by default.
        With other data the copy's modes are only where PIRLS starts.
    """
    old = engine.data
    shared: dict[int, object] = {id(t): t for t in old.terms}
    shared[id(old)] = old if data is None else data
    new = copy.deepcopy(engine, shared)
    if data is not None and data is not old:
        new.forget_fit()  # the modes are a start for the new data, not its modes
    return new


@dataclass(frozen=True)
class GlmmObjective:
    """``-2 log L`` of a GLMM as a function of ``params = (θ, β)``, with its exact gradient.

    Attributes
    ----------
    engine
        The PIRLS engine (blocked, or scalar for one scalar term); evaluating moves its modes.
    lower
        Lower bounds of θ (0 on the diagonals of the templates, ``-inf`` elsewhere).
    n_fixed
        Number of fixed effects ``p``.
    nagq
        Quadrature points: 1 (or 0) for the Laplace approximation, more for adaptive
        Gauss–Hermite quadrature (one scalar term only).
    """

    engine: LaplaceEngine
    lower: Array
    n_fixed: int
    nagq: int = 1

    def __post_init__(self) -> None:
        if self.nagq > 1 and not isinstance(self.engine, ScalarEngine):
            raise ModelSpecificationError(
                "nagq > 1 is only available for models with a single, scalar random-effects term"
            )

    @property
    def n_theta(self) -> int:
        """Number of covariance parameters."""
        return int(self.lower.shape[0])

    @property
    def all_lower(self) -> Array:
        """Lower bounds of (θ, β): those of θ, then none."""
        return np.concatenate([self.lower, np.full(self.n_fixed, -np.inf)])

    def split(self, params: Array) -> tuple[Array, Array]:
        """``(θ, β)`` of a parameter vector."""
        x = np.asarray(params, dtype=float)
        return x[: self.n_theta], x[self.n_theta :]

    def __call__(self, params: Array) -> float:
        """The Laplace (or quadrature) objective at ``params``; ``inf`` where PIRLS fails."""
        theta, beta = self.split(params)
        value = self.engine.evaluate(theta, beta)
        if self.nagq <= 1 or not math.isfinite(value):
            return value
        assert isinstance(self.engine, ScalarEngine)
        return agq_deviance(self.engine, self.nagq)

    def gradient(self, params: Array) -> Array:
        """The exact gradient of the Laplace objective at ``params`` (whatever ``nagq``).

        Raises
        ------
        PirlsError
            When PIRLS fails at ``params``.
        """
        theta, beta = self.split(params)
        self.engine.fit_modes(theta, beta, with_beta=False)
        return laplace_gradient(self.engine)

    @property
    def gradient_affordable(self) -> bool:
        """Whether the exact gradient's selected inverse is cheap enough to form."""
        engine = self.engine
        return not isinstance(engine, BlockedEngine) or (
            selected_inverse_cost(engine.L) <= MAX_GRADIENT_COST
        )

    @property
    def has_gradient(self) -> bool:
        """Whether the gradient is that of this objective (Laplace) and affordable."""
        return self.nagq == 1 and self.gradient_affordable

    @property
    def thread_limit(self) -> int:
        """BLAS threads from the size of the largest dense block (one for small models)."""
        engine = self.engine
        if not isinstance(engine, BlockedEngine):
            return 1  # vectors and tiny matrices: no threads to speak of
        return engine.L.thread_limit()

    def with_nagq(self, nagq: int) -> GlmmObjective:
        """The same objective with ``nagq`` quadrature points, sharing the engine."""
        return replace(self, nagq=nagq)

    def detached(self) -> GlmmObjective:
        """The same objective on a copy of the engine (so evaluating it moves nothing else)."""
        return replace(self, engine=copy_engine(self.engine))
