"""Sensitivity grid: the variants, the forest-plot table, and (slow) real refits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybridflow.analysis.checks._common import VARIANT_SAMPLING
from hybridflow.analysis.checks.sensitivity import (
    SENSITIVITY_COLUMNS,
    sensitivity_grid,
    sensitivity_variants,
)
from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.inference.executor import Task, TaskResult
from hybridflow.inference.posterior import make_posterior
from hybridflow.models.spec import load_spec
from tests.analysis._checks_sim import sim_events, sim_panel, sim_spec

FULL = Path(__file__).resolve().parents[2] / "models" / "full.toml"


class FakeExecutor:
    """Records the tasks and answers each with made-up effect draws (no sampling)."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def map(self, tasks: Sequence[Task], *, progress: Any = False) -> list[TaskResult]:
        self.tasks.extend(tasks)
        out = []
        for i, t in enumerate(tasks):
            data, drivers = t.args[0], t.args[1]
            draws = {d: np.linspace(-5, 25, 101) + i for d in drivers}
            value = {
                "draws": draws,
                "converged": i % 2 == 0,
                "divergences": i,
                "max_rhat": 1.0,
                "notes": list(data.notes),
                "seconds": 1.5,
            }
            out.append(TaskResult(key=t.key, ok=True, value=value))
        return out


def test_variants_change_one_choice_each_and_skip_duplicates_of_the_baseline() -> None:
    spec = load_spec(FULL)
    variants = sensitivity_variants(spec, "eu_sanctions")
    labels = [v.label for v in variants]
    # full.toml starts in 2016-01 and groups UkrRussBel/Others: those entries are the
    # baseline itself and are left out.
    assert labels == [
        "baseline",
        "prior x0.5",
        "prior x2",
        "kernel immediate",
        "kernel delayed",
        "kernel fdl",
        "start 2021-01",
        "start 2022-02",
        "grouping top_5",
        "trend x0.5",
        "trend x2",
    ]
    by = {v.label: v.spec for v in variants}
    assert all(s is not None for s in by.values())
    half = by["prior x0.5"]
    assert half is not None
    assert [d.prior.sigma for d in half.drivers] == pytest.approx([0.16] * 7)
    delayed = by["kernel delayed"]
    assert delayed is not None
    assert delayed.driver("eu_sanctions").kernel.name == "delayed"
    assert delayed.driver("eu_sanctions").kernel.max_lag == 6
    assert delayed.driver("us_sanctions").kernel.name == "geometric"  # only the headline
    start = by["start 2022-02"]
    assert start is not None and start.data.start == "2022-02" and start.data.end == "2024-09"
    top = by["grouping top_5"]
    assert top is not None and getattr(top.data.grouping, "top_k", None) == 5
    stiff = by["trend x0.5"]
    assert stiff is not None
    assert stiff.baseline.priors.trend_sd == pytest.approx(spec.baseline.priors.trend_sd / 2)
    assert stiff.drivers == spec.drivers  # only the trend changes
    with pytest.raises(KeyError, match="no driver"):
        sensitivity_variants(spec, "nope")


def test_grid_table_has_one_row_per_variant_for_the_forest_plot() -> None:
    spec = load_spec(FULL)
    fake = FakeExecutor()
    table = sensitivity_grid(
        spec,
        "eu_sanctions",
        load_panel(),
        load_events(),
        executor=fake,
        panel_label="H1 eu_sanctions",
    )
    assert list(table.columns) == SENSITIVITY_COLUMNS
    assert list(table["label"]) == [
        "baseline", "prior x0.5", "prior x2", "kernel immediate", "kernel delayed",
        "kernel fdl", "start 2021-01", "start 2022-02", "grouping top_5", "trend x0.5",
        "trend x2",
    ]  # fmt: skip
    assert (table["panel"] == "H1 eu_sanctions").all()
    assert len(fake.tasks) == 11
    assert table["mean"].tolist() == pytest.approx([10.0 + i for i in range(11)])
    assert (table["low"] < table["mean"]).all() and (table["high"] > table["mean"]).all()
    assert table["converged"].dtype == bool
    assert table["p_direction"].iloc[0] == pytest.approx(np.mean(np.linspace(-5, 25, 101) > 0))
    row = table.set_index("label")
    # A window from Feb 2022 cannot hold the war-onset or Belarus 2021 regimes: the builder
    # drops them and the note says so.
    assert row.loc["start 2022-02", "window"] == "2022-02..2024-09"
    assert "war_onset' dropped" in row.loc["start 2022-02", "note"]
    assert "belarus_2021' dropped" in row.loc["start 2022-02", "note"]
    assert row.loc["grouping top_5", "groups"].count(",") == 5
    # Seeds depend on the variant's position only (same tasks whatever the executor).
    assert len({t.seed for t in fake.tasks}) == 11


