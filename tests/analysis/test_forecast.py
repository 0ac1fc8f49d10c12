"""Forecasts under scenarios (hybridflow.analysis.forecast, .scenario).

The forecast arithmetic is tested on a *fake posterior*: prior draws of a model built on a
small simulated panel. They have every variable a fit has (free parameters and the
deterministics ``log_mu``, ``trend``, ``effect``...), so the decomposition, the scenario
designs and the paired differences are exercised on the real model graph in seconds,
without compiling a sampler.
"""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from hybridflow.analysis.forecast import (
    QUANTILES,
    forecast,
    forecast_summary_text,
    load_forecast,
    predictive_counts,
    scenario_design,
)
from hybridflow.analysis.scenario import (
    Scenario,
    load_scenario,
    parse_scenario,
    resolve_month,
    scenario_events_frame,
)
from hybridflow.data.events import load_events
from hybridflow.errors import InputError, SpecError
from hybridflow.inference.posterior import make_posterior
from hybridflow.models.build import build_model, prepare_data
from hybridflow.models.spec import parse_spec

REPO = Path(__file__).resolve().parents[2]
START, END = "2018-01", "2024-12"
T = 84  # months 2018-01 .. 2024-12


def synthetic_panel(n_extra: int = 6, seed: int = 1) -> xr.Dataset:
    """Detections(month, route, group) for two groups plus a continuous series ``x``.

    Detections stop at 2024-12; ``x`` runs ``n_extra`` months further (for "observed").
    """
    rng = np.random.default_rng(seed)
    months = pd.date_range(START + "-01", periods=T + n_extra, freq="MS")
    m = np.asarray(months.month)
    mu = np.exp(np.log(200) + 0.3 * np.sin(2 * np.pi * (m - 1) / 12))[:, None, None]
    mu = mu * np.array([1.0, 0.5])[None, None, :]
    det = rng.negative_binomial(20, 20 / (20 + mu)).astype(float)
    det[T:] = np.nan
    x = rng.gamma(5.0, 2000.0, size=T + n_extra)
    return xr.Dataset(
        {"detections": (("month", "route", "group"), det), "x": (("month",), x)},
        coords={"month": months, "route": ["R"], "group": ["A", "B"]},
    )


SPEC = {
    "name": "synthetic",
    "data": {"routes": ["R"], "grouping": "none", "start": START, "end": END},
    "baseline": {
        "trend": "ar1",
        "fourier_order": 2,
        "regimes": [{"name": "war", "start": "2022-02"}, {"name": "late", "start": "2024-06"}],
    },
    "drivers": [
        {
            "name": "x",
            "source": "panel",
            "variable": "x",
            "kernel": {"name": "geometric", "max_lag": 3},
        },
        {
            "name": "eu",
            "source": "events",
            "filter": {
                "family": "sanctions",
                "actor": ["EU"],
                "target": ["Russia"],
                "kinds": ["sanctions_package"],
            },
            "kernel": {"name": "geometric", "max_lag": 3},
        },
        {
            "name": "us",
            "source": "events",
            "per_event": True,
            "filter": {"family": "sanctions", "actor": ["US"]},
            "kernel": {"name": "geometric", "max_lag": 2},
        },
    ],
}


def fake_result(
    spec_dict: dict, panel: xr.Dataset, events: pd.DataFrame, draws: int = 200
) -> types.SimpleNamespace:
    """Prior draws of the model, dressed as a fit result (spec + idata with posterior)."""
    spec = parse_spec(spec_dict)
    data = prepare_data(spec, panel, events)
    bundle = build_model(spec, data)
    names = [v.name for v in bundle.model.free_RVs] + [v.name for v in bundle.model.deterministics]
    with bundle.model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = pm.sample_prior_predictive(draws=draws, random_seed=7, var_names=names)
    post = prior["prior"].to_dataset()
    # Tame the prior's extreme draws (they only make counts huge, not the tests weaker).
    idata = make_posterior({"posterior": post})
    idata["posterior"].attrs.update(data_hash=data.data_hash(), seed=11)
    return types.SimpleNamespace(spec=spec, idata=idata, data=data)


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return load_events()


@pytest.fixture(scope="module")
def panel() -> xr.Dataset:
    return synthetic_panel()


@pytest.fixture(scope="module")
def result(panel: xr.Dataset, events: pd.DataFrame) -> types.SimpleNamespace:
    return fake_result(SPEC, panel, events)


EU_EVENT = {
    "month": "+1",
    "actor": "EU",
    "target": "Russia",
    "kind": "sanctions_package",
    "sectors": ["energy_oil"],
}


