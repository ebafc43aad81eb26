"""The command line, run in-process through main() and once as ``python -m mixedmodels``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.cli import main

SLEEP = "Reaction ~ Days + (Days | Subject)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_for_bundled_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", SLEEP, "--data", "sleepstudy")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method ['lmerModLmerTest']"
    )
    assert "   Data: sleepstudy" in lines
    assert "REML criterion at convergence: 1743.6" in lines
    assert "(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***" in lines
    assert err == ""


def test_ml_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", "travel ~ 1 + (1 | Rail)", "--data", "Rail", "--ml")
    assert code == 0
    assert out.startswith("Linear mixed model fit by maximum likelihood. t-tests use")
    assert "   134.6    137.2    -64.3    128.6       15 " in out.splitlines()


def test_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fit", SLEEP, "--data", "sleepstudy", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["formula"] == SLEEP and doc["method"] == "REML" and doc["data"] == "sleepstudy"
    assert doc["fixef"] == pytest.approx({"(Intercept)": 251.405105, "Days": 10.467286})
    assert doc["nobs"] == 180 and doc["ngroups"] == {"Subject": 18}
    assert doc["objective"] == pytest.approx(1743.628, abs=1e-3)
    assert [r["term"] for r in doc["coef_table"]] == ["(Intercept)", "Days"]
    assert doc["varcorr"][0]["term2"] is None  # NaN/None written as null
    assert doc["varcorr"][-1]["group"] == "Residual"
    assert set(doc["ranef"]["Subject"]["308"]) == {"(Intercept)", "Days"}
    assert len(doc["ranef"]["Subject"]) == 18
    assert doc["converged"] is True and doc["is_singular"] is False and doc["feval"] > 0
    assert len(doc["theta"]) == 3


def test_csv_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sleepy.csv"
    mm.datasets.load("sleepstudy").to_csv(path, index=False)
    code, out, err = run(capsys, "fit", SLEEP, "--data", str(path))
    assert code == 0, err
    assert "   Data: sleepy" in out.splitlines()
    assert "Days          10.467      1.546  17.000   6.771 3.26e-06 ***" in out.splitlines()


def test_parquet_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "sleep.parquet"
    mm.datasets.load("sleepstudy").to_parquet(path, index=False)
    code, out, err = run(capsys, "fit", SLEEP, "--data", str(path), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["data"] == "sleep"
    assert doc["fixef"]["Days"] == pytest.approx(10.467286)


def test_weights_and_offset_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = mm.datasets.load("sleepstudy").assign(w=1.0, off=0.0)
    path = tmp_path / "weighted.csv"
    data.to_csv(path, index=False)
    argv = ["fit", SLEEP, "--data", str(path), "--weights", "w", "--offset", "off", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert json.loads(out)["objective"] == pytest.approx(1743.628, abs=1e-3)


def test_singular_fit_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff2")
    assert code == 0
    assert "boundary (singular) fit" in out
    assert err.startswith("mixedmodels: warning: boundary (singular) fit")
    assert all(line.startswith("mixedmodels: warning: ") for line in err.splitlines())


def test_unknown_column(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", "Reaction ~ Dayz + (1 | Subject)", "--data", "sleepstudy")
    assert code == 2
    assert out == ""
    assert err.startswith("mixedmodels: error: ")
    assert "unknown column" in err and "Dayz" in err
    assert "Traceback" not in err


def test_bad_formula(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", "Reaction ~ Days + (1 | ", "--data", "sleepstudy")
    assert code == 2
    assert err.startswith("mixedmodels: error: ") and "Traceback" not in err


def test_unknown_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", SLEEP, "--data", "no_such_dataset")
    assert code == 2
    assert err.startswith("mixedmodels: error: ") and "no_such_dataset" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", SLEEP, "--data", str(tmp_path / "absent.csv"))
    assert code == 2
    assert "no such file" in err and "Traceback" not in err


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    code, _, err = run(capsys, "fit", SLEEP, "--data", str(path))
    assert code == 2
    assert err.startswith("mixedmodels: error: cannot read")


@pytest.mark.parametrize(
    "argv",
    [[], ["fit"], ["fit", SLEEP], ["fit", SLEEP, "--data", "sleepstudy", "--bogus"], ["nope"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_python_dash_m(tmp_path: Path) -> None:
    path = tmp_path / "sleepstudy.csv"
    mm.datasets.load("sleepstudy").to_csv(path, index=False)
    src = str(Path(mm.__file__).resolve().parents[1])
    paths = [src, os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    argv = [sys.executable, "-m", "mixedmodels", "fit", SLEEP, "--data", str(path), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["fixef"]["Days"] == pytest.approx(10.467286)
    argv[4] = "y ~ x + (1 | g)"
    bad = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("mixedmodels: error: unknown column")
    assert "Traceback" not in bad.stderr


def test_plot_option_writes_the_diagnostics_panel(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from mixedmodels.cli import main

    target = tmp_path / "diagnostics.png"
    code = main(
        ["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--plot", str(target)]
    )
    assert code == 0
    assert target.stat().st_size > 10_000
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = main(
        [
            "fit",
            "Reaction ~ Days + (1 | Subject)",
            "--data",
            "sleepstudy",
            "--plot",
            str(tmp_path / "x.nope"),
        ]
    )
    assert bad == 2 and "mixedmodels: error:" in capsys.readouterr().err


def test_glmm_from_the_command_line(capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from mixedmodels.cli import main

    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    assert main(["fit", formula, "--data", "cbpp", "--family", "binomial", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["fixef"]["(Intercept)"] == pytest.approx(-1.39834, rel=1e-3)
    code = main(["fit", formula, "--data", "cbpp", "--family", "binomial", "--nagq", "9"])
    assert code == 0
    assert "nAGQ = 9" in capsys.readouterr().out


def test_ddf_and_confidence_intervals_options(capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from mixedmodels.cli import main

    args = ["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"]
    assert main([*args, "--ddf", "kenward-roger", "--ci", "profile"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("t-tests use Kenward-Roger's method ['lmerModLmerTest']")
    assert "Confidence intervals (profile, level 0.95):" in out
    assert main([*args, "--ci", "wald", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    low, high = document["confint"]["Days"]["2.5 %"], document["confint"]["Days"]["97.5 %"]
    assert low == pytest.approx(10.467 - 1.96 * 1.546, abs=0.01)
    assert high == pytest.approx(10.467 + 1.96 * 1.546, abs=0.01)
    assert main([*args, "--ddf", "nonsense"]) == 2


def test_ddf_reaches_the_json_and_is_refused_for_glmms(capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--json"]
    assert main([*args, "--ddf", "kenward-roger"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["data"] == "sleepstudy"
    days = next(row for row in document["coef_table"] if row["term"] == "Days")
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    assert days["df"] == pytest.approx(model.coef_test("kenward-roger").loc["Days", "df"])
    assert model.ddf == "satterthwaite"  # the command line sets nothing on a model
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    glmm = ["fit", formula, "--data", "cbpp", "--family", "binomial", "--ddf", "residual"]
    code, _, err = run(capsys, *glmm)
    assert code != 0 and "--ddf applies to linear mixed models" in err


def test_parquet_directory_is_fitted_chunk_by_chunk(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("dask.dataframe")
    sleep = mm.datasets.load("sleepstudy")
    for i in range(3):
        sleep.iloc[i * 60 : (i + 1) * 60].to_parquet(tmp_path / f"part-{i}.parquet")
    code, out, err = run(capsys, "fit", SLEEP, "--data", str(tmp_path))
    assert code == 0, err
    assert f"   Data: {tmp_path}" in out.splitlines()
    assert "REML criterion at convergence: 1743.6" in out
    assert "(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***" in out
    code, out, _ = run(
        capsys, "fit", SLEEP, "--data", str(tmp_path / "part-0.parquet"), "--chunked"
    )
    assert code == 0
    assert "Number of obs: 60, groups:  Subject, 6" in out
    code, _, err = run(
        capsys,
        "fit",
        "Reaction ~ 1 + (1 | Subject)",
        "--data",
        str(tmp_path),
        "--family",
        "poisson",
    )
    assert code == 2
    assert "GLMMs are fitted from data in memory" in err


def test_ascii_locale_prints_non_ascii_names_as_escapes(tmp_path: Path) -> None:
    """Under ``PYTHONIOENCODING=ascii`` non-ASCII names are escaped, never a traceback."""
    path = tmp_path / "données.csv"
    mm.datasets.load("sleepstudy").to_csv(path, index=False)
    src = str(Path(mm.__file__).resolve().parents[1])
    paths = [src, os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    env["PYTHONIOENCODING"] = "ascii"
    argv = [sys.executable, "-m", "mixedmodels", "fit", SLEEP, "--data", str(path)]
    done = subprocess.run(argv, capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode("ascii")
    assert b"donn\\xe9es" in done.stdout
    argv[4] = "réaction ~ Days + (1 | Subject)"
    bad = subprocess.run(argv, capture_output=True, env=env, timeout=120, check=False)
    assert bad.returncode == 2
    err = bad.stderr.decode("ascii")  # only ASCII was written
    assert err.startswith("mixedmodels: error:") and "Traceback" not in err
    assert "r\\xe9action" in err


def test_glmm_confidence_intervals_from_the_command_line(capsys) -> None:  # type: ignore[no-untyped-def]
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    args = ["fit", formula, "--data", "cbpp", "--family", "binomial", "--json"]
    assert main([*args, "--ci", "wald"]) == 0
    document = json.loads(capsys.readouterr().out)
    model = mm.glmer(formula, mm.datasets.load("cbpp"), family="binomial")
    wald = model.confint("wald")
    assert document["confint"]["period[T.2]"]["2.5 %"] == pytest.approx(
        wald.loc["period[T.2]"].iloc[0]
    )


@pytest.mark.slow
def test_glmm_bootstrap_intervals_from_the_command_line(capsys) -> None:  # type: ignore[no-untyped-def]
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    args = ["fit", formula, "--data", "cbpp", "--family", "binomial", "--json"]
    assert main([*args, "--ci", "bootstrap"]) == 0  # 500 replicates, as lme4's confint
    document = json.loads(capsys.readouterr().out)
    intervals = document["confint"]
    assert list(intervals) == [".sig01", "(Intercept)", "period[T.2]", "period[T.3]", "period[T.4]"]
    assert 0.0 <= intervals[".sig01"]["2.5 %"] < 0.64 < intervals[".sig01"]["97.5 %"]
    assert intervals["(Intercept)"]["2.5 %"] < -1.4 < intervals["(Intercept)"]["97.5 %"]


def test_bootstrap_replicates_and_seed_from_the_command_line(capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--json"]
    boot = [*args, "--ci", "bootstrap", "--nsim", "20", "--seed", "7"]
    assert main(boot) == 0
    first = json.loads(capsys.readouterr().out)["confint"]
    assert main(boot) == 0
    assert json.loads(capsys.readouterr().out)["confint"] == first  # the seed reproduces
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    direct = model.confint("bootstrap", nsim=20, seed=7)
    assert first["Days"]["2.5 %"] == pytest.approx(direct.loc["Days"].iloc[0], rel=1e-9)
    assert main([*boot[:-4], "--nsim", "0"]) != 0
    assert "--nsim must be a positive number" in capsys.readouterr().err


def test_structured_covariance_formula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    panel = Path(__file__).parent / "models" / "data" / "covstruct_panel.csv"
    formula = "y ~ time + ar1(0 + C(time) | subject)"
    code, out, err = run(capsys, "fit", formula, "--data", str(panel), "--ml", "--json")
    assert code == 0, err
    document = json.loads(out)
    model = mm.lmer(formula, pd.read_csv(panel), reml=False)
    assert document["objective"] == pytest.approx(model.objective, rel=1e-12)
    code, out, err = run(capsys, "fit", formula, "--data", str(panel), "--ml")
    assert "ar1  sd " in out and "rho " in out
