"""Finite differences: every step rule and difference formula of the package, once.

For a step ``h`` along coordinate ``j`` (unit vector ``e_j``)::

    forward   (f(x + h e_j) − f(x)) / h
    central   (f(x + h e_j) − f(x − h e_j)) / (2h)
    second    (f(x + h e_j) − 2 f(x) + f(x − h e_j)) / h²

and for the cross terms of a Hessian from values, either lme4's ``deriv12`` (four values per
pair, :func:`hessian_from_values`) or two values per pair on top of those along the axes
(:func:`gradient_and_hessian`, the convergence checks). :func:`richardson_derivatives` is
numDeriv's ``genD`` (central differences on halved steps, Richardson-extrapolated), for
Satterthwaite's df as lmerTest takes them.

The step rules: lme4's fixed step (:data:`DERIV12_STEP`) or a larger one for an objective with
rounding noise (:func:`derivative_step`); steps relative to the size of each parameter
(:func:`relative_steps`); steps scaled to each parameter's approximate standard error
(:func:`scaled_steps`, :func:`scaled_hessian`); numDeriv's (:func:`numderiv_steps`).

Each function evaluates the function it is given in a fixed order (documented), since an
objective may keep state between evaluations (a GLMM's PIRLS starts from the last modes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from mixedmodels._typing import FloatArray

__all__ = [
    "DERIV12_STEP",
    "ZERO_TOL",
    "central_difference",
    "derivative_step",
    "forward_difference",
    "gradient_and_hessian",
    "hessian_from_gradient",
    "hessian_from_values",
    "jacobian",
    "numderiv_steps",
    "relative_steps",
    "richardson_derivatives",
    "scaled_hessian",
    "scaled_steps",
    "second_difference",
]

Array = FloatArray
Scalar = Callable[[Array], float]
Vector = Callable[[Array], Array]
Value = TypeVar("Value", float, Array)  # of a function: a number, or a vector

DERIV12_STEP = 1e-4  # lme4's deriv12 delta (its convergence checks and nAGQ Hessian)
NOISY_STEP = 1e-3  # a larger step when the best one for the objective's rounding is beyond this
MAX_NOISY_STEP = 1e-2  # and never beyond this
ZERO_TOL = math.sqrt(np.finfo(float).eps / 7e-7)  # numDeriv's zero.tol


# ---- the formulas ---------------------------------------------------------------------------
def forward_difference(f_plus: Value, f0: Value, h: float) -> Value:
    """``(f(x + h e_j) − f(x)) / h``."""
    return (f_plus - f0) / h


def central_difference(f_plus: Value, f_minus: Value, h: float) -> Value:
    """``(f(x + h e_j) − f(x − h e_j)) / (2h)``."""
    return (f_plus - f_minus) / (2.0 * h)


def second_difference(f_plus: Value, f0: Value, f_minus: Value, h: float) -> Value:
    """``(f(x + h e_j) − 2 f(x) + f(x − h e_j)) / h²``."""
    return (f_plus - 2.0 * f0 + f_minus) / h**2


def _step(x: Array, coords: Sequence[int], steps: Sequence[float]) -> Array:
    """The displacement of ``steps[a]`` along each coordinate ``coords[a]`` (zero elsewhere)."""
    e = np.zeros(x.shape)
    for j, h in zip(coords, steps, strict=True):
        e[j] = h
    return e


# ---- the step rules -------------------------------------------------------------------------
def relative_steps(x: Array, rel: float) -> Array:
    """``rel · max(1, |x_j|)`` for each coordinate."""
    return rel * np.maximum(1.0, np.abs(x))


def numderiv_steps(x: Array, d: float, eps: float) -> Array:
    """NumDeriv's ``|d·x| + eps·[|x| < zero.tol]``."""
    return np.abs(d * x) + eps * (np.abs(x) < ZERO_TOL)


def scaled_steps(H: Array | None, x: Array, factor: float) -> Array:
    """Steps of ``factor`` times each parameter's approximate standard deviation.

    The standard deviations are those of ``2 H⁻¹`` (``H`` the Hessian of a deviance); without
    a usable ``H``, steps of ``factor · max(1, |x|)``.
    """
    default = factor * 100.0 * np.maximum(1.0, np.abs(x)) * 1e-2
    if H is None:
        return default
    try:
        cov = np.linalg.inv(0.5 * (H + H.T))
        sd = np.sqrt(2.0 * np.abs(np.diag(cov)))
    except np.linalg.LinAlgError:
        return default
    ok = np.isfinite(sd) & (sd > 0)
    return np.where(ok, factor * sd, default)


