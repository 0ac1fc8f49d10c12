"""The audit's world generator: the real design kept, the requested features present, the
injected effect exactly where it is said to be, and the seed fixing everything."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from hybridflow.analysis.audit.generator import (
    DEFAULT_CONFIG,
    Bump,
    Effect,
    WorldConfig,
    effect_log_rate,
    generate_world,
    real_counts,
    world_model_data,
)
from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.design.kernels import convolve_numpy
from hybridflow.models.build import ModelData, prepare_data
from hybridflow.models.spec import load_spec
from hybridflow.months import parse_month

from ._checks_sim import sim_events, sim_panel, sim_spec

MODELS = "models"
#: The generator without noise: the log rate is then its deterministic shape.
QUIET = dataclasses.replace(DEFAULT_CONFIG, ar_sd=0.0)


@pytest.fixture(scope="module")
def real_h1() -> ModelData:
    return prepare_data(load_spec(f"{MODELS}/h1_eu_sanctions.toml"), load_panel(), load_events())


@pytest.fixture(scope="module")
def real_h7() -> ModelData:
    return prepare_data(load_spec(f"{MODELS}/h7_others_share.toml"), load_panel(), load_events())


def _at(world_rate: object, month: str, group: str) -> float:
    return float(world_rate.sel(month=parse_month(month), group=group).isel(route=0))  # type: ignore[attr-defined]


def _season(month: str, config: WorldConfig = QUIET) -> float:
    m = parse_month(month).month
    return config.season_amplitude * np.cos(2 * np.pi * (m - config.season_peak_month) / 12)


def _era_median(data: ModelData, group: str, start: str, end: str, skip: list[str]) -> float:
    y = data.y.sel(group=group).isel(route=0).to_series().loc[start:end]
    y = y.drop([parse_month(m) for m in skip if parse_month(m) in y.index])
    return float(np.log(np.median(y.dropna())))


def test_world_keeps_the_design_and_seed_fixes_everything(real_h1: ModelData) -> None:
    a = generate_world(real_h1, 7)
    b = generate_world(real_h1, 7)
    c = generate_world(real_h1, 8)
    assert a.counts.dims == ("month", "route", "group")
    assert list(a.counts["group"].values) == real_h1.groups
    assert pd.DatetimeIndex(a.counts["month"].values).equals(real_h1.months)
    np.testing.assert_array_equal(a.counts.values, b.counts.values)
    assert not np.array_equal(a.counts.values, c.counts.values)
    counts = a.counts.values[np.isfinite(a.counts.values)]
    assert np.all(counts >= 0) and np.all(counts == np.round(counts))
    # The world replaces only the outcome: drivers, regimes and months are the real ones.
    data = world_model_data(real_h1, a)
    np.testing.assert_array_equal(data.exposure_matrix().values,
                                  real_h1.exposure_matrix().values)
    np.testing.assert_array_equal(data.regimes.values, real_h1.regimes.values)
    np.testing.assert_array_equal(data.y.values, a.counts.values)


def test_levels_are_era_medians_of_the_real_series_outside_bumps(real_h1: ModelData) -> None:
    w = generate_world(real_h1, 1, config=QUIET)
    belarus = [f"2021-{m:02d}" for m in range(6, 12)]
    pre = _era_median(real_h1, "Others", "2016-01", "2022-01", belarus)
    assert _at(w.log_rate, "2019-03", "Others") == pytest.approx(pre + _season("2019-03"))
    war = _era_median(real_h1, "UkrRussBel", "2022-02", "2023-11",
                      ["2022-02", "2022-03", "2022-04"])
    assert _at(w.log_rate, "2023-05", "UkrRussBel") == pytest.approx(war + _season("2023-05"))


def test_episode_transient_and_surge_are_in_the_log_rate(real_h1: ModelData) -> None:
    w = generate_world(real_h1, 1, config=QUIET)
    rate = w.log_rate
    # The transient: UkrRussBel at 0.3x, 3x and 0.8x its war-era level in Feb-Apr 2022.
    level = _at(rate, "2022-06", "UkrRussBel") - _season("2022-06")
    for month, mult in (("2022-02", 0.3), ("2022-03", 3.0), ("2022-04", 0.8)):
        assert _at(rate, month, "UkrRussBel") - _season(month) == pytest.approx(
            level + np.log(mult))
    # The Belarus-like episode: Others x40 in Jul 2021 over its pre-war level.
    pre = _at(rate, "2021-01", "Others") - _season("2021-01")
    assert _at(rate, "2021-07", "Others") - _season("2021-07") == pytest.approx(pre + np.log(40))
    # The 2024-like surge on Others (x9 in Jun 2024), nothing of it on UkrRussBel.
    post = _at(rate, "2024-01", "Others") - _season("2024-01")
    assert _at(rate, "2024-06", "Others") - _season("2024-06") == pytest.approx(post + np.log(9))
    ukr = _at(rate, "2024-01", "UkrRussBel") - _season("2024-01")
    assert _at(rate, "2024-06", "UkrRussBel") - _season("2024-06") == pytest.approx(ukr)


def test_seasonality_peaks_in_its_month(real_h1: ModelData) -> None:
    w = generate_world(real_h1, 1, config=QUIET)
    year = w.log_rate.sel(group="Others").isel(route=0).to_series().loc["2018-01":"2018-12"]
    assert year.idxmax().month == QUIET.season_peak_month
    assert year.max() - year.min() == pytest.approx(2 * QUIET.season_amplitude)


def test_ar1_noise_has_the_configured_correlation_and_sd(real_h1: ModelData) -> None:
    quiet = generate_world(real_h1, 0, config=QUIET).log_rate
    noise = np.stack([
        (generate_world(real_h1, s).log_rate - quiet).values[:, 0, :] for s in range(100)
    ])  # (world, month, group)
    lag1 = float((noise[:, 1:] * noise[:, :-1]).sum() / (noise[:, :-1] ** 2).sum())
    assert lag1 == pytest.approx(DEFAULT_CONFIG.ar_rho, abs=0.05)
    assert float(noise.std()) == pytest.approx(DEFAULT_CONFIG.ar_sd, rel=0.1)


def test_counts_are_negative_binomial_around_the_rate(real_h1: ModelData) -> None:
    config = dataclasses.replace(QUIET, nb_size=5.0)
    cell = {"month": parse_month("2023-05"), "group": "UkrRussBel"}
    mu = float(np.exp(generate_world(real_h1, 0, config=config).log_rate.sel(cell)[0]))
    y = np.array([float(generate_world(real_h1, s, config=config).counts.sel(cell)[0])
                  for s in range(200)])
    assert y.mean() == pytest.approx(mu, rel=0.1)
    assert y.var() / (mu + mu**2 / 5.0) == pytest.approx(1.0, abs=0.3)


def test_injected_effect_is_exactly_in_the_effect_group(real_h1: ModelData) -> None:
    effect = Effect("eu_sanctions", 30.0, "Others")
    null = generate_world(real_h1, 5)
    hit = generate_world(real_h1, 5, effect)
    diff = (hit.log_rate - null.log_rate).isel(route=0)
    design = real_h1.drivers[0]
    w = DEFAULT_CONFIG.effect_decay ** np.arange(design.kernel.max_lag + 1)
    expected = np.log(1.3) * convolve_numpy(design.exposure.values, w / w.sum(),
                                            history=real_h1.history)
    np.testing.assert_allclose(diff.sel(group="Others").values, expected, atol=1e-12)
    np.testing.assert_allclose(diff.sel(group="UkrRussBel").values, 0.0, atol=1e-12)
    assert expected.max() > 0.2  # the real packages do move the rate
    np.testing.assert_allclose(effect_log_rate(real_h1, effect, DEFAULT_CONFIG.effect_decay),
                               expected)


def test_share_worlds_split_a_consistent_route_total(real_h7: ModelData) -> None:
    assert list(real_counts(real_h7)["group"].values) == ["Others", "UkrRussBel"]
    null = generate_world(real_h7, 2)
    hit = generate_world(real_h7, 2, Effect("hard_sanctions", 50.0, "Others"))
    data = world_model_data(real_h7, null)
    assert data.y.shape == real_h7.y.shape and data.trials is not None
    total = null.counts.sum("group").values
    np.testing.assert_array_equal(data.trials.values[:, :, 0], total)
    np.testing.assert_array_equal(data.y.values[:, :, 0], null.counts.sel(group="Others").values)
    # On the log-odds of Others the effect is exactly the injected one.
    odds = (hit.log_rate - null.log_rate).isel(route=0)
    np.testing.assert_allclose(odds.sel(group="UkrRussBel").values, 0.0)
    assert float(odds.sel(group="Others").max()) > 0


def test_unobserved_cells_stay_unobserved_and_bumps_skip_absent_groups() -> None:
    panel = sim_panel(0)
    panel["detections"][40, 0, 1] = np.nan
    data = prepare_data(sim_spec(), panel, sim_events())
    config = WorldConfig(era_breaks=("2019-01",), bumps=(Bump("ep", "Nobody", "2018-06", (5.0,)),))
    w = generate_world(data, 0, config=config)
    np.testing.assert_array_equal(np.isnan(w.counts.values), np.isnan(data.y.values))
    with pytest.raises(ValueError, match="no driver 'nope'"):
        generate_world(data, 0, Effect("nope", 30.0))


def test_config_round_trips_and_rejects_bad_values() -> None:
    assert WorldConfig.from_dict(DEFAULT_CONFIG.to_dict()) == DEFAULT_CONFIG
    with pytest.raises(ValueError, match="ar_rho"):
        WorldConfig(ar_rho=1.0)
    with pytest.raises(ValueError, match="multipliers"):
        Bump("x", "Others", "2020-01", (0.0,))
