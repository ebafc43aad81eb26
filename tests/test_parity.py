"""lme4 parity: real models from the lme4, glmmTMB, lmerTest, MASS and nlme docs and textbooks.

Each case of ``tests/data/parity/cases.json`` is fitted with the public API, written as an lme4
user writes it (R idioms in formulas included), and compared with lme4 1.1-31's fit
(``tests/data/parity/lme4.json``, made by ``tests/data/parity/make_parity.R``):

- objective (REML criterion, deviance, or -2 log L for GLMMs): within 1e-4 relative;
- fixed effects, standard errors, residual SD and random-effect SDs: within 1e-3 relative (SDs
  with an absolute floor of 1e-3 times the residual SD, for boundary fits), correlations within
  1e-3 absolute; GLMM standard errors against glmmTMB's exact Hessian (or, for a Gaussian
  family with a link, numDeriv's Hessian of lme4's deviance function) where lme4's finite
  differences are off (the reference's ``se_source``);
- the singular-fit flag, a ``SingularFitWarning`` exactly when lme4 reports a boundary fit, and a
  ``SeparationWarning`` for the cases with separated columns (whose estimates must diverge: large,
  of lme4's sign, with a standard error larger still).

All problems of a case are reported together.
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

PARITY = Path(__file__).resolve().parent / "data" / "parity"
CASES: list[dict[str, Any]] = json.loads((PARITY / "cases.json").read_text())
REFS: dict[str, dict[str, Any]] = {
    r["id"]: r for r in json.loads((PARITY / "lme4.json").read_text())
}
# Known disagreements, each failing today (strict: a case that starts to pass must leave this list)
PENDING: dict[str, str] = {}
CANONICAL = {
    "binomial": "logit",
    "poisson": "log",
    "Gamma": "inverse",
    "inverse.gaussian": "1/mu^2",
}


def case_frame(case: dict[str, Any]) -> pd.DataFrame:
    """The case's CSV with its ``factors`` columns as strings (as R's factor levels)."""
    # as R's read.csv: only "NA" (and empty fields) are missing; pandas would also drop "None"
    frame = pd.read_csv(PARITY / f"{case['data']}.csv", keep_default_na=False, na_values=["NA", ""])
    for column in case.get("factors", []):
        frame[column] = frame[column].astype(str)
    return frame


def fit_case(case: dict[str, Any], frame: pd.DataFrame) -> Any:
    """Fit the case with ``mm.lmer``, ``mm.glmer`` or ``mm.glmer_nb``, as an lme4 user would."""
    extra = {key: case[key] for key in ("weights", "offset", "subset", "contrasts") if key in case}
    family, link = case["family"], case.get("link")
    if family == "gaussian" and link is None:
        return mm.lmer(case["formula"], frame, reml=bool(case["reml"]), **extra)
    if family == "negative_binomial":
        return mm.glmer_nb(case["formula"], frame, **extra)
    nagq = int(case.get("nagq", 1))
    if link is None or link == CANONICAL.get(family):
        return mm.glmer(case["formula"], frame, family=family, nagq=nagq, **extra)
    if "link" in inspect.signature(mm.glmer).parameters:
        return mm.glmer(case["formula"], frame, family=family, link=link, nagq=nagq, **extra)
    from mixedmodels.spec.family_names import get_family

    return mm.glmer(case["formula"], frame, family=get_family(family, link), nagq=nagq, **extra)


def _close(a: float, b: float, rel: float, abs_: float = 0.0) -> bool:
    return math.isfinite(a) and abs(a - b) <= max(rel * abs(b), abs_)


def _compare_fixed(case: dict[str, Any], ref: dict[str, Any], model: Any) -> list[str]:
    problems: list[str] = []
    names = list(ref["fixef"])
    fixef = np.asarray(model.fixef, dtype=float)
    se = np.asarray(model.coef_table["std_error"], dtype=float)
    if fixef.size != len(names):
        return [f"{fixef.size} fixed effects {list(model.fixef.index)}, lme4 has {names}"]
    ref_fixef = np.array([ref["fixef"][n] for n in names], dtype=float)
    ref_se = np.array([ref["se"][n] for n in names], dtype=float)
    separated = set(case.get("separated", []))
    scale = max(
        1.0,
        float(
            np.max(np.abs([v for n, v in zip(names, ref_fixef, strict=True) if n not in separated]))
        ),
    )
    source = ref.get("se_source", "lme4").split()[0]
    for i, name in enumerate(names):
        if name in separated:
            diverged = abs(fixef[i]) > 10 and np.sign(fixef[i]) == np.sign(ref_fixef[i])
            if not (diverged and se[i] > abs(fixef[i])):
                problems.append(
                    f"separated {name}: {fixef[i]:.4g} (se {se[i]:.4g}) does not diverge as "
                    f"lme4's {ref_fixef[i]:.4g} (se {ref_se[i]:.4g})"
                )
            continue
        if not _close(fixef[i], ref_fixef[i], 1e-3, 1e-6 * scale):
            problems.append(f"fixef {name}: {fixef[i]:.7g} vs lme4 {ref_fixef[i]:.7g}")
        if not _close(se[i], ref_se[i], 1e-3):
            problems.append(f"se {name}: {se[i]:.7g} vs {source} {ref_se[i]:.7g}")
    return problems


def _has_scale(case: dict[str, Any]) -> bool:
    return case["family"] in ("gaussian", "Gamma", "inverse.gaussian")


def _compare_varcorr(case: dict[str, Any], ref: dict[str, Any], model: Any) -> list[str]:
    problems: list[str] = []
    sigma = float(ref["sigma"])
    if _has_scale(case) and not _close(float(model.sigma), sigma, 1e-3):
        problems.append(f"sigma {float(model.sigma):.7g} vs lme4 {sigma:.7g}")
    vc = model.varcorr
    ours = [row for _, row in vc.iterrows() if row["group"] != "Residual"]
    theirs = [r for r in ref["varcorr"] if r["grp"] != "Residual"]
    if len(ours) != len(theirs):
        return [*problems, f"{len(ours)} random-effect rows, lme4 has {len(theirs)}"]
    floor = 1e-3 * (sigma if _has_scale(case) else 1.0)
    for row, r in zip(ours, theirs, strict=True):
        label = f"{r['grp']} {r['var1']}" + (f" x {r['var2']}" if r["var2"] else "")
        value = float(row["sd_cor"])
        if r["var2"] is None:
            good = _close(value, r["sdcor"], 1e-3, floor)
        else:
            good = math.isfinite(value) and abs(value - r["sdcor"]) <= 1e-3
        if not good:
            problems.append(
                f"{label} ({row['group']} {row['term1']}): {value:.6g} vs lme4 {r['sdcor']:.6g}"
            )
    return problems


def _compare_warnings(case: dict[str, Any], ref: dict[str, Any], caught: list[Any]) -> list[str]:
    problems: list[str] = []
    classes = {type(w.message).__name__ for w in caught}
    lme4_singular = bool(ref["singular"])  # lme4 says "boundary (singular) fit" then
    ours_singular = any(issubclass(w.category, mm.SingularFitWarning) for w in caught)
    if lme4_singular != ours_singular:
        problems.append(
            f"SingularFitWarning {ours_singular}, lme4 boundary message {lme4_singular}"
        )
    if case.get("separated") and "SeparationWarning" not in classes:
        problems.append(f"no SeparationWarning (warnings: {sorted(classes) or 'none'})")
    return problems


def compare(case: dict[str, Any], ref: dict[str, Any], model: Any, caught: list[Any]) -> list[str]:
    """Every disagreement of ``model`` with lme4's fit ``ref``, as readable lines."""
    problems: list[str] = []
    objective, ref_objective = float(model.objective), float(ref["objective"])
    if not _close(objective, ref_objective, 1e-4, 1e-6):
        problems.append(f"objective {objective:.8g} vs lme4 {ref_objective:.8g}")
    problems += _compare_fixed(case, ref, model)
    problems += _compare_varcorr(case, ref, model)
    if bool(model.is_singular) != bool(ref["singular"]):
        problems.append(f"is_singular {bool(model.is_singular)} vs lme4 {bool(ref['singular'])}")
    return problems + _compare_warnings(case, ref, caught)