# --------------------------------------------------------------------------- scenario files


def test_example_scenarios_load() -> None:
    files = sorted((REPO / "scenarios").glob("*.toml"))
    names = {load_scenario(f).name for f in files}
    assert {"baseline", "eu_package_energy", "losses_high"} <= names
    eu = load_scenario(REPO / "scenarios" / "eu_package_energy.toml")
    assert eu.events[0].family == "sanctions" and eu.events[0].sectors == [
        "energy_oil",
        "shadow_fleet",
    ]
    assert load_scenario(REPO / "scenarios" / "baseline.toml").is_empty


def test_scenario_errors_name_field_and_options(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError,
        match=r"events\[0\]\.sectors: unknown sector 'enrgy_oil' \(did you mean 'energy_oil'\?\)",
    ):
        parse_scenario({"name": "s", "events": [{**EU_EVENT, "sectors": ["enrgy_oil"]}]})
    with pytest.raises(
        SpecError, match=r"levels\[0\]: unknown field 'frm' \(did you mean 'from'\?\)"
    ):
        parse_scenario({"name": "s", "levels": [{"driver": "x", "value": 1, "frm": "+1"}]})
    with pytest.raises(SpecError, match="needs a target"):
        parse_scenario(
            {"name": "s", "events": [{k: v for k, v in EU_EVENT.items() if k != "target"}]}
        )
    with pytest.raises(SpecError, match=r"value must be a number, 'last' or 'observed'"):
        parse_scenario({"name": "s", "levels": [{"driver": "x", "value": "high"}]})
    with pytest.raises(SpecError, match=r"regimes\[0\]\.state: got 'closed'"):
        parse_scenario({"name": "s", "regimes": [{"name": "r", "state": "closed"}]})
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "s"\n[[events]]\nmonth = "2025-13"\n', encoding="utf-8")
    with pytest.raises(
        SpecError,
        match=r"(?s)bad\.toml: invalid scenario .*events\[0\]\.month: month must be a calendar month",
    ):
        load_scenario(bad)
    with pytest.raises(SpecError, match="scenario file not found"):
        load_scenario(tmp_path / "missing.toml")


def test_months_resolve_relative_to_first_forecast_month() -> None:
    first = pd.Timestamp("2024-11-01")
    assert resolve_month("+1", first) == first
    assert resolve_month("+3", first) == pd.Timestamp("2025-01-01")
    assert resolve_month("2025-07", first) == pd.Timestamp("2025-07-01")
    sc = parse_scenario({"name": "s", "events": [{**EU_EVENT, "month": "2024-10"}]})
    with pytest.raises(SpecError, match="before the first forecast month 2024-11"):
        scenario_events_frame(sc, first)
    sc = parse_scenario({"name": "s", "events": [EU_EVENT, {**EU_EVENT, "month": "+9"}]})
    frame = scenario_events_frame(sc, first, horizon_end=pd.Timestamp("2025-01-01"))
    assert list(frame["event_id"]) == ["scenario:s:1"]
    assert frame.loc[0, "effective_date"] == first and frame.loc[0, "sectors"] == ("energy_oil",)


# --------------------------------------------------------------------------- forecast shape


