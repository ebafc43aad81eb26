"""Block storage of ``[Z X y]'[Z X y]`` and the blocked Cholesky factor."""

from mixedmodels.linalg.cholesky import BlockedCholesky
from mixedmodels.linalg.crossprod import BlockSparse, CrossProducts, cross_products

__all__ = ["BlockSparse", "BlockedCholesky", "CrossProducts", "cross_products"]
