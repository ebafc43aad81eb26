"""A chunked fit in a process forked after another chunked fit (issue 14 §4).

The child inherits Dask's thread pool without its threads; it used to wait for them forever.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

import mixedmodels as mm

dd = pytest.importorskip("dask.dataframe")

FORMULA = "Reaction ~ Days + (Days | Subject)"
WAIT = 120.0  # seconds: generous on a loaded machine; a hang is what is tested


def fit_in_child(connection: Any) -> None:
    data = dd.from_pandas(mm.datasets.load("sleepstudy"), npartitions=4)
    try:
        connection.send(("ok", mm.lmer(FORMULA, data).objective))
    except Exception as error:  # noqa: BLE001 - reported to the parent
        connection.send(("error", f"{type(error).__name__}: {error}"))
    connection.close()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_chunked_fit_works_in_a_process_forked_after_one() -> None:
    data = dd.from_pandas(mm.datasets.load("sleepstudy"), npartitions=4)
    expected = mm.lmer(FORMULA, data).objective  # starts Dask's thread pool in this process
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=fit_in_child, args=(send,))
    child.start()
    send.close()
    ready = receive.poll(WAIT)
    if not ready:
        child.kill()
    child.join(WAIT)
    assert ready, "the chunked fit in the forked child did not finish"
    status, value = receive.recv()
    assert status == "ok", value
    assert value == pytest.approx(expected, rel=1e-12)
    assert child.exitcode == 0