def test_forecast_named_dims_and_shapes(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    fc = forecast(
        result, panel, events, horizon=4, scenarios=[{"name": "eu", "events": [EU_EVENT]}]
    )
    assert fc.draws.dims == ("scenario", "chain", "draw", "month", "route", "group")
    assert fc.draws.shape == (2, 1, 200, 4, 1, 2)
    assert fc.expected.dims == fc.draws.dims
    assert fc.scenario_names == ["baseline", "eu"]
    assert list(fc.months) == list(pd.date_range("2025-01-01", periods=4, freq="MS"))
    assert list(fc.draws["group"].values) == ["A", "B"]
    assert np.all(fc.draws.values >= 0) and np.all(fc.draws.values == np.round(fc.draws.values))
    q = fc.quantiles()
    assert q.dims == ("quantile", "month") and list(q["quantile"].values) == list(QUANTILES)
    assert fc.series_quantiles().dims == ("quantile", "scenario", "month", "route", "group")
    assert fc.history.dims == ("month", "route", "group") and fc.history.sizes["month"] == T
    # Totals are sums of the groups, draw by draw.
    tot = fc.predictive()
    np.testing.assert_array_equal(
        tot.values, fc.draws.sel(scenario="baseline").sum(("route", "group")).values
    )


def test_no_change_scenario_equals_baseline_exactly(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    same = {
        "name": "same",
        "levels": [{"driver": "x", "value": "last"}, {"driver": "not_in_model", "value": 5}],
        "regimes": [{"name": "war", "state": "on"}],
        # A border event matches no driver of this model.
        "events": [{"month": "+1", "actor": "PL", "kind": "closure", "border": ["BY-PL"]}],
    }
    fc = forecast(result, panel, events, horizon=3, scenarios=[same])
    np.testing.assert_array_equal(
        fc.draws.sel(scenario="same").values, fc.draws.sel(scenario="baseline").values
    )
    np.testing.assert_array_equal(
        fc.expected.sel(scenario="same").values, fc.expected.sel(scenario="baseline").values
    )
    assert float(np.abs(fc.difference("same")).max()) == 0.0
    assert float(np.abs(fc.difference("same", kind="predictive")).max()) == 0.0
    notes = " ".join(fc.notes["same"])
    assert "not_in_model" in notes and "match(es) no driver filter" in notes
    text = forecast_summary_text(fc)
    assert any("'same' changes nothing" in s for s in text)


def test_event_scenario_moves_log_mu_by_effect_times_kernel(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    fc = forecast(
        result, panel, events, horizon=3, scenarios=[{"name": "eu", "events": [EU_EVENT]}]
    )
    post = result.idata.posterior
    beta = post["effect"].sel(driver="eu").values  # chain, draw, route, group
    w = post["kernel_weights"].sel(driver="eu").values  # chain, draw, lag
    ratio = np.log(fc.expected.sel(scenario="eu") / fc.expected.sel(scenario="baseline"))
    for j in range(3):  # a pulse in month +1 acts at lags 0, 1, 2 in months +1, +2, +3
        got = ratio.isel(month=j).transpose("chain", "draw", "route", "group").values
        np.testing.assert_allclose(got, beta * w[..., j][..., None, None], rtol=1e-9, atol=1e-12)


def test_new_per_event_driver_event_gets_hierarchical_effect(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    us = {
        "name": "us",
        "events": [
            {
                "month": "+2",
                "actor": "US",
                "target": "Russia",
                "kind": "sanctions_action",
                "sectors": ["finance"],
            }
        ],
    }
    fc = forecast(result, panel, events, horizon=3, scenarios=[us])
    ratio = np.log(fc.expected.sel(scenario="us") / fc.expected.sel(scenario="baseline"))
    assert float(np.abs(ratio.isel(month=0)).max()) == 0.0  # nothing before the event
    post = result.idata.posterior
    w0 = post["kernel_weights"].sel(driver="us", lag=0).values
    eff = (
        ratio.isel(month=1).transpose("chain", "draw", "route", "group").values
        / w0[..., None, None]
    )
    base = post["effect"].sel(driver="us").values
    dev = (eff - base)[..., 0, 0]  # same deviation for every series
    np.testing.assert_allclose((eff - base)[..., 0, 1], dev, atol=1e-9)
    tau = post["event_sd"].values[..., 0]
    z = dev / tau
    assert abs(z.mean()) < 0.3 and 0.7 < z.std() < 1.3  # standard-normal deviations


def test_level_scenario_uses_the_fits_standardisation(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    sc = {"name": "xhigh", "levels": [{"driver": "x", "value": 30000, "from": "+2"}]}
    fc = forecast(result, panel, events, horizon=3, scenarios=[sc])
    d = next(d for d in result.data.drivers if d.name == "x")
    dz = (30000 - d.center) / d.scale - float(d.exposure.sel(month=pd.Timestamp("2024-12-01")))
    post = result.idata.posterior
    beta = post["effect"].sel(driver="x").values
    w0 = post["kernel_weights"].sel(driver="x", lag=0).values
    ratio = np.log(fc.expected.sel(scenario="xhigh") / fc.expected.sel(scenario="baseline"))
    assert float(np.abs(ratio.isel(month=0)).max()) == 0.0
    got = ratio.isel(month=1).transpose("chain", "draw", "route", "group").values
    np.testing.assert_allclose(got, beta * w0[..., None, None] * dz, rtol=1e-9, atol=1e-12)


def test_observed_level_is_never_imputed(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    ok = {"name": "obs", "levels": [{"driver": "x", "value": "observed"}]}
    fc = forecast(result, panel, events, horizon=6, scenarios=[ok])
    assert fc.expected.sel(scenario="obs").notnull().all()
    too_far = panel.isel(month=slice(None, T + 2))  # x known for only two forecast months
    with pytest.raises(SpecError, match="no value for 2025-03, 2025-04"):
        forecast(result, too_far, events, horizon=4, scenarios=[ok])


def test_regime_switch_and_unknown_regime(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    sc = {
        "name": "reopen",
        "regimes": [
            {"name": "late", "state": "off", "from": "+2"},
            {"name": "nope", "state": "on"},
        ],
    }
    fc = forecast(result, panel, events, horizon=3, scenarios=[sc])
    gamma = result.idata.posterior["regime_effect"].sel(regime="late").values
    ratio = np.log(fc.expected.sel(scenario="reopen") / fc.expected.sel(scenario="baseline"))
    assert float(np.abs(ratio.isel(month=0)).max()) == 0.0
    np.testing.assert_allclose(
        ratio.isel(month=2).transpose("chain", "draw", "route", "group").values, -gamma, atol=1e-12
    )
    assert any("regime switch 'nope' ignored" in n for n in fc.notes["reopen"])


# --------------------------------------------------------------------------- uncertainty


# The trend's extension itself is tested with the term (tests/models/test_terms.py).


@pytest.mark.parametrize("trend_prior", ["halfnormal", "fixed"])
def test_forecast_intervals_widen_with_horizon(
    panel: xr.Dataset, events: pd.DataFrame, trend_prior: str
) -> None:
    spec = {
        "name": "plain",
        "data": SPEC["data"],
        "baseline": {"trend": "local_level", "trend_step": 2, "fourier_order": 0,
                     "priors": {"trend_prior": trend_prior}},
    }
    res = fake_result(spec, panel, events, draws=400)
    fc = forecast(res, panel, events, horizon=6)
    # Change from the last fitted month, draw by draw: only the trend moves it here.
    last = res.idata.posterior["log_mu"].isel(month=-1).sel(route="R", group="A")
    step = np.log(fc.expected.sel(scenario="baseline", route="R", group="A")) - last
    sd = step.std(("chain", "draw")).values
    assert np.all(np.diff(sd) > 0)
    if trend_prior == "halfnormal":  # learned: the draws' own sd
        sigma = res.idata.posterior["trend_sigma"].sel(route="R", group="A")
        knot_sd = float(np.sqrt((sigma**2).mean()))
    else:  # fixed: no parameter, the spec's value
        assert "trend_sigma" not in res.idata.posterior
        knot_sd = res.spec.baseline.priors.trend_sd
    np.testing.assert_allclose(sd[[1, 3, 5]], knot_sd * np.sqrt([1, 2, 3]), rtol=0.15)


# --------------------------------------------------------------------------- probabilities, output


def test_exceedance_arithmetic(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    fc = forecast(result, panel, events, horizon=2)
    tot = fc.draws.sel(scenario="baseline", month=pd.Timestamp("2025-02-01")).sum(
        ("route", "group")
    )
    for thr in (0, 150, 400, 1e12):
        assert fc.exceedance(thr, "2025-02") == pytest.approx(float((tot > thr).mean()))
    a = fc.draws.sel(scenario="baseline", month=pd.Timestamp("2025-01-01"), route="R", group="A")
    assert fc.exceedance(300, "2025-01", group="A") == pytest.approx(float((a > 300).mean()))
    assert fc.exceedance(1e12, pd.Timestamp("2025-01-01")) == 0.0
    with pytest.raises(ValueError, match="2025-05 is not a forecast month"):
        fc.exceedance(1, "2025-05")


def test_predictive_counts_common_random_numbers() -> None:
    u = np.random.default_rng(1).random(50000)
    y = predictive_counts(np.full_like(u, 100.0), u, "negbin", np.array(5.0))
    assert y.mean() == pytest.approx(100, rel=0.02)
    assert y.var() == pytest.approx(100 + 100**2 / 5, rel=0.05)
    higher = predictive_counts(np.full_like(u, 120.0), u, "negbin", np.array(5.0))
    assert np.all(higher >= y)
    p = predictive_counts(np.full(50000, 7.0), u, "poisson")
    assert p.mean() == pytest.approx(7, rel=0.02) and p.var() == pytest.approx(7, rel=0.05)


def test_outputs_roundtrip(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame, tmp_path: Path
) -> None:
    fc = forecast(
        result,
        panel,
        events,
        horizon=2,
        scenarios=[{"name": "eu", "description": "EU package", "events": [EU_EVENT]}],
    )
    nc = fc.to_netcdf(tmp_path / "out" / "forecast.nc")
    back = load_forecast(nc)
    xr.testing.assert_equal(back.draws, fc.draws)
    assert back.scenarios["eu"] == fc.scenarios["eu"] and back.baseline == "baseline"
    csv = fc.to_csv(tmp_path / "out" / "forecast.csv", threshold=250)
    table = pd.read_csv(csv)
    assert set(table["group"]) == {"A", "B", "total"}
    assert {"q05", "q50", "q95", "diff_mean", "p_exceed", "observed"} <= set(table.columns)
    row = table[
        (table["scenario"] == "baseline")
        & (table["group"] == "total")
        & (table["month"] == "2025-01")
    ].iloc[0]
    assert row["p_exceed"] == pytest.approx(fc.exceedance(250, "2025-01"), abs=1e-6)
    assert row["q50"] == pytest.approx(
        float(fc.quantiles().sel(quantile=0.5, month=pd.Timestamp("2025-01-01")))
    )
    base_rows = table[table["scenario"] == "baseline"]
    assert (base_rows["diff_mean"] == 0).all()
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic writes leave no temporaries


def test_summary_text_numbers_come_from_the_forecast(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    fc = forecast(
        result,
        panel,
        events,
        horizon=3,
        scenarios=[{"name": "eu", "description": "EU package", "events": [EU_EVENT]}],
    )
    text = forecast_summary_text(fc, threshold=300, month="2025-02")
    med = float(fc.quantiles().sel(quantile=0.5, month=pd.Timestamp("2025-01-01")))
    assert f"about {med:,.0f} detections" in text[0]
    assert text[1].startswith("Scenario 'eu' (EU package)")
    p = fc.exceedance(300, "2025-02")
    assert "Chance of more than 300 detections" in text[2] and "Feb 2025" in text[2]
    assert (f"{100 * p:.0f}%" in text[2]) or ("under 1%" in text[2]) or ("over 99%" in text[2])
    assert "conditional" in text[-1]


def test_fan_chart_data_matches_figure_signature(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    from hybridflow.briefing.figures import fan_chart

    fc = forecast(
        result, panel, events, horizon=3, scenarios=[{"name": "eu", "events": [EU_EVENT]}]
    )
    kw = fc.fan_chart_data(compare="eu", history_months=12, threshold=300)
    assert kw["quantiles"].shape == (5, 3) and len(kw["history"]) == 12
    fig = fan_chart(**kw)
    assert fig is not None


# --------------------------------------------------------------------------- guards


def test_wrong_panel_is_rejected(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    other = panel.copy(deep=True)
    other["detections"][5, 0, 0] += 1
    with pytest.raises(InputError, match="differ from the ones model 'synthetic' was fitted on"):
        forecast(result, other, events, horizon=2)


def test_share_models_cannot_be_forecast(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    spec = parse_spec(
        {
            **SPEC,
            "data": {**SPEC["data"], "outcome": "share", "share_group": "B"},
            "likelihood": {"family": "binomial"},
        }
    )
    with pytest.raises(SpecError, match="forecasts need a counts model"):
        forecast(types.SimpleNamespace(spec=spec, idata=result.idata), panel, events, horizon=2)


def test_decomposition_guard_catches_unknown_terms(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    idata = result.idata.copy()
    idata.posterior["log_mu"] = idata.posterior["log_mu"] + xr.where(
        idata.posterior["month"] == np.datetime64("2023-03-01"), 0.1, 0.0
    )
    with pytest.raises(RuntimeError, match="component this forecast does not know"):
        forecast(types.SimpleNamespace(spec=result.spec, idata=idata), panel, events, horizon=2)


def test_real_time_design_inside_the_window(
    result: types.SimpleNamespace, panel: xr.Dataset, events: pd.DataFrame
) -> None:
    data = result.data
    design = scenario_design(data, panel, events, None, origin="2023-09")
    ext = design.months_ext
    after = ext > pd.Timestamp("2023-09-01")
    x = design.exposure.sel(driver="x").values
    assert np.all(x[after] == x[ext == pd.Timestamp("2023-09-01")])  # held at the origin value
    assert np.all(design.exposure.sel(driver="eu").values[after] == 0)  # no new packages
    fit = data.exposure_matrix().values
    np.testing.assert_array_equal(design.exposure.values[:, ~after], fit[:, ~after])
    late = design.regimes.sel(regime="late").values
    assert late.sum() == 0 and any("regime 'late' begins after 2023-09" in n for n in design.notes)
    vals = design.model_values(data.n_lags, data.months)
    assert vals["driver_lagged"].shape == (3, T, data.n_lags)
    assert vals["regime_design"].shape == (T, 2)
    assert Scenario.baseline().is_empty
