"""PIRLS, the Laplace objective and adaptive Gauss–Hermite quadrature for one scalar term.

With a single scalar random-effects term ``(1 | g)`` (or ``(0 + x | g)``), ``Λ'Z'WZΛ + I`` is
diagonal: one entry ``m_g = 1 + θ² Σ_{i∈g} w_i z_i²`` per level. Every step of PIRLS is then a
few ``bincount`` calls (with a ``p × p`` Schur complement when β is updated too), and the
integral over each level's random effect can be approximated by adaptive Gauss–Hermite
quadrature centred on the conditional mode and scaled by ``1/√m_g`` (lme4's ``glmerAGQ``)::

    -2 log L ≈ Σ_g [devc_g(ũ) − 2 log Σ_k w_k exp(z_k²/2 − (devc_g(ũ + z_k/√m_g) − devc_g(ũ))/2)]
               + Σ_g log m_g,

where ``devc_g(u) = u_g² + Σ_{i∈g} dev_i``. As in lme4 this uses deviance residuals, so the
nAGQ > 1 objective lacks the constant ``aic − deviance`` of the Laplace one.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.objective.laplace import GlmmData, LaplaceEngine, Working, newton_shift

__all__ = ["ScalarEngine", "agq_deviance", "gauss_hermite"]

Array = FloatArray


class ScalarEngine(LaplaceEngine):
    """The engine for models with one scalar random-effects term."""

    def __init__(self, data: GlmmData) -> None:
        super().__init__(data)
        if len(data.terms) != 1 or data.terms[0].k != 1:
            raise ModelSpecificationError("the scalar engine needs one scalar random-effects term")
        term = data.terms[0]
        self.refs = term.refs
        self.z = np.ascontiguousarray(term.z[:, 0])
        self.nlevels = term.nlevels
        n = len(self.z)
        self.zt = sp.csr_array(
            sp.csr_array((self.z, self.refs, np.arange(n + 1)), shape=(n, self.nlevels)).T
        )
        self.z2 = self.z**2
        self.th = float(self.theta[0])
        self.m: Array = np.ones(self.nlevels)

    def set_theta(self, theta: Array) -> None:
        """Use covariance parameters ``theta`` from now on."""
        self.theta = theta
        self.th = float(theta[0])

    def random_part(self, u: Array) -> Array:
        """``ZΛu``."""
        return self.th * self.z * u[self.refs]

    def level_sums(self, V: Array) -> Array:
        """``Z'V``: sums of ``z·V`` over the rows of each level (``V`` of shape (n,) or (n, r))."""
        if V.ndim == 1:
            sums = np.bincount(self.refs, weights=self.z * V, minlength=self.nlevels)
            return np.asarray(sums, dtype=np.float64)
        if V.shape[1] > 8:
            return np.asarray(self.zt @ V)
        out = np.empty((self.nlevels, V.shape[1]))
        for j in range(V.shape[1]):
            out[:, j] = np.bincount(self.refs, weights=self.z * V[:, j], minlength=self.nlevels)
        return out

    def _diagonal(self, weights: Array) -> Array:
        """``1 + θ² Σ_g w z²`` per level."""
        sums = np.bincount(self.refs, weights=weights * self.z2, minlength=self.nlevels)
        return 1.0 + self.th**2 * sums

    def step(
        self, wk: Working, omega: Array, u: Array, beta: Array, with_beta: bool
    ) -> tuple[Array, Array]:
        """Factor with weights ``omega`` and return the full update ``(u, β)``."""
        d = self.data
        w = omega
        self.m = m = self._diagonal(w)
        if not with_beta:  # the working response minus Xβ and the offset
            resid = self.random_part(u) - newton_shift(wk.d1, w)
            return self.th * self.level_sums(w * resid) / m, beta
        zwork = wk.eta - d.offset - newton_shift(wk.d1, w)
        t = self.level_sums(w * zwork)
        if d.X.shape[1] == 0:
            return self.th * t / m, beta
        schur, rhs, S = self._schur(w, m, t, zwork)
        b = np.linalg.solve(schur, rhs)
        return self.th * (t - S @ b) / m, b

    def _schur(
        self, w: Array, m: Array, t: Array | None = None, zwork: Array | None = None
    ) -> tuple[Array, Array, Array]:
        """``X'WX − B'M⁻¹B`` (and ``X'W z − B'M⁻¹θZ'Wz``) without cancellation; ``Z'WX``.

        With ``c = Σ_g w z²``, ``S = Z'WX`` and ``M = 1 + θ²c`` per level, the Schur complement
        is ``Σ_i w_i x̃_i x̃_iᵀ + Sᵀ S/(c M)`` with ``x̃_i = x_i − z_i S_g/c_g`` the rows
        centred within their level: two positive semi-definite sums. Subtracting ``B'M⁻¹B``
        from ``X'WX`` instead loses every digit when the weights are huge (Poisson counts of
        1e13: ``X'WX`` ~ 1e15, the complement ~ 1).
        """
        X = self.data.X
        S = self.level_sums(w[:, None] * X)  # (l, p)
        c = np.bincount(self.refs, weights=w * self.z2, minlength=self.nlevels)
        pos = c > 0
        safe = np.where(pos, c, 1.0)
        a = np.where(pos[:, None], S / safe[:, None], 0.0)
        Xc = X - self.z[:, None] * a[self.refs]
        between = np.where(pos, 1.0 / (safe * m), 0.0)
        schur = Xc.T @ (w[:, None] * Xc) + S.T @ (S * between[:, None])
        if t is None or zwork is None:
            return schur, np.zeros(X.shape[1]), S
        r = np.where(pos, t / safe, 0.0)
        zc = zwork - self.z * r[self.refs]
        rhs = Xc.T @ (w * zc) + S.T @ (t * between)
        return schur, rhs, S

    def logdet(self) -> float:
        """``log|Λ'Z'WZΛ + I|`` of the current factor."""
        return float(np.sum(np.log(self.m)))

    # ---- for the gradient ----------------------------------------------------------------
    def zeta(self) -> list[Array]:
        """The rows of ``ZΛ`` per term."""
        return [(self.th * self.z)[:, None]]

    def random_part_multi(self, V: Array) -> Array:
        """``ZΛV``."""
        return (self.th * self.z)[:, None] * V[self.refs]

    def random_part_t(self, V: Array) -> Array:
        """``Λ'Z'V``."""
        return self.th * self.level_sums(V)

    def solve_observed(self, G: Array, observed: Array) -> Array:
        """``(Λ'Z'ΩZΛ + I)⁻¹ G``."""
        wk = self._current()
        m = self.m if np.allclose(observed, wk.w, rtol=1e-10, atol=0.0) else None
        if m is None:
            m = self._diagonal(observed)
            if np.any(m <= 0):
                raise np.linalg.LinAlgError("the observed information is not positive definite")
        return G / m[:, None]

    def solve_joint(self, Gu: Array, Gb: Array, observed: Array) -> tuple[Array, Array]:
        """Solve the system in (u, β)."""
        m = self._diagonal(observed)
        schur, _, S = self._schur(observed, m)
        B = self.th * S
        db = np.linalg.solve(schur, Gb - B.T @ (Gu / m[:, None]))
        return (Gu - B @ db) / m[:, None], db

    def leverages(self) -> list[Array]:
        """``ρ_r`` per term."""
        return [(self.th * self.z / self.m[self.refs])[:, None]]

    def fixed_precision(self) -> Array:
        """``R_X R_Xᵀ``."""
        w = self._current().w
        return np.asarray(self._schur(w, self._diagonal(w))[0])


