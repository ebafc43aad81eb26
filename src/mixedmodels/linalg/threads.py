"""How many BLAS threads the blocked Cholesky may use.

OpenBLAS busy-waits for its threads: when another process shares the cores (a second fit, a
Dask worker, a test runner), a multi-threaded factorization of a block of a thousand rows can run
ten times slower than a single-threaded one. The gain from threads on blocks that small is modest
on an idle machine, so fits whose dense blocks are of moderate size run with one BLAS thread;
large dense blocks keep the library's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SINGLE_THREAD_BELOW", "blas_threads"]

SINGLE_THREAD_BELOW = 2500  # dense blocks with fewer rows factor on one thread


@contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Limit the BLAS libraries to ``limit`` threads inside the block (no limit for None)."""
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit, user_api="blas"):
        yield
