"""Simulation from a GLMM (results/glmm.py): responses within the family's range."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.errors import ModelSpecificationError
from mixedmodels.results.glmm import _check_simulated_means
from mixedmodels.spec.families import Binomial, Gamma, Poisson


def test_simulated_means_outside_the_family_are_refused() -> None:
    """A Gamma mean at or below 0 (an inverse link at new effects) is a clear error, not NaN."""
    _check_simulated_means(Gamma(link="inverse"), np.array([0.5, 2.0]))
    _check_simulated_means(Poisson(link="identity"), np.array([0.0, 2.0]))
    _check_simulated_means(Binomial(link="logit"), np.array([0.0, 1.0]))
    with pytest.raises(ModelSpecificationError, match="Gamma GLMM gave means outside"):
        _check_simulated_means(Gamma(link="inverse"), np.array([0.5, -0.1]))
    with pytest.raises(ModelSpecificationError, match="poisson GLMM"):
        _check_simulated_means(Poisson(link="identity"), np.array([-1.0]))
