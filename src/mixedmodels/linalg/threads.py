"""How many BLAS threads a fit uses: chosen from the problem's size, never from a clock.

The number of threads changes the bits of a factorization (OpenBLAS splits the work
differently), so it must not depend on the machine's load: fits whose dense blocks have fewer
than :data:`THREADS_FROM` rows run on one BLAS thread (where threads gain little and lose much on
a shared machine), larger ones on all the threads the BLAS library starts with (its default at
the first fit, which ``OPENBLAS_NUM_THREADS`` and friends set), or on the number given to
:func:`set_blas_threads`.

BLAS thread limits are process-wide, so :func:`blas_threads` coordinates them between Python
threads: fits asking for the same limit run side by side, a fit asking for another waits until
the others are done, and the library's own setting is restored when the last one leaves — a fit
in a ``ThreadPoolExecutor`` gives the same bits as in the main thread, and other code sees the
setting it had before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from mixedmodels.errors import DataError

__all__ = ["THREADS_FROM", "blas_threads", "set_blas_threads", "threads_for"]

THREADS_FROM = 700  # dense blocks with at least this many rows factor on all BLAS threads

_user_threads: int | None = None


def set_blas_threads(n: int | None) -> None:
    """Use ``n`` BLAS threads for every large dense block (``None``: the library's default).

    Parameters
    ----------
    n
        A positive number of threads, or ``None`` to go back to the default rule (one thread
        below :data:`THREADS_FROM` rows, the library's default number from there on).
    """
    global _user_threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise DataError(f"the number of BLAS threads must be a positive integer, not {n!r}")
    _user_threads = n


def threads_for(rows: int) -> int:
    """The number of BLAS threads for a fit whose largest dense block has ``rows`` rows."""
    if rows < THREADS_FROM:
        return 1
    return _user_threads if _user_threads is not None else _default_threads()


class _Limiter:
    """One process-wide BLAS thread limit shared by the Python threads that ask for it."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.limit: int | None = None  # the limit in force while ``active`` > 0
        self.active = 0
        self.owner: int | None = None  # a thread that changed the limit inside its own hold
        self.restore: Any = None
        self.held = threading.local()

    def _mine(self) -> list[tuple[int, int | None]]:
        if not hasattr(self.held, "stack"):
            self.held.stack = []
        stack: list[tuple[int, int | None]] = self.held.stack
        return stack

    def acquire(self, limit: int) -> None:
        """Wait until ``limit`` can be in force, then hold it."""
        me, mine = threading.get_ident(), self._mine()
        with self.condition:
            while not self._may_enter(limit, me, len(mine)):
                self.condition.wait()
            previous = self.limit
            if self.active == 0:
                self.restore = _controller().limit(limits=limit, user_api="blas")
            elif limit != self.limit:  # only this thread holds: change it for the inner block
                _controller().limit(limits=limit, user_api="blas")
                self.owner = me
            self.limit = limit
            self.active += 1
            mine.append((limit, previous))

    def _may_enter(self, limit: int, me: int, held_by_me: int) -> bool:
        if self.owner is not None and self.owner != me:
            return False
        return self.active == 0 or self.limit == limit or self.active == held_by_me

    def release(self) -> None:
        """Leave the hold taken by the matching :meth:`acquire`."""
        limit, previous = self._mine().pop()
        with self.condition:
            self.active -= 1
            if self.active == 0:
                self.restore.restore_original_limits()
                self.limit, self.owner, self.restore = None, None, None
            elif previous is not None and previous != limit:
                _controller().limit(limits=previous, user_api="blas")
                self.limit = previous
                if not any(p is not None and p != lim for lim, p in self._mine()):
                    self.owner = None
            self.condition.notify_all()


_LIMITER = _Limiter()


def _reset_in_child() -> None:
    """A forked child has only the forking thread: start with no holds and a fresh lock."""
    global _LIMITER
    _LIMITER = _Limiter()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


@contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Run the block with ``limit`` BLAS threads (``None``: the library's default number)."""
    count = _default_threads() if limit is None else int(limit)
    _LIMITER.acquire(count)
    try:
        yield
    finally:
        _LIMITER.release()


@lru_cache(maxsize=1)
def _default_threads() -> int:
    """The BLAS libraries' own number of threads, read once at the first fit."""
    counts = [int(info["num_threads"]) for info in _controller().info()]
    return max(counts, default=1)


@lru_cache(maxsize=1)
def _controller() -> Any:
    """The BLAS libraries, found once: a fresh search costs a millisecond per use.

    Created at the first fit, when NumPy's and SciPy's BLAS are both loaded.
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS before the search)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
