"""The top-ten nationality claims, synthetic and real."""

from __future__ import annotations

import pytest

from hybridflow.analysis.replication import REPORT_TOP10_OTHERS
from hybridflow.data.panel import EASTERN_BORDERS
from tests.analysis.replication._panels import claim_row


def test_top10_on_synthetic_panel(synthetic: tuple) -> None:
    panel, res = synthetic
    det = panel["detections"].sel(route=EASTERN_BORDERS, month=slice("2022-02-01", None))
    syr = float(det.sel(nationality="SYR").sum())
    top = claim_row(res, "top10_SYR")
    assert top["our_value"] == pytest.approx(syr)
    assert top["difference"] == pytest.approx(syr - 685)
    assert "XUN" not in claim_row(res, "top10_set")["our_text"]  # not a country


def test_real_top10(real: object) -> None:
    assert claim_row(real, "top10_set")["our_value"] == 10
    syr = claim_row(real, "top10_SYR")
    assert abs(syr["difference"]) <= 5
    for code in REPORT_TOP10_OTHERS:  # our window ends Apr 2025, the report's later
        assert claim_row(real, f"top10_{code}")["difference"] <= 0
