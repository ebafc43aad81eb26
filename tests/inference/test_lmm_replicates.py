"""The LMM bootstrap's replicates on the stored blocks are refits of simulated responses."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.inference.bootstrap import _Replicator, parametric_bootstrap


def _refit_rows(model: mm.LinearMixedModel, seeds: list[np.random.SeedSequence]) -> np.ndarray:
    """The generic path: ``model.simulate`` and ``model.refit`` per replicate."""
    return _Replicator(model).run(seeds)


def _check_same_fits(model: mm.LinearMixedModel, n: int, seed: int) -> None:
    seeds = np.random.SeedSequence(seed).spawn(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = model.bootstrap_replicates().run(seeds)
        slow = _refit_rows(model, seeds)
    assert fast.shape == slow.shape
    # the same criterion at the same optimum (to the optimizer's tolerance)
    np.testing.assert_allclose(fast[:, 0], slow[:, 0], rtol=1e-9)
    p = model.n_fixed
    np.testing.assert_allclose(fast[:, 1 : 2 + p], slow[:, 1 : 2 + p], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(fast[:, -2:], slow[:, -2:])


def test_replicates_are_refits_of_the_simulated_responses() -> None:
    sleep = mm.datasets.load("sleepstudy")
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    _check_same_fits(model, 8, 3)


def test_weighted_ml_model_with_an_offset() -> None:
    rng = np.random.default_rng(4)
    data = mm.datasets.load("sleepstudy").copy()
    data["w"] = rng.uniform(0.5, 2.0, len(data))
    data["off"] = rng.normal(0.0, 5.0, len(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mm.lmer(
            "Reaction ~ Days + (1 | Subject)", data, reml=False, weights="w", offset="off"
        )
    _check_same_fits(model, 5, 5)


def test_crossed_model_and_the_model_is_left_alone() -> None:
    data = mm.datasets.load("Penicillin")
    model = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    theta, objective, A_xx = model.theta.copy(), model.objective, model.A.xx.copy()
    _check_same_fits(model, 4, 8)
    np.testing.assert_array_equal(model.theta, theta)
    np.testing.assert_array_equal(model.A.xx, A_xx)
    assert model.objective == objective
    assert model.L.theta == pytest.approx(theta, abs=0.0)


def test_residual_structure_models_are_refused() -> None:
    data = mm.datasets.load("sleepstudy")
    model = mm.lmer(
        "Reaction ~ Days + (1 | Subject)",
        data,
        correlation=mm.cor_ar1(time="Days", group="Subject"),
    )
    for jobs in (1, 2):
        with pytest.raises(mm.NotSupportedError):
            parametric_bootstrap(model, 2, seed=1, n_jobs=jobs, progress=False)


@pytest.mark.parametrize(
    ("formula", "dataset"),
    [
        ("Reaction ~ Days + (Days || Subject)", "sleepstudy"),
        ("Yield ~ 1 + (1 | Batch)", "Dyestuff2"),  # most replicates singular
        ("Yield ~ 1 + (1 | Batch)", "Dyestuff"),
    ],
)
def test_batched_replicates_are_refits(formula: str, dataset: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mm.lmer(formula, mm.datasets.load(dataset))
    assert model.bootstrap_replicates().one is not None  # the batched search
    _check_same_fits(model, 12, 21)


def test_singular_replicates_of_a_vector_term_are_refits() -> None:
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    seeds = np.random.SeedSequence(1).spawn(1000)
    chosen = [seeds[i] for i in (42, 118, 173, 266, 296)]  # singular replicates of this seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = model.bootstrap_replicates().run(chosen)
        slow = _refit_rows(model, chosen)
    assert fast[:, -1].all()  # singular
    np.testing.assert_allclose(fast[:, 0], slow[:, 0], rtol=1e-9)
    np.testing.assert_array_equal(fast[:, -2:], slow[:, -2:])


def test_a_replicate_does_not_depend_on_its_batch() -> None:
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    replicates = model.bootstrap_replicates()
    seeds = np.random.SeedSequence(9).spawn(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = replicates.run(seeds)
        for part in (slice(3, 4), slice(10, 17), slice(0, 40, 3)):
            np.testing.assert_array_equal(replicates.run(seeds[part]), every[part])


def test_large_terms_are_refitted_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    n = 12_000
    data = pd.DataFrame({"g": rng.integers(0, 5_000, n).astype(str), "x": rng.normal(size=n)})
    data["y"] = data["x"] + rng.normal(size=n) + rng.normal(size=5_000)[data["g"].astype(int)]
    model = mm.lmer("y ~ x + (1 | g)", data)
    assert model.bootstrap_batch() == 10
    assert model.bootstrap_replicates().one is None
    small = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    assert small.bootstrap_batch() > 10


def test_fixed_sigma_replicates_do_not_depend_on_their_batch() -> None:
    data = mm.datasets.load("sleepstudy")
    model = mm.lmer("Reaction ~ Days + (Days | Subject)", data, sigma=20.0)
    replicates = model.bootstrap_replicates()
    assert replicates.one is not None
    seeds = np.random.SeedSequence(4).spawn(12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = replicates.run(seeds)
        np.testing.assert_array_equal(replicates.run(seeds[5:9]), every[5:9])
    _check_same_fits(model, 6, 4)


def test_replicates_of_a_singular_vector_fit_start_where_refits_start() -> None:
    from tests.linalg.test_blocked_cholesky import make_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mm.lmer("y ~ x + (0 + x + z | g)", make_data(3, 200))  # θ̂ = 0
    replicates = model.bootstrap_replicates()
    assert replicates.one is None and replicates.start is None  # not batched, moment start
    _check_same_fits(model, 12, 5)
