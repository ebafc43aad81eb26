"""The objective of an LMM with a residual structure: ``(θ, residual parameters) ↦ −2 log L``.

With ``Cov(ε_g) = σ² S_g R_g S_g`` per residual group and ``C_g`` its Cholesky factor, the model
of the whitened rows ``C_g⁻¹ [z X y]`` (:mod:`mixedmodels.linalg.whitening`) has independent
residuals, and each residual group lies within one level of every grouping factor, so the
whitened ``z`` rows keep their levels. Its stored blocks (:func:`whitened_blocks`, by
:func:`~mixedmodels.linalg.crossprod.cross_products`, never a dense ``Z``) and a blocked factor
give the profiled criterion as for any LMM, and the original model's ``−2 log L`` (ML or REML)
is that plus ``log|S R S|``, passed to :func:`~mixedmodels.objective.lmm.profiled_criterion`
as ``log_weights = −log|S R S|`` (prior weights ``w`` whiten by ``√w`` and contribute
``−Σ log w``).

For the optimizer the SD multipliers are divided by their geometric mean ``g`` (``normalize``):
``σ g`` then stays near the σ of the model without the structure and ``θ / g`` near its θ, so
the ordinary fit's θ is a good start whatever the scale of ``|v|^δ``. The criterion is the
same function of the model (``f̃(θ̃, u) = f(g θ̃, u)``): :meth:`ResidualObjective.model_theta`
converts.

Like :class:`~mixedmodels.objective.lmm.LmmObjective` it is a value with a working factor of
its own; evaluating it never touches a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.linalg.cholesky import BlockedCholesky
from mixedmodels.linalg.crossprod import CrossProducts, cross_products
from mixedmodels.linalg.markov_whitening import MarkovFactor, markov_factor
from mixedmodels.linalg.model_blocks import Shift
from mixedmodels.linalg.whitening import ResidualFactor, residual_factor
from mixedmodels.objective.lmm import profiled_criterion
from mixedmodels.spec.random import RandomEffectsTerm, term_templates
from mixedmodels.spec.residual import ResidualStructure

__all__ = ["ResidualObjective", "Whitened", "whitened_blocks"]

Array = FloatArray


@dataclass(frozen=True)
class Whitened:
    """The whitened model at some residual parameters.

    Attributes
    ----------
    terms
        The random-effects terms with whitened ``z`` (the same levels and rows).
    A
        The stored blocks of the whitened ``[Z X y−shift]``.
    factor
        The residual covariance's factors.
    logdet
        ``log|S R S|`` of the (normalized) multipliers.
    scale
        The geometric mean ``g`` the multipliers were divided by (1 without normalizing).
    """

    terms: list[RandomEffectsTerm]
    A: CrossProducts
    factor: ResidualFactor | MarkovFactor
    logdet: float
    scale: float


def whitened_blocks(
    structure: ResidualStructure,
    terms: list[RandomEffectsTerm],
    xy: Array,
    u: Array,
    fitted: Array | None = None,
    normalize: bool = False,
    markov: bool = True,
    columns: Array | None = None,
) -> Whitened:
    """Whiten ``z`` of every term and ``xy = [X y−shift]`` at ``u``; their stored blocks.

    ``markov``: whiten an AR(1)-type correlation (or a variance function alone) by its
    bidiagonal inverse factor (:mod:`mixedmodels.linalg.markov_whitening`) rather than by
    factorizing each group's covariance (the same factor). ``columns``: ``[z of every term,
    xy]`` stacked, when the caller holds them (they do not depend on ``u``).

    Raises
    ------
    numpy.linalg.LinAlgError
        When a residual covariance is not positive definite.
    """
    fast = markov and structure.markov
    correlations, sd = ([], structure.sd(u, fitted)) if fast else structure.parts(u, fitted)
    scale = 1.0
    if sd is not None:
        if not np.all(np.isfinite(sd) & (sd > 0.0)):
            raise np.linalg.LinAlgError("a residual SD multiplier is not positive and finite")
        if normalize:
            scale = float(np.exp(np.mean(np.log(sd))))
            sd = sd / scale
    factor: ResidualFactor | MarkovFactor
    if fast:
        factor = markov_factor(structure.layout.chain, structure.phi(u), sd)
    else:
        factor = residual_factor(structure.layout, correlations, sd)
    if columns is None:
        columns = stacked_columns(terms, xy)
    white = factor.whiten(columns)
    ends = np.cumsum([t.k for t in terms]).tolist()
    starts = [0, *ends[:-1]]
    new_terms = [
        replace(t, z=np.ascontiguousarray(white[:, a:b]))
        for t, a, b in zip(terms, starts, ends, strict=True)
    ]
    stop = ends[-1] if ends else 0
    A = cross_products(new_terms, np.ascontiguousarray(white[:, stop:]), None)
    return Whitened(new_terms, A, factor, factor.logdet(), scale)


def stacked_columns(terms: list[RandomEffectsTerm], xy: Array) -> Array:
    """``[z of every term, xy]`` side by side: what the whitening transforms."""
    return np.column_stack([t.z for t in terms] + [xy])


@dataclass
class ResidualObjective:
    """The criterion of ``x = (θ, u)``: θ of the terms, ``u`` the unconstrained residual ones.

    Attributes
    ----------
    structure
        The residual structure.
    terms
        The random-effects terms (original rows).
    xy
        ``[X y−shift]`` of the original rows; ``shift`` as stored (see the factor).
    offset
        The offset per row (added to fitted values).
    nobs, n_fixed
        Observations and estimable fixed-effect columns.
    reml
        REML criterion (True) or ML deviance.
    lower
        Lower bounds of θ.
    fitted
        The covariate of a variance function of the fitted values (held fixed here).
    normalize
        Divide the SD multipliers by their geometric mean (the optimizer's scale), see the
        module docstring.
    markov
        Whiten AR(1)-type correlations by their bidiagonal inverse factor (see
        :func:`whitened_blocks`); ``False``: by the general factorization (the same criterion).
    """

    structure: ResidualStructure
    terms: list[RandomEffectsTerm]
    xy: Array
    shift: Shift
    offset: Array
    nobs: int
    n_fixed: int
    reml: bool
    lower: Array
    fitted: Array | None = None
    normalize: bool = True
    markov: bool = True
    _last: tuple[bytes, Whitened, BlockedCholesky] | None = field(default=None, repr=False)
    _columns: Array | None = field(default=None, repr=False)

    @property
    def n_theta(self) -> int:
        """Number of θ's."""
        return int(self.lower.shape[0])

    @property
    def bounds(self) -> Array:
        """Lower bounds of ``x``: θ's, then ``−∞`` for the residual parameters."""
        return np.concatenate([self.lower, np.full(self.structure.n_params, -np.inf)])

    def split(self, x: Array) -> tuple[Array, Array]:
        """``(θ, u)`` of ``x``."""
        x = np.asarray(x, dtype=np.float64)
        return x[: self.n_theta], x[self.n_theta :]

    def whitened(self, u: Array) -> tuple[Whitened, BlockedCholesky]:
        """The whitened blocks at ``u`` and a factor of them (kept for the next ``u``)."""
        u = np.asarray(u, dtype=np.float64)
        key = u.tobytes() + (b"" if self.fitted is None else self.fitted.tobytes())
        if self._last is not None and self._last[0] == key:
            return self._last[1], self._last[2]
        if self._columns is None:
            self._columns = stacked_columns(self.terms, self.xy)
        white = whitened_blocks(
            self.structure,
            self.terms,
            self.xy,
            u,
            self.fitted,
            self.normalize,
            self.markov,
            self._columns,
        )
        factor = BlockedCholesky(white.terms, white.A)
        factor.set_response_shift(*self.shift)
        self._last = (key, white, factor)
        return white, factor

    def __call__(self, x: Array) -> float:
        """The criterion at ``x`` (``inf`` where a covariance or the factor does not exist)."""
        theta, u = self.split(x)
        try:
            white, factor = self.whitened(u)
            factor.update(theta)
        except (np.linalg.LinAlgError, FloatingPointError, OverflowError):
            return math.inf
        if not math.isfinite(white.logdet):
            return math.inf
        value = profiled_criterion(factor, self.nobs, self.n_fixed, -white.logdet, self.reml)
        return value if math.isfinite(value) else math.inf

    def model_theta(self, x: Array) -> Array:
        """θ of the model (multipliers not normalized) for the optimizer's ``x``."""
        theta, u = self.split(x)
        if not self.normalize or self.structure.variance is None:
            return theta.copy()
        return theta * self.whitened(u)[0].scale

    def optimizer_theta(self, theta: Array, u: Array) -> Array:
        """The optimizer's θ for the model's ``theta`` at ``u`` (inverse of :meth:`model_theta`)."""
        if not self.normalize or self.structure.variance is None:
            return np.array(theta, dtype=np.float64)
        return np.asarray(theta, dtype=np.float64) / self.whitened(u)[0].scale

    def fitted_values(self, x: Array) -> Array:
        """Conditional fitted values ``Xβ̂ + Zb̃ + offset`` of the original rows at ``x``."""
        theta, u = self.split(x)
        _, factor = self.whitened(u)
        factor.update(theta)
        beta = factor.fixed_effects()
        modes = factor.spherical_modes(beta)
        eta = self.xy[:, : self.n_fixed] @ beta + self.offset
        for term, uj, T in zip(self.terms, modes, term_templates(self.terms, theta), strict=True):
            b = uj.reshape(term.nlevels, term.k) @ T.T
            eta = eta + np.einsum("ik,ik->i", term.z, b[term.refs])
        return np.asarray(eta)
