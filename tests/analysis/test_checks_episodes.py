"""Known-episode validation: removing episode regimes, scoring months, flagging episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.analysis.checks._common import VARIANT_SAMPLING
from hybridflow.analysis.checks.episodes import (
    DEFAULT_EPISODES,
    Episode,
    episode_anomaly,
    flag_episodes,
    score_anomalies,
    strip_episodes,
)
from hybridflow.analysis.checks.ppc import TOTAL
from hybridflow.data.events import load_events
from hybridflow.models.spec import load_spec, parse_spec
from tests.analysis._checks_sim import EB, sim_events, sim_panel, sim_spec_dict

FULL = Path(__file__).resolve().parents[2] / "models" / "full.toml"


@pytest.fixture(scope="module")
def catalogue() -> pd.DataFrame:
    return load_events()


def test_strip_removes_only_the_regimes_that_single_out_an_episode(catalogue: pd.DataFrame) -> None:
    spec = load_spec(FULL)
    new, notes = strip_episodes(spec, DEFAULT_EPISODES, catalogue)
    names = [r.name for r in new.baseline.regimes]
    # belarus_2021 (2021-06..2021-11) is the episode; the war onset (a step from before
    # Nov 2023), the Finnish closure (from Dec 2023, after it) and Ukraine's mobilisation
    # law (an event regime from May 2024) are other breaks; the 2024 Polish-Belarusian
    # window is not one of the episodes this check scores (DEFAULT_EPISODES).
    assert names == ["war_onset", "pl_wall", "fi_closure", "ua_mobilisation_2024", "pl_by_2024"]
    assert any("belarus_2021" in n and "Belarus 2021" in n for n in notes)
    # Sanctions on Belarus in Jun/Nov 2021 are a driver, kept but named.
    assert any("belarus_sanctions" in n and "EU-BY-04" in n for n in notes)
    assert [d.name for d in new.drivers] == [d.name for d in spec.drivers]
    same, _ = strip_episodes(new, DEFAULT_EPISODES, catalogue)
    assert same is new  # nothing left to remove


def test_strip_rules_for_pulses_windows_steps_and_event_regimes(catalogue: pd.DataFrame) -> None:
    d = sim_spec_dict(drivers=[])
    d["data"]["end"] = "2024-06"
    d["baseline"]["regimes"] = [
        {"name": "pulse_in", "start": "2023-11", "shape": "pulse"},
        {"name": "window_over", "start": "2021-01", "end": "2021-07"},
        {"name": "step_before", "start": "2020-03"},
        {"name": "step_inside", "start": "2021-08"},
        {"name": "step_after", "start": "2023-12"},
        {
            "name": "border",
            "source": "events",
            "filter": {"family": "border_policy", "event_ids": ["BP-003", "BP-021"]},
        },
    ]
    spec = parse_spec(d)
    new, notes = strip_episodes(spec, DEFAULT_EPISODES, catalogue, drop_regimes=["step_after"])
    kept = {r.name: r for r in new.baseline.regimes}
    assert set(kept) == {"step_before", "border"}
    # BP-003 (May-Nov 2021) overlaps the Belarus episode; BP-021 (Feb 2022, open) does not.
    assert kept["border"].filter is not None
    assert kept["border"].filter.exclude_ids == ["BP-003"]
    assert any("step_after" in n and "asked for" in n for n in notes)
    with pytest.raises(ValueError, match="no regime"):
        strip_episodes(spec, DEFAULT_EPISODES, catalogue, drop_regimes=["nope"])
    with pytest.raises(ValueError, match="events table"):
        strip_episodes(spec, DEFAULT_EPISODES, None)


def test_episode_coercion() -> None:
    assert Episode.coerce(("Finland", "2023-11", "2023-11")).route is None
    ep = Episode.coerce(("B", "2021-06", "2021-11", EB))
    assert ep.route == EB and len(ep.months) == 6

    class Obj:
        name, start, end, route = "x", "2020-01", "2020-02", EB

    assert Episode.coerce(Obj()).months[-1] == pd.Timestamp("2020-02-01")
    with pytest.raises(ValueError, match="before start"):
        Episode.coerce(("bad", "2021-06", "2021-01"))


def _ppd_with_spike(seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    months = pd.date_range("2016-01-01", periods=72, freq="MS")
    mu = np.full((72, 1, 2), 100.0)
    alpha = 30.0
    y = rng.poisson(rng.gamma(alpha, mu / alpha)).astype(float)
    y[40, 0, 1] *= 5  # a spike in Others, 2019-05
    y_rep = rng.poisson(rng.gamma(alpha, mu[None] / alpha, size=(800, 72, 1, 2))).astype(float)
    return xr.Dataset(
        {
            "y_rep": (("sample", "month", "route", "group"), y_rep),
            "y": (("month", "route", "group"), y),
            "log_mu": (
                ("sample", "month", "route", "group"),
                np.log(np.broadcast_to(mu, y_rep.shape)),
            ),
            "dispersion": (("sample", "route", "group"), np.full((800, 1, 2), alpha)),
        },
        coords={"month": months, "route": [EB], "group": ["UkrRussBel", "Others"]},
        attrs={"family": "negbin", "kind": "posterior"},
    )


def test_scores_rank_an_injected_spike_first_and_flag_its_episode() -> None:
    scores = score_anomalies(_ppd_with_spike())
    assert set(scores["series"]) == {"UkrRussBel", "Others", TOTAL}
    others = scores[scores["series"] == "Others"].set_index("month")
    assert others.loc["2019-05", "rank"] == 1
    assert others.loc["2019-05", "tail_p"] < 0.01
    assert others.loc["2019-05", "z"] > 5
    # The log score is highest (worst) at the spike; totals have none.
    assert others["log_score"].idxmax() == "2019-05"
    assert scores.loc[scores["series"] == TOTAL, "log_score"].isna().all()
    assert sorted(others["rank"]) == list(range(1, 73))

    summary = flag_episodes(
        scores, [("spike", "2019-04", "2019-06"), ("calm", "2017-03", "2017-03")]
    ).set_index(["episode", "series"])
    spike = summary.loc[("spike", "Others")]
    assert bool(spike["flagged"]) and bool(spike["flagged_tail"]) and bool(spike["flagged_rank"])
    assert spike["peak_month"] == "2019-05" and spike["peak_rank"] == 1
    assert spike["months"] == "2019-04;2019-05;2019-06"
    assert len(spike["tail_p"].split(";")) == 3
    assert spike["top_cut"] == 4  # ceil(5% of 72)
    assert bool(summary.loc[("spike", TOTAL), "flagged"])  # the total shows it too
    assert summary.loc[("spike", "UkrRussBel"), "min_tail_p"] > spike["min_tail_p"]
    # Months without a spike are flagged at about the nominal rate (calibrated model).
    calm = scores[(scores["series"] != TOTAL) & (scores["month"] != "2019-05")]
    assert (calm["tail_p"] < 0.05).mean() < 0.12
    # The rank rule always finds a "top 5%": it flags the calmest series' peak month too.
    rank_only = flag_episodes(scores, [("all", "2016-01", "2021-12")], rule="rank")
    assert rank_only["flagged"].all()
    with pytest.raises(ValueError, match="rule"):
        flag_episodes(scores, [("x", "2019-01", "2019-01")], rule="any")  # type: ignore[arg-type]


def test_flag_episodes_errors() -> None:
    scores = score_anomalies(_ppd_with_spike())
    with pytest.raises(ValueError, match="no scored month"):
        flag_episodes(scores, [("later", "2030-01", "2030-02")])
    with pytest.raises(ValueError, match="not scored"):
        flag_episodes(scores, [("elsewhere", "2019-01", "2019-02", "Western African Route")])


def test_episode_anomaly_flags_an_injected_spike_the_model_is_not_told_about(
    seed_shift: int,
) -> None:
    """End to end on simulated data: the spike month has a pulse regime in the spec; the
    check removes it, fits the rest and flags the spike but not a calm month."""
    panel = sim_panel(seed=3, effect=0.0, spike={"2019-02": 6.0})
    d = sim_spec_dict(drivers=[])
    d["baseline"]["regimes"] = [{"name": "the_spike", "start": "2019-02", "shape": "pulse"}]
    result = episode_anomaly(
        parse_spec(d),
        panel,
        sim_events(),
        [("spike", "2019-02", "2019-02"), ("calm", "2017-06", "2017-06")],
        sampling=VARIANT_SAMPLING.replace(draws=150, tune=150, chains=1),
        n_draws=150,
        seed=2 + seed_shift,
    )
    assert result.spec.baseline.regimes == []
    assert any("the_spike" in n for n in result.removed)
    s = result.summary.set_index(["episode", "series"])
    assert bool(s.loc[("spike", TOTAL), "flagged"])
    assert s.loc[("spike", TOTAL), "peak_rank"] <= 2
    assert s.loc[("spike", TOTAL), "min_tail_p"] < 0.05
    assert not s.xs("calm", level="episode")["flagged"].any()
    assert len(result.scores) == 72 * 3


@pytest.mark.slow
def test_holdout_scores_the_episode_against_a_fit_that_never_saw_it(seed_shift: int) -> None:
    panel = sim_panel(seed=5, effect=0.0, spike={"2019-02": 3.0, "2019-03": 3.0})
    spec = parse_spec(sim_spec_dict(drivers=[]))
    episodes = [("spike", "2019-02", "2019-03")]
    kwargs = {
        "sampling": VARIANT_SAMPLING.replace(draws=150, tune=150, chains=1),
        "n_draws": 300,
        "seed": 2 + seed_shift,
    }
    held = episode_anomaly(spec, panel, sim_events(), episodes, holdout=True, **kwargs)
    inside = episode_anomaly(spec, panel, sim_events(), episodes, **kwargs)
    h = held.summary.set_index("series").loc[TOTAL]
    i = inside.summary.set_index("series").loc[TOTAL]
    assert bool(h["flagged"]) and h["min_tail_p"] == 0.0
    # The in-sample fit has absorbed part of the spike (wider dispersion): less extreme.
    assert h["max_z"] > i["max_z"]
    assert any("holdout: 4 episode cells" in n for n in held.notes)
    # Held-out months are still scored, with their real counts.
    got = held.scores.set_index(["month", "series"]).loc[("2019-02", TOTAL), "observed"]
    assert got == float(panel["detections"].sel(route=EB, month="2019-02-01").sum())
