"""Spec + synthetic panel -> design arrays -> PyMC model (no sampling here)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from hybridflow.design.kernels import convolve_numpy
from hybridflow.errors import SpecError
from hybridflow.models.build import build_model, prepare_data
from hybridflow.models.spec import parse_spec
from tests.models.synthetic import make_events, make_panel


def _spec(**over: Any) -> Any:
    base: dict[str, Any] = {
        "name": "t",
        "data": {"start": "2019-01", "end": "2024-09"},
        "baseline": {
            "fourier_order": 2,
            "regimes": [
                {"name": "war_onset", "start": "2022-02"},
                {"name": "belarus_2021", "start": "2021-06", "end": "2021-11"},
            ],
        },
        "drivers": [
            {
                "name": "eu",
                "source": "events",
                "filter": {"family": "sanctions", "actor": "EU"},
                "per_event": True,
                "kernel": {"name": "geometric", "max_lag": 3},
            },
            {"name": "losses", "source": "losses", "fill_before": 0},
            {
                "name": "strikes",
                "source": "acled",
                "fill_before": "centre",
                "kernel": {"name": "delayed", "max_lag": 4},
            },
        ],
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return parse_spec(base)


def test_model_has_named_dims_and_reported_vars() -> None:
    spec = _spec()
    bundle = build_model(spec, make_panel(), make_events())
    model = bundle.model
    months = pd.date_range("2019-01-01", "2024-09-01", freq="MS")
    assert list(model.coords["month"]) == list(months)
    assert list(model.coords["route"]) == ["Eastern Borders Route"]
    assert list(model.coords["group"]) == ["UkrRussBel", "Others"]
    assert list(model.coords["driver"]) == ["eu", "losses", "strikes"]
    assert list(model.coords["lag"]) == list(range(7))  # default max_lag 6 is the longest
    assert list(model.coords["regime"]) == ["war_onset", "belarus_2021"]
    assert list(model.coords["fourier"]) == ["sin1", "cos1", "sin2", "cos2"]
    # Events up to the window end (plus pre-window history) get a column each.
    assert list(model.coords["event"]) == [f"EU-RU-{i:02d}" for i in range(1, 9)]
    assert model.named_vars_to_dims["effect"] == ("driver", "route", "group")
    assert model.named_vars_to_dims["kernel_weights"] == ("driver", "lag")
    assert model.named_vars_to_dims["log_mu"] == ("month", "route", "group")
    assert model.named_vars_to_dims["event_effect"] == ("event", "route", "group")
    for name in (
        "effect",
        "effect_mean",
        "geometric_decay",
        "event_effect",
        "strikes_peak",
        "strikes_spread",
    ):
        assert name in bundle.reported_vars
    # The between-group sd is fixed by default (group_prior "fixed"): no parameter to gate.
    assert "effect_group_sd" not in model.named_vars
    assert {"y_obs", "driver_lagged", "event_lagged", "regime_design"} <= set(bundle.data_names)
    # The model evaluates to a finite log density at its initial point.
    logp = model.point_logps()
    assert all(np.isfinite(v) for v in logp.values())


def test_a_model_without_drivers_reports_its_baseline_for_the_gate() -> None:
    # The null model has no driver effects; the convergence gate must still check something.
    bundle = build_model(_spec(drivers=[]), make_panel(), make_events())
    assert bundle.reported_vars == ["intercept", "regime_effect", "dispersion"]
    with_drivers = build_model(_spec(), make_panel(), make_events())
    assert "intercept" not in with_drivers.reported_vars


def test_kernel_weights_sum_to_one_and_respect_max_lag() -> None:
    bundle = build_model(_spec(), make_panel(), make_events())
    import pymc as pm

    with bundle.model:
        draw = pm.draw(bundle.model["kernel_weights"], random_seed=1)
    assert draw.shape == (3, 7)
    np.testing.assert_allclose(draw.sum(axis=1), 1.0)
    assert np.all(draw[0, 4:] == 0)  # eu: max_lag 3
    assert np.all(draw[2, 5:] == 0)  # strikes: delayed, max_lag 4


def test_missing_outcome_is_masked_not_imputed() -> None:
    panel = make_panel()
    det = panel["detections"].values.copy()
    det[40, 0, 1] = np.nan
    det[41, 0, 0] = np.nan
    panel["detections"] = (("month", "route", "group"), det)
    spec = _spec()
    data = prepare_data(spec, panel, make_events())
    bundle = build_model(spec, data)
    n_cells = data.y.size
    assert int(np.isfinite(data.y.values).sum()) == n_cells - 2
    assert bundle.model["y_obs"].get_value().shape == (n_cells - 2,)
    assert not any(v.name.endswith("_missing") for v in bundle.model.free_RVs)


def test_exposures_match_the_kernel_convolution() -> None:
    spec = _spec()
    data = prepare_data(spec, make_panel(), make_events())
    bundle = build_model(spec, data)
    x_lag = bundle.model["driver_lagged"].get_value()  # driver, month, lag
    x_ext = data.exposure_matrix().values
    w = np.array([0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0])
    manual = convolve_numpy(x_ext[1], w, history=data.history)
    np.testing.assert_allclose(x_lag[1] @ w, manual)
    # A sanctions package adopted 2022-02-25 is one pulse in Feb 2022.
    eu = data.drivers[0].event_exposure
    assert eu is not None
    assert float(eu.sel(event="EU-RU-01", month="2022-02-01")) == 1.0
    assert float(eu.sel(event="EU-RU-01").sum()) == 1.0


def test_losses_fill_before_needs_a_regime_at_the_data_start() -> None:
    spec = _spec(baseline={"regimes": []})
    with pytest.raises(SpecError) as exc:
        prepare_data(spec, make_panel(), make_events())
    msg = str(exc.value)
    assert "drivers 'losses'" in msg and "2022-02" in msg and "step regime" in msg


def test_losses_without_fill_before_is_an_error() -> None:
    spec = _spec(drivers=[{"name": "losses", "source": "losses"}])
    with pytest.raises(
        SpecError, match="data start 2022-02, after data.start 2019-01; set fill_before"
    ):
        prepare_data(spec, make_panel(), make_events())


def test_standardised_driver_is_scaled_over_observed_window_months() -> None:
    spec = _spec()
    data = prepare_data(spec, make_panel(), make_events())
    losses = data.drivers[1]
    window = losses.exposure.sel(month=slice("2022-02-01", "2024-09-01"))
    assert float(window.mean()) == pytest.approx(0.0, abs=1e-9)
    assert float(window.std()) == pytest.approx(1.0)
    assert "1 SD" in losses.unit
    # The SD in the reader's format: thousands separators, never e-notation.
    assert f"(1 SD = {losses.scale:,.0f})" in losses.unit and "," in losses.unit
    # "centre" fill: months before the ACLED data are neutral (0 after standardising).
    strikes = data.drivers[2].exposure
    assert np.all(strikes.sel(month=slice(None, "2020-12-01")).values == pytest.approx(0.0))
    assert any("strikes" in n and "neutral" in n for n in data.notes)


def test_driver_ending_inside_the_window_is_an_error_or_a_loud_clip() -> None:
    spec = _spec(data={"end": "2025-03"})
    with pytest.raises(SpecError) as exc:
        prepare_data(spec, make_panel(), make_events())
    assert "driver 'strikes' ends 2024-09" in str(exc.value)
    assert "never imputed silently" in str(exc.value)
    clipped = _spec(data={"end": "2025-03", "on_missing": "clip"})
    with pytest.warns(UserWarning, match="window clipped from 2025-03 to 2024-09"):
        data = prepare_data(clipped, make_panel(), make_events())
    assert data.months[-1] == pd.Timestamp("2024-09-01")
    assert any("clipped" in n for n in data.notes)


def test_regime_always_on_is_dropped_with_a_note() -> None:
    spec = _spec(
        data={"start": "2022-03"},
        drivers=[],
        baseline={"regimes": [{"name": "war_onset", "start": "2022-02"}]},
    )
    data = prepare_data(spec, make_panel(), make_events())
    assert data.regimes.sizes["regime"] == 0
    assert any("war_onset" in n and "always on" in n for n in data.notes)


def _regimes(regimes: list[dict], **data: str) -> Any:
    spec = _spec(data=data, drivers=[], baseline={"regimes": regimes})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = prepare_data(spec, make_panel(), make_events())
    return out, [str(w.message) for w in caught]


def test_transient_months_add_one_pulse_per_month_beside_the_step() -> None:
    data, _ = _regimes([{"name": "war_onset", "start": "2022-02", "transient_months": 3}])
    labels = [str(r) for r in data.regimes["regime"].values]
    assert labels == ["war_onset", "war_onset@2022-02", "war_onset@2022-03", "war_onset@2022-04"]
    cols = data.regimes.to_pandas()
    assert cols["war_onset"].loc["2022-02-01":].eq(1).all()
    assert cols["war_onset"].loc[:"2022-01-01"].eq(0).all()
    for label in labels[1:]:
        month = pd.Timestamp(label.split("@")[1] + "-01")
        assert cols[label].sum() == 1 and cols.loc[month, label] == 1
    # Each column has its own per-series effect, with the regime's prior.
    assert data.regime_sd == [parse_spec({"name": "x"}).baseline.priors.regime_sd] * 4
    model = build_model(data.spec, data).model
    assert model.named_vars_to_dims["regime_effect"] == ("regime", "route", "group")
    assert list(model.coords["regime"]) == labels


def test_a_transient_that_covers_the_whole_step_is_not_a_ridge() -> None:
    # Three months of step inside the window and three pulses: the last pulse is the step
    # minus the others, so it is dropped (with a note), never fitted as a ridge.
    data, _ = _regimes(
        [{"name": "late", "start": "2024-07", "transient_months": 3}], end="2024-09"
    )
    assert [str(r) for r in data.regimes["regime"].values] == [
        "late",
        "late@2024-07",
        "late@2024-08",
    ]
    assert any("late@2024-09" in n and "collinear" in n for n in data.notes)


def test_a_regime_cut_short_by_the_window_end_is_dropped_with_a_warning() -> None:
    regimes = [
        {"name": "war_onset", "start": "2022-02"},
        {"name": "suspension", "start": "2024-08"},  # 2 months inside a window to 2024-09
    ]
    data, caught = _regimes(regimes)
    assert [str(r) for r in data.regimes["regime"].values] == ["war_onset"]
    (note,) = [n for n in data.notes if "suspension" in n]
    assert "only 2 month(s)" in note and "window's end" in note
    assert any("suspension" in w and "min_regime_months = 3" in w for w in caught)
    # Three months inside is enough; min_regime_months = 0 keeps every regime.
    kept, _ = _regimes([{"name": "suspension", "start": "2024-07"}])
    assert [str(r) for r in kept.regimes["regime"].values] == ["suspension"]
    spec = _spec(drivers=[], baseline={"regimes": regimes, "min_regime_months": 0})
    assert "suspension" in prepare_data(spec, make_panel(), make_events()).regimes["regime"]


def test_a_regime_cut_short_by_the_window_start_is_dropped_and_its_transient_too() -> None:
    regimes = [
        {"name": "belarus_2021", "start": "2021-06", "end": "2021-11"},
        {"name": "war_onset", "start": "2022-02", "transient_months": 2},
    ]
    data, _ = _regimes(regimes, start="2021-10")
    assert [str(r) for r in data.regimes["regime"].values] == [
        "war_onset",
        "war_onset@2022-02",
        "war_onset@2022-03",
    ]
    assert any("belarus_2021" in n and "window's start" in n for n in data.notes)
    # A short step at the end takes its transient pulses with it.
    data, _ = _regimes(
        [{"name": "late", "start": "2024-08", "transient_months": 2}], end="2024-09"
    )
    assert data.regimes.sizes["regime"] == 0
    # A short window inside the window is not cut by an edge: kept.
    data, _ = _regimes([{"name": "short", "start": "2020-03", "end": "2020-04"}])
    assert [str(r) for r in data.regimes["regime"].values] == ["short"]


def test_kernel_min_lag_reaches_the_model_weights() -> None:
    drivers = [d.model_dump(mode="python") for d in _spec().drivers]
    drivers[0]["kernel"] = {"name": "geometric", "max_lag": 3, "min_lag": 1}
    drivers[2]["kernel"] = {"name": "delayed", "max_lag": 4, "min_lag": 2}
    bundle = build_model(_spec(drivers=drivers), make_panel(), make_events())
    import pymc as pm

    with bundle.model:
        draw = pm.draw(bundle.model["kernel_weights"], random_seed=1)
    np.testing.assert_allclose(draw.sum(axis=1), 1.0)
    assert draw[0, 0] == 0 and np.all(draw[0, 1:4] > 0) and np.all(draw[0, 4:] == 0)
    assert np.all(draw[1, :] > 0)  # losses: default kernel, from lag 0
    assert np.all(draw[2, :2] == 0) and np.all(draw[2, 5:] == 0)


def test_event_regimes_one_column_per_event() -> None:
    spec = _spec(
        drivers=[],
        baseline={
            "regimes": [
                {
                    "name": "border",
                    "source": "events",
                    "filter": {"family": "border_policy", "kinds": ["barrier", "closure"]},
                }
            ]
        },
    )
    data = prepare_data(spec, make_panel(), make_events())
    assert list(data.regimes["regime"].values) == ["border[BP-002]", "border[BP-003]"]
    col = data.regimes.sel(regime="border[BP-003]").to_series()
    assert col.loc[:"2023-10-01"].eq(0).all() and col.loc["2023-11-01":].eq(1).all()


def test_unknown_route_and_unmatched_filter() -> None:
    with pytest.raises(SpecError, match="unknown route\\(s\\) \\['Nowhere'\\]"):
        prepare_data(_spec(data={"routes": ["Nowhere"]}), make_panel(), make_events())
    spec = _spec(
        drivers=[
            {"name": "us", "source": "events", "filter": {"family": "sanctions", "actor": "US"}}
        ]
    )
    with pytest.raises(SpecError, match="drivers 'us': the filter matches no events"):
        prepare_data(spec, make_panel(), make_events())


def test_single_series_uses_complete_pooling_and_share_outcome() -> None:
    panel = make_panel(groups=("UkrRussBel", "Others"))
    spec = _spec(
        data={"outcome": "share", "share_group": "Others"},
        likelihood={"family": "binomial"},
        drivers=[{"name": "losses", "source": "losses", "fill_before": "centre"}],
    )
    data = prepare_data(spec, panel, make_events())
    assert data.groups == ["Others"]
    assert data.trials is not None
    np.testing.assert_allclose(
        data.trials.values[..., 0], panel["detections"].sel(month=data.months).sum("group").values
    )
    bundle = build_model(spec, data)
    assert "effect_group_sd" not in bundle.model.named_vars
    assert "n_trials" in bundle.data_names


def test_data_hash_tracks_the_arrays_used() -> None:
    spec = _spec()
    h1 = prepare_data(spec, make_panel(seed=0), make_events()).data_hash()
    h2 = prepare_data(spec, make_panel(seed=0), make_events()).data_hash()
    h3 = prepare_data(spec, make_panel(seed=1), make_events()).data_hash()
    assert h1 == h2 != h3


def test_grouping_from_nationality_panel() -> None:
    # A nationality-level panel is grouped with the data layer's helper.
    panel = make_panel(groups=("UKR", "SYR", "IRQ"))
    panel = panel.rename(group="nationality")
    spec = _spec(drivers=[])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(spec, panel, make_events())
    assert data.groups == ["UkrRussBel", "Others"]
    det = panel["detections"].sel(month=data.months)
    np.testing.assert_allclose(
        data.y.sel(group="Others").values[:, 0],
        det.sel(nationality=["SYR", "IRQ"]).sum("nationality").values[:, 0],
    )


def test_common_factor_from_control_routes() -> None:
    routes = ("Eastern Borders Route", "Western Balkan Route")
    panel = make_panel(routes=routes)
    spec = _spec(drivers=[], common_factor={"routes": ["Western Balkan Route"]})
    data = prepare_data(spec, panel, make_events())
    assert data.routes == ["Eastern Borders Route"]
    assert data.factor is not None
    assert float(data.factor.mean()) == pytest.approx(0.0, abs=1e-9)
    assert float(data.factor.std()) == pytest.approx(1.0)
    bundle = build_model(spec, data)
    assert bundle.model.named_vars_to_dims["factor_loading"] == ("route", "group")
    clash = _spec(drivers=[], common_factor={"routes": ["Eastern Borders Route"]})
    with pytest.raises(SpecError, match="is also modelled"):
        prepare_data(clash, panel, make_events())


@pytest.mark.parametrize(
    ("baseline", "family", "present", "absent"),
    [
        ({"trend": "local_level"}, "negbin", "trend_u", "trend_rho"),
        ({"priors": {"trend_prior": "halfnormal"}}, "negbin", "trend_sigma", "trend_z"),
        ({}, "negbin", "trend_rho", "trend_sigma"),  # the innovation sd is fixed by default
        ({}, "negbin", "season_dev_z", "season_dev_sd"),  # so is the seasonal deviations' sd
        ({"priors": {"season_dev_prior": "halfnormal"}}, "negbin", "season_dev_sd", "trend_z"),
        ({"trend_parametrisation": "non_centred"}, "negbin", "trend_z", "trend_u"),
        ({"trend": "ar1"}, "poisson", "trend_u", "dispersion"),
        ({"trend": "none", "seasonality": "pooled"}, "negbin", "season_coef", "season_dev_sd"),
    ],
)
def test_baseline_and_likelihood_options_build(
    baseline: dict[str, Any], family: str, present: str, absent: str
) -> None:
    spec = _spec(baseline=baseline, likelihood={"family": family}, drivers=[])
    bundle = build_model(spec, make_panel(), make_events())
    names = set(bundle.model.named_vars)
    assert present in names and absent not in names
    assert all(np.isfinite(v) for v in bundle.model.point_logps().values())


def test_a_regime_limited_to_some_groups_has_no_effect_on_the_others() -> None:
    # Ukraine's mobilisation rules concern UkrRussBel: the break must not also be a free
    # level shift for Others (Regime.groups); the masked effects are exactly zero.
    data, _ = _regimes([
        {"name": "war_onset", "start": "2022-02"},
        {"name": "mobilisation", "start": "2024-05", "groups": ["UkrRussBel"]},
    ])
    assert data.regime_groups == [None, ("UkrRussBel",)]
    mask = data.regime_mask()
    assert mask[0].tolist() == [1.0] * len(data.groups)
    assert mask[1].tolist() == [1.0 if g == "UkrRussBel" else 0.0 for g in data.groups]
    model = build_model(data.spec, data).model
    draws = pm.draw(model["regime_effect"], draws=20, random_seed=1)  # (draw, regime, r, g)
    other = data.groups.index("Others")
    assert np.all(draws[:, 1, :, other] == 0.0) and np.all(draws[:, 0, :, other] != 0.0)
    # The mask is part of the data's identity (cached compiled models are keyed by it).
    unlimited, _ = _regimes([
        {"name": "war_onset", "start": "2022-02"},
        {"name": "mobilisation", "start": "2024-05"},
    ])
    assert unlimited.data_hash() != data.data_hash()


def test_a_regime_naming_an_unknown_group_is_refused() -> None:
    with pytest.raises(SpecError, match=r"'mobilisation'.groups: \['Ukrainians'\] not among"):
        _regimes([{"name": "mobilisation", "start": "2024-05",
                   "groups": ["UkrRussBel", "Ukrainians"]}])
    # Data grouped otherwise (none of the named groups is a series: a route total, a
    # top-k grouping) hold the group inside every series: the regime applies to all.
    data, caught = _regimes([{"name": "mobilisation", "start": "2024-05",
                              "groups": ["Ukrainians"]}])
    assert data.regime_groups == [None]
    assert any("applies to every series" in m for m in caught)
    assert any("applies to every series" in n for n in data.notes)


def test_regimes_for_different_groups_may_cover_the_same_months() -> None:
    # A step for UkrRussBel and a window for Others, both from 2024-05 in a window ending
    # 2024-09: identical columns, but no group has both, so neither is a ridge.
    regimes = [
        {"name": "mobilisation", "start": "2024-05", "groups": ["UkrRussBel"]},
        {"name": "episode", "start": "2024-05", "end": "2024-10", "groups": ["Others"]},
    ]
    data, _ = _regimes(regimes)
    assert [str(r) for r in data.regimes["regime"].values] == ["mobilisation", "episode"]
    both = [dict(r, groups=None) for r in regimes]
    data, _ = _regimes(both)
    assert [str(r) for r in data.regimes["regime"].values] == ["mobilisation"]
    assert any("'episode' dropped: identical" in n for n in data.notes)
