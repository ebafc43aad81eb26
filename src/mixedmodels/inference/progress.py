"""A one-line text progress bar on stderr, for long computations (bootstrap, profiles).

On by default only when stderr is a terminal (the callers decide: ``progress=None``).
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO

__all__ = ["ProgressBar"]


class ProgressBar:
    """A one-line text bar on stderr: ``bootstrap |#####-----| 500/1000  3.1 s``.

    Parameters
    ----------
    total
        The count at which the bar is full (it may grow: :meth:`extend`).
    enabled
        Draw it; a disabled bar only counts.
    stream
        Where to draw (stderr by default).
    label
        The word before the bar.
    """

    def __init__(
        self, total: int, enabled: bool, stream: IO[str] | None = None, label: str = "bootstrap"
    ) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.start = time.perf_counter()
        self.last_draw = -math.inf
        if enabled:
            self._draw()

    def advance(self, k: int) -> None:
        """Count ``k`` more finished steps (replicates, profile points)."""
        self.done += k
        now = time.perf_counter()
        if self.enabled and (now - self.last_draw > 0.1 or self.done >= self.total):
            self._draw()

    def extend(self, k: int) -> None:
        """Expect ``k`` more steps than the total announced (an estimate that was short)."""
        self.total += k

    def _draw(self) -> None:
        self.last_draw = time.perf_counter()
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = self.last_draw - self.start
        line = f"\r{self.label} |{'#' * filled}{'-' * (width - filled)}| "
        self.stream.write(f"{line}{self.done}/{self.total}  {elapsed:.1f} s")
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
