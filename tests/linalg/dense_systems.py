"""Small random blocked factors and their dense systems, for the tests of the solves.

For scalar, vector, crossed, nested and partially crossed terms with random weights and a random
θ: the factor of ``[Z X y]'W[Z X y]`` and, densely, ``M = [Λ'Z'WZΛ + I, Λ'Z'WX; X'WZΛ, X'WX]``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import scipy.linalg

from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.crossprod import term_matrix
from mixedmodels.models import LinearMixedModel

FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (x | g)",
    "y ~ x + (1 | g) + (1 | h)",
    "y ~ x + (x | g) + (1 | h)",
    "y ~ x + (1 | outer/g)",
    "y ~ x + (x | outer/g) + (1 | h)",
    "y ~ x + (1 | g) + (x | h) + (1 | k)",
    "y ~ 0 + x + (1 | g) + (1 | h)",
]


def make_data(seed: int, n: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": rng.integers(0, 18, size=n).astype(str),
            "h": rng.integers(0, 7, size=n).astype(str),
            "k": rng.integers(0, 3, size=n).astype(str),
            "w": rng.uniform(0.3, 3.0, size=n),
        }
    )
    frame["outer"] = (frame["g"].astype(int) // 6).astype(str)  # g nested in outer
    frame["y"] = frame["x"] + rng.normal(size=n) + 0.3 * frame["g"].astype(int)
    return frame


@functools.cache
def model_at(formula: str, seed: int = 4) -> tuple[LinearMixedModel, np.ndarray]:
    """The (unfitted) model with weights, its factor updated at a random θ."""
    model = LinearMixedModel(formula, make_data(seed), weights="w")
    rng = np.random.default_rng(seed)
    theta = np.where(model.lower == 0, rng.uniform(0.3, 2.0, model.lower.size), 0.0)
    theta += np.where(model.lower == 0, 0.0, rng.normal(scale=0.5, size=model.lower.size))
    model.L.update(theta)
    return model, theta


def factor(formula: str) -> BlockedCholesky:
    """The model's factor at the random θ."""
    return model_at(formula)[0].L


def dense_system(formula: str, fixed: bool) -> np.ndarray:
    """``M`` (or its random-effects block alone) built densely."""
    model, theta = model_at(formula)
    sw = np.sqrt(model.frame.weights)[:, None]
    ZL = random_part(formula) * sw
    X = model.fixed.X * sw if fixed else np.zeros((model.nobs, 0))
    return np.block([[ZL.T @ ZL + np.eye(ZL.shape[1]), ZL.T @ X], [X.T @ ZL, X.T @ X]])


def random_part(formula: str) -> np.ndarray:
    """``ZΛ`` as a dense matrix."""
    model, theta = model_at(formula)
    Z = np.hstack([term_matrix(t, None).toarray() for t in model.terms])
    blocks = [
        np.kron(np.eye(t.nlevels), T)
        for t, T in zip(model.terms, model.L.templates(theta), strict=True)
    ]
    return Z @ scipy.linalg.block_diag(*blocks)


def offsets(formula: str) -> list[int]:
    """Start of each term's random effects."""
    return [int(v) for v in np.cumsum([0] + [t.q for t in model_at(formula)[0].terms])]
