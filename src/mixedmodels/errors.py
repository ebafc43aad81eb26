"""Every exception and warning that mixedmodels raises on purpose.

All errors derive from :class:`MixedModelsError`, so ``except mm.MixedModelsError`` catches
whatever the package reports about bad input or an impossible fit, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ClusterError",
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "MixedModelsError",
    "MixedModelsWarning",
    "ModelSpecificationError",
    "ModelSpecificationWarning",
    "NotSupportedError",
    "PirlsError",
    "RankDeficiencyWarning",
    "RefitMLWarning",
    "SeparationWarning",
    "SingularFitWarning",
    "UnknownColumnError",
]


class MixedModelsError(Exception):
    """Base class of every error raised on purpose by mixedmodels."""


class FormulaError(MixedModelsError, ValueError):
    """A formula that cannot be parsed; the message quotes it and points at the problem.

    Parameters
    ----------
    message
        What is wrong.
    formula
        The formula as the user wrote it.
    position
        Index of the offending character in ``formula``, if known.
    """

    def __init__(self, message: str, formula: str = "", position: int | None = None) -> None:
        self.formula = formula
        self.position = position
        text = message
        if formula:
            text += f"\n    {formula}"
            if position is not None:
                text += "\n    " + " " * max(position, 0) + "^"
        super().__init__(text)


class UnknownColumnError(MixedModelsError, KeyError):
    """A formula names a column that the data do not have.

    Parameters
    ----------
    names
        The missing column names.
    available
        The columns the data do have.
    """

    def __init__(self, names: Iterable[str], available: Iterable[str]) -> None:
        self.names = sorted(names)
        self.available = list(available)
        missing = ", ".join(repr(n) for n in self.names)
        have = ", ".join(repr(str(c)) for c in self.available)
        noun = "column" if len(self.names) == 1 else "columns"
        super().__init__(f"unknown {noun} {missing}; the data have: {have}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DataError(MixedModelsError, ValueError):
    """The data cannot be used as given (wrong type, empty, non-finite values, ...)."""


class ModelSpecificationError(MixedModelsError, ValueError):
    """The model cannot be estimated from these data (e.g. too few levels for a term)."""


class NotSupportedError(MixedModelsError, NotImplementedError):
    """The operation is not available for this kind of model or data (the message says what is)."""


class MixedModelsWarning(UserWarning):
    """Base class of the warnings issued by mixedmodels."""


class SingularFitWarning(MixedModelsWarning):
    """The fit lies on the boundary: a variance estimated as zero or a correlation of ±1."""


class ConvergenceWarning(MixedModelsWarning):
    """The optimizer stopped at a point that fails the convergence checks."""


class RankDeficiencyWarning(MixedModelsWarning):
    """Fixed-effects columns were dropped because the model matrix is rank deficient."""


class RefitMLWarning(MixedModelsWarning):
    """REML fits were refitted by maximum likelihood before a likelihood-ratio test."""


class ModelSpecificationWarning(MixedModelsWarning):
    """The model can be fitted, but its data can hardly support it (e.g. too few levels)."""


class SeparationWarning(MixedModelsWarning):
    """Complete or quasi-complete separation: some fixed-effect estimates diverge.

    Fitted probabilities (or Poisson means) are numerically 0 or 1 for a set of rows that a
    combination of fixed-effect columns separates; the maximum-likelihood estimates of those
    columns are infinite, and the fit stops where the likelihood no longer changes.
    """


class PirlsError(MixedModelsError, ArithmeticError):
    """PIRLS failed to reduce the penalized deviance of a GLMM (an infeasible θ or β).

    The optimizers take it as an infinite objective at that point; it reaches the user only
    when no point the fit tries is feasible.
    """


class ClusterError(MixedModelsError, RuntimeError):
    """A pass over chunked data could not finish on its Dask cluster.

    Raised when the cluster has had no worker for longer than the fit's ``timeout``, when a
    task was lost with more workers than Dask allows, or when the fit runs in a process
    forked from one whose Dask state cannot be used; the message says what was lost.
    """
