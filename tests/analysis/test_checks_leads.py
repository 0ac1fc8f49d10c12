"""The lead test: the lead model's design, the verdict rule, and the real property that a
simulated anticipation (detections moving a month before each event) fails it while an
effect that follows the events passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridflow.analysis.checks._common import VARIANT_SAMPLING
from hybridflow.analysis.checks.leads import (
    LeadResult,
    _lead_rows,
    lead_data,
    lead_name,
    lead_spec,
    lead_test,
    led_exposure,
)
from hybridflow.months import month_range
from tests.analysis._checks_sim import EVENT_MONTHS, sim_events, sim_panel, sim_spec


def test_lead_terms_are_the_exposure_moved_earlier_beside_the_real_driver() -> None:
    spec = lead_spec(sim_spec(), "treat", (1, 3))
    assert [d.name for d in spec.drivers] == ["treat", "treat_lead1", "treat_lead3"]
    assert all(d.kernel.name == "immediate" for d in spec.drivers[1:])
    data = lead_data(sim_spec(), "treat", sim_panel(), sim_events(), (1, 3))
    real = data.drivers[0].exposure
    for lead, d in zip((1, 3), data.drivers[1:], strict=True):
        np.testing.assert_array_equal(d.exposure.values[:-lead], real.values[lead:])
        assert (d.exposure.values[-lead:] == 0).all()  # no future events: neutral 0
    months = month_range(pd.Timestamp("2020-01-01"), pd.Timestamp("2020-05-01"))
    import xarray as xr

    x = xr.DataArray(np.arange(5.0), dims="month", coords={"month": months})
    np.testing.assert_array_equal(led_exposure(x, 2, -1.0).values, [2, 3, 4, -1, -1])
    with pytest.raises(ValueError, match="leads must be"):
        lead_spec(sim_spec(), "treat", (0,))
    with pytest.raises(ValueError, match="no driver"):
        lead_spec(sim_spec(), "nope")
    assert lead_name("x", 2) == "x_lead2"


def test_a_lead_as_large_and_credible_as_the_real_effect_fails() -> None:
    rng = np.random.default_rng(0)
    draws = {"d": rng.normal(50, 10, 2000), "d_lead1": rng.normal(55, 10, 2000),
             "d_lead2": rng.normal(-60, 10, 2000), "d_lead3": rng.normal(30, 40, 2000)}
    table = _lead_rows(draws, "d", (1, 2, 3), "+", 0.9, 0.9, 1.0)
    assert list(table["term"]) == ["real", "lead 1", "lead 2", "lead 3"]
    # Lead 1: claimed sign, credible, larger: fails. Lead 2: the other sign. Lead 3: not
    # credible (sd 40).
    assert table["as_large"].tolist() == [False, True, False, False]
    result = LeadResult("d", "+", "H1", table, True, "")
    out = result.outcome()
    assert out.ran and out.passed is False and "lead 1" in out.reason
    assert out.statistic == pytest.approx(table["mean"].iloc[1] / table["mean"].iloc[0])
    calm = _lead_rows(draws | {"d_lead1": rng.normal(5, 10, 2000)}, "d", (1, 2, 3), "+", 0.9,
                      0.9, 1.0)  # fmt: skip
    assert LeadResult("d", "+", "H1", calm, True, "").outcome().passed is True
    # Claimed "-": the large negative lead 2 (-60 vs real +50) now mimics the claim.
    minus = _lead_rows(draws, "d", (1, 2, 3), "-", 0.9, 0.9, 1.0)
    assert minus["as_large"].tolist() == [False, False, True, False]
    unusable = LeadResult("d", "+", "H1", calm, False, "r_hat 1.05").outcome()
    assert not unusable.ran and "r_hat" in unusable.reason


@pytest.mark.slow
def test_anticipation_fails_the_lead_test_and_a_real_effect_passes(seed_shift: int) -> None:
    """Counts that jump one month *before* each event (far more than in the event month):
    the lead-1 term carries the earlier, larger jump (fails); counts that jump in the event
    month only: no lead term does (passes). Judged on the estimates; the verdict follows
    them where the fit passed the gate, and is "did not run" where it did not."""
    before = [f"{pd.Timestamp(m + '-01') - pd.DateOffset(months=1):%Y-%m}" for m in EVENT_MONTHS]
    sampling = VARIANT_SAMPLING.replace(draws=500, tune=300, target_accept=0.95)
    spike = dict.fromkeys(before, float(np.exp(1.8)))
    anticip = lead_test(sim_spec(), "treat", sim_panel(seed=6, effect=0.3, spike=spike),
                        sim_events(), seed=2 + seed_shift, sampling=sampling, hypothesis="H1")
    real = lead_test(sim_spec(), "treat", sim_panel(seed=6), sim_events(), seed=3 + seed_shift,
                     sampling=sampling, hypothesis="H1")
    rows = anticip.table.set_index("term")
    assert rows.loc["lead 1", "as_large"] and rows.loc["lead 1", "low"] > 0
    assert rows.loc["lead 1", "mean"] > rows.loc["real", "mean"]
    assert not real.table["as_large"].any(), real.table
    assert real.table.set_index("term").loc["real", "mean"] > 100
    for result, verdict in ((anticip, False), (real, True)):
        out = result.outcome()
        assert out.passed is (verdict if result.converged else None), (out, result.note)
