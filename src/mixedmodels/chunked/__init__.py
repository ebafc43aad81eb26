"""Data beyond memory: the blocks of ``[Z X y]'[Z X y]`` from Parquet files or a Dask cluster.

``mm.lmer(formula, data)`` comes here when ``data`` is a Dask DataFrame, a PyArrow dataset or
a path (directory, glob, list) of Parquet files; see :class:`ChunkedLinearMixedModel`.
"""

from mixedmodels.chunked.model import ChunkedLinearMixedModel, chunked_blocks
from mixedmodels.chunked.sources import is_chunked_source

__all__ = ["ChunkedLinearMixedModel", "chunked_blocks", "is_chunked_source"]
