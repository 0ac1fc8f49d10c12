"""Placebo-in-time: the permutation p, the shift rule (window, offsets, kept calendar
pattern), the swapped arrays, the outcome's gate rule, and the real property that a strong
effect at the true timing beats every shifted timing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridflow.analysis.checks._common import (
    MIN_PERMUTATIONS,
    REFIT_SAMPLING,
    CheckOutcome,
    enough_usable,
)
from hybridflow.analysis.checks.placebo import (
    _plan,
    admissible_offsets,
    default_min_offset,
    driver_events,
    permutation_p_values,
    placebo_arrays,
    placebo_in_time,
    placebo_window,
    shift_events,
    shifted_arrays,
    shifted_exposure,
)
from hybridflow.inference.refit import data_values
from hybridflow.models.build import build_model, prepare_data
from hybridflow.models.spec import parse_spec
from tests.analysis._checks_sim import sim_events, sim_panel, sim_spec, sim_spec_dict


def _months(*text: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([pd.Timestamp(t + "-01") for t in text])


def test_permutation_p_is_k_plus_one_over_n_plus_one_in_both_tails() -> None:
    placebo = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 2.0, 5.0, np.nan])
    r = permutation_p_values(2.0, placebo, "+")
    # 7 finite placebos; 3 are >= 2 (2, 2, 5), 6 are <= 2, |z| >= 2: -3, 2, 2, 5.
    assert r["p_upper"] == pytest.approx(4 / 8) == r["p"]
    assert r["p_lower"] == pytest.approx(7 / 8)
    assert r["p_two_sided"] == pytest.approx(5 / 8)
    assert r["rank_p"] == pytest.approx(3 / 7)
    assert permutation_p_values(-2.0, placebo, "-")["p"] == pytest.approx(2 / 8)
    top = permutation_p_values(10.0, placebo, "+")
    assert top["p"] == pytest.approx(1 / 8) and top["rank_p"] == 0.0  # never 0
    assert np.isnan(permutation_p_values(1.0, np.array([np.nan]))["p"])
    with pytest.raises(ValueError, match="direction"):
        permutation_p_values(1.0, placebo, "up")  # type: ignore[arg-type]


def test_shift_keeps_the_calendar_pattern_circularly_in_the_window() -> None:
    events = sim_events(("2016-09", "2018-02", "2018-02", "2018-02", "2019-06"))
    events.loc[0, "end_date"] = pd.Timestamp("2016-12-20")  # a step of 3 months
    window = pd.date_range("2018-01-01", "2019-12-01", freq="MS")  # 24 months
    out = shift_events(events, 10, window)
    new = pd.DatetimeIndex(out["effective_date"])
    # The event before the window stays put (with its end); the three Feb-2018 events keep
    # sharing one month; 2019-06 (window month 17) wraps round: (17 + 10) % 24 = 3.
    assert out.loc[0, "effective_date"] == events.loc[0, "effective_date"]
    assert out.loc[0, "end_date"] == pd.Timestamp("2016-12-20")
    assert list(new[1:4]) == [pd.Timestamp("2018-12-01")] * 3
    assert new[4] == pd.Timestamp("2018-04-01")
    assert list(out["event_id"]) == list(events["event_id"])
    assert events.loc[1, "effective_date"] == pd.Timestamp("2018-02-15")  # input untouched
    step = sim_events(("2018-03",))
    step.loc[0, "end_date"] = pd.Timestamp("2018-05-20")
    moved = shift_events(step, 22, window)  # 2018-03 is index 2 -> (2 + 22) % 24 = 0
    assert moved.loc[0, "effective_date"] == pd.Timestamp("2018-01-01")
    assert moved.loc[0, "end_date"] == pd.Timestamp("2018-03-20")  # duration kept


def test_shifted_exposure_rotates_only_inside_the_window() -> None:
    months = pd.date_range("2020-01-01", periods=8, freq="MS")
    import xarray as xr

    x = xr.DataArray(np.arange(8.0), dims="month", coords={"month": months})
    out = shifted_exposure(x, 2, months[2:7])  # values 2..6 rotated by 2
    np.testing.assert_array_equal(out.values, [0, 1, 5, 6, 2, 3, 4, 7])
    assert np.sort(out.values).tolist() == np.sort(x.values).tolist()
    with pytest.raises(ValueError, match="leaves"):
        shifted_exposure(x, 1, pd.date_range("2019-12-01", periods=3, freq="MS"))


def test_admissible_offsets_exclude_the_real_timing_and_near_shifts() -> None:
    assert admissible_offsets(39, min_offset=7).tolist() == list(range(7, 33))  # 26 offsets
    assert 0 not in admissible_offsets(10, min_offset=1)
    assert admissible_offsets(39, min_offset=7, unit="years").tolist() == [12, 24]
    assert admissible_offsets(10, min_offset=6).size == 0
    with pytest.raises(ValueError, match="min_offset"):
        admissible_offsets(10, min_offset=0)
    with pytest.raises(ValueError, match="unit"):
        admissible_offsets(10, min_offset=2, unit="weeks")  # type: ignore[arg-type]


def test_the_window_is_where_the_exposure_can_vary() -> None:
    spec = sim_spec()
    events = sim_events(("2018-02", "2019-06", "2020-11"))
    data = prepare_data(spec, sim_panel(), events)
    sel = driver_events(spec, "treat", events, data)
    w = placebo_window(data, "treat", sel)
    assert (w[0], w[-1]) == (pd.Timestamp("2018-02-01"), pd.Timestamp("2021-12-01"))
    model = placebo_window(data, "treat", sel, window="model")
    assert (model[0], len(model)) == (pd.Timestamp("2016-01-01"), 72)
    narrow = placebo_window(data, "treat", sel, within=("2019-01", "2020-12"))
    assert (narrow[0], narrow[-1]) == (pd.Timestamp("2019-01-01"), pd.Timestamp("2020-12-01"))
    with pytest.raises(ValueError, match="nothing to shift"):
        placebo_window(data, "treat", sel, within=("2030-01", None))
    assert default_min_offset(data, "treat") == 3  # immediate kernel: the floor


def test_shifted_arrays_rebuild_exactly_what_the_builder_builds() -> None:
    panel, events = sim_panel(), sim_events()
    spec = sim_spec()
    data = prepare_data(spec, panel, events)
    base = data_values(build_model(spec, data))
    sel = driver_events(spec, "treat", events, data)
    assert len(sel) == 8
    window = placebo_window(data, "treat", sel)
    np.testing.assert_array_equal(
        shifted_arrays(data, "treat", 0, window, sel)["driver_lagged"], base["driver_lagged"]
    )
    new = shifted_arrays(data, "treat", 11, window, sel)
    # Rebuilding the catalogue with the shifted dates gives the same arrays.
    cat = events.copy()
    cat["effective_date"] = shift_events(sel, 11, window)["effective_date"].to_numpy()
    rebuilt = data_values(build_model(spec, prepare_data(spec, panel, cat)))
    np.testing.assert_array_equal(new["driver_lagged"], rebuilt["driver_lagged"])
    assert new["driver_lagged"].sum() == 8


def test_arrays_leave_other_drivers_alone_and_handle_per_event() -> None:
    panel = sim_panel()
    events = pd.concat(
        [sim_events(), sim_events(("2017-01", "2019-01")).assign(actor="US", event_id=["U1", "U2"])],
        ignore_index=True,
    )
    d = sim_spec_dict()
    d["drivers"] = [
        d["drivers"][0] | {"per_event": True, "kernel": {"name": "geometric", "max_lag": 2}},
        {"name": "us", "source": "events", "filter": {"family": "sanctions", "actor": ["US"]},
         "kernel": {"name": "geometric", "max_lag": 2}},
    ]  # fmt: skip
    spec = parse_spec(d)
    data = prepare_data(spec, panel, events)
    base = data_values(build_model(spec, data))
    sel = driver_events(spec, "treat", events, data)
    moved = shift_events(sel, 9, placebo_window(data, "treat", sel))
    new = placebo_arrays(data, "treat", moved)
    np.testing.assert_array_equal(new["driver_lagged"][1], base["driver_lagged"][1])
    assert not np.array_equal(new["driver_lagged"][0], base["driver_lagged"][0])
    assert new["event_lagged"].shape == base["event_lagged"].shape
    months = list(data.months)
    for i, m in enumerate(moved["effective_date"]):
        assert new["event_lagged"][i, months.index(pd.Timestamp(m)), 0] == 1.0
    with pytest.raises(ValueError, match="no driver"):
        placebo_in_time(spec, "nope", panel, events, n=1)


def test_plan_uses_every_admissible_offset_when_fewer_than_asked_and_says_so() -> None:
    spec = sim_spec()
    events = sim_events(("2020-02", "2020-02", "2020-09"))
    data = prepare_data(spec, sim_panel(), events)
    sel = driver_events(spec, "treat", events, data)
    plan = _plan(data, "treat", sel, 39, 0, "exposure", None, "months", None)
    # 2020-02..2021-12 = 23 months, offsets 3..20: 18 admissible, all used.
    assert plan.n_admissible == 18 and sorted(plan.offsets.tolist()) == list(range(3, 21))
    assert "fewer than the 39 asked for: all used" in plan.rule
    for dating in plan.datings:
        assert dating[0] == dating[1] and dating[0] != dating[2]  # the tie is kept
        assert dating != ["2020-02", "2020-02", "2020-09"]
    again = _plan(data, "treat", sel, 5, 0, "exposure", None, "months", None)
    assert again.offsets.tolist() == _plan(data, "treat", sel, 5, 0, "exposure", None, "months",
                                           None).offsets.tolist()  # fmt: skip
    assert len(again.offsets) == 5 and len(set(again.offsets)) == 5  # without replacement


def test_a_continuous_driver_is_rotated_within_its_observed_span() -> None:
    panel = sim_panel()
    months = panel["month"].values
    rng = np.random.default_rng(3)
    series = np.where(months >= np.datetime64("2019-01-01"), rng.normal(size=len(months)), np.nan)
    panel["index_x"] = ("month", series)
    d = sim_spec_dict()
    d["drivers"] = [{"name": "x", "source": "panel", "variable": "index_x",
                     "fill_before": "centre", "kernel": {"name": "geometric", "max_lag": 2}}]
    spec = parse_spec(d)
    data = prepare_data(spec, panel, None)
    w = placebo_window(data, "x")
    assert w[0] == pd.Timestamp("2019-01-01")
    plan = _plan(data, "x", None, 39, 1, "exposure", None, "months", None)
    assert plan.n_admissible == len(w) - 2 * 3 + 1  # geometric max_lag 2: min offset 3
    exposure = data.drivers[0].exposure
    for offset, values in zip(plan.offsets[:3], plan.placebos[:3], strict=True):
        moved = shifted_exposure(exposure, int(offset), w)
        lag0 = values["driver_lagged"][0, :, 0]  # the exposure itself in window months
        np.testing.assert_allclose(lag0, moved.sel(month=data.months).values)
        # Before the series starts the exposure keeps its neutral fill.
        np.testing.assert_allclose(moved.sel(month=slice(None, "2018-12-01")).values,
                                   exposure.sel(month=slice(None, "2018-12-01")).values)
        assert not np.allclose(moved.values, exposure.values)
    assert plan.datings == []


def test_outcome_gate_rule_never_calls_a_check_with_too_few_refits_passed() -> None:
    assert enough_usable(32, 39, permutation=True) == ""
    assert "31 of 39" in enough_usable(31, 39, permutation=True)
    assert f"needs {MIN_PERMUTATIONS}" in enough_usable(18, 18, permutation=True)
    assert enough_usable(2, 2, permutation=False) == ""
    assert "1 of 2" in enough_usable(1, 2, permutation=False)
    with pytest.raises(ValueError, match="verdict"):
        CheckOutcome("placebo", "H1", False, True, 1, 1, 0)
    out = CheckOutcome("placebo", "H1", True, False, 39, 35, 4, 1.2, 0.3, "failed: ...")
    assert CheckOutcome.from_columns(out.to_columns() | {"other": 1}) == out
    row = {k: ("" if v is None else v) for k, v in
           CheckOutcome("lead", "H2", False, None, 1, 0, 1, reason="x").to_dict().items()}
    assert CheckOutcome.from_dict(row).passed is None


def test_strong_effect_at_the_true_timing_beats_every_shifted_timing(seed_shift: int) -> None:
    """A real property: with a large effect at the simulated event months, the observed
    studentised effect exceeds every shifted timing's; p = 1 / (n_used + 1) over the
    refits that passed the gate, and the verdict is "passed" where enough did, "did not
    run" (never "passed") where they did not (one chain of 150 draws cannot pass the gate:
    compiles once, 20 small refits; 300 tuning steps: with 150 the one chain was sometimes
    left unadapted and the observed effect far below the truth).
    The event months are irregular: no shift lands more than 2 of the 8 events on real
    event months (near-periodic events would share months with their shifts; the
    ``overlap`` column says how much)."""
    months = ("2016-09", "2017-08", "2018-09", "2020-04", "2020-09", "2021-01", "2021-03",
              "2021-04")  # fmt: skip
    panel, events = sim_panel(seed=11, event_months=months), sim_events(months)
    result = placebo_in_time(
        sim_spec(), "treat", panel, events, n=19, seed=5 + seed_shift, hypothesis="H1",
        sampling=REFIT_SAMPLING.replace(draws=150, tune=300, chains=1),
    )
    assert result.n == 19 and result.n_admissible == 59  # 2016-09..2021-12, offsets 3..61
    # True effect exp(1.2) - 1 = +232%; one short chain estimates it anywhere from about
    # +70% to +250% (measured), so only its sign and size in sd units are pinned.
    assert result.observed > 0 and result.observed_z > 1.0
    assert np.all(result.placebo_z < result.observed_z)  # every refit, gated or not
    outcome = result.outcome()
    if result.n_used:
        assert result.p == pytest.approx(1 / (result.n_used + 1))
    if result.observed_converged and result.n_used >= MIN_PERMUTATIONS:
        assert outcome.ran and outcome.passed and outcome.p_value == result.p
    else:  # refits failed the gate: too few for a verdict, never "passed"
        assert not outcome.ran and outcome.passed is None
    assert outcome.n_used + outcome.n_failed == outcome.n_requested == 19
    table = result.table()
    assert (table["overlap"] <= 2 / 8).all()
    assert list(table.columns) == ["placebo", "offset", "months", "overlap", "pct_mean", "z",
                                   "p_positive", "ok", "divergences", "seconds",
                                   "cpu_seconds"]  # fmt: skip
    assert (table["offset"] >= 3).all() and table["offset"].is_unique
    for dating in result.datings:
        assert len(dating) == 8 and len(set(dating)) == 8  # spacing kept: no new ties
    assert result.summary()["outcome_check"] == "placebo"
    assert "the real timing excluded" in result.rule
