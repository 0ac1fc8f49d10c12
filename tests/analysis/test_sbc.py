"""Simulation-based calibration: rank statistics, uniformity tests, a small end-to-end run."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.analysis import sbc
from hybridflow.analysis.sbc import (
    SBC_SAMPLING,
    SBCResult,
    component_labels,
    rank_uniformity,
    run_sbc,
    sbc_ranks,
    simulate_prior,
    thin,
    uniformity_table,
    write_sbc,
)
from hybridflow.briefing.figures import sbc_rank_histogram, to_png
from hybridflow.inference import refit as refit_mod
from hybridflow.inference.executor import clear_worker_cache
from hybridflow.models.build import build_model, prepare_data
from hybridflow.models.spec import ModelSpec, parse_spec
from hybridflow.months import month_range

ROUTE = "Eastern Borders Route"


# --------------------------------------------------------------------------- statistics


def conjugate_ranks(
    n: int, L: int, seed: int, *, shift: float = 0.0, scale: float = 1.0
) -> np.ndarray:
    """SBC ranks of mu in mu ~ N(0, 1), y_i ~ N(mu, 1), i = 1..10, with exact posterior
    draws; ``shift`` (in posterior sds) and ``scale`` miscalibrate the posterior."""
    rng = np.random.default_rng(seed)
    m = 10
    ranks = np.empty(n, dtype=int)
    for k in range(n):
        mu = rng.normal()
        y = rng.normal(mu, 1.0, size=m)
        post_sd = 1 / np.sqrt(1 + m)
        post_mean = y.sum() / (1 + m)
        draws = rng.normal(post_mean + shift * post_sd, scale * post_sd, size=(L, 1))
        ranks[k] = sbc_ranks(np.array([mu]), draws)[0]
    return ranks


def test_ranks_count_draws_below_the_prior_value() -> None:
    post = np.array([[0.1, 5.0], [0.2, 6.0], [0.3, 7.0], [0.4, 8.0]])
    np.testing.assert_array_equal(sbc_ranks(np.array([0.25, 100.0]), post), [2, 4])
    np.testing.assert_array_equal(sbc_ranks(np.array([-1.0, 5.5]), post), [0, 1])
    # Ties are split at random with an rng, counted as not below without one.
    tied = np.zeros((100, 1))
    assert sbc_ranks(np.array([0.0]), tied)[0] == 0
    r = sbc_ranks(np.array([0.0]), tied, np.random.default_rng(0))[0]
    assert 30 < r < 70
    with pytest.raises(ValueError, match="2 prior values but posterior draws for 1"):
        sbc_ranks(np.array([0.0, 1.0]), np.zeros((5, 1)))


def test_thin_keeps_evenly_spaced_draws() -> None:
    draws = np.arange(1000)[:, None] * np.ones((1, 3))
    kept = thin(draws, 100)
    assert kept.shape == (100, 3)
    assert kept[0, 0] == 0 and kept[-1, 0] == 999
    assert set(np.diff(kept[:, 0])) <= {10.0, 11.0}
    with pytest.raises(ValueError, match="cannot keep 11 of 10"):
        thin(np.zeros((10, 2)), 11)


def test_exact_uniform_counts_give_zero_chi_square() -> None:
    # Every rank value once: observed = expected in every bin, even when bins do not
    # divide L + 1 evenly.
    for L, bins in ((9, 5), (10, 4), (99, 20), (6, 7)):
        res = rank_uniformity(np.arange(L + 1), L, bins=bins)
        assert res["chi2"] == pytest.approx(0.0, abs=1e-12), (L, bins)
        assert res["p_chi2"] == pytest.approx(1.0)
        assert res["df"] == bins - 1
    with pytest.raises(ValueError, match="ranks must lie in 0..10"):
        rank_uniformity(np.array([0, 11]), 10)


def test_calibrated_posterior_passes_uniformity() -> None:
    ranks = conjugate_ranks(400, 100, seed=1)
    res = rank_uniformity(ranks, 100)
    assert res["n"] == 400 and res["bins"] == 20
    assert res["p_chi2"] > 0.05 and res["p_ks"] > 0.05
    assert res["mean_rank"] == pytest.approx(0.5, abs=0.05)
    assert res["sd_rank"] == pytest.approx(np.sqrt(1 / 12), abs=0.03)


def test_shifted_posterior_is_flagged_with_its_direction() -> None:
    # A posterior shifted up by one posterior sd over-estimates: truths rank low.
    ranks = conjugate_ranks(200, 100, seed=2, shift=1.0)
    res = rank_uniformity(ranks, 100)
    assert res["p_chi2"] < 1e-6 and res["p_ks"] < 1e-6
    assert res["mean_rank"] < 0.35
    low = rank_uniformity(conjugate_ranks(200, 100, seed=3, shift=-1.0), 100)
    assert low["p_chi2"] < 1e-6 and low["mean_rank"] > 0.65


def test_too_narrow_posterior_gives_u_shape() -> None:
    res = rank_uniformity(conjugate_ranks(200, 100, seed=4, scale=0.4), 100)
    assert res["p_chi2"] < 1e-6
    assert res["sd_rank"] > 0.35  # U-shaped: ranks pile up at both ends
    assert res["mean_rank"] == pytest.approx(0.5, abs=0.08)


def test_uniformity_table_bonferroni_flags_only_the_bad_component() -> None:
    good = [conjugate_ranks(150, 50, seed=10 + j) for j in range(3)]
    bad = conjugate_ranks(150, 50, seed=20, shift=1.5)
    rows = []
    for label, ranks in zip(["a", "b", "c", "d"], [*good, bad], strict=True):
        rows += [{"parameter": "effect", "component": label, "rank": r} for r in ranks]
    rows += [{"parameter": "dispersion", "component": "", "rank": r} for r in good[0]]
    table = uniformity_table(pd.DataFrame(rows), 50, alpha=0.05)
    comp = table[table["component"] != "(all)"]
    assert list(comp["component"]) == ["a", "b", "c", "d", ""]
    assert list(comp["flagged"]) == [False, False, False, True, False]
    assert (comp["p_chi2_bonferroni"] >= comp["p_chi2"]).all()
    np.testing.assert_allclose(
        comp["p_chi2_bonferroni"], np.minimum(1, comp["p_chi2"] * 5), rtol=1e-12
    )
    pooled = table[table["component"] == "(all)"]
    assert list(pooled["parameter"]) == ["effect"]  # a one-component parameter has no pool
    assert int(pooled["n"].iloc[0]) == 600


def test_component_labels_follow_dims_in_c_order() -> None:
    da = xr.DataArray(
        np.zeros((2, 1, 2)),
        dims=("driver", "route", "group"),
        coords={"driver": ["x", "z"], "route": ["R"], "group": ["A", "B"]},
    )
    assert component_labels(da) == ["x|R|A", "x|R|B", "z|R|A", "z|R|B"]
    assert component_labels(xr.DataArray(1.0)) == [""]


# --------------------------------------------------------------------------- end to end


def tiny_panel(seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    months = month_range("2019-01", "2022-12")
    T = len(months)
    x = rng.normal(size=T)
    mu = np.column_stack([np.full(T, 40.0), np.full(T, 15.0)]) * np.exp(0.3 * x)[:, None]
    det = rng.negative_binomial(10, 10 / (10 + mu)).astype(float)[:, None, :]
    det[17, 0, 1] = (
        np.nan
    )  # one unobserved cell (2020-06): simulated data cover observed cells only
    ds = xr.Dataset(coords={"month": months, "route": [ROUTE], "group": ["A", "B"]})
    ds["detections"] = (("month", "route", "group"), det)
    ds["x"] = ("month", x)
    return ds


def tiny_spec() -> ModelSpec:
    return parse_spec(
        {
            "name": "tiny",
            "data": {"routes": [ROUTE], "start": "2020-01", "end": "2022-12"},
            "baseline": {"trend": "none", "fourier_order": 0},
            "drivers": [
                {
                    "name": "x",
                    "source": "panel",
                    "variable": "x",
                    "kernel": {"name": "geometric", "max_lag": 2},
                }
            ],
        }
    )


def test_simulate_prior_shapes_and_seed() -> None:
    spec = tiny_spec()
    bundle = build_model(spec, prepare_data(spec, tiny_panel(), None))
    params = ["effect_mean", "effect", "dispersion"]
    values, y, labels = simulate_prior(bundle, 6, 11, params)
    n_obs = 36 * 2 - 1
    assert y.shape == (6, n_obs)
    assert np.all(y >= 0) and np.all(y == np.round(y))
    assert {p: v.shape for p, v in values.items()} == {
        "effect_mean": (6, 1),
        "effect": (6, 2),
        "dispersion": (6, 2),
    }
    assert labels["effect"] == ["x|Eastern Borders Route|A", "x|Eastern Borders Route|B"]
    assert labels["effect_mean"] == ["x"]
    again, y2, _ = simulate_prior(bundle, 6, 11, params)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(values["effect"], again["effect"])
    other, _, _ = simulate_prior(bundle, 6, 12, params)
    assert not np.allclose(values["effect"], other["effect"])


#: The small SBC run shared by several tests (and its reruns, which must match it).
SMALL_RUN: dict[str, Any] = {
    "n": 8, "sampling": SBC_SAMPLING.replace(draws=40, tune=40), "thin_to": 20, "seed": 5
}
SMALL_PARAMS = ("effect_mean", "effect", "dispersion")


def _run_settings(seed_shift: int) -> dict[str, Any]:
    """SMALL_RUN with its seed shifted (``HYBRIDFLOW_TEST_SEED``, see tests/conftest.py)."""
    return {**SMALL_RUN, "seed": SMALL_RUN["seed"] + seed_shift}

@pytest.fixture(scope="module")
def small_run(seed_shift: int) -> tuple[SBCResult, list[str]]:
    """n=8 replicates with tiny draws, serial; records the compiles it triggers."""
    calls: list[str] = []
    real = refit_mod.compile_model

    def counting(bundle: Any, sampler: Any = "nutpie") -> Any:
        calls.append(sampler)
        return real(bundle, sampler)

    clear_worker_cache()
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.setattr(refit_mod, "compile_model", counting)
        result = run_sbc(
            tiny_spec(),
            tiny_panel(),
            None,
            **_run_settings(seed_shift),
            params=(*SMALL_PARAMS, "not_a_parameter"),
        )
    # The compiled model stays in this process's worker cache for the rerun test.
    return result, calls


# Tests sharing the run (and its cached compile) stay on one xdist worker.
sbc_group = pytest.mark.xdist_group("sbc_small_run")


@sbc_group
def test_small_sbc_run_shapes_and_ranges(small_run: tuple[SBCResult, list[str]]) -> None:
    result, calls = small_run
    assert calls == ["nutpie"]  # one compile, eight refits
    assert result.n_ranks == 20
    assert result.n_ok == 8 and len(result.replicates) == 8
    assert result.settings["params"] == ["effect_mean", "effect", "dispersion"]
    assert result.settings["observed_cells"] == 71
    ranks = result.ranks
    # 8 replicates x (1 effect_mean + 2 effect + 2 dispersion components)
    assert len(ranks) == 8 * 5
    assert ranks["rank"].between(0, 20).all()
    assert ranks.groupby("parameter", sort=False).size().to_dict() == {
        "effect_mean": 8,
        "effect": 16,
        "dispersion": 16,
    }
    assert (ranks["posterior_sd"] > 0).all()
    # The fits learn from the simulated data: posterior means track the prior draws of
    # the effects better than the prior mean (0) does.
    eff = ranks[ranks["parameter"] == "effect"]
    err_post = np.mean((eff["posterior_mean"] - eff["prior_value"]) ** 2)
    assert err_post < np.mean(eff["prior_value"] ** 2)
    summary = result.summary
    assert len(summary[summary["component"] != "(all)"]) == 5
    assert set(summary.loc[summary["component"] == "(all)", "parameter"]) == {
        "effect",
        "dispersion",
    }
    assert summary["p_chi2"].between(0, 1).all()
    reps = result.replicates
    assert list(reps["replicate"]) == list(range(8))
    assert reps["seed"].is_unique and (reps["divergences"] >= 0).all()
    assert "replicates fitted" in result.summary_text()


@sbc_group
def test_same_seed_same_ranks(small_run: tuple[SBCResult, list[str]], seed_shift: int) -> None:
    result, calls = small_run
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = run_sbc(
                tiny_spec(),
                tiny_panel(),
                None,
                **_run_settings(seed_shift),
                params=SMALL_PARAMS,
            )
    finally:
        clear_worker_cache()
    # The compiled model was reused from the worker cache, and every refit depends only on
    # its own data and seed: identical ranks.
    assert calls == ["nutpie"]
    pd.testing.assert_frame_equal(result.ranks, again.ranks)
    pd.testing.assert_frame_equal(result.summary, again.summary)


@sbc_group
def test_write_sbc_files(
    small_run: tuple[SBCResult, list[str]], tmp_path: Path, seed_shift: int
) -> None:
    result, _ = small_run
    out = tmp_path / "sbc"
    (out).mkdir()
    (out / "keep.txt").write_text("not ours")
    paths = write_sbc(result, out, figure_png=lambda **kw: to_png(sbc_rank_histogram(**kw)))
    assert set(paths) == {"ranks", "summary", "replicates", "json", "figure"}
    ranks = pd.read_csv(paths["ranks"], keep_default_na=False)
    assert len(ranks) == 40 and ranks["rank"].between(0, 20).all()
    summary = pd.read_csv(paths["summary"], keep_default_na=False)
    assert list(summary.columns[:3]) == ["parameter", "component", "n"]
    head = json.loads(paths["json"].read_text())
    assert head["replicates_ok"] == 8 and head["n_ranks"] == 20
    assert head["settings"]["seed"] == SMALL_RUN["seed"] + seed_shift
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "keep.txt").read_text() == "not ours"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    # Without a renderer (plotting lives above analysis) the tables are written alone.
    plain = write_sbc(result, tmp_path / "plain")
    assert "figure" not in plain and not (tmp_path / "plain" / "sbc_ranks.png").exists()


def test_failed_replicate_is_reported_not_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    # A prior predicting absurd counts makes a replicate fail; it stays in the table.
    def huge(bundle: Any, n: int, seed: int, params: Any) -> Any:
        values = {"effect_mean": np.zeros((n, 1))}
        y = np.full((n, 71), 1e13)
        return values, y, {"effect_mean": ["x"]}

    monkeypatch.setattr(sbc, "simulate_prior", huge)
    result = run_sbc(
        tiny_spec(),
        tiny_panel(),
        None,
        n=2,
        sampling=SBC_SAMPLING.replace(draws=20, tune=20),
        thin_to=10,
        params=("effect_mean",),
    )
    assert result.n_ok == 0 and len(result.replicates) == 2
    assert result.replicates["error"].str.contains("absurd counts").all()
    assert result.ranks.empty and result.summary.empty


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 2 replicates"):
        run_sbc(tiny_spec(), tiny_panel(), None, n=1)
    with pytest.raises(ValueError, match="thin_to=100 needs"):
        run_sbc(
            tiny_spec(), tiny_panel(), None, n=4, sampling=SBC_SAMPLING.replace(draws=20),
            thin_to=100,
        )
    with pytest.raises(ValueError, match="none of the parameters"):
        run_sbc(
            tiny_spec(), tiny_panel(), None, n=4, sampling=SBC_SAMPLING.replace(draws=50),
            params=("nope",),
        )


@pytest.mark.slow
@sbc_group
def test_process_executor_gives_the_serial_ranks(
    small_run: tuple[SBCResult, list[str]], seed_shift: int
) -> None:
    # Each worker compiles once (its own cache); seeds travel with the tasks, so the ranks
    # are those of the serial run, replicate for replicate.
    from hybridflow.inference.executor import make_executor

    result, _ = small_run
    with make_executor("process", workers=2) as ex, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = run_sbc(
            tiny_spec(),
            tiny_panel(),
            None,
            **_run_settings(seed_shift),
            params=SMALL_PARAMS,
            executor=ex,
        )
    pd.testing.assert_frame_equal(result.ranks, again.ranks)
    assert again.replicates["ok"].all()
