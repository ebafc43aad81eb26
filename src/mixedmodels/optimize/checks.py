"""Convergence checks at the optimum, as lme4's ``checkConv``.

The gradient and Hessian of the objective are estimated by central differences with lme4's step
1e-4 (:func:`~mixedmodels.optimize.differences.gradient_and_hessian`: the cross terms from two
values per pair, where lme4's ``deriv12`` takes four) over the parameters that are not on their
bound. The fit is
flagged when the scaled gradient ``H⁻¹g`` (or the raw gradient, whichever is smaller) exceeds
``2e-3`` in any coordinate, when the Hessian is not positive definite, or when it is so badly
conditioned that the model is nearly unidentifiable. When the objective has an exact gradient,
the check reads it and takes the Hessian from forward differences of it (``m`` more gradients
for ``m`` free parameters instead of ``2m + m(m−1)`` values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mixedmodels._typing import FloatArray
from mixedmodels.optimize.differences import (
    DERIV12_STEP,
    gradient_and_hessian,
    jacobian,
)

__all__ = ["ConvergenceCheck", "check_convergence", "newton_polish"]

GRAD_TOL = 2e-3  # lme4's check.conv.grad tolerance
EIGEN_RATIO_TOL = 1e6  # lme4's check.conv.hess: nearly unidentifiable beyond this
POLISH_REACH = 1e-3  # largest Newton step taken, relative to max(1, |θ|)
NOISE_RISE = 4.0  # a polish that raises the objective by less than this times its rounding


@dataclass
class ConvergenceCheck:
    """Derivatives at the optimum and what they say.

    Attributes
    ----------
    gradient, hessian
        Over the free parameters (those not on a bound).
    free
        Indices of the free parameters.
    messages
        Problems found; empty when the optimum passes every check.
    stopped_short
        True when the problems say the optimizer stopped before the optimum (a large
        gradient, a Hessian that is not positive definite or cannot be evaluated), not only
        that the model is poorly determined there.
    decrement
        ``gᵀH⁻¹g / 2``, the decrease of the objective a Newton step predicts when the Hessian
        is positive definite (0 otherwise): what the optimizer may have left on the table.
    step
        The finite-difference step of the derivatives.
    """

    gradient: FloatArray
    hessian: FloatArray
    free: list[int]
    messages: list[str] = field(default_factory=list)
    stopped_short: bool = False
    decrement: float = 0.0
    step: float = DERIV12_STEP

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.messages


def check_convergence(
    f: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    value: float | None = None,
    step: float = DERIV12_STEP,
    gradient: Callable[[FloatArray], FloatArray] | None = None,
) -> ConvergenceCheck:
    """Check the optimum ``x`` of ``f`` (see the module docstring); ``value`` is ``f(x)``.

    ``step`` is lme4's unless the objective's rounding calls for a larger one
    (:func:`~mixedmodels.optimize.differences.derivative_step`); a parameter within ``step`` of
    its bound is not free. ``gradient`` is ``f``'s exact gradient, when there is one.
    """
    free = [i for i in range(len(x)) if not x[i] - lower[i] < step]
    if not free:
        return ConvergenceCheck(np.zeros(0), np.zeros((0, 0)), free, step=step)
    if gradient is None:
        grad, hess = gradient_and_hessian(f, x, free, step, value)
    else:
        grad, hess = _exact_derivatives(gradient, x, free, step)
    check = ConvergenceCheck(grad, hess, free, step=step)
    finite = bool(np.all(np.isfinite(hess)) and np.all(np.isfinite(grad)))
    eigen = np.linalg.eigvalsh(hess) if finite else np.full(len(free), np.nan)
    if not np.all(np.isfinite(eigen)):
        check.messages.append("the Hessian of the objective could not be evaluated")
        check.stopped_short = True
        return check
    if eigen.min() <= 0:
        negative = int(np.sum(eigen <= 0))
        check.messages.append(
            f"the Hessian has {negative} non-positive eigenvalue(s): the optimum is degenerate"
        )
        check.stopped_short = True
    elif eigen.max() / eigen.min() > EIGEN_RATIO_TOL:
        check.messages.append(
            "the model is nearly unidentifiable: very large eigenvalue ratio of the Hessian "
            f"({eigen.max() / eigen.min():.3g}); rescale variables or simplify the model"
        )
    _gradient_message(check, grad, hess)
    return check


def _exact_derivatives(
    gradient: Callable[[FloatArray], FloatArray], x: FloatArray, free: list[int], step: float
) -> tuple[FloatArray, FloatArray]:
    """The exact gradient over ``free`` and the Hessian from forward differences of it.

    Forward differences (``m`` more gradients) are accurate to about the step, 1e-4 relative:
    enough for the verdicts and for a Newton step whose gradient is exact.
    """
    index = np.asarray(free)

    def restricted(z: FloatArray) -> FloatArray:
        full = x.copy()
        full[index] = z
        return gradient(full)[index]

    grad = restricted(x[index])
    H = jacobian(restricted, x[index], np.full(len(free), step), central=False, f0=grad)
    return grad, 0.5 * (H + H.T)


def _gradient_message(check: ConvergenceCheck, grad: FloatArray, hess: FloatArray) -> None:
    """Flag a large gradient, scaled by the Hessian when it can be."""
    try:
        scaled = np.linalg.solve(hess, grad)
    except np.linalg.LinAlgError:
        check.messages.append("unable to evaluate the scaled gradient")
        check.stopped_short = True
        return
    largest = float(np.max(np.minimum(np.abs(scaled), np.abs(grad))))
    if not check.stopped_short:
        check.decrement = max(0.5 * float(grad @ scaled), 0.0)
    if largest > GRAD_TOL:
        check.messages.append(
            f"failed to converge with max|grad| = {largest:.3g} (tol = {GRAD_TOL})"
        )
        check.stopped_short = True


def newton_polish(
    f: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    check: ConvergenceCheck,
    value: float,
    noise: float = 0.0,
) -> tuple[FloatArray, float] | None:
    """One Newton step from the optimizer's optimum, with the derivatives of the check.

    Derivative-free optimizers stop where the objective stops changing, which leaves ``x``
    uncertain to about the square root of their tolerance (about 1e-7 here). A Newton step on
    the central-difference gradient lands on the root of that gradient, to about 1e-10,
    whatever point the optimizer stopped at: fits of the same data summed in another order
    (chunks) then agree to that precision. The step is taken only when the Hessian is
    positive definite, the step is small (within :data:`POLISH_REACH`, or the check's
    finite-difference step when that is larger) and stays within the bounds, and the
    objective does not increase beyond rounding.

    ``noise`` is the size of the rounding error of ``f`` (the check's derivatives were then
    taken with a step fit for it, :func:`~mixedmodels.optimize.differences.derivative_step`).
    The step is kept when ``f`` rises by less than :data:`NOISE_RISE` times ``noise``: the
    optimizer's value is the lowest
    rounding of hundreds of evaluations, some times ``noise`` below the surface, and the root
    of the smoothed gradient is the better estimate of the optimum (a step of the reach along
    a direction of ordinary curvature would raise ``f`` far more).

    Returns
    -------
    tuple or None
        The new point and its objective, or ``None`` when the step is not taken.
    """
    if not check.free or not np.all(np.isfinite(check.hessian)):
        return None
    try:
        chol = np.linalg.cholesky(check.hessian)
    except np.linalg.LinAlgError:
        return None
    move = -np.linalg.solve(chol.T, np.linalg.solve(chol, check.gradient))
    reach = max(POLISH_REACH, check.step) * np.maximum(1.0, np.abs(x[check.free]))
    if np.any(np.abs(move) > reach):  # beyond the quadratic model's reach
        return None
    new = x.copy()
    new[check.free] += move
    if np.any(new < lower):
        return None
    polished = f(new)
    rise = NOISE_RISE * noise if np.isfinite(noise) else 0.0
    if not polished <= value + max(1e-10 * max(1.0, abs(value)), rise):
        return None
    return new, polished
