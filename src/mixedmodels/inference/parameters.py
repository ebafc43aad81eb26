"""The parameters of lme4's ``confint`` and ``profile``: their names and the sd/cor scale.

lme4's order: term by term, within a term the column-major lower triangle of a matrix with the
SDs on the diagonal and the correlations below it (``.sig01``, ``.sig02``, ...), the residual
SD ``.sigma``, then the fixed effects; :func:`parameter_names` also gives lme4's readable names
(``oldNames = FALSE``): ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
``sd_Days|Subject``, ``sigma``. A structured term (``ar1(0 + t | g)``) has its structure's own
parameters instead: its SDs and its correlations (``sd|g``, ``rho|g``; ``rho_lag2|g`` for
``toep``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.errors import ModelSpecificationError

if TYPE_CHECKING:
    from mixedmodels.fitted import Refittable
    from mixedmodels.spec import RandomEffectsTerm

__all__ = [
    "ParameterNames",
    "parameter_names",
    "sdcor_from_theta",
    "select_parameters",
    "theta_from_sdcor",
]

Array = FloatArray


@dataclass(frozen=True)
class ParameterNames:
    """Names of the parameters of a model, in lme4's ``confint`` order.

    Attributes
    ----------
    lme4
        ``.sig01, .sig02, ..., .sigma``, then the fixed-effect names.
    readable
        ``sd_(Intercept)|Subject, cor_Days.(Intercept)|Subject, ..., sigma``, then the
        fixed-effect names (lme4's ``oldNames = FALSE``).
    n_variance
        Number of variance parameters (SDs, correlations and σ).
    has_sigma
        Whether the last variance parameter is σ (False for a GLMM without a scale).
    """

    lme4: list[str]
    readable: list[str]
    n_variance: int
    has_sigma: bool = True

    def kind(self, index: int) -> str:
        """``"sd"``, ``"cor"``, ``"sigma"`` or ``"fixed"`` for parameter ``index``."""
        if index >= self.n_variance:
            return "fixed"
        if index == self.n_variance - 1 and self.has_sigma:
            return "sigma"
        name = self.readable[index]
        return "sd" if name.startswith("sd_") or name.startswith("sd|") else "cor"

    def bounds(self) -> tuple[Array, Array]:
        """Lower and upper bounds of every parameter (lme4's profile bounds)."""
        kinds = [self.kind(i) for i in range(len(self.lme4))]
        lower = np.array([{"sd": 0.0, "sigma": 0.0, "cor": -1.0}.get(k, -np.inf) for k in kinds])
        upper = np.array([1.0 if k == "cor" else np.inf for k in kinds])
        return lower, upper


def parameter_names(model: Refittable) -> ParameterNames:
    """lme4's names for the SDs/correlations, σ and the fixed effects of an LMM or a GLMM.

    ``.sigma`` (readable ``sigma``) only when the model estimates a residual scale
    (``has_scale``: every LMM; a GLMM whose family has a dispersion, as lme4's ``useSc``).
    """
    readable: list[str] = []
    for term in model.terms:
        cols = term.column_names
        if term.structured:
            names = term.structure.natural_names(cols)
            readable += [f"{name}|{term.group}" for name in names]
            continue
        for r, c in zip(*term.theta_index(), strict=True):
            prefix = f"sd_{cols[r]}" if r == c else f"cor_{cols[r]}.{cols[c]}"
            readable.append(f"{prefix}|{term.group}")
    lme4 = [f".sig{i + 1:02d}" for i in range(len(readable))]
    scale = bool(model.has_scale)
    if scale:
        lme4.append(".sigma")
        readable.append("sigma")
    fixed = list(model.fixed.names)
    return ParameterNames(lme4 + fixed, readable + fixed, len(lme4), has_sigma=scale)


def sdcor_from_theta(terms: Sequence[RandomEffectsTerm], theta: Array, sigma: float) -> Array:
    """SDs and correlations of the random effects (lme4's ``Cv_to_Sv``), without σ.

    A correlation involving a zero SD is ``nan``, as in lme4.
    """
    out: list[float] = []
    start = 0
    for term in terms:
        part = theta[start : start + term.ntheta]
        start += term.ntheta
        if term.structured:  # the structure's SDs and correlations (ρ)
            out.extend(term.structure.natural(part, sigma))
            continue
        T = term.template(part)
        cov = sigma**2 * (T @ T.T)
        sd = np.sqrt(np.diag(cov))
        for r, c in zip(*term.theta_index(), strict=True):
            if r == c:
                out.append(float(sd[r]))
            else:
                denom = sd[r] * sd[c]
                out.append(float(cov[r, c] / denom) if denom > 0 else math.nan)
    return np.array(out)


def theta_from_sdcor(terms: Sequence[RandomEffectsTerm], sdcor: Array, sigma: float) -> Array:
    """θ from SDs and correlations at residual SD ``sigma`` (lme4's ``Sv_to_Cv``).

    Raises
    ------
    numpy.linalg.LinAlgError
        When the correlations do not form a positive semidefinite matrix.
    """
    parts: list[Array] = []
    start = 0
    for term in terms:
        values = np.asarray(sdcor[start : start + term.ntheta], dtype=float)
        start += term.ntheta
        if term.structured:
            parts.append(term.structure.from_natural(values, sigma))
            continue
        if term.k == 1:
            parts.append(values / sigma)
            continue
        rows, cols = term.theta_index()
        S = np.eye(term.k)
        S[rows, cols] = values
        S[cols, rows] = values
        sd = np.diag(S).copy()
        np.fill_diagonal(S, 1.0)
        parts.append(_chol_semidefinite(S * np.outer(sd, sd) / sigma**2)[rows, cols])
    return np.concatenate(parts) if parts else np.empty(0)


def _chol_semidefinite(S: Array) -> Array:
    """Lower Cholesky factor of a positive semidefinite matrix (zero pivots allowed)."""
    k = S.shape[0]
    L = np.zeros_like(S)
    tol = 1e-12 * max(float(np.max(np.abs(np.diag(S)))), 1e-300)
    for j in range(k):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol:
            raise np.linalg.LinAlgError("the correlation matrix is not positive semidefinite")
        L[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, k):
            rest = S[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > 0.0:
                L[i, j] = rest / L[j, j]
            elif abs(rest) > math.sqrt(tol) * 10:
                raise np.linalg.LinAlgError("the correlation matrix is not positive semidefinite")
    return L


def select_parameters(which: Any, names: ParameterNames) -> list[int]:
    """Indices of the parameters picked by ``which`` (lme4's ``parm``/``which``).

    ``None`` selects all; otherwise a name or a list of names (lme4 or readable names, or
    ``"theta_"`` for all variance parameters and ``"beta_"`` for all fixed effects) or indices.
    """
    total = len(names.lme4)
    if which is None:
        return list(range(total))
    items = [which] if isinstance(which, str | int) else list(which)
    chosen: set[int] = set()
    for item in items:
        if isinstance(item, int | np.integer):
            if not 0 <= int(item) < total:
                raise ModelSpecificationError(f"parameter index {item} is not in 0..{total - 1}")
            chosen.add(int(item))
        elif item == "theta_":
            chosen.update(range(names.n_variance))
        elif item == "beta_":
            chosen.update(range(names.n_variance, total))
        elif item in names.lme4 or item in names.readable:
            key = names.lme4 if item in names.lme4 else names.readable
            chosen.add(key.index(item))
        else:
            raise ModelSpecificationError(
                f"unknown parameter {item!r}; the model has {', '.join(names.lme4)} "
                f"(or {', '.join(names.readable[: names.n_variance])})"
            )
    return sorted(chosen)
