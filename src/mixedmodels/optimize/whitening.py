"""A linear change of coordinates ``x = x̂ + S y`` in which an objective's Hessian is ~ I."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from mixedmodels._typing import FloatArray

__all__ = ["Whitening"]

Array = FloatArray


@dataclass(frozen=True)
class Whitening:
    """The affine map ``x = centre + S y`` from whitened coordinates to (θ, β)."""

    centre: Array
    S: Array

    def to_x(self, y: Array) -> Array:
        """(θ, β) at whitened coordinates ``y``."""
        return np.asarray(self.centre + self.S @ y)

    def to_y(self, x: Array) -> Array:
        """Whitened coordinates of (θ, β)."""
        return np.asarray(scipy.linalg.solve(self.S, x - self.centre))

    def hessian_in_x(self, H_y: Array) -> Array:
        """The Hessian in (θ, β) of a Hessian ``H_y`` in ``y``: ``S⁻ᵀ H_y S⁻¹``."""
        half = scipy.linalg.solve(self.S.T, H_y)  # S⁻ᵀ H_y
        return np.asarray(scipy.linalg.solve(self.S.T, half.T).T)

    def lower(self, lower_x: Array, n_theta: int) -> Array:
        """Lower bounds in ``y`` (θ rows of ``S`` involve the θ coordinates only)."""
        out = np.full(len(lower_x), -np.inf)
        for i in range(n_theta):
            if np.isfinite(lower_x[i]):
                out[i] = (lower_x[i] - self.centre[i]) / self.S[i, i]
        return out
