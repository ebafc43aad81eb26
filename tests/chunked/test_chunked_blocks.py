"""Chunked data give a model the same blocks as the data in memory, without the rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.chunked import chunked_blocks
from mixedmodels.chunked.lazy_rows import ChunkedRows
from mixedmodels.linalg.frame_blocks import frame_blocks
from mixedmodels.linalg.model_blocks import ModelBlocks
from mixedmodels.spec.checks import mixed_model_formula

dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

SLEEP = "Reaction ~ Days + (Days | Subject)"
TOL = 1e-10


def shift_vector(blocks: ModelBlocks) -> np.ndarray:
    """The stored response is ``y − X s``: ``s`` from the blocks' ``(shift, intercept)``."""
    shift, intercept = blocks.shift
    s = np.zeros(len(blocks.fixed.names))
    if intercept is not None:
        s[intercept] = float(shift)  # type: ignore[arg-type]
    elif np.ndim(shift) == 1:
        s[:] = shift
    return s


def unshifted(blocks: ModelBlocks) -> tuple[np.ndarray, list[np.ndarray]]:
    """``[X y]'W[X y]`` and the ``Z'W[X y]`` blocks of the response itself (shift added back).

    In memory the stored response is less its least-squares fit, on chunks less its mean:
    the stored blocks differ by that shift, the data's cross-products must not.
    """
    s, xx = shift_vector(blocks), blocks.A.xx.copy()
    p = len(s)
    xy = xx[:p, -1] + xx[:p, :p] @ s
    xx[-1, -1] += 2.0 * s @ xx[:p, -1] + s @ xx[:p, :p] @ s
    xx[:p, -1] = xx[-1, :p] = xy
    xz = []
    for block in blocks.A.xz:  # (p + 1, levels, k)
        raw = block.copy()
        raw[-1] += np.tensordot(s, block[:p], axes=1)
        xz.append(raw)
    return xx, xz


def assert_same_blocks(chunked: ModelBlocks, memory: ModelBlocks) -> None:
    """Every block of the data and every sum the same to 1e-10 (relative to the block's size)."""

    def close(a: np.ndarray, b: np.ndarray) -> None:
        scale = max(float(np.abs(b).max(initial=0.0)), 1.0)
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL * scale)

    assert [t.name for t in chunked.terms] == [t.name for t in memory.terms]
    assert chunked.nobs == memory.nobs and chunked.weighted == memory.weighted
    assert chunked.fixed.names == memory.fixed.names
    assert chunked.fixed.dropped == memory.fixed.dropped
    assert chunked.degenerate_terms == memory.degenerate_terms
    assert chunked.log_weights == pytest.approx(memory.log_weights, rel=TOL, abs=TOL)
    (xx_c, xz_c), (xx_m, xz_m) = unshifted(chunked), unshifted(memory)
    close(xx_c, xx_m)
    for a, b in zip(chunked.A.diag + xz_c, memory.A.diag + xz_m, strict=True):
        close(a, b)
    for a, b in zip(chunked.A.sparse, memory.A.sparse, strict=True):
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            close(a.to_scipy().toarray(), b.to_scipy().toarray())
    for row_c, row_m in zip(chunked.A.dense, memory.A.dense, strict=True):
        for c, m in zip(row_c, row_m, strict=True):
            assert (c is None) == (m is None)
            if c is not None and m is not None:
                close(c, m)
    close(chunked.fixed_gram(), memory.fixed_gram())
    n, total, squares = chunked.response_stats()
    expected = memory.response_stats()
    assert n == expected[0]
    close(np.array([total, squares]), np.array(expected[1:]))


def parquet(frame: pd.DataFrame, directory: Path, n: int = 4) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), n)):
        frame.iloc[rows].to_parquet(directory / f"part-{i}.parquet", index=False)
    return str(directory)


def test_sleepstudy_chunked_and_in_memory_give_the_same_blocks(tmp_path: Path) -> None:
    frame = mm.datasets.load("sleepstudy")
    parsed = mixed_model_formula(SLEEP)
    memory = frame_blocks(parsed, frame)
    for data in (parquet(frame, tmp_path), dd.from_pandas(frame, npartitions=5)):
        chunked = chunked_blocks(parsed, data, progress=False)
        assert_same_blocks(chunked, memory)
        assert not chunked.has_rows and chunked.rows is None
        assert isinstance(chunked.passes, ChunkedRows)
        assert chunked.fixed.X.shape == (0, 2) and len(chunked.y) == 0


def three_factors() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 600
    g, h, k = rng.integers(0, 30, n), rng.integers(0, 12, n), rng.integers(0, 7, n)
    x = rng.normal(size=n)
    y = 2 + x + rng.normal(size=30)[g] * (1 + 0.3 * x) + rng.normal(size=12)[h]
    y += 0.5 * rng.normal(size=7)[k] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "h": h, "k": k.astype(str)})


@pytest.mark.parametrize(
    ("formula", "frame"),
    [
        ("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin")),
        ("y ~ x + (1 + x | g) + (1 | h) + (1 | k)", three_factors()),
    ],
)
def test_crossed_terms_give_the_same_sparse_and_dense_blocks(
    formula: str, frame: pd.DataFrame
) -> None:
    parsed = mixed_model_formula(formula)
    memory = frame_blocks(parsed, frame)
    chunked = chunked_blocks(parsed, dd.from_pandas(frame, npartitions=4), progress=False)
    assert_same_blocks(chunked, memory)


def test_weighted_blocks_with_an_offset_agree(tmp_path: Path) -> None:
    frame = mm.datasets.load("sleepstudy")
    rng = np.random.default_rng(7)
    frame["w"] = rng.uniform(0.5, 2.0, len(frame))
    frame["o"] = rng.normal(size=len(frame))
    parsed = mixed_model_formula(SLEEP)
    memory = frame_blocks(parsed, frame, weights="w", offset="o")
    chunked = chunked_blocks(parsed, parquet(frame, tmp_path), weights="w", offset="o")
    assert chunked.weighted and chunked.log_weights != 0.0
    assert (chunked.weights_name, chunked.offset_name) == ("w", "o")
    assert_same_blocks(chunked, memory)


def test_a_model_of_chunked_blocks_has_no_rows_and_lazy_results(tmp_path: Path) -> None:
    frame = mm.datasets.load("sleepstudy")
    parsed = mixed_model_formula(SLEEP)
    blocks = chunked_blocks(parsed, parquet(frame, tmp_path), progress=False)
    model = mm.LinearMixedModel.from_blocks(blocks).fit()
    memory = mm.lmer(SLEEP, frame, check_convergence=True)
    assert not model.has_rows and model.data_name == str(tmp_path)
    assert model.objective == pytest.approx(memory.objective, rel=1e-9)
    np.testing.assert_allclose(model.fitted().compute().to_numpy(), memory.fitted(), rtol=1e-8)
    population = model.predict(re_form="NA").compute().to_numpy()
    np.testing.assert_allclose(population, memory.predict(re_form="NA"), rtol=1e-8)
    with pytest.raises(mm.NotSupportedError, match="hat_values needs the rows"):
        model.hat_values()
    chunked = mm.lmer(SLEEP, str(tmp_path), progress=False)
    assert isinstance(chunked, mm.ChunkedLinearMixedModel) and not chunked.has_rows
    assert chunked.objective == model.objective
    assert chunked.encoder is chunked.chunks.encoder and chunked.files is not None
    assert set(chunked.timings) == {"levels", "cross-products"}
