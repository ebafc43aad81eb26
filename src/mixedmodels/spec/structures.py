"""Covariance structures of a random-effects term: θ ↦ the template ``T`` (glmmTMB's families).

A term with ``k`` columns has the covariance ``σ² T Tᵀ`` of its effects at each level. The
structure says how its parameters θ make ``T``:

- ``us`` (unstructured, lme4's ``(x | g)``): θ is the lower triangle of ``T`` by column;
- ``diag`` (lme4's ``(x || g)``, one term): θ is the diagonal of ``T`` (``hom``: one value);
- ``cs``, ``ar1``, ``toep``: ``T = D C`` with ``D`` the relative standard deviations (one per
  column, or one for all when homogeneous) and ``C`` the Cholesky factor of the correlation
  matrix ``R``: one correlation for every pair (``cs``), ``ρ^|i−j|`` (``ar1``), one per lag
  (``toep``).

The relative SDs are bounded below by 0, as lme4's diagonal θ, so that a zero variance is
reached exactly; the correlations are reached through unconstrained parameters ``φ`` that keep
``R`` positive definite: ``ρ = φ/√(1+φ²)`` for ``ar1`` (glmmTMB's), ``ρ = a + (1−a)·logistic(φ)``
with ``a = −1/(k−1)`` for ``cs``, and for ``toep`` partial autocorrelations ``φ/√(1+φ²)`` turned
into the correlations by Durbin–Levinson.

Every structure also gives its natural parameters (SDs scaled by σ and correlations, in this
order; what profiles and intervals are of), their names, the derivatives of ``T`` in θ (for
exact gradients) and of the covariance in the natural parameters (for Kenward–Roger).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import NDArray

from mixedmodels._typing import FloatArray
from mixedmodels.errors import FormulaError, ModelSpecificationError

__all__ = ["STRUCTURES", "Structure", "make_structure"]

STRUCTURES = ("us", "diag", "cs", "ar1", "toep")
AR_LIMIT = 50.0  # φ of ar1: |ρ| ≤ 0.9998
TOEP_LIMIT = 10.0  # φ of toep: partial autocorrelations |κ| ≤ 0.995
CS_LIMIT = 10.0  # φ of cs: logistic(φ) within 4.5e-5 of 0 and 1
Index = tuple[NDArray[np.intp], NDArray[np.intp]]


@lru_cache(maxsize=64)
def _lower_index(k: int) -> Index:
    """Row and column of each lower-triangle entry of a ``k×k`` matrix, by column (read-only)."""
    cols, rows = np.triu_indices(k)
    rows, cols = rows.astype(np.intp), cols.astype(np.intp)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


@dataclass(frozen=True)
class Structure:
    """The covariance structure of one term: ``us`` (lme4's) unless named in the formula.

    Attributes
    ----------
    name
        ``"us"``, ``"diag"``, ``"cs"``, ``"ar1"`` or ``"toep"``.
    k
        Number of columns of the term.
    homogeneous
        One standard deviation for every column (``hom=TRUE``; always for ``ar1``'s default).
    """

    name: str
    k: int
    homogeneous: bool = False

    # ---- layout ------------------------------------------------------------------------
    @property
    def linear(self) -> bool:
        """Whether each θ is one entry of ``T`` (``us``, heterogeneous ``diag``)."""
        return self.name == "us" or (self.name == "diag" and not self.homogeneous)

    @property
    def n_sd(self) -> int:
        """Number of standard-deviation parameters (0 for ``us``)."""
        if self.name == "us":
            return 0
        return 1 if self.homogeneous else self.k

    @property
    def n_cor(self) -> int:
        """Number of correlation parameters of a structured term (``us``: 0)."""
        return {"cs": 1, "ar1": 1, "toep": self.k - 1}.get(self.name, 0)

    @property
    def ntheta(self) -> int:
        """Number of covariance parameters."""
        if self.name == "us":
            return self.k * (self.k + 1) // 2
        return self.n_sd + self.n_cor

    @cached_property
    def entries(self) -> Index:
        """Row and column in ``T`` of each θ of a linear structure (see :attr:`linear`)."""
        if self.name == "us":
            return _lower_index(self.k)
        diagonal = np.arange(self.k, dtype=np.intp)
        return diagonal, diagonal

    def lower_bounds(self) -> FloatArray:
        """0 for the SDs and template diagonals, ``−inf`` for the others."""
        if self.name == "us":
            rows, cols = self.entries
            return np.where(rows == cols, 0.0, -np.inf)
        return np.concatenate([np.zeros(self.n_sd), np.full(self.n_cor, -np.inf)])

    def initial(self) -> FloatArray:
        """Unit SDs and zero correlations (lme4's start)."""
        if self.name == "us":
            rows, cols = self.entries
            return np.where(rows == cols, 1.0, 0.0)
        phi = np.zeros(self.n_cor)
        if self.name == "cs":
            phi[:] = -math.log(self.k - 1.0)  # logistic(φ) = 1/k gives ρ = 0
        return np.concatenate([np.ones(self.n_sd), phi])

    def sd_rows(self) -> list[NDArray[np.intp]]:
        """The columns of ``T`` each SD parameter scales (all of them when homogeneous)."""
        if self.homogeneous:
            return [np.arange(self.k, dtype=np.intp)]
        return [np.array([i], dtype=np.intp) for i in range(self.k)]

    # ---- θ ↦ T ---------------------------------------------------------------------------
    def sds(self, theta: FloatArray) -> FloatArray:
        """The relative SD of each column of a structured term."""
        sd = np.asarray(theta[: self.n_sd], dtype=float)
        return np.full(self.k, sd[0]) if self.homogeneous else sd

    @property
    def phi_limit(self) -> float:
        """``|φ|`` beyond which a correlation parameter has no effect (see :meth:`limited`)."""
        return {"cs": CS_LIMIT, "toep": TOEP_LIMIT}.get(self.name, AR_LIMIT)

    def limited(self, theta: FloatArray) -> FloatArray:
        """The correlation parameters φ, clipped to ``±phi_limit``.

        At the limit the correlation is within about 2e-4 of the edge of its range (a singular
        correlation matrix); beyond it the objective is flat, so that an optimum on that edge
        (an estimate of ρ → ±1, or a lag's partial autocorrelation → ±1) is reached in a few
        steps instead of a long walk of φ to infinity.
        """
        return np.clip(np.asarray(theta[self.n_sd :], dtype=float), -self.phi_limit, self.phi_limit)

    def correlation_at_limit(self, theta: FloatArray) -> bool:
        """Whether a correlation parameter is at (or beyond) its limit: a singular fit."""
        phi = np.asarray(theta[self.n_sd :], dtype=float)
        return bool(np.any(np.abs(phi) >= self.phi_limit * (1.0 - 1e-6)))

    def correlations(self, theta: FloatArray) -> FloatArray:
        """The correlation parameters on their own scale: ρ (``cs``, ``ar1``), ρ by lag."""
        phi = self.limited(theta)
        if self.name == "ar1":
            return phi / np.sqrt(1.0 + phi**2)
        if self.name == "cs":
            a = -1.0 / (self.k - 1.0)
            return a + (1.0 - a) / (1.0 + np.exp(-phi))
        if self.name == "toep":
            return levinson(phi / np.sqrt(1.0 + phi**2))
        return phi

    def correlation_matrix(self, rho: FloatArray) -> FloatArray:
        """``R`` from the correlations ``rho`` (:meth:`correlations`)."""
        lag = np.abs(np.subtract.outer(np.arange(self.k), np.arange(self.k)))
        if self.name == "ar1":
            return np.asarray(float(rho[0]) ** lag, dtype=float)
        if self.name == "cs":
            return np.where(lag == 0, 1.0, float(rho[0]))
        if self.name == "toep":
            return np.concatenate([[1.0], rho])[lag]
        return np.eye(self.k)

    def template(self, theta: FloatArray) -> FloatArray:
        """The lower-triangular ``k×k`` template ``T`` at this term's θ."""
        theta = np.asarray(theta, dtype=float)
        if self.linear:
            if self.k == 1:
                return np.reshape(theta, (1, 1))
            T = np.zeros((self.k, self.k))
            T[self.entries] = theta
            return T
        return self.sds(theta)[:, None] * self._correlation_factor(theta)

    def _correlation_factor(self, theta: FloatArray) -> FloatArray:
        """``C``, the Cholesky factor of ``R`` (the identity for ``diag``)."""
        if self.n_cor == 0:
            return np.eye(self.k)
        return np.linalg.cholesky(self.correlation_matrix(self.correlations(theta)))

    # ---- natural parameters: SDs (times σ) and correlations ----------------------------------
    def natural(self, theta: FloatArray, sigma: float) -> FloatArray:
        """The SDs (scaled by ``sigma``) and then the correlations of a structured term."""
        theta = np.asarray(theta, dtype=float)
        sd = sigma * np.asarray(theta[: self.n_sd], dtype=float)
        return np.concatenate([sd, self.correlations(theta)])

    def from_natural(self, values: FloatArray, sigma: float) -> FloatArray:
        """θ of a structured term from its natural parameters (the inverse of :meth:`natural`).

        Raises
        ------
        numpy.linalg.LinAlgError
            When the correlations are outside the structure's range.
        """
        values = np.asarray(values, dtype=float)
        sd, rho = values[: self.n_sd] / sigma, values[self.n_sd :]
        return np.concatenate([sd, self._phi(rho)])

    def _phi(self, rho: FloatArray) -> FloatArray:
        """The unconstrained correlation parameters of the correlations ``rho``."""
        if self.name == "ar1" or self.name == "toep":
            kappa = rho if self.name == "ar1" else partial_autocorrelations(rho)
            if np.any(np.abs(kappa) >= 1.0):
                raise np.linalg.LinAlgError(f"{self.name} correlations outside (-1, 1)")
            return kappa / np.sqrt(1.0 - kappa**2)
        if self.name == "cs":
            a = -1.0 / (self.k - 1.0)
            p = (rho - a) / (1.0 - a)
            if np.any((p <= 0.0) | (p >= 1.0)):
                raise np.linalg.LinAlgError(f"cs correlation outside ({a:.4g}, 1)")
            return np.log(p / (1.0 - p))
        return rho

    def natural_names(self, columns: list[str]) -> list[str]:
        """Names of the natural parameters, without the group (``sd_x``, ``rho``, ``rho_lag2``)."""
        sd = ["sd"] if self.homogeneous else [f"sd_{c}" for c in columns]
        if self.name == "toep":
            return sd + [f"rho_lag{lag}" for lag in range(1, self.k)]
        return sd + ["rho"] * self.n_cor

    def natural_kinds(self) -> list[str]:
        """``"sd"`` or ``"cor"`` for each natural parameter."""
        return ["sd"] * self.n_sd + ["cor"] * self.n_cor

    def describe(self, theta: FloatArray, sigma: float) -> str:
        """The structure and its common parameters in one line (``ar1  sd 0.79  rho 0.64``)."""
        values = self.natural(theta, sigma)
        parts = [self.name + (" hom" if self.homogeneous and self.name != "ar1" else "")]
        if self.homogeneous:
            parts.append(f"sd {values[0]:.4g}")
        rho = " ".join(f"{r:.4g}" for r in values[self.n_sd :])
        if self.n_cor:
            parts.append(("rho by lag " if self.name == "toep" else "rho ") + rho)
        return "  ".join(parts)


def levinson(kappa: FloatArray) -> FloatArray:
    """Autocorrelations at lags ``1..m`` from partial autocorrelations (Durbin–Levinson)."""
    m = len(kappa)
    rho, coef = np.zeros(m), np.zeros(m)
    for j in range(m):
        c, r = coef[:j], rho[:j]
        rho[j] = kappa[j] * (1.0 - c @ r) + c @ r[::-1]
        coef[:j] = c - kappa[j] * c[::-1]
        coef[j] = kappa[j]
    return rho


def levinson_jacobian(kappa: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`levinson` and its Jacobian ``∂ρ_l/∂κ_m`` (differentiated through the recursion)."""
    m = len(kappa)
    rho, drho = np.zeros(m), np.zeros((m, m))
    coef, dcoef = np.zeros(0), np.zeros((0, m))
    for j in range(m):
        e = np.zeros(m)
        e[j] = 1.0
        r, dr = rho[:j], drho[:j]
        a, da = coef @ r, r @ dcoef + coef @ dr
        b, db = coef @ r[::-1], r[::-1] @ dcoef + coef @ dr[::-1]
        rho[j] = kappa[j] * (1.0 - a) + b
        drho[j] = e * (1.0 - a) - kappa[j] * da + db
        dcoef = np.vstack([dcoef - kappa[j] * dcoef[::-1] - np.outer(coef[::-1], e), e])
        coef = np.concatenate([coef - kappa[j] * coef[::-1], [kappa[j]]])
    return rho, drho


def partial_autocorrelations(rho: FloatArray) -> FloatArray:
    """Partial autocorrelations from autocorrelations at lags ``1..m`` (:func:`levinson`⁻¹)."""
    m = len(rho)
    kappa = np.zeros(m)
    coef = np.zeros(0)
    for j in range(m):
        r = rho[:j]
        denom = 1.0 - coef @ r
        if denom <= 0.0:
            raise np.linalg.LinAlgError("the Toeplitz correlations are not positive definite")
        kappa[j] = (rho[j] - coef @ r[::-1]) / denom
        coef = np.concatenate([coef - kappa[j] * coef[::-1], [kappa[j]]])
    return kappa


def make_structure(name: str | None, k: int, homogeneous: bool | None, term: str) -> Structure:
    """The structure ``name`` (``None``: lme4's unstructured) of a term with ``k`` columns.

    Raises
    ------
    FormulaError
        For an unknown structure, or ``hom`` where it has no meaning.
    ModelSpecificationError
        For a correlation structure over fewer than two columns.
    """
    name = "us" if name is None else name
    if name not in STRUCTURES:
        raise FormulaError(
            f"unknown covariance structure {name!r} in {term}: use one of {STRUCTURES}"
        )
    if name == "us" and homogeneous:
        raise FormulaError(f"us() has no homogeneous variant (hom = TRUE) in {term}")
    if name in ("cs", "ar1", "toep") and k < 2:
        raise ModelSpecificationError(
            f"{name}() correlates the columns of its term, and {term} has {k}: give it a factor "
            "with a column per level, e.g. ar1(0 + factor_time | subject)"
        )
    hom = (name == "ar1") if homogeneous is None else bool(homogeneous)
    return Structure(name, k, hom and k > 1)
