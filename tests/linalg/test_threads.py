"""BLAS threads: chosen from the problem's size, coordinated between Python threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

import mixedmodels as mm
from mixedmodels.errors import DataError
from mixedmodels.linalg import threads
from mixedmodels.linalg.threads import THREADS_FROM, blas_threads, set_blas_threads, threads_for


def blas_thread_count() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def test_blas_threads_limits_and_restores() -> None:
    before = blas_thread_count()
    with blas_threads(1):
        assert blas_thread_count() == 1
        with blas_threads(1):
            assert blas_thread_count() == 1
        assert blas_thread_count() == 1
    assert blas_thread_count() == before


def test_nested_limit_of_one_thread_is_restored_inside_the_outer_hold() -> None:
    before = blas_thread_count()
    with blas_threads(None):
        assert blas_thread_count() == before
        with blas_threads(1):
            assert blas_thread_count() == 1
        assert blas_thread_count() == before
    assert blas_thread_count() == before


def test_threads_follow_the_size_and_the_user_setting() -> None:
    assert threads_for(THREADS_FROM - 1) == 1
    assert threads_for(THREADS_FROM) == threads._default_threads()
    try:
        set_blas_threads(1)
        assert threads_for(10 * THREADS_FROM) == 1
    finally:
        set_blas_threads(None)
    assert threads_for(THREADS_FROM) == threads._default_threads()
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(DataError):
            set_blas_threads(bad)  # type: ignore[arg-type]


def test_the_choice_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    def refuse() -> float:
        raise AssertionError("the thread choice read the clock")

    monkeypatch.setattr(time, "perf_counter", refuse)
    monkeypatch.setattr(time, "monotonic", refuse)
    data = crossed(THREADS_FROM + 50, seed=3)
    model = mm.LinearMixedModel("y ~ x + (1|g) + (1|h)", data)
    assert model.L.thread_limit() == threads._default_threads()
    small = mm.LinearMixedModel("y ~ x + (1|g) + (1|h)", crossed(60, seed=3))
    assert small.L.thread_limit() == 1


def crossed(levels: int, seed: int) -> pd.DataFrame:
    """Crossed factors of ``levels + 10`` and ``levels`` levels (a dense block of ``levels``)."""
    rng = np.random.default_rng(seed)
    n = 3 * levels
    g = rng.integers(0, levels + 10, n)
    h = np.arange(n) % levels
    y = rng.normal(size=levels + 10)[g] + rng.normal(size=levels)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": rng.normal(size=n), "g": g.astype(str), "h": h.astype(str)})


def fit_summary(data: pd.DataFrame) -> tuple[bytes, ...]:
    m = mm.lmer("y ~ x + (1|g) + (1|h)", data, check_convergence=False)
    return (m.theta.tobytes(), m.beta.tobytes(), np.float64(m.objective).tobytes())


def test_fits_in_threads_have_the_bits_of_sequential_fits() -> None:
    """Large (all threads) and small (one thread) fits side by side in a pool of threads."""
    datasets = [crossed(THREADS_FROM + 20, seed=1), crossed(50, seed=2), crossed(80, seed=4)]
    before = blas_thread_count()
    sequential = [fit_summary(d) for d in datasets]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(fit_summary, datasets * 2))
    assert concurrent == sequential * 2
    assert blas_thread_count() == before  # the process-wide setting is as it was


def test_a_waiting_limit_enters_after_the_other_leaves() -> None:
    before = blas_thread_count()
    if before == 1:  # e.g. OPENBLAS_NUM_THREADS=1: the holder's limit is the default
        pytest.skip("BLAS runs one thread by default: a one-thread limit waits for nothing")
    seen: list[int] = []
    entered = threading.Event()
    leave = threading.Event()

    def hold_one() -> None:
        with blas_threads(1):
            entered.set()
            leave.wait(10)

    holder = threading.Thread(target=hold_one)
    holder.start()
    entered.wait(10)

    def want_default() -> None:
        with blas_threads(None):
            seen.append(blas_thread_count())

    waiter = threading.Thread(target=want_default)
    waiter.start()
    waiter.join(0.2)
    assert seen == []  # still waiting: one thread is in force for the holder
    leave.set()
    holder.join(10)
    waiter.join(10)
    assert seen == [before]
    assert blas_thread_count() == before
