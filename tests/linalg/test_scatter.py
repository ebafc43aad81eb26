"""The compiled scatter ``target -= scale · C_i diag(w) C_jᵀ`` against dense products."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from pytest import MonkeyPatch

from mixedmodels.linalg import gram
from mixedmodels.linalg.gram import ScatterGram


def block(rows: int, cols: int, density: float, seed: int) -> sp.csr_array:
    """A random block with empty columns and columns of one entry among the others."""
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((rows, cols)) < density, rng.uniform(0.5, 3.0, (rows, cols)), 0.0)
    dense[:, ::7] = 0.0  # empty columns
    single = np.arange(3, cols, 7)
    dense[:, single] = 0.0
    dense[rng.integers(0, rows, single.size), single] = 1.5  # one entry
    return sp.csr_array(dense)


def product(left: sp.csr_array, right: sp.csr_array | None, height: int, width: int):
    return ScatterGram.of(left, right, height, width)


def column_loop(target, C: sp.csr_array, w, scale: float) -> np.ndarray:
    """The plain column-by-column loop in Python, the order the kernel promises."""
    out = target.copy()
    csc = sp.csc_array(C)
    csc.sort_indices()
    for k in range(csc.shape[1]):
        start, stop = csc.indptr[k], csc.indptr[k + 1]
        for p in range(start, stop):
            v = (scale * w[k]) * csc.data[p]
            for q in range(start, p + 1):
                out[csc.indices[p], csc.indices[q]] -= v * csc.data[q]
    return out


@pytest.mark.parametrize(("rows", "height", "width"), [(23, 4, 6), (23, 64, 256), (40, 8, 8)])
def test_symmetric_product_fills_the_lower_triangle(rows: int, height: int, width: int) -> None:
    C = block(rows, 50, 0.3, seed=rows)
    w = np.random.default_rng(1).uniform(0.1, 2.0, 50)
    start = np.random.default_rng(2).normal(size=(rows, rows))
    target = start.copy()
    product(C, None, height, width).subtract_from(target, w, 0.7)
    expected = start - 0.7 * (C.toarray() * w) @ C.toarray().T
    lower, upper = np.tril_indices(rows), np.triu_indices(rows, 1)
    np.testing.assert_allclose(target[lower], expected[lower], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(target[upper], start[upper])  # never written


def test_bits_are_those_of_the_column_loop_whatever_the_tiles() -> None:
    C = block(30, 40, 0.4, seed=5)
    w = np.random.default_rng(3).uniform(0.1, 2.0, 40)
    start = np.random.default_rng(4).normal(size=(30, 30))
    expected = np.tril(column_loop(start, C, w, 1.3))
    for height, width in [(1, 1), (3, 7), (64, 256), (30, 30)]:
        target = start.copy()
        product(C, None, height, width).subtract_from(target, w, 1.3)
        np.testing.assert_array_equal(np.tril(target), expected)


@pytest.mark.parametrize(("height", "width"), [(3, 5), (64, 256)])
def test_rectangular_product(height: int, width: int) -> None:
    left, right = block(17, 60, 0.3, seed=7), block(11, 60, 0.5, seed=8)
    w = np.random.default_rng(5).uniform(0.1, 2.0, 60)
    start = np.random.default_rng(6).normal(size=(17, 11))
    target = start.copy()
    product(left, right, height, width).subtract_from(target, w, -0.4)
    expected = start + 0.4 * (left.toarray() * w) @ right.toarray().T
    np.testing.assert_allclose(target, expected, rtol=1e-13, atol=1e-13)


def test_empty_block_changes_nothing() -> None:
    C = sp.csr_array((5, 9))
    target = np.arange(25.0).reshape(5, 5)
    product(C, None, 2, 2).subtract_from(target, np.ones(9), 1.0)
    np.testing.assert_array_equal(target, np.arange(25.0).reshape(5, 5))


def test_new_values_on_the_same_pattern() -> None:
    C = block(20, 30, 0.3, seed=9)
    other = C.copy()
    other.data = np.random.default_rng(7).normal(size=C.nnz)
    w = np.random.default_rng(8).uniform(0.1, 2.0, 30)
    first, second = np.zeros((20, 20)), np.zeros((20, 20))
    product(C, None, 4, 8).with_values(other.data, other.data).subtract_from(first, w, 1.0)
    product(other, None, 4, 8).subtract_from(second, w, 1.0)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_share_rows_and_keep_the_bits(threads: int, monkeypatch: MonkeyPatch) -> None:
    C = block(45, 80, 0.3, seed=11)
    w = np.random.default_rng(9).uniform(0.1, 2.0, 80)
    start = np.random.default_rng(10).normal(size=(45, 45))
    one = start.copy()
    product(C, None, 4, 8).subtract_from(one, w, 0.9)
    monkeypatch.setattr(gram, "PARALLEL_PAIRS", 0)
    monkeypatch.setattr(gram, "threads_for", lambda rows: threads)
    many = start.copy()
    scatter = product(C, None, 4, 8)
    assert scatter.partition(threads).size == threads + 1
    scatter.subtract_from(many, w, 0.9)
    np.testing.assert_array_equal(many, one)
