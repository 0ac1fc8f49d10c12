"""Rolling-origin backtests (hybridflow.analysis.backtest).

Scores, benchmarks, summaries and held-out data are tested directly and fast; the whole
pipeline (compile once, refit per origin, score) runs on a simulated panel with a known
driver effect in the slow test at the end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from hybridflow.analysis.backtest import (
    BACKTEST_SAMPLING,
    NAIVE,
    BacktestResult,
    backtest_summary_text,
    crps_samples,
    held_out_values,
    rolling_origin,
    score_samples,
    seasonal_naive_samples,
    summarise_backtest,
)
from hybridflow.errors import SpecError
from hybridflow.inference.refit import data_values
from hybridflow.models.build import build_model, prepare_data
from hybridflow.models.spec import parse_spec


def crps_normal(mu: float, sigma: float, y: np.ndarray) -> np.ndarray:
    """Closed form (Gneiting & Raftery 2007) for a normal predictive distribution."""
    z = (y - mu) / sigma
    return sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def crps_brute(x: np.ndarray, y: float) -> float:
    """The energy form by brute force, O(n^2)."""
    return float(np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :])))


# --------------------------------------------------------------------------- CRPS


def test_crps_matches_normal_closed_form() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=200_000)
    ys = np.array([-2.0, 3.0, 4.5, 10.0])
    got = crps_samples(np.broadcast_to(x, (4, len(x))), ys)
    np.testing.assert_allclose(got, crps_normal(3.0, 2.0, ys), rtol=0.01)


def test_crps_equals_brute_force_energy_form_exactly() -> None:
    rng = np.random.default_rng(1)
    x = rng.poisson(20, size=(3, 5, 57)).astype(float)
    y = rng.poisson(20, size=(3, 5)).astype(float)
    got = crps_samples(x, y)
    assert got.shape == (3, 5)
    want = np.array([[crps_brute(x[i, j], y[i, j]) for j in range(5)] for i in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # The sample axis may be anywhere.
    np.testing.assert_allclose(crps_samples(np.moveaxis(x, -1, 0), y, axis=0), got, rtol=1e-12)


def _crps_sorted_energy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The hand-written CRPS hybridflow used before scoringrules: the energy form of the
    samples' empirical distribution, ``E|X - X'|`` from the sorted samples (last axis)."""
    n = x.shape[-1]
    spread = np.mean(np.abs(x - y[..., None]), axis=-1)
    weights = 2.0 * np.arange(1, n + 1) - n - 1.0
    return spread - np.sum(weights * np.sort(x, axis=-1), axis=-1) / n**2


def test_crps_from_scoringrules_agrees_with_the_hand_written_estimator() -> None:
    """scoringrules' ensemble CRPS (quantile-decomposition estimator) and our former
    sorted energy form are the same number, the CRPS of the empirical distribution, so
    they agree to rounding (1e-10 on CRPS values of ~10) on count ensembles with ties."""
    import scoringrules

    rng = np.random.default_rng(3)
    x = rng.negative_binomial(4, 0.15, size=(40, 300)).astype(float)  # many ties
    y = rng.poisson(25, size=40).astype(float)
    ours = _crps_sorted_energy(x, y)
    np.testing.assert_allclose(crps_samples(x, y), ours, rtol=0, atol=1e-10)
    lib = np.asarray(scoringrules.crps_ensemble(y, x, estimator="qd"))
    np.testing.assert_allclose(lib, ours, rtol=0, atol=1e-10)


def test_crps_of_a_point_forecast_is_the_absolute_error() -> None:
    assert crps_samples(np.array([[7.0]]), np.array([3.0]))[0] == pytest.approx(4.0)
    # A sharper forecast centred on the truth scores better than a wide one.
    rng = np.random.default_rng(2)
    sharp, wide = rng.normal(0, 1, 5000), rng.normal(0, 5, 5000)
    assert crps_samples(sharp, 0.0) < crps_samples(wide, 0.0)


def test_score_samples_intervals_and_errors() -> None:
    x = np.tile(np.arange(101, dtype=float), (4, 1))  # quantiles are exact: q05 = 5 ...
    y = np.array([50.0, 25.0, 4.0, 96.0])
    s = score_samples(x, y)
    assert list(s["q05"]) == [5.0] * 4 and list(s["q95"]) == [95.0] * 4
    assert list(s["in50"]) == [True, True, False, False]  # bounds included
    assert list(s["in90"]) == [True, True, False, False]
    assert list(s["abs_error"]) == [0.0, 25.0, 46.0, 46.0]
    assert s["mean"].iloc[0] == 50.0


# --------------------------------------------------------------------------- seasonal naive


