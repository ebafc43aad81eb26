"""Faults of a dask.distributed cluster during a pass (issue 14 §2).

A worker killed during the pass is replaced by its nanny and its tasks computed again: the
fit is the same. When no worker is left, the fit fails with ``ClusterError`` within its
``timeout`` instead of waiting forever. The workers are killed from inside a task (the
partition function), on its first attempt only (a marker file), so nothing depends on timing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ClusterError, DataError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

FORMULA = "Reaction ~ Days + (Days | Subject)"
BOUND = 45.0  # seconds beyond the timeout that a loaded 2-core machine may need


def killing_frame(frame: pd.DataFrame, marker: Path, victim: int, every_time: bool) -> Any:
    """A Dask DataFrame whose partition ``victim`` kills its worker process when computed.

    Once (the marker file records it), or every time with ``every_time``.
    """
    pieces = [frame.iloc[rows] for rows in np.array_split(np.arange(len(frame)), 6)]
    flag = str(marker)

    def partition(i: int) -> pd.DataFrame:  # nested: pickled by value to the workers
        if i == victim and (every_time or not os.path.exists(flag)):
            with open(flag, "w") as handle:
                handle.write("killed")
            os._exit(1)
        return pieces[i]

    return dd.from_map(partition, range(len(pieces)), meta=frame.iloc[:0])


def local_cluster(n_workers: int) -> Any:
    return distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    )


def test_a_killed_worker_is_replaced_and_the_fit_is_the_same(tmp_path: Path) -> None:
    frame = mm.datasets.load("sleepstudy")
    memory = mm.lmer(FORMULA, frame)
    data = killing_frame(frame, tmp_path / "killed", victim=4, every_time=False)
    with local_cluster(2) as cluster, distributed.Client(cluster):
        chunked = mm.lmer(FORMULA, data, timeout=120)
    assert (tmp_path / "killed").exists()  # a worker did die during the pass
    np.testing.assert_allclose(chunked.theta, memory.theta, rtol=1e-8)
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-8)
    assert chunked.objective == pytest.approx(memory.objective, rel=1e-10)


def test_no_worker_left_is_a_cluster_error_within_the_timeout(tmp_path: Path) -> None:
    frame = mm.datasets.load("sleepstudy")
    data = killing_frame(frame, tmp_path / "killed", victim=3, every_time=True)
    timeout = 2.0
    with local_cluster(1) as cluster, distributed.Client(cluster) as client:
        (address,) = client.scheduler_info()["workers"]
        for nanny in cluster.workers.values():
            nanny.close_gracefully()  # a worker that dies is not restarted
        started = time.monotonic()
        with pytest.raises(ClusterError, match=rf"no worker for 2 s.*{address}"):
            mm.lmer(FORMULA, data, timeout=timeout)
        assert time.monotonic() - started < timeout + BOUND


def test_timeout_must_be_a_positive_number() -> None:
    data = dd.from_pandas(mm.datasets.load("sleepstudy"), npartitions=2)
    for bad in (0, -1.0, "5", True):
        with pytest.raises(DataError, match="timeout must be a positive number"):
            mm.lmer(FORMULA, data, timeout=bad)


def test_a_client_of_the_parent_process_is_refused_in_a_forked_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mixedmodels.chunked import cluster

    inherited = object()  # stands for a client whose threads stayed in the parent
    monkeypatch.setattr(cluster, "_parent_clients", {id(inherited)})
    with pytest.raises(ClusterError, match="parent of this forked process"):
        cluster.gather(inherited, [], 1.0, "cross-products")


def test_a_task_that_kills_every_worker_it_runs_on_is_a_cluster_error(tmp_path: Path) -> None:
    import dask

    frame = mm.datasets.load("sleepstudy")
    data = killing_frame(frame, tmp_path / "killed", victim=2, every_time=True)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        local_cluster(1) as cluster,
        distributed.Client(cluster),
    ):
        with pytest.raises(ClusterError, match="lost a task with every worker that ran it"):
            mm.lmer(FORMULA, data, timeout=60)