def test_grid_reports_variants_that_cannot_be_built_and_reuses_a_baseline_fit() -> None:
    import xarray as xr

    spec = sim_spec()
    post = xr.Dataset(
        {"effect_mean": (("chain", "draw", "driver"), np.full((1, 50, 1), np.log(2.0)))},
        coords={"chain": [0], "draw": np.arange(50), "driver": ["treat"]},
        attrs={"converged": 1},
    )
    fake = FakeExecutor()
    table = sensitivity_grid(
        spec,
        "treat",
        sim_panel(),
        sim_events(),
        prior_scales=(),
        kernels=("immediate", "delayed"),  # the sim driver has max_lag 0: no delayed peak
        window_starts=("2021-01", "2022-02"),  # the sim window ends 2021-12
        groupings=(),
        baseline=make_posterior({"posterior": post}),
        executor=fake,
    )
    row = table.set_index("label")
    assert list(table["label"]) == ["baseline", "kernel delayed", "start 2021-01", "start 2022-02"]
    assert row.loc["baseline", "mean"] == pytest.approx(100.0)
    assert bool(row.loc["baseline", "converged"]) and "existing fit" in row.loc["baseline", "note"]
    assert np.isnan(row.loc["kernel delayed", "mean"])
    assert "max_lag >= 1" in row.loc["kernel delayed", "note"]
    assert np.isnan(row.loc["start 2022-02", "mean"])
    assert "before start" in row.loc["start 2022-02", "note"]
    assert not row.loc["start 2022-02", "converged"]
    assert [t.args[0].spec.data.start for t in fake.tasks] == ["2021-01"]  # only buildable ones
    assert table.loc[0, "panel"] == "H1 treat"


@pytest.mark.slow
def test_real_grid_recovers_the_simulated_effect_under_each_variant(seed_shift: int) -> None:
    table = sensitivity_grid(
        sim_spec(),
        "treat",
        sim_panel(seed=8),
        sim_events(),
        prior_scales=(2.0,),
        kernels=(),
        window_starts=("2018-01",),
        groupings=(),
        sampling=VARIANT_SAMPLING.replace(draws=150, tune=150, chains=1),
        seed=1 + seed_shift,
    )
    assert list(table["label"]) == ["baseline", "prior x2", "start 2018-01"]
    # Truth +232%: every variant finds a large positive effect.
    assert (table["mean"] > 100).all()
    assert (table["p_direction"] > 0.99).all()


def _forest(means: list[float], usable: list[bool], attempted: list[bool] | None = None) -> Any:
    import pandas as pd

    n = len(means)
    return pd.DataFrame({
        "label": ["baseline", *[f"v{i}" for i in range(1, n)]],
        "kind": ["baseline", *["prior"] * (n - 1)],
        "mean": means, "usable": usable,
        "attempted": attempted if attempted is not None else [True] * n,
    })  # fmt: skip


def test_sign_stability_passes_fails_or_does_not_run_by_the_stated_rule() -> None:
    from hybridflow.analysis.checks.sensitivity import sensitivity_outcome

    ok = sensitivity_outcome(_forest([20.0, 5.0, 40.0, -3.0], [True, True, True, False]),
                             hypothesis="H1")  # fmt: skip
    # The flipped variant failed the gate: left out, 3 of 4 usable is < 80% -> no verdict.
    assert not ok.ran and ok.passed is None and ok.n_used == 3 and ok.n_failed == 1
    five = _forest([20.0, 5.0, 40.0, 9.0, -3.0], [True, True, True, True, False])
    assert sensitivity_outcome(five).passed is True  # 4 of 5 usable, all positive
    flip = sensitivity_outcome(_forest([20.0, 5.0, -1.0], [True, True, True]))
    assert flip.ran and flip.passed is False and "v2" in flip.reason
    assert flip.statistic == pytest.approx(2 / 3)
    unbuilt = _forest([20.0, 5.0, float("nan")], [True, True, False], [True, True, False])
    assert sensitivity_outcome(unbuilt).passed is True  # a variant never built is no failure
    base_bad = sensitivity_outcome(_forest([20.0, 5.0], [False, True]))
    assert not base_bad.ran and "baseline" in base_bad.reason
