"""PIRLS and the Laplace approximation of a GLMM's deviance (lme4's ``pwrssUpdate``).

For covariance parameters θ and fixed effects β, the conditional modes ``ũ`` of the spherical
random effects minimize the penalized deviance ``Σ dev_i(η) + ‖u‖²`` with
``η = offset + Xβ + ZΛu``. Penalized iteratively reweighted least squares finds them: at the
current ``η`` take the working weights ``w = a μ'(η)²/V(μ)`` and the working response, solve
the weighted penalized least-squares problem with the blocked Cholesky factor of
``Λ'Z'WZΛ + I`` (and, in glmer's first stage, for β too), halve the step while the penalized
deviance does not decrease, and stop when the modes no longer move.

Each step is solved for as an increment from the gradient
(:mod:`mixedmodels.objective.pirls_steps`), so that working weights of 1e13 (Poisson counts that
large) cost no digits of ``η``; where they cost the factor its digits — the Schur complement of
``X``, or crossed terms' ``Λ'Z'WZΛ + I`` with an eigenvalue ~1 among entries ~1e14 — that part
is recomputed without cancellation (:mod:`mixedmodels.linalg.orthogonal`).

The Laplace approximation of ``-2 log L`` is then lme4's::

    aic(μ̃) + ‖ũ‖² + log|Λ'Z'WZΛ + I|

with ``aic`` the family's ``-2 log p(y | μ)``. Unlike lme4, the iteration runs to full
convergence and the log-determinant is taken at the converged weights, which makes the
objective a smooth function of (θ, β) that agrees with glmmTMB's.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError, PirlsError
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.blocksolve import lower_solve, upper_solve
from mixedmodels.linalg.orthogonal import (
    digits_lost,
    logdet_traces,
    orthogonal_applicable,
    orthogonal_update,
)
from mixedmodels.linalg.selected_inverse import SelectedInverse, selected_inverse
from mixedmodels.linalg.weighted_blocks import WeightedBlocks
from mixedmodels.objective.pirls_steps import fixed_factor, increments
from mixedmodels.spec.families import Family
from mixedmodels.spec.random import RandomEffectsTerm

__all__ = ["BlockedEngine", "GlmmData", "LaplaceEngine", "PirlsError", "Working", "working"]

Array = FloatArray
MAXIT = 100  # PIRLS iterations
MAX_HALVING = 20
TOL = 1e-10  # on the largest change of u (and β), relative to 1 + max|u|
STALL_TOL = 1e-11  # a penalized deviance that no longer decreases, relative to 1 + itself
STALL_AFTER = 8  # iterations before a stalled deviance ends PIRLS (separation: β → ±∞)


@dataclass(frozen=True)
class GlmmData:
    """What the engines need of a model: family, response, weights, offset, X and the terms."""

    family: Family
    y: Array
    weights: Array  # prior weights, trials included
    trials: Array  # binomial trials (lme4's resp$n)
    offset: Array
    X: Array
    terms: Sequence[RandomEffectsTerm]

    @property
    def q(self) -> int:
        """Number of random effects."""
        return sum(t.q for t in self.terms)


@dataclass(frozen=True)
class Working:
    """Elementwise quantities at a linear predictor ``η``.

    Attributes
    ----------
    eta, mu, mu_eta, var
        ``η``, ``μ``, ``dμ/dη`` and ``V(μ)``.
    w
        Working (Fisher) weights ``a μ'²/V``.
    d1
        ``∂dev_i/∂η_i``.
    dev
        Deviance residuals (squared).
    """

    eta: Array
    mu: Array
    mu_eta: Array
    var: Array
    w: Array
    d1: Array
    dev: Array


def working(data: GlmmData, eta: Array) -> Working:
    """The working quantities at ``η``."""
    fam = data.family
    with np.errstate(all="ignore"):  # outside the support: non-finite, and rejected
        mu = fam.link.inverse(eta)
        mu_eta = fam.link.mu_eta(eta)
        var = fam.variance(mu)
        w = data.weights * mu_eta**2 / var
        d1 = -2.0 * data.weights * (data.y - mu) * mu_eta / var
        dev = fam.dev_resid(data.y, mu, data.weights)
    return Working(eta, mu, mu_eta, var, w, d1, dev)


def newton_shift(d1: Array, omega: Array) -> Array:
    """``d1 / 2ω``: how far the working response lies from ``η`` (0 where ``ω = 0``)."""
    return np.divide(d1, 2.0 * omega, out=np.zeros_like(d1), where=omega > 0)


def second_derivatives(data: GlmmData, wk: Working) -> tuple[Array, Array]:
    """``∂²dev_i/∂η_i² / 2`` (observed weights) and ``∂w_i/∂η_i``."""
    fam = data.family
    dmu = fam.link.mu_eta_deriv(wk.eta)
    dvar = fam.dvariance(wk.mu)
    a, r = data.weights, data.y - wk.mu
    observed = a * (wk.mu_eta**2 / wk.var - r * (dmu / wk.var - wk.mu_eta**2 * dvar / wk.var**2))
    dw = a * (2.0 * wk.mu_eta * dmu / wk.var - wk.mu_eta**3 * dvar / wk.var**2)
    return observed, dw


class LaplaceEngine(ABC):
    """Conditional modes and the Laplace objective for one model; keeps the last modes.

    Parameters
    ----------
    data
        The model's family, response, weights, offset, X and terms.
    """

    def __init__(self, data: GlmmData) -> None:
        self.data = data
        self.u: Array = np.zeros(data.q)
        self.beta: Array = np.zeros(data.X.shape[1])
        self.theta: Array = np.concatenate([t.initial_theta() for t in data.terms])
        self.eta: Array = np.zeros(len(data.y))
        self.wk: Working | None = None
        self.offsets = np.concatenate([[0], np.cumsum([t.q for t in data.terms])]).astype(int)
        self._eta0: Array | None = None
        self.sensitivity: tuple[Array, Array, Array] | None = None  # (θβ, u, dũ/d(θβ))
        self.sensitivity1: tuple[Array, Array, Array, Array, Array] | None = None  # stage 1
        self._fitted: tuple[bool, Array, Array | None] | None = None

    def split(self, u: Array) -> list[Array]:
        """``u`` as one ``(levels, k)`` array per term."""
        off = self.offsets
        return [
            u[off[j] : off[j + 1]].reshape(t.nlevels, t.k) for j, t in enumerate(self.data.terms)
        ]

    # ---- what each engine provides ------------------------------------------------------
    @abstractmethod
    def set_theta(self, theta: Array) -> None:
        """Use covariance parameters ``theta`` from now on."""

    @abstractmethod
    def random_part(self, u: Array) -> Array:
        """``ZΛu``, one value per observation."""

    @abstractmethod
    def step(
        self, wk: Working, omega: Array, u: Array, beta: Array, with_beta: bool
    ) -> tuple[Array, Array]:
        """Factor with weights ``omega`` at ``wk`` (state ``u``, ``β``); the full update.

        With the Fisher weights ``wk.w`` this is a PIRLS (scoring) step; with the observed
        information it is a Newton step on the penalized deviance.
        """

    @abstractmethod
    def logdet(self) -> float:
        """``log|Λ'Z'WZΛ + I|`` of the current factor."""

    # ---- PIRLS ---------------------------------------------------------------------------
    def linear_predictor(self, u: Array, beta: Array) -> Array:
        """``η = offset + Xβ + ZΛu``."""
        return self.data.offset + self.data.X @ beta + self.random_part(u)

    def start(self, beta: Array, mu: Array | None = None) -> None:
        """Start PIRLS from ``u = 0`` and ``beta`` (or after a failure).

        With ``mu``, the first iteration takes its working weights and response at
        ``η = g(mu)`` instead (R's ``mustart``), as glmer's first PIRLS does.
        """
        self.u = np.zeros(self.data.q)
        self.beta = np.asarray(beta, dtype=float).copy()
        self._eta0 = None if mu is None else self.data.family.link.link(mu)
        self._fitted = None
        self.sensitivity = None
        self.sensitivity1 = None

    def forget_fit(self) -> None:
        """Keep the modes only as a start: the next :meth:`fit_modes` runs PIRLS from them.

        For a copy of the engine given other data (another family): its modes are no longer
        those of the point they were fitted at.
        """
        self._fitted = None

    def fit_modes(self, theta: Array, beta: Array | None = None, *, with_beta: bool) -> None:
        """Run PIRLS at ``theta`` (and fixed ``beta`` unless ``with_beta``), from the last modes.

        Raises
        ------
        PirlsError
            When the penalized deviance cannot be reduced or does not converge.
        """
        if self.is_fitted_at(theta, beta, with_beta=with_beta):
            return
        self._fitted = None
        self.set_theta(np.array(theta, dtype=float))
        b = self.beta if with_beta or beta is None else np.asarray(beta, dtype=float)
        if with_beta:
            u0, b = self._predicted_stage1(self.theta)
        else:
            u0 = self._predicted_modes(self.theta, b)
        try:
            self._pirls(u0, b.copy(), with_beta)
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            self.start(b)  # a bad start (e.g. after an extreme θ): once more from u = 0
            self._pirls(self.u.copy(), b.copy(), with_beta)
        given = None if with_beta or beta is None else np.array(beta, dtype=float)
        self._fitted = (with_beta, self.theta.copy(), given)

    def is_fitted_at(self, theta: Array, beta: Array | None, *, with_beta: bool) -> bool:
        """Whether the current modes are those of ``fit_modes(theta, beta, with_beta=...)``."""
        if self._fitted is None:
            return False
        fitted_with, fitted_theta, fitted_beta = self._fitted
        if fitted_with != with_beta or not np.array_equal(fitted_theta, theta):
            return False
        if with_beta:
            return True
        return fitted_beta is not None and beta is not None and np.array_equal(fitted_beta, beta)

    def _predicted_modes(self, theta: Array, beta: Array) -> Array:
        """A start for PIRLS: the last modes moved along their known derivatives."""
        if self.sensitivity is None:
            return self.u.copy()
        x0, u0, D = self.sensitivity
        x = np.concatenate([theta, beta])
        if x.shape != x0.shape:
            return self.u.copy()
        shift = D @ (x - x0)
        if not np.all(np.isfinite(shift)) or float(np.max(np.abs(shift), initial=0.0)) > 1.0:
            return self.u.copy()
        return u0 + shift

    def _predicted_stage1(self, theta: Array) -> tuple[Array, Array]:
        """Stage 1's start: modes and β moved along their derivatives in θ."""
        if self.sensitivity1 is None or self.sensitivity1[0].shape != theta.shape:
            return self.u.copy(), self.beta.copy()
        theta0, u0, b0, Du, Db = self.sensitivity1
        step = theta - theta0
        du, db = Du @ step, Db @ step
        ok = np.all(np.isfinite(du)) and np.all(np.isfinite(db))
        if not ok or float(np.max(np.abs(du), initial=0.0)) > 1.0:
            return self.u.copy(), self.beta.copy()
        return u0 + du, b0 + db

    def _pirls(self, u: Array, beta: Array, with_beta: bool) -> None:
        """The PIRLS iterations with step halving."""
        if self._eta0 is not None:
            wk, pdev = working(self.data, self._eta0), math.inf  # R's mustart
            self._eta0 = None
        else:
            wk = working(self.data, self.linear_predictor(u, beta))
            pdev = _penalized(wk, u)
            if not math.isfinite(pdev):
                raise PirlsError("the starting point gives a non-finite deviance")
        canonical = self.data.family.canonical
        stalled = 0
        for iteration in range(MAXIT):
            omega = wk.w if canonical else self._newton_weights(wk)
            u_new, b_new = self.step(wk, omega, u, beta, with_beta)
            u_new, b_new, wk_new, pdev_new = self._halve(u, beta, u_new, b_new, pdev)
            change = float(np.max(np.abs(u_new - u), initial=0.0))
            if with_beta:
                change = max(change, float(np.max(np.abs(b_new - beta), initial=0.0)))
            flat = pdev - pdev_new <= STALL_TOL * (1.0 + abs(pdev_new))
            stalled = stalled + 1 if flat else 0
            u, beta, wk, pdev = u_new, b_new, wk_new, pdev_new
            small = change <= TOL * (1.0 + float(np.max(np.abs(u), initial=0.0)))
            # separated data: the deviance is flat while β (or u) walks to infinity
            if small or (stalled >= 2 and iteration >= STALL_AFTER):
                self.u, self.beta, self.eta, self.wk = u, beta, wk.eta, wk
                if not canonical:  # the factor must hold the Fisher weights at the modes
                    self.step(wk, wk.w, u, beta, with_beta)
                return
        raise PirlsError(f"PIRLS did not converge in {MAXIT} iterations")

    def _newton_weights(self, wk: Working) -> Array:
        """The observed information when it is positive (Newton steps), else Fisher's."""
        observed, _ = second_derivatives(self.data, wk)
        ok = bool(np.all(np.isfinite(observed)) and np.all(observed[wk.w > 0] > 0))
        return observed if ok else wk.w

    def _halve(
        self, u: Array, beta: Array, u_new: Array, b_new: Array, pdev: float
    ) -> tuple[Array, Array, Working, float]:
        """Halve the step until the penalized deviance does not increase."""
        slack = 1e-12 * (1.0 + abs(pdev)) if math.isfinite(pdev) else math.inf
        for _ in range(MAX_HALVING):
            wk = working(self.data, self.linear_predictor(u_new, b_new))
            value = _penalized(wk, u_new)
            if math.isfinite(value) and value <= pdev + slack:
                return u_new, b_new, wk, value
            u_new, b_new = 0.5 * (u + u_new), 0.5 * (beta + b_new)
        if math.isfinite(value) and float(np.max(np.abs(u_new - u), initial=0.0)) < 1e-8:
            return u_new, b_new, wk, value  # round-off at the optimum
        raise PirlsError("PIRLS step halving failed to reduce the penalized deviance")

    # ---- objectives ----------------------------------------------------------------------
    def aic(self) -> float:
        """The family's ``-2 log p(y | μ)`` at the current modes."""
        wk = self._current()
        d = self.data
        return d.family.aic(d.y, d.trials, wk.mu, d.weights, float(np.sum(wk.dev)))

    def laplace(self) -> float:
        """lme4's Laplace objective at the current modes: ``aic + ‖u‖² + log|L|²``."""
        return self.aic() + float(self.u @ self.u) + self.logdet()

    def deviance_laplace(self) -> float:
        """The same with the deviance residuals in place of aic (lme4's nAGQ > 1 scale)."""
        return float(np.sum(self._current().dev)) + float(self.u @ self.u) + self.logdet()

    def _current(self) -> Working:
        if self.wk is None:
            raise ModelSpecificationError("the conditional modes have not been computed")
        return self.wk

    def evaluate(self, theta: Array, beta: Array) -> float:
        """The Laplace objective at (θ, β) (``inf`` where PIRLS fails)."""
        try:
            self.fit_modes(theta, beta, with_beta=False)
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            return math.inf
        return self.laplace()

    def evaluate_stage1(self, theta: Array) -> float:
        """The first-stage objective of glmer (β inside PIRLS), ``inf`` where PIRLS fails."""
        try:
            self.fit_modes(theta, with_beta=True)
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            return math.inf
        return self.laplace()

    # ---- for the gradient ----------------------------------------------------------------
    @abstractmethod
    def random_part_multi(self, V: Array) -> Array:
        """``ZΛV`` for ``V`` of shape ``(q, r)``; ``(n, r)``."""

    @abstractmethod
    def random_part_t(self, V: Array) -> Array:
        """``Λ'Z'V`` for ``V`` of shape ``(n, r)``; ``(q, r)``."""

    @abstractmethod
    def solve_observed(self, G: Array, observed: Array) -> Array:
        """``(Λ'Z'ΩZΛ + I)⁻¹ G`` for the observed weights ``Ω`` (the factor if they are W)."""

    @abstractmethod
    def solve_joint(self, Gu: Array, Gb: Array, observed: Array) -> tuple[Array, Array]:
        """Solve the penalized least-squares system in (u, β) with weights ``observed``."""

    @abstractmethod
    def leverages(self) -> list[Array]:
        """``ρ_r``: per term, ``(n, k_r)`` rows of ``(Λ'Z'WZΛ + I)⁻¹ Λ'Z'`` at each level."""

    def logdet_traces(self, rho: list[Array], where: list[tuple[int, int, int]]) -> Array:
        """``2 tr(M⁻¹Λ'Z'WZE_k)`` for each θ_k (the template entry ``(term, a, b)``)."""
        w = self._current().w
        terms = self.data.terms
        return np.array([2.0 * float(w @ (terms[r].z[:, a] * rho[r][:, b])) for r, a, b in where])

    @abstractmethod
    def zeta(self) -> list[Array]:
        """``ζ_r = z_r T_r``: per term, the rows of ``ZΛ``, ``(n, k_r)``."""

    @abstractmethod
    def fixed_precision(self) -> Array:
        """``R_X R_Xᵀ``: the Schur complement of ``X'WX`` (lme4's unscaled ``vcov``⁻¹)."""


def _penalized(wk: Working, u: Array) -> float:
    """Penalized deviance ``Σ dev + ‖u‖²`` (``inf`` for a step that overflowed)."""
    with np.errstate(invalid="ignore", over="ignore"):  # an overshooting step: halved after
        value = float(np.sum(wk.dev)) + float(u @ u)
    return value if math.isfinite(value) else math.inf


class BlockedEngine(LaplaceEngine):
    """PIRLS on the blocked Cholesky factor: any number of terms of any size."""

    def __init__(self, data: GlmmData) -> None:
        super().__init__(data)
        n = len(data.y)
        self.blocks = WeightedBlocks(data.terms, data.X)
        self.L = BlockedCholesky(data.terms, self.blocks.build(np.ones(n), np.zeros(n)))
        self._observed: BlockedCholesky | None = None
        self.templates = self.L.templates(self.theta)
        self.RX: Array = self.L.xx[: data.X.shape[1], : data.X.shape[1]]  # of the last step
        self.orthogonal = False  # whether the last step's factor is by orthogonal elimination
        self._si: SelectedInverse | None = None  # of the last step's factor

    def set_theta(self, theta: Array) -> None:
        """Use covariance parameters ``theta`` from now on."""
        self.theta = theta
        self.templates = self.L.templates(theta)

    def random_part(self, u: Array) -> Array:
        """``ZΛu``."""
        out = np.zeros(len(self.data.y))
        for term, T, uj in zip(self.data.terms, self.templates, self.split(u), strict=True):
            b = uj @ T.T
            out += (
                term.z[:, 0] * b[term.refs, 0]
                if term.k == 1
                else np.einsum("ik,ik->i", term.z, b[term.refs])
            )
        return out

    def step(
        self, wk: Working, omega: Array, u: Array, beta: Array, with_beta: bool
    ) -> tuple[Array, Array]:
        """Factor with weights ``omega`` and return the full update ``(u, β)``.

        The factor holds the working residual ``z − η`` in place of the working response, and
        the update is solved for as a step (:func:`~mixedmodels.objective.pirls_steps.increments`).
        """
        L = self.L
        # z − η for the current (u, β) (not wk.eta: R's mustart takes wk at another η)
        resid = wk.eta - self.linear_predictor(u, beta) - newton_shift(wk.d1, omega)
        L.set_blocks(self.blocks.build(omega, resid))
        self.orthogonal = self._update(L, omega, resid)
        self._si = None
        if self.orthogonal:
            self.RX = L.xx[: len(beta), : len(beta)]
        else:  # fixed_factor mends an X block that lost its digits
            self.RX = fixed_factor(L, self.data.X, omega, self.random_part_multi)
        du, db = increments(L, self.RX if with_beta else None, u)
        return u + du, beta + db if with_beta else beta

    def logdet(self) -> float:
        """``log|Λ'Z'WZΛ + I|`` of the current factor."""
        return float(self.L.logdet_z)

    def _update(self, L: BlockedCholesky, omega: Array, resid: Array) -> bool:
        """Update ``L`` at θ; True where that took the orthogonal elimination.

        That is where the Cholesky update of crossed terms lost digits to huge weights (or
        failed), :mod:`mixedmodels.linalg.orthogonal`.
        """
        if not orthogonal_applicable(L, len(omega)) or not np.all(omega >= 0):
            L.update(self.theta, lenient_xx=True)
            return False
        try:
            L.update(self.theta, lenient_xx=True)
            if not digits_lost(L, self.theta):
                return False
        except np.linalg.LinAlgError:
            pass
        orthogonal_update(L, self.data.X, omega, resid, self.theta)
        return True

    # ---- for the gradient ----------------------------------------------------------------
    def zeta(self) -> list[Array]:
        """The rows of ``ZΛ`` per term."""
        return [t.z @ T for t, T in zip(self.data.terms, self.templates, strict=True)]

    def random_part_multi(self, V: Array) -> Array:
        """``ZΛV``."""
        out = np.zeros((len(self.data.y), V.shape[1]))
        off = self.offsets
        for j, (term, T) in enumerate(zip(self.data.terms, self.templates, strict=True)):
            b = np.einsum(
                "ab,gbr->gar", T, V[off[j] : off[j + 1]].reshape(term.nlevels, term.k, -1)
            )
            out += np.asarray(self.blocks.zt[j].T @ b.reshape(term.q, -1))
        return out

    def random_part_t(self, V: Array) -> Array:
        """``Λ'Z'V``."""
        out = np.empty((self.data.q, V.shape[1]))
        off = self.offsets
        for j, (term, T) in enumerate(zip(self.data.terms, self.templates, strict=True)):
            ztv = np.asarray(self.blocks.zt[j] @ V).reshape(term.nlevels, term.k, V.shape[1])
            block = np.einsum("ac,gar->gcr", T, ztv)
            out[off[j] : off[j + 1]] = block.reshape(term.q, V.shape[1])
        return out

    def solve_observed(self, G: Array, observed: Array) -> Array:
        """``(Λ'Z'ΩZΛ + I)⁻¹ G``."""
        L = self.L
        if not np.allclose(observed, self._current().w, rtol=1e-10, atol=0.0):
            L = self._observed_factor(observed)
        return upper_solve(L, lower_solve(L, G))

    def solve_joint(self, Gu: Array, Gb: Array, observed: Array) -> tuple[Array, Array]:
        """Solve the system in (u, β)."""
        L = self.L
        if not np.allclose(observed, self._current().w, rtol=1e-10, atol=0.0):
            L = self._observed_factor(observed)
        p = Gb.shape[0]
        CX = np.vstack([xz[:p].T for xz in L.xz])  # L_Z⁻¹Λ'Z'WX, (q, p)
        RX = (
            self.RX
            if L is self.L
            else fixed_factor(L, self.data.X, observed, self.random_part_multi)
        )
        a = lower_solve(L, Gu)
        rhs = Gb - CX.T @ a
        db = scipy.linalg.solve_triangular(RX, rhs, lower=True, check_finite=False)
        db = scipy.linalg.solve_triangular(RX, db, lower=True, trans="T", check_finite=False)
        return upper_solve(L, a - CX @ db), db

    def _observed_factor(self, observed: Array) -> BlockedCholesky:
        """The factor with the observed information as weights (non-canonical links)."""
        n = len(self.data.y)
        A = self.blocks.build(observed, np.zeros(n))
        if self._observed is None:
            self._observed = BlockedCholesky(self.data.terms, A)
        else:
            self._observed.set_blocks(A)
        self._update(self._observed, observed, np.zeros(n))
        return self._observed

    def fixed_precision(self) -> Array:
        """``R_X R_Xᵀ``."""
        return np.asarray(self.RX @ self.RX.T)

    def leverages(self) -> list[Array]:
        """``ρ_r`` per term."""
        return _rho(self.data.terms, self.zeta(), self._selected(), self.blocks.block_of_row)

    def logdet_traces(self, rho: list[Array], where: list[tuple[int, int, int]]) -> Array:
        """As the base class, or from ``M⁻¹``'s diagonal blocks after orthogonal elimination."""
        if self.orthogonal:
            traces = logdet_traces(self.data.terms, self.templates, self._selected(), where)
            if traces is not None:
                return traces
        return super().logdet_traces(rho, where)

    def _selected(self) -> SelectedInverse:
        if self._si is None:
            self._si = selected_inverse(self.L, fixed=False)
        return self._si


def _rho(
    terms: Sequence[RandomEffectsTerm],
    zeta: list[Array],
    si: SelectedInverse,
    block_of_row: Sequence[NDArray[np.intp]],
) -> list[Array]:
    """``ρ_ir = Σ_s S_rs(i) ζ_is`` from the selected inverse.

    ``block_of_row[r]`` is each observation's block in the pattern of ``L_r0`` (``r ≥ 1``).
    """
    first = terms[0]
    rho = [np.einsum("iab,ib->ia", si.first_diag[first.refs], zeta[0])]
    for r in range(1, len(terms)):
        rho.append(np.zeros((len(terms[r].refs), terms[r].k)))
    for r in range(1, len(terms)):
        block = si.first_column_at(r, block_of_row[r])  # (n, k_r, k_0)
        rho[r] += np.einsum("iac,ic->ia", block, zeta[0])
        rho[0] += np.einsum("iac,ia->ic", block, zeta[r])
        for s in range(1, len(terms)):
            trail = _trailing_pair(si, terms, r, s)
            rho[r] += np.einsum("iac,ic->ia", trail, zeta[s])
    return rho


def _trailing_pair(
    si: SelectedInverse, terms: Sequence[RandomEffectsTerm], r: int, s: int
) -> Array:
    """``S_rs`` at each observation's levels of terms ``r, s ≥ 1``, ``(n, k_r, k_s)``."""
    if r >= s:
        return si.pair_blocks(r, s, terms[r].refs, terms[s].refs)
    return si.pair_blocks(s, r, terms[s].refs, terms[r].refs).transpose(0, 2, 1)