@lru_cache(maxsize=32)
def gauss_hermite(n: int) -> tuple[Array, Array]:
    """Nodes and weights of the ``n``-point Gauss–Hermite rule for the standard normal."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / math.sqrt(2.0 * math.pi)


def agq_deviance(engine: ScalarEngine, nagq: int) -> float:
    """lme4's adaptive Gauss–Hermite objective at the engine's current modes (β fixed)."""
    d = engine.data
    wk = engine._current()
    u, refs, nlev = engine.u, engine.refs, engine.nlevels
    devc0 = u**2 + np.bincount(refs, weights=wk.dev, minlength=nlev)
    m = engine._diagonal(wk.w)
    sd = 1.0 / np.sqrt(m)
    fixed = d.offset + d.X @ engine.beta
    tz = engine.th * engine.z
    nodes, weights = gauss_hermite(nagq)
    mult = np.zeros(nlev)
    for node, weight in zip(nodes, weights, strict=True):
        if node == 0.0:
            mult += weight
            continue
        shifted = u + node * sd
        mu = d.family.link.inverse(fixed + tz * shifted[refs])
        dev = d.family.dev_resid(d.y, mu, d.weights)
        devc = shifted**2 + np.bincount(refs, weights=dev, minlength=nlev)
        mult += weight * np.exp(0.5 * node**2 - 0.5 * (devc - devc0))
    return float(np.sum(devc0) + np.sum(np.log(m)) - 2.0 * np.sum(np.log(mult)))