def test_seasonal_naive_uses_last_year_and_past_changes_only() -> None:
    y = np.r_[np.full(12, 100.0), np.full(12, 200.0), np.full(12, 200.0)]
    smp = seasonal_naive_samples(y, origin=29, target=31)
    assert smp is not None
    # Point: y[19] = 200; changes up to the origin: twelve log(200.5/100.5), six of 0.
    assert len(smp) == 18
    assert sorted(set(np.round(smp, 6))) == pytest.approx([200.0, 200.5 * 200.5 / 100.5 - 0.5])
    assert int(np.sum(np.isclose(smp, 200.0))) == 6
    future = y.copy()
    future[30:] = 1e6  # what happens after the origin cannot change the forecast
    np.testing.assert_array_equal(seasonal_naive_samples(future, 29, 31), smp)
    assert seasonal_naive_samples(y, origin=14, target=15) is None  # too few changes
    with pytest.raises(ValueError, match="horizon <= 12"):
        seasonal_naive_samples(y, origin=12, target=30)


# --------------------------------------------------------------------------- held-out data


def test_held_out_values_drop_the_future_and_recentre() -> None:
    months = pd.date_range("2020-01-01", periods=36, freq="MS")
    rng = np.random.default_rng(3)
    y = rng.poisson(50, size=(36, 1, 2)).astype(float)
    y[:, 0, 1] *= 4
    y[5, 0, 0] = np.nan
    panel = xr.Dataset(
        {"detections": (("month", "route", "group"), y)},
        coords={"month": months, "route": ["R"], "group": ["A", "B"]},
    )
    spec = parse_spec(
        {
            "name": "n",
            "data": {"routes": ["R"], "grouping": "none", "start": "2020-01", "end": "2022-12"},
        }
    )
    data = prepare_data(spec, panel, None)
    base = data_values(build_model(spec, data))
    vals = held_out_values(data, base, origin_index=23)
    month_of = vals["obs_cell"] // 2
    assert month_of.max() == 23 and len(vals["y_obs"]) == 24 * 2 - 1  # one NaN cell
    np.testing.assert_array_equal(vals["y_obs"], y[:24].reshape(-1)[vals["obs_cell"]])
    centre = np.log(np.nanmean(y[:24], axis=0) + 0.5)
    np.testing.assert_allclose(vals["intercept_centre"], centre)
    assert not np.allclose(vals["intercept_centre"], base["intercept_centre"])


# --------------------------------------------------------------------------- summary and text


def _table() -> pd.DataFrame:
    rows = []
    crps = {
        "null": [10.0, 10.0, 10.0, 10.0],
        "full": [5.0, 12.0, 4.0, 6.0],
        NAIVE: [20.0, 20.0, 20.0, 20.0],
    }
    for model, vals in crps.items():
        for k, c in enumerate(vals):
            rows.append(
                {
                    "model": model,
                    "origin": f"2023-0{k + 1}",
                    "horizon": 1,
                    "target": f"2023-0{k + 2}",
                    "route": "R",
                    "group": "total",
                    "observed": 100.0,
                    "mean": 100.0,
                    "q05": 80.0,
                    "q25": 90.0,
                    "q50": 100.0,
                    "q75": 110.0,
                    "q95": 120.0,
                    "crps": c,
                    "in50": model != "full" or k % 2 == 0,
                    "in90": True,
                    "abs_error": c,
                }
            )
    return pd.DataFrame(rows)


def test_summary_skill_arithmetic() -> None:
    s = summarise_backtest(_table(), null="null").set_index("model")
    assert s.loc["full", "crps"] == pytest.approx(6.75)
    assert s.loc["full", "skill_vs_null"] == pytest.approx(1 - 6.75 / 10)
    assert s.loc["full", "skill_vs_naive"] == pytest.approx(1 - 6.75 / 20)
    assert s.loc["null", "skill_vs_naive"] == pytest.approx(0.5)
    assert s.loc["full", "origins_better_than_null"] == 3 and s.loc["full", "n_origins"] == 4
    assert s.loc["full", "coverage50"] == pytest.approx(0.5) and s.loc[
        "full", "mae"
    ] == pytest.approx(6.75)
    assert s.loc[NAIVE, "skill_vs_naive"] == 0.0


