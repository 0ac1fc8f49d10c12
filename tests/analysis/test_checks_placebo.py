"""Placebo-in-time: rank arithmetic, the re-dating rule, the swapped arrays, and the real
property that a strong effect at the true dates ranks above random datings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridflow.analysis.checks._common import REFIT_SAMPLING
from hybridflow.analysis.checks.placebo import (
    candidate_months,
    driver_events,
    placebo_arrays,
    placebo_in_time,
    rank_p_values,
    redate_events,
)
from hybridflow.inference.refit import data_values
from hybridflow.models.build import build_model, prepare_data
from tests.analysis._checks_sim import EVENT_MONTHS, sim_events, sim_panel, sim_spec, sim_spec_dict


def test_rank_p_on_a_known_set() -> None:
    placebo = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 2.0, 5.0, np.nan])
    r = rank_p_values(2.0, placebo, "+")
    # 7 finite placebos; 3 are >= 2 (2, 2, 5) and 6 are <= 2.
    assert r["p_upper"] == pytest.approx(3 / 7)
    assert r["p_lower"] == pytest.approx(6 / 7)
    assert r["rank_p"] == r["p_upper"]
    assert r["p_plus1"] == pytest.approx(4 / 8)
    neg = rank_p_values(-2.0, placebo, "-")
    assert neg["rank_p"] == pytest.approx(1 / 7)  # only -3 is <= -2
    top = rank_p_values(10.0, placebo, "+")
    assert top["rank_p"] == 0.0 and top["p_plus1"] == pytest.approx(1 / 8)
    assert np.isnan(rank_p_values(1.0, np.array([np.nan]))["rank_p"])
    with pytest.raises(ValueError, match="direction"):
        rank_p_values(1.0, placebo, "up")  # type: ignore[arg-type]


def test_redating_keeps_the_events_and_stays_in_the_candidates() -> None:
    events = sim_events()
    events.loc[0, "end_date"] = pd.Timestamp("2016-12-20")  # a step that lasts 3 months
    months = pd.date_range("2016-01-01", "2021-12-01", freq="MS")
    real = pd.DatetimeIndex(pd.to_datetime([m + "-01" for m in EVENT_MONTHS]))
    cands = months[~months.isin(real)]
    rng = np.random.default_rng(0)
    seen: set[pd.Timestamp] = set()
    for _ in range(50):
        out = redate_events(events, cands, rng)
        new = pd.DatetimeIndex(out["effective_date"])
        assert len(out) == len(events)
        assert list(out["event_id"]) == list(events["event_id"])
        assert new.is_unique  # without replacement
        assert new.isin(cands).all() and not new.isin(real).any()
        assert (out["start_date"] == out["effective_date"]).all()
        shift = (new[0].year - 2016) * 12 + new[0].month - 9
        assert out.loc[0, "end_date"] == pd.Timestamp("2016-12-20") + pd.DateOffset(months=shift)
        assert out.loc[1:, "end_date"].isna().all()
        seen.update(new)
    assert events["effective_date"].iloc[0] == pd.Timestamp("2016-09-15")  # input untouched
    assert len(seen) > 0.8 * len(cands)  # every candidate month is reachable
    with pytest.raises(ValueError, match="cannot re-date 8 events"):
        redate_events(events, cands[:5], rng)


def test_candidate_months_window_and_exclusion() -> None:
    spec = sim_spec()
    data = prepare_data(spec, sim_panel(), sim_events())
    real = pd.DatetimeIndex([pd.Timestamp("2018-02-01"), pd.Timestamp("2019-06-01")])
    all_months = candidate_months(data, real, exclude_observed=False)
    assert len(all_months) == 72
    excl = candidate_months(data, real)
    assert len(excl) == 70 and not excl.isin(real).any()
    late = candidate_months(data, real, within=("2019-01", None))
    assert late[0] == pd.Timestamp("2019-01-01") and late[-1] == pd.Timestamp("2021-12-01")
    assert len(late) == 35


def test_placebo_arrays_rebuild_exactly_what_the_builder_builds() -> None:
    panel, events = sim_panel(), sim_events()
    spec = sim_spec()
    data = prepare_data(spec, panel, events)
    base = data_values(build_model(spec, data))
    sel = driver_events(spec, "treat", events, data)
    assert len(sel) == 8
    same = placebo_arrays(data, "treat", sel)
    np.testing.assert_array_equal(same["driver_lagged"], base["driver_lagged"])
    moved = redate_events(sel, candidate_months(data, sel["month"]), np.random.default_rng(1))
    new = placebo_arrays(data, "treat", moved)
    # Rebuilding the catalogue with the moved dates gives the same arrays.
    cat = events.copy()
    cat["effective_date"] = moved["effective_date"].to_numpy()
    rebuilt = data_values(build_model(spec, prepare_data(spec, panel, cat)))
    np.testing.assert_array_equal(new["driver_lagged"], rebuilt["driver_lagged"])
    assert new["driver_lagged"].sum() == 8


def test_placebo_arrays_leave_other_drivers_alone_and_handle_per_event() -> None:
    panel = sim_panel()
    events = pd.concat(
        [
            sim_events(),
            sim_events(("2017-01", "2019-01")).assign(actor="US", event_id=["U1", "U2"]),
        ],
        ignore_index=True,
    )
    d = sim_spec_dict()
    d["drivers"] = [
        d["drivers"][0] | {"per_event": True, "kernel": {"name": "geometric", "max_lag": 2}},
        {
            "name": "us",
            "source": "events",
            "filter": {"family": "sanctions", "actor": ["US"]},
            "kernel": {"name": "geometric", "max_lag": 2},
        },
    ]
    from hybridflow.models.spec import parse_spec

    spec = parse_spec(d)
    data = prepare_data(spec, panel, events)
    base = data_values(build_model(spec, data))
    sel = driver_events(spec, "treat", events, data)
    moved = redate_events(sel, candidate_months(data, sel["month"]), np.random.default_rng(2))
    new = placebo_arrays(data, "treat", moved)
    np.testing.assert_array_equal(new["driver_lagged"][1], base["driver_lagged"][1])
    assert not np.array_equal(new["driver_lagged"][0], base["driver_lagged"][0])
    assert new["event_lagged"].shape == base["event_lagged"].shape
    # Each event's own column moved to its new month (lag 0).
    months = list(data.months)
    for i, m in enumerate(moved["effective_date"]):
        assert new["event_lagged"][i, months.index(pd.Timestamp(m)), 0] == 1.0
    with pytest.raises(ValueError, match="not 'events'|no driver"):
        placebo_in_time(spec, "nope", panel, events, n=1)


def test_strong_effect_at_the_true_dates_ranks_above_placebos(seed_shift: int) -> None:
    """A real property: with a large effect at the simulated event months, the observed
    effect exceeds every random re-dating (n=10, tiny draws; compiles once)."""
    panel, events = sim_panel(seed=11), sim_events()
    result = placebo_in_time(
        sim_spec(), "treat", panel, events, n=10, seed=5 + seed_shift,
        sampling=REFIT_SAMPLING.replace(draws=100, tune=100, chains=1),
    )
    assert result.n == 10 and result.n_failed == 0
    assert result.observed > 100.0  # true effect exp(1.2) - 1 = +232%
    assert result.observed_p_positive > 0.99
    assert np.all(result.placebo < result.observed)
    assert result.rank_p == 0.0 and result.p_lower == 1.0
    assert result.p_plus1 == pytest.approx(1 / 11)
    # Datings: 8 distinct months each, never a real event month.
    for dating in result.datings:
        assert len(dating) == 8 and len(set(dating)) == 8
        assert not set(dating) & set(EVENT_MONTHS)
    table = result.table()
    assert list(table.columns) == [
        "placebo",
        "months",
        "pct_mean",
        "p_positive",
        "ok",
        "divergences",
        "seconds",
        "cpu_seconds",
    ]
    assert table["ok"].all()
    assert result.summary()["n_events"] == 8
    assert "without replacement" in result.rule