def test_parity_set_is_complete() -> None:
    assert len(CASES) >= 40
    assert {c["id"] for c in CASES} == set(REFS)
    for case in CASES:
        assert (PARITY / f"{case['data']}.csv").is_file(), case["data"]


def _marked(case: dict[str, Any]) -> Any:
    reason = PENDING.get(case["id"])
    if reason is None:
        return case
    return pytest.param(case, marks=pytest.mark.xfail(reason=reason, strict=True))


@pytest.mark.parametrize("case", [_marked(c) for c in CASES], ids=[c["id"] for c in CASES])
def test_parity_with_lme4(case: dict[str, Any]) -> None:
    ref = REFS[case["id"]]
    frame = case_frame(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit_case(case, frame)
    problems = compare(case, ref, model, caught)
    assert not problems, f"{case['id']} ({case['formula']}):\n  " + "\n  ".join(problems)


def main(ids: list[str]) -> int:
    """Print one line per case (``ok``/``FAIL``, seconds) and its problems; 1 when any fails."""
    import time
    import traceback

    failed = 0
    for case in CASES:
        if ids and case["id"] not in ids:
            continue
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = fit_case(case, case_frame(case))
            problems = compare(case, REFS[case["id"]], model, caught)
        except Exception as error:  # report every failure, go on with the next case
            problems = [f"raised {traceback.format_exception_only(type(error), error)[-1].strip()}"]
        status = "FAIL" if problems else "ok  "
        print(f"{status} {case['id']:<28} {time.perf_counter() - start:7.3f}s")
        for problem in problems:
            print(f"       - {problem}")
        failed += bool(problems)
    print(f"{len(ids or CASES) - failed} passed, {failed} failed")
    return int(failed > 0)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
