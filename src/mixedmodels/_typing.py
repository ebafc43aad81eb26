"""Array type aliases shared by the package."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["FloatArray", "IntArray"]

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.integer[Any]]
