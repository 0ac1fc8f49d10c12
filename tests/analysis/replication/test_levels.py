"""The mean-encounters claim, on a synthetic panel and on the embedded snapshot."""

from __future__ import annotations

import pytest

from hybridflow.data.panel import EASTERN_BORDERS
from tests.analysis.replication._panels import claim_row


def test_eb_mean_on_synthetic_panel(synthetic: tuple) -> None:
    panel, res = synthetic
    eb = panel["route_total"].sel(route=EASTERN_BORDERS, month=slice("2022-02-01", "2025-06-01"))
    assert claim_row(res, "eb_mean")["our_value"] == pytest.approx(float(eb.mean()))
    assert claim_row(res, "eb_mean")["details"]["months_from_newer_vintage"] == [
        "2025-05",
        "2025-06",
    ]


def test_real_eastern_borders_mean(real: object) -> None:
    c = claim_row(real, "eb_mean")
    assert 800 < c["our_value"] < 840  # 817.4 with the corrected Apr 2025
    assert c["status"] == "matches"
    # Feb 2022 - Jul 2025 gives the report's 832.
    assert c["details"]["alternatives"]["window to 2025-07"] == pytest.approx(832, abs=1)
