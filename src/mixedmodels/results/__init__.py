"""What a fitted model reports: variance components, conditional modes, summary text."""

from mixedmodels.results.ranef import conditional_variances, ranef_frames
from mixedmodels.results.varcorr import covariance_matrices, varcorr_table

__all__ = ["conditional_variances", "covariance_matrices", "ranef_frames", "varcorr_table"]
