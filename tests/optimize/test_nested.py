"""BOBYQA with the trailing parameters profiled out: the joint optimum, fewer outer evaluations."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.linalg import cholesky
from mixedmodels.models import LinearMixedModel
from mixedmodels.optimize.nested import nested_bobyqa
from tests.linalg.test_trailing import crossed_data


def test_nested_minimum_of_a_coupled_function() -> None:
    # minimum at u = (1, -0.5), v = (u0 + u1, 0): the second inner parameter on its bound
    def f(u: np.ndarray, v: np.ndarray) -> float:
        return float(
            (u[0] - 1) ** 2 + 3 * (u[1] + 0.5) ** 2 + (v[0] - u[0] - u[1]) ** 2 + (v[1] + 1) ** 2
        )

    found = nested_bobyqa(
        lambda u: lambda v: f(u, v),
        np.array([0.0, 0.0, 2.0, 2.0]),
        np.array([-np.inf, -np.inf, -np.inf, 0.0]),
        np.full(4, 0.5),
        split=2,
    )
    np.testing.assert_allclose(found.final, [1.0, -0.5, 0.5, 0.0], atol=1e-6)
    assert found.fmin == pytest.approx(1.0, abs=1e-12)
    assert found.converged
    assert found.settings["inner_evaluations"] > found.feval


def test_infeasible_outer_point_is_skipped() -> None:
    def inner(u: np.ndarray):  # type: ignore[no-untyped-def]
        if u[0] < 0.2:
            raise np.linalg.LinAlgError("not positive definite")
        return lambda v: float((u[0] - 1) ** 2 + (v[0] - 2 * u[0]) ** 2)

    found = nested_bobyqa(inner, np.array([0.5, 0.0]), np.array([0.0, 0.0]), np.full(2, 0.4), 1)
    assert found.final[0] >= 0.2 and np.isfinite(found.fmin)  # the infinite value was never kept
    np.testing.assert_allclose(found.final, [1.0, 2.0], atol=0.05)  # the wall at 0.2 was passed


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(
    "formula", ["y ~ x + (1|g) + (1|d) + (1|h)", "y ~ x + (1|g) + (1|d) + (1 + x|h) + (1|k)"]
)
def test_lmm_fit_profiling_trailing_terms_is_the_joint_fit(
    formula: str, reml: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = crossed_data(11)
    joint = LinearMixedModel(formula, data, reml=reml).fit(check_convergence=False)
    assert "inner_evaluations" not in joint.optsum.settings
    monkeypatch.setattr(cholesky, "NESTED_MIN_Q", 20)  # the 25 levels of d count as large
    nested = LinearMixedModel(formula, data, reml=reml).fit(check_convergence=False)
    assert nested.optsum.settings["inner_evaluations"] > 0
    assert nested.objective == pytest.approx(joint.objective, rel=1e-10)
    assert nested.objective <= joint.objective + 1e-8
    np.testing.assert_allclose(nested.theta, joint.theta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(nested.fixef, joint.fixef, rtol=1e-6)
    assert nested.optsum.final.shape == joint.theta.shape


def test_verbose_nested_fit_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cholesky, "NESTED_MIN_Q", 20)
    model = LinearMixedModel("y ~ x + (1|g) + (1|d) + (1|h)", crossed_data(2))
    model.fit(verbose=True, check_convergence=False)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == model.optsum.feval  # one line per outer evaluation, with all of θ
    assert all(line.startswith("objective") and line.count(".") >= 4 for line in lines)


@pytest.mark.parametrize("better", [True, False])
def test_singular_restart_keeps_the_nested_record(
    better: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart from the boundary keeps the counts of the nested optimizer (KeyError before)."""
    import mixedmodels.fit.lmm as lmm_fit
    from mixedmodels.optimize import OptSummary

    model = LinearMixedModel("y ~ x + (1|g) + (1|d)", crossed_data(11))
    found = OptSummary(
        initial=np.ones(2),
        lower=np.zeros(2),
        final=np.array([0.0, 0.5]),
        fmin=10.0,
        feval=30,
        return_value="FTOL_REACHED",
        settings={"inner_evaluations": 120.0},
    )
    again = OptSummary(
        np.zeros(2), np.zeros(2), np.array([0.1, 0.5]), 9.0 if better else 11.0, 7, "FTOL_REACHED"
    )
    monkeypatch.setattr(lmm_fit, "bobyqa", lambda *args, **kwargs: again)
    kept = lmm_fit._restart(model, model.objective_at, found)
    assert kept.settings["inner_evaluations"] == 120.0
    assert kept.feval == 37
    assert kept.fmin == (9.0 if better else 10.0)
