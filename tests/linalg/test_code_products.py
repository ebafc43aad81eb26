"""A's blocks from the grouping codes are SciPy's sparse products, to the bit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels._typing import FloatArray
from mixedmodels.linalg.code_products import code_products
from mixedmodels.linalg.crossprod import CrossProducts, cross_products


def _same(a: FloatArray, b: FloatArray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _assert_identical(A: CrossProducts, B: CrossProducts) -> None:
    for a, b in [*zip(A.diag, B.diag, strict=True), *zip(A.xz, B.xz, strict=True)]:
        _same(a, b)
    _same(A.xx, B.xx)
    for s, t in zip(A.sparse, B.sparse, strict=True):
        assert (s is None) == (t is None)
        if s is not None and t is not None:
            _same(s.data, t.data)
            _same(s.indices, t.indices)
            _same(s.indptr, t.indptr)
            assert s.shape == t.shape
    for row_a, row_b in zip(A.dense, B.dense, strict=True):
        for d, e in zip(row_a, row_b, strict=True):
            assert (d is None) == (e is None)
            if d is not None and e is not None:
                _same(d, e)


def _data(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "w": rng.normal(size=n) * (rng.random(n) < 0.5),  # zero in half the rows
            "g": rng.integers(0, 40, n),
            "h": rng.integers(0, 7, n),
            "f": rng.integers(0, 5, n),
            "u": rng.integers(0, 300, n),  # many levels: only the pairs that occur are kept
        }
    )


@pytest.mark.parametrize(
    ("dataset", "formula"),
    [
        ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
        ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
        ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
        (None, "y ~ x + (x + w | g) + (w | h) + (1 | f)"),
        (None, "y ~ x + (1 | u) + (0 + w | g) + (x | h) + (w | f)"),
        (None, "y ~ (0 + w | g) + (0 + w | h)"),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_code_products_are_the_sparse_products(
    dataset: str | None, formula: str, weighted: bool
) -> None:
    data = _data() if dataset is None else mm.datasets.load(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mm.LinearMixedModel(formula, data)
    xy = np.column_stack([model.fixed.X, model.blocks.y])
    rng = np.random.default_rng(5)
    sqrtw = np.sqrt(rng.gamma(2.0, size=model.nobs)) if weighted else None
    _assert_identical(cross_products(model.terms, xy, sqrtw), code_products(model.terms, xy, sqrtw))
