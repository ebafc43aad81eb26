"""How many BLAS threads the blocked Cholesky may use.

OpenBLAS busy-waits for its threads: when another process shares the cores (a second fit, a
Dask worker, a test runner), a multi-threaded factorization of a block of a thousand rows can run
ten times slower than a single-threaded one, while on an idle machine two threads save about a
sixth of its time. So fits whose dense blocks are of moderate size run with one BLAS thread, and
the factorization of a block of at least :data:`TRY_THREADS_FROM` rows is timed both ways on
its first calls (:class:`ThreadChoice`) and then done the faster way. Large dense blocks keep the
library's default.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

__all__ = ["SINGLE_THREAD_BELOW", "TRY_THREADS_FROM", "ThreadChoice", "blas_threads"]

SINGLE_THREAD_BELOW = 2500  # dense blocks with fewer rows factor on one thread ...
TRY_THREADS_FROM = 700  # ... unless, from this size, all threads prove faster
TRIALS = 2  # timed calls with each number of threads before choosing

R = TypeVar("R")


@contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Limit the BLAS libraries to ``limit`` threads inside the block (no limit for None)."""
    if limit is None:
        yield
        return
    with _controller().limit(limits=limit, user_api="blas"):
        yield


@lru_cache(maxsize=1)
def _controller() -> Any:
    """The BLAS libraries, found once: a fresh search costs a millisecond per use.

    Created at the first fit, when NumPy's and SciPy's BLAS are both loaded.
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS before the search)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class ThreadChoice:
    """One thread or all the cores for a repeated computation, whichever the clock prefers.

    The first ``2 × TRIALS`` calls alternate between the two and are timed; later calls use the
    one with the shorter best time. On a busy machine the threaded calls are slow and one thread
    is kept; on an idle one the threads are.
    """

    def __init__(self) -> None:
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        self.times: dict[int, list[float]] = {1: [], self.cores: []}
        self.choice: int | None = 1 if self.cores == 1 else None

    def run(self, function: Callable[[], R]) -> R:
        """Call ``function`` with the chosen (or a trial) number of BLAS threads."""
        if self.choice is not None:
            limit = self.choice
        else:
            limit = 1 if len(self.times[1]) <= len(self.times[self.cores]) else self.cores
        started = time.perf_counter()
        with blas_threads(limit):
            out = function()
        if self.choice is None:
            self.times[limit].append(time.perf_counter() - started)
            if all(len(v) >= TRIALS for v in self.times.values()):
                self.choice = min(self.times, key=lambda n: min(self.times[n]))
        return out
