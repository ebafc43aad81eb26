"""Residual structure specs: construction, evaluation on a frame, transforms and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, ModelSpecificationError, UnknownColumnError
from mixedmodels.linalg.frame_blocks import frame_blocks
from mixedmodels.spec.checks import mixed_model_formula
from mixedmodels.spec.residual import residual_structure


def _panel(gaps: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for s in range(6):
        times = [0, 1, 3, 4] if gaps and s % 2 else [0, 1, 2, 3]
        for t in times:
            rows.append({"site": f"k{s // 3}", "subject": f"s{s}", "t": t, "y": rng.normal()})
    frame = pd.DataFrame(rows)
    frame["sex"] = np.where(frame["subject"].isin(["s0", "s2", "s4"]), "M", "F")
    frame["x"] = np.linspace(0.5, 2.0, len(frame))
    return frame


def _structure(formula: str, frame: pd.DataFrame, cor: object = None, var: object = None) -> object:
    blocks = frame_blocks(mixed_model_formula(formula, None), frame)
    return residual_structure(cor, var, frame, blocks.terms)  # type: ignore[arg-type]


def test_specs_name_their_columns_and_nlme_forms() -> None:
    assert mm.cor_ar1("Days", "Subject").formula() == "~Days | Subject"
    assert mm.cor_ar1().formula() == "~1"
    assert mm.cor_cs("site/subject").group == ("site", "subject")
    assert mm.cor_cs(("site", "subject")) == mm.cor_cs("site/subject")
    assert mm.var_ident("Sex").formula() == "~1 | Sex"
    assert mm.var_power().formula() == "~fitted(.)"
    assert mm.var_exp("age").formula() == "~age"


@pytest.mark.parametrize("bad", [3, "", None])
def test_specs_refuse_what_is_not_a_column_name(bad: object) -> None:
    with pytest.raises(ModelSpecificationError):
        mm.cor_car1(bad)  # type: ignore[arg-type]
    with pytest.raises(ModelSpecificationError):
        mm.var_ident(bad)  # type: ignore[arg-type]


def test_ar1_orders_rows_by_time_within_groups_and_names_gaps_phi1() -> None:
    frame = _panel(gaps=True).sample(frac=1.0, random_state=1).reset_index(drop=True)
    s = _structure("y ~ 1 + (1 | subject)", frame, mm.cor_ar1("t", "subject"))
    cor = s.correlation  # type: ignore[attr-defined]
    assert cor.name == "Phi1" and cor.title == "ARMA(1,0)"
    for bucket in cor.layout.buckets:
        assert np.all(np.diff(bucket.times, axis=1) > 0)
        assert np.all(frame["t"].to_numpy()[bucket.rows] == bucket.times)
        subjects = frame["subject"].to_numpy()[bucket.rows]
        assert np.all(subjects == subjects[:, :1])
    R = cor.matrices(cor.unconstrained(0.5))[0][0]
    lags = np.abs(np.subtract.outer(cor.layout.buckets[0].times[0], cor.layout.buckets[0].times[0]))
    np.testing.assert_allclose(R, 0.5**lags)


def test_consecutive_times_are_phi_and_the_default_group_is_the_grouping_factor() -> None:
    s = _structure("y ~ 1 + (1 | subject)", _panel(), mm.cor_ar1("t"))
    cor = s.correlation  # type: ignore[attr-defined]
    assert cor.name == "Phi" and cor.formula() == "~t | subject"
    assert cor.layout.max_size == 4 and len(cor.layout.buckets[0].rows) == 6


def test_transforms_round_trip_and_respect_the_ranges() -> None:
    frame = _panel()
    for spec, value in ((mm.cor_ar1("t"), -0.7), (mm.cor_car1("t"), 0.3), (mm.cor_cs(), -0.2)):
        cor = _structure("y ~ 1 + (1 | subject)", frame, spec).correlation  # type: ignore[attr-defined]
        assert math.isclose(cor.natural(cor.unconstrained(value)), value, rel_tol=1e-12)
        for u in (-30.0, 30.0):
            assert cor.lower <= cor.natural(u) <= 1.0
    cs = _structure("y ~ 1 + (1 | subject)", frame, mm.cor_cs()).correlation  # type: ignore[attr-defined]
    assert cs.lower == pytest.approx(-1.0 / 3.0) and cs.name == "Rho"
    car = _structure("y ~ 1 + (1 | subject)", frame, mm.cor_car1("t")).correlation  # type: ignore[attr-defined]
    assert car.natural(car.start) == pytest.approx(0.2)


def test_variance_functions_give_nlme_multipliers() -> None:
    frame = _panel()
    s = _structure("y ~ 1 + (1 | subject)", frame, None, mm.var_ident("sex"))
    var = s.variance  # type: ignore[attr-defined]
    assert var.reference == "F" and var.names == ("M",)
    sd = var.multipliers(np.array([math.log(2.0)]))
    np.testing.assert_allclose(sd, np.where(frame["sex"] == "M", 2.0, 1.0))
    power = _structure("y ~ 1 + (1 | subject)", frame, None, mm.var_power("x")).variance  # type: ignore[attr-defined]
    np.testing.assert_allclose(power.multipliers(np.array([0.5])), frame["x"] ** 0.5)
    expo = _structure("y ~ 1 + (1 | subject)", frame, None, mm.var_exp("x")).variance  # type: ignore[attr-defined]
    np.testing.assert_allclose(expo.multipliers(np.array([0.5])), np.exp(0.5 * frame["x"]))
    fitted = _structure("y ~ 1 + (1 | subject)", frame, None, mm.var_power()).variance  # type: ignore[attr-defined]
    assert fitted.uses_fitted
    np.testing.assert_allclose(
        fitted.multipliers(np.array([1.0]), -frame["x"].to_numpy()), frame["x"]
    )


def test_structure_counts_and_names_parameters() -> None:
    s = _structure(
        "y ~ 1 + (1 | subject)", _panel(), mm.cor_ar1("t", "subject"), mm.var_ident("sex")
    )
    assert s.n_params == 2  # type: ignore[attr-defined]
    u = np.array([math.atanh(0.4), math.log(3.0)])
    assert s.correlation_parameters(u) == pytest.approx({"Phi": 0.4})  # type: ignore[attr-defined]
    assert s.variance_parameters(u) == pytest.approx({"M": 3.0})  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cor", "var", "error", "needle"),
    [
        (mm.cor_ar1("nope", "subject"), None, UnknownColumnError, "nope"),
        (mm.cor_ar1("t", "nope"), None, UnknownColumnError, "nope"),
        (mm.cor_ar1("sex", "subject"), None, DataError, "sex"),
        (mm.cor_ar1("x", "subject"), None, DataError, "integer"),
        (mm.cor_car1("t", "site"), None, ModelSpecificationError, "subject"),
        (None, mm.var_ident("nope"), UnknownColumnError, "nope"),
        (None, mm.var_ident("site"), None, ""),
        (None, mm.var_power("zero"), DataError, "zero"),
        (None, mm.var_exp("sex"), DataError, "sex"),
        ("ar1", None, ModelSpecificationError, "cor_ar1"),
        (None, "power", ModelSpecificationError, "var_ident"),
    ],
)
def test_bad_input_raises_our_errors_naming_the_column(
    cor: object, var: object, error: type[Exception] | None, needle: str
) -> None:
    frame = _panel()
    frame["zero"] = np.where(frame.index == 3, 0.0, 1.0)
    if error is None:  # two sites: a valid var_ident
        _structure("y ~ 1 + (1 | subject)", frame, cor, var)
        return
    with pytest.raises(error, match=needle):
        _structure("y ~ 1 + (1 | subject)", frame, cor, var)


def test_groups_must_nest_in_every_grouping_factor_and_times_be_unique() -> None:
    frame = _panel()
    with pytest.raises(ModelSpecificationError, match="site"):
        _structure("y ~ 1 + (1 | subject)", frame, mm.cor_cs("site"))
    with pytest.raises(ModelSpecificationError, match="group="):
        _structure("y ~ 1 + (1 | subject) + (1 | site)", frame, mm.cor_cs())
    nested = _structure("y ~ 1 + (1 | site)", frame, mm.cor_cs("site/subject"))
    assert nested.correlation.group == "site/subject"  # type: ignore[attr-defined]
    twice = pd.concat([frame, frame.iloc[:1]], ignore_index=True)
    with pytest.raises(DataError, match="'s0'"):
        _structure("y ~ 1 + (1 | subject)", twice, mm.cor_ar1("t", "subject"))
    single = frame.assign(sex="F")
    with pytest.raises(ModelSpecificationError, match="two levels"):
        _structure("y ~ 1 + (1 | subject)", single, None, mm.var_ident("sex"))


def test_errors_name_the_first_group_at_fault() -> None:
    frame = _panel()
    # k1 (subjects s3–s5) spans three subjects, k0 too: the first in sorted order is named
    with pytest.raises(ModelSpecificationError, match="residual group 'k0' of 'site'"):
        _structure("y ~ 1 + (1 | subject)", frame, mm.cor_cs("site"))
    # s4's time 1 repeated, then s2's: the first repeating row in the data is named
    twice = pd.concat([frame, frame.iloc[[17, 9]]], ignore_index=True)
    with pytest.raises(DataError, match=r"'t' = 1 occurs more than once in residual group 's4'"):
        _structure("y ~ 1 + (1 | subject)", twice, mm.cor_ar1("t", "subject"))


def test_a_group_that_is_the_grouping_factor_uses_its_codes() -> None:
    frame = _panel().sample(frac=1.0, random_state=1).reset_index(drop=True)
    same = _structure("y ~ 1 + (1 | subject)", frame, mm.cor_ar1("t", "subject"))
    other = _structure("y ~ 1 + (1 | site)", frame, mm.cor_ar1("t", "subject"))
    for s in (same, other):
        buckets = s.layout.buckets  # type: ignore[attr-defined]
        groups = {tuple(sorted(frame["subject"][r].tolist())) for b in buckets for r in b.rows}
        assert groups == {(f"s{i}",) * 4 for i in range(6)}
