"""Negative-control outcomes: route validation, the control model's data, and (slow) fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hybridflow.analysis.checks._common import REFIT_SAMPLING
from hybridflow.analysis.checks.controls import (
    TOTAL_GROUP,
    control_data,
    control_spec,
    negative_controls,
    total_panel,
)
from hybridflow.errors import SpecError
from hybridflow.models.spec import parse_spec
from tests.analysis._checks_sim import (
    EB,
    WAFR,
    WMED,
    sim_events,
    sim_panel,
    sim_spec,
    sim_spec_dict,
)


def test_unknown_or_unusable_control_routes_are_errors() -> None:
    panel, events, spec = sim_panel(), sim_events(), sim_spec()
    with pytest.raises(
        SpecError, match=r"'Central Atlantic' is not in the panel; routes: \[.*Western African"
    ):
        negative_controls(spec, panel, events, routes=("Central Atlantic",))
    with pytest.raises(SpecError, match="is modelled by spec 'sim'"):
        negative_controls(spec, panel, events, routes=(EB,))
    with pytest.raises(SpecError, match="listed twice"):
        negative_controls(spec, panel, events, routes=(WMED, WMED))
    empty = panel.copy()
    empty["detections"] = panel["detections"].where(panel["route"] != WAFR)
    with pytest.raises(SpecError, match="has no detections in 2016-01..2021-12"):
        negative_controls(spec, empty, events, routes=(WMED, WAFR))
    zero = panel.copy()
    zero["detections"] = panel["detections"].where(panel["route"] != WAFR, 0.0)
    with pytest.raises(SpecError, match="zero detections"):
        control_data(spec, zero, events, WAFR)
    with pytest.raises(KeyError, match="no driver 'nope'"):
        negative_controls(spec, panel, events, routes=(WMED,), drivers=["nope"])


def test_total_panel_sums_nationalities_into_one_group() -> None:
    panel = sim_panel()
    tot = total_panel(panel)
    assert tot["detections"].dims == ("month", "route", "group")
    assert list(tot["group"].values) == [TOTAL_GROUP]
    np.testing.assert_array_equal(
        tot["detections"].sel(group=TOTAL_GROUP).values,
        panel["detections"].sum("nationality").values,
    )
    # Already grouped panels are summed over groups.
    again = total_panel(tot)
    np.testing.assert_array_equal(again["detections"].values, tot["detections"].values)


def test_control_data_swaps_the_route_and_keeps_the_design() -> None:
    panel, events, spec = sim_panel(), sim_events(), sim_spec()
    data = control_data(spec, panel, events, WMED)
    assert data.routes == [WMED] and data.groups == [TOTAL_GROUP]
    assert data.spec.data.routes == [WMED]
    assert data.spec.name == "sim.control.western_mediterranean_route"
    assert data.driver_names == ["treat"]
    assert list(data.regimes["regime"].values) == ["late"]
    np.testing.assert_array_equal(
        data.y.values[:, 0, 0],
        panel["detections"]
        .sel(route=WMED, month=slice("2016-01-01", "2021-12-01"))
        .sum("nationality")
        .values,
    )
    # The spec's grouping leaves an all-zero UkrRussBel series there: why totals are used.
    keep = control_data(spec, panel, events, WMED, grouping="spec")
    assert keep.groups == ["UkrRussBel", "Others"]
    assert float(keep.y.sel(group="UkrRussBel").sum()) == 0.0


def test_control_spec_drops_a_common_factor_built_from_the_control_route() -> None:
    spec = parse_spec(sim_spec_dict(common_factor={"routes": [WMED, WAFR]}))
    assert control_spec(spec, WMED).common_factor is None
    other = parse_spec(sim_spec_dict(common_factor={"routes": [WAFR]}))
    kept = control_spec(other, WMED).common_factor
    assert kept is not None and kept.routes == [WAFR]


@pytest.mark.slow
def test_no_effect_on_control_routes_where_the_simulation_has_none(seed_shift: int) -> None:
    panel, events = sim_panel(seed=4), sim_events()
    table = negative_controls(
        sim_spec(), panel, events, routes=(WMED, WAFR), sampling=REFIT_SAMPLING.replace(chains=1),
        seed=3 + seed_shift,
    )
    assert list(table["route"]) == [WMED, WAFR]
    assert list(table["driver"]) == ["treat", "treat"]
    assert (table["grouping"] == "route total").all()
    # The true effect on these routes is zero: the HDI holds 0 and the mean is small
    # next to the +232% simulated on the Eastern Borders route.
    assert (table["low"] < 0).all() and (table["high"] > 0).all()
    assert (table["mean"].abs() < 40).all()
    assert table["n_months"].tolist() == [72, 72]


def _controls(means: list[float], p_pos: list[float], converged: list[bool]) -> Any:
    import pandas as pd

    return pd.DataFrame({
        "route": [f"R{i}" for i in range(len(means))], "driver": "treat", "mean": means,
        "p_positive": p_pos, "p_either": [max(p, 1 - p) for p in p_pos],
        "converged": converged,
    })  # fmt: skip


def test_a_control_effect_of_either_sign_counts_and_unconverged_fits_do_not() -> None:
    from hybridflow.analysis.checks.controls import control_outcome

    calm = control_outcome(_controls([3.0, -2.0], [0.6, 0.3], [True, True]), "treat",
                           hypothesis="H1")  # fmt: skip
    assert calm.ran and calm.passed is True and calm.statistic == pytest.approx(0.7)
    opposite = control_outcome(_controls([3.0, -30.0], [0.6, 0.02], [True, True]), "treat")
    assert opposite.passed is False and "R1" in opposite.reason  # P(<0) = 0.98 counts
    gated = control_outcome(_controls([3.0, -30.0], [0.6, 0.02], [True, False]), "treat")
    assert not gated.ran and gated.passed is None and gated.n_failed == 1
    assert "R1" in gated.reason
