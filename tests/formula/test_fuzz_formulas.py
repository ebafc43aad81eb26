"""Formulas built from dangerous fragments never run code: only our errors, never a marker file.

Every fragment would create ``MARKER`` (in the test's own directory) if any of it were
evaluated by Python; they are mixed with valid pieces into the response, the fixed part, the
random terms and ``offset()``, and fitted by ``lmer``, ``glmer`` and the command line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedmodels as mm
from mixedmodels.cli import main

M = "MARKER"
DANGEROUS = [
    f"__import__('os').system('touch {M}')",
    f"open('{M}', 'w')",
    f"exec(\"open('{M}', 'w')\")",
    f"eval(\"open('{M}', 'w')\")",
    f"{{open('{M}', 'w')}}",
    f"{{__import__('pathlib').Path('{M}').touch()}}",
    f"np.save('{M}', x)",
    f"numpy.savetxt('{M}', x)",
    f"np.__builtins__['open']('{M}', 'w')",
    f"np.lib.npyio.save('{M}', x)",
    f"np.__dict__['save']('{M}', x)",
    f"(lambda: open('{M}', 'w'))()",
    f"[open('{M}', 'w') for i in x]",
    f"{{[open('{M}', 'w') for i in x]}}",
    f"getattr(np, 'save')('{M}', x)",
    f"x.__class__.__mro__[-1].__subclasses__()[0]('{M}')",
    f"C(x).__init__.__globals__['__builtins__']['open']('{M}', 'w')",
    f"globals()['__builtins__'].open('{M}', 'w')",
    f"vars(np)['save']('{M}', x)",
    f"f\"{{open('{M}', 'w')}}\"",
    f"breakpoint() or open('{M}', 'w')",
    "log(x).__class__.__init__.__globals__",
    f"＿＿import＿＿('os').system('touch {M}')",
    f"ｏｐｅｎ('{M}', 'w')",
    f"poly(x, 2, _state=open('{M}', 'w'))",
    f"I(x if open('{M}', 'w') else x)",
    f"(y := open('{M}', 'w'))",
    f"x[open('{M}', 'w')]",
    f"contr.__class__('{M}')",
    f"C(x, *[open('{M}', 'w')])",
    f"np.log(x, **{{'out': open('{M}', 'w')}})",
    "9**9**9**9",
    "x^(9^9^9)",
    "'a' * 10**10",
]
VALID = ["x", "I(x^2)", "log(x + 1)", "factor(f)", "C(f, contr.sum)", "np.sqrt(x + 1)", "1", "b"]
WRAP = ["{}", "I({})", "log({})", "C({})", "{{{}}}", "np.exp({})", "poly({}, 2)", "({})^2"]


@st.composite
def formulas(draw: st.DrawFn) -> str:
    """A formula with one dangerous fragment somewhere, among valid pieces."""
    fragment = draw(st.sampled_from(DANGEROUS))
    piece = draw(st.sampled_from(WRAP)).format(fragment)
    fixed = draw(st.lists(st.sampled_from(VALID), min_size=0, max_size=3))
    where = draw(st.sampled_from(["fixed", "response", "random", "offset", "group"]))
    response, random = "y", "(1 | g)"
    if where == "fixed":
        fixed.insert(draw(st.integers(0, len(fixed))), piece)
    elif where == "response":
        response = piece
    elif where == "random":
        random = f"({piece} | g)" if draw(st.booleans()) else f"(1 + {piece} || g)"
    elif where == "offset":
        fixed.append(f"offset({fragment})")
    else:
        random = f"(1 | {fragment})"
    return f"{response} ~ {' + '.join(fixed + [random])}"


def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 40
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.uniform(1, 5, size=n),
            "f": rng.choice(list("abc"), size=n),
            "g": np.repeat(list("pqrstuvw"), 5),
            "b": rng.integers(0, 2, size=n),
        }
    )


DATA = data()
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(formula=formulas())
def test_lmer_and_glmer_never_run_formula_code(
    formula: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = DATA.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fit in (
            lambda: mm.lmer(formula, DATA),
            lambda: mm.glmer(formula.replace("y ~", "b ~", 1), DATA, family="binomial"),
        ):
            try:
                fit()
            except mm.MixedModelsError:
                pass
    assert not (tmp_path / M).exists()
    assert not list(tmp_path.iterdir())
    pd.testing.assert_frame_equal(DATA, before)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(formula=formulas())
def test_the_command_line_never_runs_formula_code(
    formula: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data.csv"
    DATA.to_csv(path, index=False)
    status = main(["fit", formula, "--data", str(path)])
    err = capsys.readouterr().err
    assert not (tmp_path / M).exists()
    assert status in (0, 2)
    assert "Traceback" not in err
    path.unlink()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fragment", DANGEROUS)
def test_each_fragment_is_refused_before_formulaic_evaluates(
    fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import formulaic.utils.stateful_transforms as transforms

    monkeypatch.chdir(tmp_path)
    evaluated: list[str] = []
    original = transforms.stateful_eval

    def spy(expr: str, *args: object, **kwargs: object) -> object:
        evaluated.append(expr)
        return original(expr, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transforms, "stateful_eval", spy)
    monkeypatch.setattr("formulaic.materializers.base.stateful_eval", spy)
    for formula in (f"y ~ x + I({fragment}) + (1 | g)", f"y ~ x + offset({fragment}) + (1 | g)"):
        with pytest.raises(mm.MixedModelsError):
            mm.lmer(formula, DATA)
    assert evaluated == []
    assert not (tmp_path / M).exists()
