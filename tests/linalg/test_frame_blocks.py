"""A model is built from its blocks: the in-memory builder and ``LinearMixedModel.from_blocks``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError, NotSupportedError
from mixedmodels.linalg.frame_blocks import frame_blocks, with_response
from mixedmodels.linalg.model_blocks import ModelBlocks
from mixedmodels.spec.checks import mixed_model_formula

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep_blocks() -> ModelBlocks:
    return frame_blocks(mixed_model_formula(SLEEP), mm.datasets.load("sleepstudy"))


def test_blocks_in_memory_have_the_rows_and_their_sums(sleep_blocks: ModelBlocks) -> None:
    frame = mm.datasets.load("sleepstudy")
    y = frame["Reaction"].to_numpy(dtype=float)
    X = np.column_stack([np.ones(len(frame)), frame["Days"].to_numpy(dtype=float)])
    assert sleep_blocks.has_rows and sleep_blocks.passes is None
    assert sleep_blocks.nobs == 180 and not sleep_blocks.weighted
    assert sleep_blocks.log_weights == 0.0 and sleep_blocks.rows is not None
    assert sleep_blocks.rows.sqrtw is None
    np.testing.assert_array_equal(sleep_blocks.y, y)
    np.testing.assert_allclose(sleep_blocks.fixed_gram(), X.T @ X, rtol=1e-14)
    n, total, squares = sleep_blocks.response_stats()
    assert n == 180
    assert total == pytest.approx(y.sum(), rel=1e-14)
    assert squares == pytest.approx(y @ y, rel=1e-14)
    # the response is stored less its least-squares fit Xβ₀ (linalg.shift)
    shift, intercept = sleep_blocks.shift
    beta0 = np.linalg.lstsq(X, y, rcond=None)[0]
    assert intercept is None
    np.testing.assert_allclose(shift, beta0, rtol=1e-12)


def test_the_constructor_is_from_blocks_of_the_frame(sleep_blocks: ModelBlocks) -> None:
    built = mm.LinearMixedModel.from_blocks(sleep_blocks).fit()
    direct = mm.lmer(SLEEP, mm.datasets.load("sleepstudy"))
    assert built.has_rows and built.blocks is sleep_blocks
    assert built.objective == direct.objective
    np.testing.assert_array_equal(built.theta, direct.theta)
    np.testing.assert_array_equal(built.fitted(), direct.fitted())
    assert built.summary() == direct.summary()


def test_a_model_has_rows_as_its_blocks_say(sleep_blocks: ModelBlocks) -> None:
    stats = sleep_blocks.response_stats()
    without = replace(sleep_blocks, rows=None, gram=sleep_blocks.fixed_gram(), stats=stats)
    model = mm.LinearMixedModel.from_blocks(without, reml=False)
    assert not without.has_rows and not model.has_rows and not model.reml
    assert model._checks_convergence()  # data read by passes: always checked
    fitted = model.fit()
    memory = mm.LinearMixedModel.from_blocks(sleep_blocks, reml=False).fit()
    assert fitted.objective == pytest.approx(memory.objective, rel=1e-14)
    assert fitted.response_stats() == memory.response_stats()
    np.testing.assert_array_equal(fitted.fixed_gram(), memory.fixed_gram())
    with pytest.raises(NotSupportedError, match="^simulate needs the rows"):
        fitted.simulate(1)
    with pytest.raises(NotSupportedError, match="^refit with a new response"):
        fitted.refit(np.ones(180))


def test_blocks_without_rows_need_their_sums(sleep_blocks: ModelBlocks) -> None:
    with pytest.raises(ModelSpecificationError, match="without the rows"):
        replace(sleep_blocks, rows=None)
    with pytest.raises(ModelSpecificationError, match="must be True or False"):
        mm.LinearMixedModel.from_blocks(sleep_blocks, reml="yes")  # type: ignore[arg-type]


def test_a_new_response_gives_the_blocks_of_the_new_data(sleep_blocks: ModelBlocks) -> None:
    frame = mm.datasets.load("sleepstudy")
    rng = np.random.default_rng(3)
    new = frame["Reaction"].to_numpy() + rng.normal(scale=30.0, size=len(frame))
    expected = frame_blocks(mixed_model_formula(SLEEP), frame.assign(Reaction=new))
    got = with_response(sleep_blocks, new)
    assert got.shift[1] == expected.shift[1]
    np.testing.assert_allclose(got.shift[0], expected.shift[0], rtol=1e-12)
    scale = float(np.abs(expected.A.xx).max())
    np.testing.assert_allclose(got.A.xx, expected.A.xx, rtol=1e-12, atol=1e-12 * scale)
    for a, b in zip(got.A.xz, expected.A.xz, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(np.abs(b).max()))
    np.testing.assert_array_equal(got.y, new)
    assert got.response_stats() == pytest.approx(expected.response_stats(), rel=1e-14)
    assert got.A.diag is sleep_blocks.A.diag  # the Z parts are shared, not recomputed
    np.testing.assert_array_equal(sleep_blocks.y, frame["Reaction"].to_numpy())  # unchanged


def test_quantiles_in_memory_skip_missing_rows() -> None:
    blocks = frame_blocks(mixed_model_formula(SLEEP), mm.datasets.load("sleepstudy"))
    values = np.array([np.nan, 3.0, 1.0, 2.0, np.nan])
    np.testing.assert_array_equal(blocks.quantiles(values, (0.0, 0.5, 1.0)), [1.0, 2.0, 3.0])
