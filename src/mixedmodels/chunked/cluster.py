"""Faults of the machinery that runs a pass: lost workers, lost clusters, forked processes.

A worker that dies during a pass is replaced by Dask, which computes its tasks again (the
result is the same: every task is a pure function of its row group). When no worker is left,
Dask waits for one forever; :func:`gather` waits at most ``timeout`` seconds without any
worker (or without reaching the scheduler) and then raises :class:`ClusterError` saying what
was lost. A process forked after a chunked fit inherits Dask's thread pools without their
threads: :func:`reset_after_fork` (registered with :func:`os.register_at_fork`) gives the
child fresh ones, and a ``dask.distributed`` client of the parent is refused in the child.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from mixedmodels.errors import ClusterError

__all__ = ["DEFAULT_TIMEOUT", "check_timeout", "gather", "reset_after_fork"]

DEFAULT_TIMEOUT = 300.0  # seconds a pass waits for a worker before giving up
SHOWN = 4
_parent_clients: set[int] = set()  # clients of the parent process (after a fork)


def check_timeout(timeout: Any) -> float:
    """A positive number of seconds, or :class:`~mixedmodels.errors.DataError`."""
    from mixedmodels.errors import DataError

    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise DataError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


def gather(client: Any, futures: Sequence[Any], timeout: float, label: str) -> list[Any]:
    """The results of ``futures``; :class:`ClusterError` when the cluster cannot finish them.

    Waits as long as the tasks take while the cluster has workers; fails once it has had none
    (or the scheduler could not be reached) for ``timeout`` seconds.
    """
    from distributed import wait

    if id(client) in _parent_clients:
        raise ClusterError(
            "the active Dask client was created in the parent of this forked process, where "
            "its connection and threads do not exist: create a new distributed.Client here"
        )
    step = min(1.0, timeout / 4)
    known = _workers(client) or set()
    alone_since: float | None = None
    while True:
        try:
            wait(futures, timeout=step)
            break
        except TimeoutError:
            pass
        workers = _workers(client)
        if workers:
            known |= workers
            alone_since = None
            continue
        alone_since = time.monotonic() if alone_since is None else alone_since
        if time.monotonic() - alone_since >= timeout:
            _give_up(client, futures, known, timeout, label)
    return _results(client, futures, label)


def _workers(client: Any) -> set[str] | None:
    """Addresses of the cluster's workers (``None``: the scheduler cannot be reached)."""
    try:
        return set(client.scheduler_info()["workers"])
    except Exception:  # noqa: BLE001 - any failure to reach the scheduler counts as no worker
        return None


def _give_up(
    client: Any, futures: Sequence[Any], known: set[str], timeout: float, label: str
) -> None:
    """Cancel the pass and say what was lost."""
    pending = sum(1 for f in futures if not f.done())
    lost = sorted(known)
    names = ", ".join(lost[:SHOWN]) + (
        f" and {len(lost) - SHOWN} more" if len(lost) > SHOWN else ""
    )
    try:
        client.cancel(list(futures))
    except Exception:  # noqa: BLE001 - the cluster is gone; nothing to cancel
        pass
    raise ClusterError(
        f"the Dask cluster has had no worker for {timeout:g} s (timeout={timeout:g}) during "
        f"the pass {label!r}: {pending} of {len(futures)} results were not computed; lost "
        f"worker(s): {names or 'none was ever seen'}. Restart workers (or pass a larger "
        "timeout=) and fit again"
    )


def _results(client: Any, futures: Sequence[Any], label: str) -> list[Any]:
    """Gather finished futures, turning Dask's losses into :class:`ClusterError`."""
    from distributed import KilledWorker

    try:
        return list(client.gather(list(futures)))
    except KilledWorker as error:
        raise ClusterError(
            f"the pass {label!r} lost a task with every worker that ran it ({error}); Dask "
            "gives up on a task after distributed.scheduler.allowed-failures worker deaths"
        ) from None
    except Exception as error:
        if type(error).__name__ in ("CancelledError", "FutureCancelledError"):
            raise ClusterError(
                f"the pass {label!r} was cancelled on the cluster ({error})"
            ) from None
        raise


def reset_after_fork() -> None:
    """In a forked child: fresh Dask thread pools; the parent's clients marked unusable."""
    threaded = sys.modules.get("dask.threaded")
    if threaded is not None:
        threaded.default_pool = None  # type: ignore[attr-defined]
        threaded.pools.clear()
        threaded.pools_lock = threading.Lock()  # type: ignore[attr-defined]
        threaded.main_thread = threading.current_thread()  # type: ignore[attr-defined]
    client_module = sys.modules.get("distributed.client")
    if client_module is not None:
        found = getattr(client_module, "_global_clients", {})
        _parent_clients.update(id(c) for c in list(found.values()))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset_after_fork)
