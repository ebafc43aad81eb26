"""R's contrasts (``contrasts={"f": "sum"}``) against R's model.matrix and lme4's fits.

The reference values come from ``tests/data/r/contrasts.R`` (R's ``model.matrix`` with
``contrasts.arg``, ``lmer`` and ``glmer`` with ``contrasts =``), stored in
``tests/spec/data/contrasts.json``.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import (
    ModelSpecificationError,
    ModelSpecificationWarning,
    UnknownColumnError,
)
from mixedmodels.spec.contrasts import contrast_matrix
from mixedmodels.spec.evaluate import model_matrices
from mixedmodels.spec.fixed import column_label

REFERENCE = json.loads((Path(__file__).parent / "data" / "contrasts.json").read_text())
# formulaic codes `x + f:g` in full rank (13 columns) where R gives 14 dependent ones: the
# same model in another parameterization, whatever the contrasts, so it is not compared here
MATRICES = [m for m in REFERENCE["model_matrices"] if m["formula"] != "~ x + f:g"]


def _treatment_names(names: list[str]) -> list[str]:
    """R's treatment names (``fb``) as the package's default ones (``f[T.b]``)."""
    out = []
    for name in names:
        parts = []
        for part in name.split(":"):
            if part[0] in "fg" and len(part) == 2:
                parts.append(f"{part[0]}[T.{part[1]}]")
            else:
                parts.append(part)
        out.append(":".join(parts))
    return out


def _full_names(names: list[str]) -> list[str]:
    """R's indicator names (``fa``) of a fully coded factor as the package's (``f[a]``)."""
    return [":".join(p if p == "x" else f"{p[0]}[{p[1]}]" for p in n.split(":")) for n in names]


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    frame = pd.DataFrame(REFERENCE["small"])
    return frame.assign(y=np.linspace(0.0, 1.0, len(frame)))


@pytest.mark.parametrize("case", MATRICES, ids=lambda c: f"{c['contrast']}{c['formula']}")
def test_model_matrix_equals_rs(small: pd.DataFrame, case: dict[str, Any]) -> None:
    coded = {"f": case["contrast"]}
    if "g" in case["formula"]:
        coded["g"] = case["contrast"]
    matrices, _ = model_matrices(f"y {case['formula']}", small, contrasts=coded)
    names = [column_label(str(c)) for c in matrices.rhs.columns]
    expected = case["columns"]
    if case["formula"] in ("~ 0 + f", "~ f:x"):  # full coding: indicators, as R
        expected = [n if n == "(Intercept)" else _full_names([n])[0] for n in expected]
    elif case["contrast"] == "treatment":
        expected = _treatment_names(expected)
    assert names == expected
    np.testing.assert_allclose(
        matrices.rhs.to_numpy(dtype=float), np.column_stack(case["matrix"]), atol=1e-14
    )


@pytest.mark.parametrize("name", ["sum", "helmert", "poly", "sdif", "treatment"])
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_coding_matrices_have_rs_properties(name: str, n: int) -> None:
    C = contrast_matrix(name, n)
    assert C.shape == (n, n - 1)
    assert np.linalg.matrix_rank(np.column_stack([np.ones(n), C])) == n  # spans with 1
    if name in ("sum", "helmert", "poly", "sdif"):
        np.testing.assert_allclose(C.sum(axis=0), 0.0, atol=1e-12)  # contrasts of the levels
    if name == "poly":
        np.testing.assert_allclose(C.T @ C, np.eye(n - 1), atol=1e-12)
        assert np.all(np.diff(C[:, 0]) > 0)  # the linear contrast increases, as R's .L


@pytest.fixture(scope="module")
def sleep_f() -> pd.DataFrame:
    sleep = mm.datasets.load("sleepstudy")
    return sleep.assign(f=np.array(list("abcd"))[sleep["Days"].to_numpy() % 4])


@pytest.mark.parametrize("name", list(REFERENCE["lmer"]))
def test_lmer_with_contrasts_equals_lme4(sleep_f: pd.DataFrame, name: str) -> None:
    ref = REFERENCE["lmer"][name]
    m = mm.lmer(ref["formula"], sleep_f, contrasts={"f": name})
    expected = _treatment_names(ref["columns"]) if name == "treatment" else ref["columns"]
    assert list(m.fixef.index) == expected
    np.testing.assert_allclose(m.fixef.to_numpy(), ref["fixef"], rtol=1e-6, atol=1e-8)
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    np.testing.assert_allclose(se, ref["se"], rtol=1e-6)
    assert m.objective == pytest.approx(ref["objective"], abs=1e-6)
    np.testing.assert_allclose(m.theta, ref["theta"], atol=1e-5)


@pytest.mark.parametrize("name", list(REFERENCE["glmer"]))
def test_glmer_with_contrasts_is_lme4s_model(name: str) -> None:
    ref = REFERENCE["glmer"][name]
    cbpp = mm.datasets.load("cbpp")
    g = mm.glmer(ref["formula"], cbpp, contrasts={"period": name})
    default = mm.glmer(ref["formula"], cbpp)
    assert list(g.fixef.index) == ref["columns"]
    # the same model in another parameterization: the same optimum and fitted values
    assert g.objective == pytest.approx(default.objective, abs=1e-6)
    np.testing.assert_allclose(g.fitted(), default.fitted(), rtol=1e-5)
    np.testing.assert_allclose(g.fixef.to_numpy(), ref["fixef"], atol=2e-3)  # lme4's tolerance


def test_predict_codes_new_data_with_the_fitted_contrasts(sleep_f: pd.DataFrame) -> None:
    m = mm.lmer("Reaction ~ f * Days + (1 | Subject)", sleep_f, contrasts={"f": "helmert"})
    assert list(m.fixef.index)[1:4] == ["f1", "f2", "f3"]
    np.testing.assert_allclose(m.predict(sleep_f), m.fitted(), rtol=1e-10)
    shuffled = sleep_f.iloc[::-1].reset_index(drop=True)  # the coding is the fitted one
    np.testing.assert_allclose(m.predict(shuffled), m.fitted()[::-1], rtol=1e-10)
    copy = pickle.loads(pickle.dumps(m))  # the bootstrap sends models to processes
    np.testing.assert_allclose(copy.predict(sleep_f.head(5)), m.fitted()[:5], rtol=1e-10)


def test_contr_prefix_unused_categories_and_the_default(sleep_f: pd.DataFrame) -> None:
    coded = sleep_f.assign(f=pd.Categorical(sleep_f["f"], categories=list("abcde")))
    m = mm.lmer("Reaction ~ f + (1 | Subject)", coded, contrasts={"f": "contr.poly"})
    assert list(m.fixef.index) == ["(Intercept)", "f.L", "f.Q", "f.C"]  # 'e' is not used
    t = mm.lmer("Reaction ~ f + (1 | Subject)", sleep_f, contrasts={"f": "treatment"})
    default = mm.lmer("Reaction ~ f + (1 | Subject)", sleep_f)
    assert list(t.fixef.index) == list(default.fixef.index)
    np.testing.assert_allclose(t.fixef.to_numpy(), default.fixef.to_numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    ("contrasts", "error", "message"),
    [
        ({"g": "sum"}, UnknownColumnError, "unknown column 'g'"),
        ({"f": "bogus"}, ModelSpecificationError, "unknown contrasts 'bogus'.*'sdif'.*'f'"),
        ({"f": 3}, ModelSpecificationError, "unknown contrasts 3"),
        ({"Days": "sum"}, ModelSpecificationError, "contrasts apply to factors.*'Days'"),
        ("sum", ModelSpecificationError, "contrasts must be a dict"),
    ],
)
def test_bad_contrasts_are_named(
    sleep_f: pd.DataFrame, contrasts: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        mm.lmer("Reaction ~ f + Days + (1 | Subject)", sleep_f, contrasts=contrasts)
    binary = sleep_f.assign(long=sleep_f["Reaction"] > 300)
    with pytest.raises(error, match=message):
        mm.glmer("long ~ f + (1 | Subject)", binary, contrasts=contrasts)


def test_contrasts_for_a_factor_the_fixed_part_does_not_use_warn(sleep_f: pd.DataFrame) -> None:
    with pytest.warns(ModelSpecificationWarning, match="contrasts for 'f' not used"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", sleep_f, contrasts={"f": "sum"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelSpecificationWarning)
        mm.lmer("Reaction ~ f + (1 | Subject)", sleep_f, contrasts={"f": "sum"})


def test_influence_refits_keep_the_contrasts(sleep_f: pd.DataFrame) -> None:
    m = mm.lmer("Reaction ~ f + Days + (1 | Subject)", sleep_f, contrasts={"f": "sum"})
    influence = m.influence("Subject")
    assert list(influence.fixef_deleted.columns) == list(m.fixef.index)
    deleted = sleep_f[sleep_f["Subject"] != "308"].reset_index(drop=True)
    refit = mm.lmer("Reaction ~ f + Days + (1 | Subject)", deleted, contrasts={"f": "sum"})
    first = influence.fixef_deleted.loc["308"].to_numpy(dtype=float)
    np.testing.assert_allclose(first, refit.fixef.to_numpy(), rtol=1e-5)
