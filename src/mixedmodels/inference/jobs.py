"""How many worker processes a parallel computation (bootstrap, profile) uses."""

from __future__ import annotations

import os

__all__ = ["resolve_jobs"]


def resolve_jobs(n_jobs: int | None, n: int) -> int:
    """Worker processes: all usable cores unless told, never more than the ``n`` tasks.

    ``None`` or a number below 1 means every core this process may run on.
    """
    if n_jobs is None or n_jobs < 1:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        n_jobs = cores
    return max(1, min(int(n_jobs), n))