def derivative_step(noise: float) -> float:
    """The finite-difference step for an objective whose rounding error is of size ``noise``.

    A central difference errs by about ``noise / h`` from rounding and ``h² f‴ / 6`` from
    truncation; with ``f‴`` of the size 1 (parameters of the size 1, as the local scaling
    makes them) the best step is about ``∛noise``. lme4's step (:data:`DERIV12_STEP`) is kept
    unless that is beyond :data:`NOISY_STEP` (an objective uncertain to more than 1e-9, whose
    gradient at lme4's step would be uncertain to 1e-5): every ordinary model keeps it.
    """
    if not np.isfinite(noise) or not np.cbrt(noise) > NOISY_STEP:
        return DERIV12_STEP
    return float(min(np.cbrt(noise), MAX_NOISY_STEP))


# ---- derivatives of a vector function (a gradient) ------------------------------------------
def jacobian(
    f: Vector,
    x: Array,
    steps: Array,
    *,
    central: bool = True,
    f0: Array | None = None,
    columns: Sequence[int] | None = None,
) -> Array:
    """Columns of the Jacobian of ``f`` by central or forward differences.

    Parameters
    ----------
    f
        Maps a point to a vector.
    x
        The point.
    steps
        One step per coordinate of ``x``.
    central
        Central differences (``f(x + h e_j)`` then ``f(x − h e_j)`` per column) or forward
        ones (``f(x)`` first, unless given as ``f0``, then ``f(x + h e_j)`` per column).
    f0
        ``f(x)`` when known (forward differences only).
    columns
        The coordinates to differentiate along (all by default), in this order.

    Returns
    -------
    numpy.ndarray
        ``(len(f(x)), len(columns))``.
    """
    cols = range(len(x)) if columns is None else columns
    if not central and f0 is None:
        f0 = f(x)
    out = []
    for j in cols:
        e = _step(x, [j], [steps[j]])
        plus = f(x + e)
        if central:
            out.append(central_difference(plus, f(x - e), steps[j]))
        else:
            assert f0 is not None
            out.append(forward_difference(plus, f0, steps[j]))
    return np.column_stack(out) if out else np.zeros((0, 0))


def hessian_from_gradient(grad: Vector, x: Array, steps: Array, *, central: bool) -> Array:
    """Hessian by differences of an exact gradient (:func:`jacobian`), symmetrized.

    Parameters
    ----------
    grad
        The gradient function.
    x
        The point.
    steps
        One step per coordinate.
    central
        Central differences (two gradients per coordinate) or forward ones (one, and ``∇f(x)``).
    """
    H = jacobian(grad, x, steps, central=central)
    return np.asarray(0.5 * (H + H.T))


# ---- derivatives from values ----------------------------------------------------------------
def _axis_values(
    f: Scalar, x: Array, coords: Sequence[int], steps: Sequence[float]
) -> tuple[Array, Array]:
    """``f(x + h e_j)`` and ``f(x − h e_j)`` for each coordinate, in this order."""
    plus, minus = np.empty(len(coords)), np.empty(len(coords))
    for a, (j, h) in enumerate(zip(coords, steps, strict=True)):
        e = _step(x, [j], [h])
        plus[a], minus[a] = f(x + e), f(x - e)
    return plus, minus


def hessian_from_values(f: Scalar, x: Array, steps: Array) -> Array:
    """Hessian by central second differences of the values (lme4's ``deriv12``).

    Evaluates ``f(x)``, then ``f(x ± h_j e_j)`` per coordinate, then per pair ``k < j`` the four
    values ``f(x ± (h_j e_j + h_k e_k))``, ``f(x ± (h_j e_j − h_k e_k))``.
    """
    n = len(x)
    f0 = f(x)
    plus, minus = _axis_values(f, x, range(n), list(steps))
    H = np.empty((n, n))
    for j in range(n):
        H[j, j] = second_difference(plus[j], f0, minus[j], steps[j])
    for j in range(n):
        for k in range(j):
            e, ek = _step(x, [j, k], [steps[j], steps[k]]), _step(x, [j, k], [steps[j], -steps[k]])
            value = f(x + e) + f(x - e) - f(x + ek) - f(x - ek)
            H[j, k] = H[k, j] = value / (4.0 * steps[j] * steps[k])
    return H


