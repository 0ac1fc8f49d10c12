"""Drivers: events and series -> monthly exposures, with hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.design.drivers import (
    continuous_driver,
    event_exposure,
    lagged_design,
    milestone_driver,
    regime_step,
    spike_driver,
    unstandardise,
    with_history,
)
from hybridflow.design.kernels import GeometricKernel, convolve_numpy
from hybridflow.errors import InputError
from hybridflow.months import month_range

MONTHS = month_range("2022-01", "2022-12")


def events(**columns: list) -> pd.DataFrame:
    """An events table; date columns given as text are parsed (None -> NaT)."""
    df = pd.DataFrame(columns)
    for col in ("effective_date", "end_date"):
        if col in df:
            df[col] = pd.to_datetime(df[col])
    return df


def month_values(da: xr.DataArray) -> dict[str, float]:
    """Non-zero months as {'YYYY-MM': value}."""
    return {
        f"{pd.Timestamp(m):%Y-%m}": round(float(v), 6)
        for m, v in zip(da["month"].values, da.values, strict=True)
        if v != 0
    }


# -- event_exposure ------------------------------------------------------------------------
def test_pulses_land_in_the_event_month_and_add_up() -> None:
    ev = events(
        event_id=["EU-1", "EU-2", "EU-3", "US-1"],
        effective_date=["2022-02-25", "2022-02-28", "2022-06-03", "2022-06-30"],
        direction=["tighten", "tighten", "tighten", "relax"],
    )
    da = event_exposure(ev, MONTHS)
    assert da.dims == ("month",)
    np.testing.assert_array_equal(da["month"].values, MONTHS.values)
    assert month_values(da) == {"2022-02": 2.0}  # June: +1 and -1 cancel
    assert da.attrs["shape"] == "pulse"
    assert da.attrs["n_events"] == 4


def test_relax_events_have_negative_sign_and_directions_are_case_insensitive() -> None:
    ev = events(
        event_id=["a", "b"],
        effective_date=["2022-03-10", "2022-05-01"],
        direction=["Tighten ", "RELAX"],
    )
    assert month_values(event_exposure(ev, MONTHS)) == {"2022-03": 1.0, "2022-05": -1.0}


def test_per_event_gives_one_column_per_event_including_out_of_window() -> None:
    ev = events(
        event_id=["EU-RU-05", "EU-RU-06", "EU-RU-01"],
        effective_date=["2022-04-08", "2022-06-03", "2021-12-20"],
        direction=["tighten", "tighten", "tighten"],
    )
    da = event_exposure(ev, MONTHS, per_event=True)
    assert da.dims == ("month", "event")
    assert da.shape == (12, 3)
    assert list(da["event"].values) == ["EU-RU-05", "EU-RU-06", "EU-RU-01"]
    assert month_values(da.sel(event="EU-RU-05")) == {"2022-04": 1.0}
    assert month_values(da.sel(event="EU-RU-06")) == {"2022-06": 1.0}
    assert float(da.sel(event="EU-RU-01").sum()) == 0.0  # before the window
    np.testing.assert_array_equal(da.sum("event").values, event_exposure(ev, MONTHS).values)


def test_steps_run_from_start_to_end_month_inclusive_or_to_the_last_month() -> None:
    ev = events(
        event_id=["BP-036", "BP-020"],
        effective_date=["2022-03-15", "2022-10-02"],
        end_date=["2022-05-01", None],
        direction=["tighten", "tighten"],
    )
    da = event_exposure(ev, MONTHS, shape="step", per_event=True)
    assert month_values(da.sel(event="BP-036")) == {"2022-03": 1, "2022-04": 1, "2022-05": 1}
    assert month_values(da.sel(event="BP-020")) == {"2022-10": 1, "2022-11": 1, "2022-12": 1}


def test_step_that_started_before_the_window_covers_its_first_months() -> None:
    ev = events(
        event_id=["x"], effective_date=["2021-08-03"], end_date=["2022-02-10"], direction=[1]
    )
    assert month_values(event_exposure(ev, MONTHS, shape="step")) == {
        "2022-01": 1.0,
        "2022-02": 1.0,
    }


def test_days_remaining_splits_a_late_month_event_mostly_into_the_next_month() -> None:
    ev = events(
        event_id=["late", "first", "mid", "last-month"],
        effective_date=["2022-02-28", "2022-05-01", "2022-07-16", "2022-12-31"],
        direction=["tighten"] * 4,
    )
    da = event_exposure(ev, MONTHS, per_event=True, pulse_weight="days_remaining")
    assert month_values(da.sel(event="late")) == {
        "2022-02": round(1 / 28, 6),
        "2022-03": round(27 / 28, 6),
    }
    assert month_values(da.sel(event="first")) == {"2022-05": 1.0}
    assert month_values(da.sel(event="mid")) == {"2022-07": 0.516129, "2022-08": 0.483871}
    # The spill past the last month is lost: only 1/31 remains in the window.
    assert month_values(da.sel(event="last-month")) == {"2022-12": round(1 / 31, 6)}
    assert da.attrs["pulse_weight"] == "days_remaining"


def test_days_remaining_steps_weight_by_days_covered() -> None:
    ev = events(
        event_id=["s"],
        effective_date=["2022-02-15"],
        end_date=["2022-04-10"],
        direction=["tighten"],
    )
    da = event_exposure(ev, MONTHS, shape="step", pulse_weight="days_remaining")
    assert month_values(da) == {
        "2022-02": round(14 / 28, 6),
        "2022-03": 1.0,
        "2022-04": round(10 / 30, 6),
    }


def test_events_with_no_date_are_dropped_with_a_warning() -> None:
    ev = events(
        event_id=["EU-RU-22", "EU-RU-04"],
        effective_date=[None, "2022-03-15"],
        direction=["tighten", "tighten"],
    )
    with pytest.warns(
        UserWarning, match=r"dropping 1 event\(s\) with no effective_date: \['EU-RU-22'\]"
    ):
        da = event_exposure(ev, MONTHS, per_event=True)
    assert list(da["event"].values) == ["EU-RU-04"]


def test_direction_none_is_dropped_with_a_warning() -> None:
    ev = events(
        event_id=["US-22", "US-05"],
        effective_date=["2022-04-01", "2022-04-06"],
        direction=["none", "tighten"],
    )
    with pytest.warns(UserWarning, match=r"direction 'none'.*\['US-22'\]"):
        da = event_exposure(ev, MONTHS)
    assert month_values(da) == {"2022-04": 1.0}


def test_numeric_signs_and_no_sign_column() -> None:
    ev = events(event_id=["a", "b"], effective_date=["2022-01-05", "2022-01-20"], w=[0.5, 2.0])
    assert month_values(event_exposure(ev, MONTHS, sign_column="w")) == {"2022-01": 2.5}
    assert month_values(event_exposure(ev, MONTHS, sign_column=None)) == {"2022-01": 2.0}


def test_other_column_names_and_text_dates() -> None:
    ev = pd.DataFrame(
        {"id": ["BP-1"], "date_start": ["2022-09-19"], "date_end": [""], "direction": ["tighten"]}
    )
    da = event_exposure(
        ev,
        MONTHS,
        shape="step",
        id_column="id",
        date_column="date_start",
        end_column="date_end",
        per_event=True,
    )
    assert list(da["event"].values) == ["BP-1"]
    assert month_values(da.sel(event="BP-1")) == {
        "2022-09": 1.0,
        "2022-10": 1.0,
        "2022-11": 1.0,
        "2022-12": 1.0,
    }


@pytest.mark.parametrize(
    ("df", "kwargs", "match"),
    [
        (
            events(event_id=["a"], direction=["tighten"]),
            {},
            r"events table has no column\(s\) \['effective_date'\]",
        ),
        (
            events(event_id=["a"], effective_date=["2022-01-01"], direction=["tighten"]),
            {"shape": "step"},
            r"no column\(s\) \['end_date'\]",
        ),
        (
            events(
                event_id=["a", "a"],
                effective_date=["2022-01-01", "2022-02-01"],
                direction=["tighten"] * 2,
            ),
            {},
            r"column 'event_id': event ids must be unique; repeated: \['a'\]",
        ),
        (
            events(event_id=["a"], effective_date=["2022-01-01"], direction=["tightened"]),
            {},
            r"column 'direction': event 'a': expected one of \['none', 'relax', 'tighten'\]",
        ),
        (
            pd.DataFrame(
                {"event_id": ["a"], "effective_date": ["22/13/2022"], "direction": ["tighten"]}
            ),
            {},
            r"column 'effective_date': expected a date \(YYYY-MM-DD\) for event 'a', "
            r"got '22/13/2022'",
        ),
        (
            events(
                event_id=["a"],
                effective_date=["2022-05-01"],
                end_date=["2022-04-01"],
                direction=["tighten"],
            ),
            {"shape": "step"},
            r"column 'end_date': event 'a' ends \(2022-04-01\) before it starts \(2022-05-01\)",
        ),
    ],
)
def test_event_input_errors_are_input_errors(df: pd.DataFrame, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        event_exposure(df, MONTHS, **kwargs)


def test_event_errors_name_the_source_file_when_known() -> None:
    ev = events(event_id=["a"], effective_date=["2022-01-01"], direction=["maybe"])
    ev.attrs["path"] = "events/eu_sanctions_russia.csv"
    with pytest.raises(InputError, match=r"^events/eu_sanctions_russia.csv, column 'direction'"):
        event_exposure(ev, MONTHS)


@pytest.mark.parametrize(
    ("months", "kwargs", "match"),
    [
        (pd.DatetimeIndex(["2022-01-01", "2022-03-01"]), {}, "consecutive month starts"),
        (pd.DatetimeIndex(["2022-01-15", "2022-02-15"]), {}, "month starts"),
        (pd.DatetimeIndex([]), {}, "months is empty"),
        (MONTHS, {"shape": "ramp"}, "shape must be 'pulse' or 'step'"),
        (MONTHS, {"pulse_weight": "days"}, "pulse_weight must be"),
    ],
)
def test_event_argument_errors(months: pd.DatetimeIndex, kwargs: dict, match: str) -> None:
    ev = events(event_id=["a"], effective_date=["2022-01-01"], direction=["tighten"])
    with pytest.raises(ValueError, match=match):
        event_exposure(ev, months, **kwargs)


# -- continuous_driver -------------------------------------------------------------------
def test_continuous_driver_standardises_and_records_center_and_scale() -> None:
    s = pd.Series(np.arange(1.0, 13.0) * 1000, index=MONTHS, name="losses")
    da = continuous_driver(s, MONTHS)
    assert da.name == "losses"
    assert da.attrs["center"] == pytest.approx(6500.0)
    assert da.attrs["scale"] == pytest.approx(np.std(np.arange(1.0, 13.0) * 1000))
    assert float(da.mean()) == pytest.approx(0.0, abs=1e-12)
    assert float(da.std()) == pytest.approx(1.0)
    np.testing.assert_allclose(unstandardise(da).values, s.to_numpy())
    # "Per 1,000 losses": one SD is scale losses, so 1,000 losses is 1000/scale SDs.
    assert float(da[1] - da[0]) == pytest.approx(1000 / da.attrs["scale"])


def test_continuous_driver_fills_months_before_the_series_with_zero() -> None:
    # Losses start in Feb 2022; January has no war losses, not unknown ones.
    s = pd.Series([100.0, 300.0], index=month_range("2022-02", "2022-03"))
    da = continuous_driver(s, month_range("2022-01", "2022-03"), standardise=False)
    np.testing.assert_array_equal(da.values, [0.0, 100.0, 300.0])
    assert da.attrs["center"] == 0.0
    assert da.attrs["scale"] == 1.0


def test_continuous_driver_log1p_and_dataarray_input() -> None:
    months = month_range("2022-01", "2022-03")
    s = xr.DataArray([0.0, np.e - 1, np.e**2 - 1], dims=("month",), coords={"month": months})
    da = continuous_driver(s, months, log=True, standardise=False)
    np.testing.assert_allclose(da.values, [0.0, 1.0, 2.0])
    assert da.attrs["log"] == 1


def test_continuous_driver_reference_months_set_the_scale() -> None:
    months = month_range("2021-10", "2022-03")
    s = pd.Series([50.0, 50.0, 50.0, 1.0, 2.0, 3.0], index=months)
    da = continuous_driver(s, months, reference_months=month_range("2022-01", "2022-03"))
    assert da.attrs["center"] == pytest.approx(2.0)
    assert da.attrs["scale"] == pytest.approx(np.std([1.0, 2.0, 3.0]))


def test_continuous_driver_missing_months() -> None:
    months = month_range("2022-01", "2022-05")
    s = pd.Series([1.0, np.nan, 3.0], index=month_range("2022-01", "2022-03"))
    with pytest.raises(
        InputError, match=r"series has no value for 3 month\(s\): 2022-02, 2022-04, 2022-05"
    ):
        continuous_driver(s, months)
    zero = continuous_driver(s, months, fill_missing="zero", standardise=False)
    np.testing.assert_array_equal(zero.values, [1, 0, 3, 0, 0])
    ffill = continuous_driver(s, months, fill_missing="ffill", standardise=False)
    np.testing.assert_array_equal(ffill.values, [1, 1, 3, 3, 3])
    # fill_before=None makes early months missing too.
    with pytest.raises(InputError, match=r"no earlier value to carry forward into 2021-12"):
        continuous_driver(
            s, month_range("2021-12", "2022-03"), fill_before=None, fill_missing="ffill"
        )


def test_continuous_driver_errors() -> None:
    s = pd.Series([5.0, 5.0], index=month_range("2022-01", "2022-02"))
    with pytest.raises(InputError, match="constant over the reference months"):
        continuous_driver(s, month_range("2022-01", "2022-02"))
    with pytest.raises(InputError, match="log=True needs values > -1"):
        continuous_driver(s * -1, month_range("2022-01", "2022-02"), log=True)
    daily = pd.Series([1.0], index=pd.DatetimeIndex(["2022-01-15"]))
    with pytest.raises(ValueError, match="indexed by month starts"):
        continuous_driver(daily, MONTHS)
    dup = pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2022-01-01", "2022-01-01"]))
    with pytest.raises(InputError, match=r"repeated months: \['2022-01'\]"):
        continuous_driver(dup, MONTHS)
    with pytest.raises(ValueError, match="fill_missing must be"):
        continuous_driver(s, MONTHS, fill_missing="interpolate")  # type: ignore[arg-type]


def test_winsorise_caps_at_the_quantile_of_the_reference_months() -> None:
    months = month_range("2022-01", "2022-12")
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 500.0, 900.0])
    s = pd.Series(values, index=months)
    da = continuous_driver(s, months, winsorise=0.8, standardise=False)
    cap = np.quantile(values, 0.8)  # linear interpolation between order statistics
    assert da.attrs["cap"] == pytest.approx(cap) and da.attrs["winsorise"] == 0.8
    np.testing.assert_allclose(da.values, np.minimum(values, cap))
    assert da.values.max() < 500.0  # the two spikes no longer set the scale
    # The cap comes from the reference months only, and applies to every month.
    ref = month_range("2022-01", "2022-10")
    da2 = continuous_driver(s, months, winsorise=0.9, standardise=False, reference_months=ref)
    assert da2.attrs["cap"] == pytest.approx(np.quantile(values[:10], 0.9))
    assert da2.values[-1] == pytest.approx(da2.attrs["cap"])
    # Standardised after capping: the spikes no longer dominate the SD.
    std = continuous_driver(s, months, winsorise=0.8)
    assert std.attrs["scale"] == pytest.approx(np.minimum(values, cap).std())
    np.testing.assert_allclose(unstandardise(std).values, np.minimum(values, cap))


def test_log1p_applies_after_the_cap() -> None:
    months = month_range("2022-01", "2022-05")
    s = pd.Series([0.0, 9.0, 99.0, 999.0, 99_999.0], index=months)
    da = continuous_driver(s, months, winsorise=0.75, log=True, standardise=False)
    cap = np.quantile(s.to_numpy(), 0.75)
    np.testing.assert_allclose(da.values, np.log1p(np.minimum(s.to_numpy(), cap)))


def test_per_scales_to_the_natural_unit() -> None:
    months = month_range("2022-01", "2022-04")
    s = pd.Series([10_000.0, 25_000.0, 40_000.0, 5_000.0], index=months)
    da = continuous_driver(s, months, standardise=False, per=10_000)
    np.testing.assert_allclose(da.values, [1.0, 2.5, 4.0, 0.5])
    assert da.attrs["scale"] == 10_000 and da.attrs["center"] == 0 and da.attrs["per"] == 10_000
    # Standardised, `per` is only recorded (effects are re-expressed per natural unit).
    std = continuous_driver(s, months, per=10_000)
    assert std.attrs["scale"] == pytest.approx(s.std(ddof=0)) and std.attrs["per"] == 10_000
    assert np.isnan(continuous_driver(s, months).attrs["per"])


def test_transform_option_errors() -> None:
    months = month_range("2022-01", "2022-04")
    s = pd.Series([0.0, 0.0, 0.0, 7.0], index=months)
    with pytest.raises(ValueError, match=r"winsorise must be a quantile in \(0.5, 1\)"):
        continuous_driver(s, months, winsorise=1.0)
    with pytest.raises(ValueError, match=r"winsorise must be a quantile in \(0.5, 1\)"):
        continuous_driver(s, months, winsorise=0.3)
    with pytest.raises(ValueError, match="per \\(the natural unit\\) must be > 0"):
        continuous_driver(s, months, standardise=False, per=0)
    with pytest.raises(ValueError, match="per .* needs log=False"):
        continuous_driver(s, months, log=True, per=100)
    # A cap at the minimum would make the series constant: said so, not divided by zero.
    with pytest.raises(InputError, match="equals their minimum"):
        continuous_driver(s, months, winsorise=0.6)


# -- spike_driver ----------------------------------------------------------------------------
def test_spike_rule_on_a_known_series() -> None:
    # Six months alternating 10/12, six months of 11, then 30 (a spike), then 11. Every
    # trailing window before the 30 has mean exactly 11, so no 11 is a spike.
    values = [10.0, 12.0] * 3 + [11.0] * 6 + [30.0, 11.0]
    months = month_range("2022-01", "2023-02")
    da = spike_driver(pd.Series(values, index=months), months, window=12, k=1.0, min_periods=6)
    assert month_values(da) == {"2023-01": 1.0}
    assert da.attrs["rule"].startswith("value > mean + 1 * sd of the previous 12 months")
    assert (da.attrs["window"], da.attrs["k"], da.attrs["min_periods"]) == (12, 1.0, 6)


def test_spike_threshold_scales_with_k_and_needs_min_periods() -> None:
    # Previous six values: mean 11, sd (ddof=1) sqrt(6/5) = 1.095. 11.6 exceeds
    # 11 + 0.5 sd = 11.55 but not 11 + 1 sd = 12.10.
    values = [10.0, 12.0] * 3 + [11.6]
    months = month_range("2022-01", "2022-07")
    s = pd.Series(values, index=months)
    assert float(spike_driver(s, months, k=1.0).sum()) == 0.0
    assert month_values(spike_driver(s, months, k=0.5)) == {"2022-07": 1.0}
    # With min_periods=7 no month has enough history.
    assert float(spike_driver(s, months, k=0.5, min_periods=7).sum()) == 0.0


def test_spike_uses_history_before_the_requested_months() -> None:
    values = [10.0, 12.0] * 3 + [11.0] * 6 + [30.0]
    s = pd.Series(values, index=month_range("2022-01", "2023-01"))
    da = spike_driver(s, month_range("2022-12", "2023-03"))
    assert month_values(da) == {"2023-01": 1.0}  # months after the series are 0
    assert da.sizes["month"] == 4


def test_spike_argument_errors() -> None:
    s = pd.Series([1.0, 2.0], index=month_range("2022-01", "2022-02"))
    with pytest.raises(ValueError, match="min_periods must be between 2 and window"):
        spike_driver(s, MONTHS, window=6, min_periods=7)


# -- milestone_driver ------------------------------------------------------------------------
def test_milestones_mark_the_months_crossing_each_multiple() -> None:
    months = month_range("2022-02", "2023-01")
    increments = pd.Series(
        [30_000, 40_000, 29_999, 1, 50_000, 60_000, 90_000, 100_000, 0, 0, 5, 5], index=months
    )
    # cumulative: 30k 70k 99,999 100k 150k 210k 300k 400k 400k 400k ...
    da = milestone_driver(increments, months, step=100_000)
    assert month_values(da) == {
        "2022-05": 1.0,  # reaches exactly 100,000
        "2022-07": 1.0,  # 210,000
        "2022-08": 1.0,  # 300,000
        "2022-09": 1.0,  # 400,000
    }
    assert da.attrs["crossings"] == (
        "2022-05: 100000; 2022-07: 200000; 2022-08: 300000; 2022-09: 400000"
    )


def test_milestone_counts_from_the_series_start_and_flags_multi_crossings_once() -> None:
    increments = pd.Series([250_000.0, 20_000.0, 90_000.0], index=month_range("2022-02", "2022-04"))
    da = milestone_driver(increments, month_range("2022-03", "2022-05"), step=100_000)
    # 250k (Feb, outside the months) then 270k then 360k: only April crosses (300k).
    assert month_values(da) == {"2022-04": 1.0}
    assert da.attrs["crossings"] == "2022-02: 100000, 200000; 2022-04: 300000"


def test_milestone_rejects_negative_or_missing_increments() -> None:
    s = pd.Series([10.0, -1.0], index=month_range("2022-01", "2022-02"))
    with pytest.raises(InputError, match="must be >= 0; negative in 2022-02"):
        milestone_driver(s, MONTHS)
    gap = pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2022-01-01", "2022-03-01"]))
    with pytest.raises(InputError, match="no value for 2022-02"):
        milestone_driver(gap, MONTHS)


# -- regime_step, with_history, lagged_design ----------------------------------------------
def test_regime_step() -> None:
    months = month_range("2021-11", "2022-04")
    war = regime_step(months, "2022-02-24")
    assert month_values(war) == {"2022-02": 1.0, "2022-03": 1.0, "2022-04": 1.0}
    assert war.attrs["start"] == "2022-02"
    episode = regime_step(months, "2021-11", "2021-12")
    assert month_values(episode) == {"2021-11": 1.0, "2021-12": 1.0}
    with pytest.raises(ValueError, match="end 2021-11 is before its start 2022-01"):
        regime_step(months, "2022-01", "2021-11")


def test_with_history_extends_back() -> None:
    ext = with_history(MONTHS, 3)
    assert ext[0] == pd.Timestamp("2021-10-01")
    assert ext[-1] == MONTHS[-1]
    assert len(ext) == 15
    assert ext.name == "month"


def test_lagged_design_matches_convolve_and_uses_history() -> None:
    window = month_range("2022-02", "2022-06")
    months = with_history(window, 2)
    ev = events(
        event_id=["pre", "in"],
        effective_date=["2021-12-20", "2022-04-08"],
        direction=["tighten", "tighten"],
    )
    x = event_exposure(ev, months)
    w = np.array([0.5, 0.3, 0.2])
    y = lagged_design(x, w, history=2)
    assert y.dims == ("month",)
    np.testing.assert_array_equal(y["month"].values, window.values)
    # December's event reaches February with the lag-2 weight.
    np.testing.assert_allclose(y.values, [0.2, 0.0, 0.5, 0.3, 0.2])
    np.testing.assert_allclose(y.values, convolve_numpy(x.values, w, history=2))
    assert y.attrs["history"] == 2


def test_lagged_design_broadcasts_event_and_draw_dims() -> None:
    ev = events(event_id=["a", "b"], effective_date=["2022-01-10", "2022-03-10"], direction=[1, -1])
    x = event_exposure(ev, MONTHS, per_event=True)
    draws = GeometricKernel(max_lag=3).sample_prior(draws=7, seed=1)
    y = lagged_design(x, draws)
    assert y.dims == ("month", "event", "draw")
    assert y.shape == (12, 2, 7)
    np.testing.assert_allclose(
        y.sel(event="a", draw=4).values[:4], draws.sel(draw=4).values, rtol=1e-12
    )
    np.testing.assert_allclose(y.sel(event="b").sum("month").values, -1.0)


def test_fixed_kernel_design_recovers_a_known_effect_by_least_squares() -> None:
    rng = np.random.default_rng(7)
    months = month_range("2018-01", "2025-12")
    kernel = GeometricKernel(max_lag=4).fixed(decay=0.6)
    dates = pd.date_range("2018-01-01", "2025-12-01", freq="37D")
    ev = events(
        event_id=[f"e{i}" for i in range(len(dates))],
        effective_date=list(dates.astype(str)),
        direction=["tighten"] * len(dates),
    )
    design = lagged_design(event_exposure(ev, months), kernel.weights_numpy())
    y = 1.0 + 2.5 * design.values + rng.normal(0, 0.05, len(months))
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(months)), design.values]), y)
    assert coef[1] == pytest.approx(2.5, abs=0.05)


def test_lagged_design_errors() -> None:
    x = regime_step(MONTHS, "2022-03")
    with pytest.raises(ValueError, match="kernel_weights needs a 'lag' dim"):
        lagged_design(x, xr.DataArray([1.0], dims=("l",)))
    with pytest.raises(ValueError, match="history must be an integer in 0..12"):
        lagged_design(x, [1.0], history=13)