def test_summary_text_is_computed() -> None:
    table = _table()
    res = BacktestResult(
        table=table,
        summary=summarise_backtest(table, null="null"),
        runs=pd.DataFrame(),
        settings={
            "null": "null",
            "n_origins": 4,
            "first_origin": "2023-01",
            "last_origin": "2023-04",
            "exposures": "observed",
        },
    )
    text = backtest_summary_text(res)
    assert text[0].startswith("Backtest: 4 forecast origins from 2023-01 to 2023-04")
    assert (
        "Adding the drivers of 'full' improves 1-month-ahead CRPS by 32% relative to the null model (better at 3 of 4 origins)"
        in text[1]
    )
    assert "'null' model's 1-month-ahead CRPS is 50% lower" in text[2]
    assert "'null' 100% / 100%; 'full' 100% / 50%" in text[3]
    assert text[-1].startswith(
        "Out of sample the drivers help: the best model, 'full', lowers CRPS by 32%"
    )
    assert res.figure_data().shape[0] == 3
    worse = table.assign(crps=np.where(table["model"] == "full", 15.0, table["crps"]))
    res2 = BacktestResult(
        table=worse,
        summary=summarise_backtest(worse, null="null"),
        runs=pd.DataFrame(),
        settings=res.settings,
    )
    assert "do not improve forecasts" in backtest_summary_text(res2)[-1]


def test_to_csv_writes_three_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table()
    res = BacktestResult(
        table=table,
        summary=summarise_backtest(table),
        runs=pd.DataFrame({"model": ["x"], "seconds": [1.0]}),
    )
    paths = res.to_csv(tmp_path / "bt")
    assert sorted(p.name for p in paths.values()) == [
        "backtest_runs.csv",
        "backtest_summary.csv",
        "backtest_table.csv",
    ]
    assert len(pd.read_csv(paths["table"])) == len(table)


# --------------------------------------------------------------------------- the whole pipeline


def simulated_panel(T: int = 60, beta: float = 0.8, seed: int = 1) -> xr.Dataset:
    """Two groups whose log rate moves by ``beta`` per SD of a known driver ``x``."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2019-01-01", periods=T, freq="MS")
    x = rng.normal(size=T)
    m = np.asarray(months.month)
    mu = np.exp(np.log(300) + 0.3 * np.sin(2 * np.pi * (m - 1) / 12) + beta * x)[:, None, None]
    mu = mu * np.array([1.0, 0.4])[None, None, :]
    y = rng.negative_binomial(30, 30 / (30 + mu)).astype(float)
    return xr.Dataset(
        {"detections": (("month", "route", "group"), y), "x": (("month",), x)},
        coords={"month": months, "route": ["R"], "group": ["A", "B"]},
    )


BASE = {
    "data": {"routes": ["R"], "grouping": "none", "start": "2019-01", "end": "2023-12"},
    "baseline": {"trend": "ar1", "fourier_order": 1},
}


def test_rolling_origin_rejects_impossible_requests() -> None:
    panel = simulated_panel()
    null = parse_spec({**BASE, "name": "null"})
    with pytest.raises(SpecError, match="only 34 origins have 24 months of data before them"):
        rolling_origin(null, panel, origins=40)
    with pytest.raises(ValueError, match="horizons must lie in 1..12"):
        rolling_origin(null, panel, horizons=(0, 1))
    share = parse_spec(
        {
            **BASE,
            "name": "s",
            "data": {**BASE["data"], "outcome": "share", "share_group": "B"},
            "likelihood": {"family": "binomial"},
        }
    )
    with pytest.raises(SpecError, match="backtests need a counts model"):
        rolling_origin(share, panel, origins=2)


@pytest.mark.slow
def test_known_driver_beats_null_out_of_sample(seed_shift: int) -> None:
    """~3-4 min on 2 shared cores: two numba compiles plus 10 small refits."""
    panel = simulated_panel()
    null = parse_spec({**BASE, "name": "null"})
    full = parse_spec(
        {
            **BASE,
            "name": "full",
            "drivers": [
                {
                    "name": "x",
                    "source": "panel",
                    "variable": "x",
                    "kernel": {"name": "immediate", "max_lag": 0},
                }
            ],
        }
    )
    res = rolling_origin(
        [null, full], panel, origins=5, horizons=(1, 2),
        sampling=BACKTEST_SAMPLING.replace(draws=150, tune=150), seed=3 + seed_shift,
    )
    t = res.table
    assert set(t["model"]) == {"null", "full", NAIVE}
    assert t.groupby("model").size()["full"] == 5 * 2 * 3  # origins x horizons x (2 groups + total)
    assert list(res.settings["horizons"]) == [1, 2] and res.settings["n_origins"] == 5
    s = res.summary[res.summary["level"] == "series"].set_index(["model", "horizon"])
    for h in (1, 2):
        assert s.loc[("full", h), "crps"] < s.loc[("null", h), "crps"]
        assert s.loc[("full", h), "skill_vs_null"] > 0.3
    assert any("Adding the drivers of 'full' improves" in line for line in res.text())
    assert (res.runs["seconds"] > 0).all() and len(res.runs) == 10
