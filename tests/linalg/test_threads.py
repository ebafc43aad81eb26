"""The number of BLAS threads for the largest dense blocks is chosen by timing both."""

from __future__ import annotations

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from mixedmodels.linalg import threads
from mixedmodels.linalg.threads import ThreadChoice, blas_threads


def blas_thread_count() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def test_blas_threads_limits_and_restores() -> None:
    before = blas_thread_count()
    with blas_threads(1):
        assert blas_thread_count() == 1
    assert blas_thread_count() == before


@pytest.mark.parametrize("faster", ["one", "all"])
def test_thread_choice_keeps_the_faster(faster: str) -> None:
    choice = ThreadChoice()
    if choice.cores == 1:
        pytest.skip("one core: nothing to choose")  # the choice is fixed at one thread

    def work() -> int:
        n = blas_thread_count()
        slow = (n == 1) if faster == "all" else (n > 1)
        time.sleep(0.02 if slow else 0.001)
        return n

    seen = [choice.run(work) for _ in range(2 * threads.TRIALS + 3)]
    expected = 1 if faster == "one" else choice.cores
    assert choice.choice == expected
    assert sorted(set(seen[: 2 * threads.TRIALS])) == [1, choice.cores]  # both were tried
    assert seen[2 * threads.TRIALS :] == [expected] * 3


def test_single_core_uses_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0})
    choice = ThreadChoice()
    assert choice.choice == 1
    assert choice.run(lambda: np.ones(3).sum()) == 3.0