def gradient_and_hessian(
    f: Scalar, x: Array, free: Sequence[int], step: float, value: float | None = None
) -> tuple[Array, Array]:
    """Central-difference gradient and Hessian of ``f`` at ``x`` over the coordinates ``free``.

    One step for all coordinates. Evaluates ``f(x)`` (unless given as ``value``), then
    ``f(x ± h e_i)`` per coordinate, then per pair two more values ``f(x ± h (e_i + e_j))``:
    the cross term is ``(f(x + h(e_i + e_j)) + f(x − h(e_i + e_j)) − f(x ± h e_i) − f(x ± h e_j)
    + 2 f(x)) / 2h²``.
    """
    m = len(free)
    f0 = f(x) if value is None else value
    plus, minus = _axis_values(f, x, free, [step] * m)
    grad, hess = np.zeros(m), np.zeros((m, m))
    for a in range(m):
        grad[a] = central_difference(plus[a], minus[a], step)
        hess[a, a] = second_difference(plus[a], f0, minus[a], step)
    for a, i in enumerate(free):
        for b in range(a):
            j = free[b]
            e = _step(x, [i, j], [step, step])
            both = f(x + e) + f(x - e)
            hess[a, b] = hess[b, a] = (both - plus[a] - minus[a] - plus[b] - minus[b] + 2 * f0) / (
                2 * step**2
            )
    return grad, hess


def scaled_hessian(f: Scalar, x: Array, approx: Array | None, gradient: Vector | None) -> Array:
    """The Hessian at an optimum, steps scaled to each parameter's standard error.

    Central differences of ``gradient`` with steps of 1e-3 standard errors when there is one,
    else second differences of ``f`` with steps of 1e-2 of them (:func:`scaled_steps` from the
    approximate Hessian ``approx``): accurate however the parameters are scaled.
    """
    if gradient is not None:
        return hessian_from_gradient(gradient, x, scaled_steps(approx, x, 1e-3), central=True)
    return hessian_from_values(f, x, scaled_steps(approx, x, 1e-2))


# ---- numDeriv's Richardson extrapolation ----------------------------------------------------
def richardson_derivatives(
    func: Vector,
    x: Array,
    *,
    d: float = 0.1,
    eps: float = 1e-4,
    r: int = 4,
    f0: Array | None = None,
) -> tuple[Array, Array, Array]:
    """Value, Jacobian and Hessians of a vector function by numDeriv's ``genD``.

    Central differences on steps ``h = |d·x| + eps·[|x| < zero.tol]`` (:func:`numderiv_steps`)
    halved ``r`` times, combined by Richardson extrapolation (numDeriv's defaults for
    ``hessian``, as lmerTest).

    Parameters
    ----------
    func
        Maps a point of ``R^n`` to a vector of length ``m``.
    x
        The point.
    d, eps, r
        Relative step, absolute step near zero, number of halvings.
    f0
        ``func(x)`` when already known (saves one evaluation).

    Returns
    -------
    tuple
        ``f(x)`` of shape ``(m,)``, the Jacobian ``(m, n)`` and the Hessians ``(m, n, n)``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    f0 = np.asarray(func(x) if f0 is None else f0, dtype=np.float64)
    h0 = numderiv_steps(x, d, eps)
    grad = np.empty((f0.size, n))
    hess = np.empty((f0.size, n, n))
    for i in range(n):
        first, second = [], []
        for k in range(r):
            h = h0 / 2.0**k
            e = _step(x, [i], [h[i]])
            f1, f2 = func(x + e), func(x - e)
            first.append(central_difference(f1, f2, h[i]))
            second.append(second_difference(f1, f0, f2, h[i]))
        grad[:, i] = _extrapolate(first)
        hess[:, i, i] = _extrapolate(second)
    for i in range(n):
        for j in range(i):
            mixed = []
            for k in range(r):
                h = h0 / 2.0**k
                e = _step(x, [i, j], [h[i], h[j]])
                f1, f2 = func(x + e), func(x - e)
                curv = hess[:, i, i] * h[i] ** 2 + hess[:, j, j] * h[j] ** 2
                mixed.append((f1 - 2.0 * f0 + f2 - curv) / (2.0 * h[i] * h[j]))
            hess[:, i, j] = hess[:, j, i] = _extrapolate(mixed)
    return f0, grad, hess


def _extrapolate(values: list[Array]) -> Array:
    """Richardson extrapolation of approximations on steps halved each time (error ∝ h²)."""
    for m in range(1, len(values)):
        values = [
            (values[k + 1] * 4.0**m - values[k]) / (4.0**m - 1.0) for k in range(len(values) - 1)
        ]
    return values[0]
