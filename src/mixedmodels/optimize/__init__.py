"""Optimizers behind one small protocol, and the checks made at the optimum."""

from mixedmodels.optimize.bobyqa import OptSummary, bobyqa, lbfgs

__all__ = ["OptSummary", "bobyqa", "lbfgs"]
