"""lme4 formula syntax: the fixed part for formulaic, the random-effects terms expanded."""

from mixedmodels.formula.parser import ParsedFormula, RandomTermSpec, parse_formula

__all__ = ["ParsedFormula", "RandomTermSpec", "parse_formula"]
