"""Coverage table and the sanity check against the report's figures."""

from __future__ import annotations

import pytest

from hybridflow.data.panel import load_panel
from hybridflow.data.summary import REPORT_TOP10_OTHERS, check_report, coverage


@pytest.fixture(scope="module")
def panel():
    return load_panel()


def test_coverage_rows(panel) -> None:
    cov = coverage(panel).set_index("variable")
    assert cov.loc["detections", "first_month"] == "2009-01"
    assert cov.loc["detections", "last_month"] == "2025-04"
    assert cov.loc["route_total", "last_month"] == "2026-06"
    assert cov.loc["losses_personnel", "first_month"] == "2022-02"
    assert "2025-06-03" in cov.loc["detections", "vintage"]


def test_check_report_figures_computed_from_data(panel) -> None:
    check = check_report(panel)
    eb = check["eastern_borders_mean"]
    assert eb["months"] == 41  # Feb 2022 - Jun 2025
    assert eb["months_from_newer_vintage"] == ["2025-05", "2025-06"]
    # Same order of magnitude as the report's 832; the exact value depends on vintage.
    assert 700 < eb["ours"] < 950
    expected = float(panel["route_total"].sel(route="Eastern Borders Route",
                                              month=slice("2022-02", "2025-06")).mean())
    assert eb["ours"] == pytest.approx(expected)
    top = check["top10_others"]
    ours = [r["nationality"] for r in top["ours"]]
    assert len(ours) == 10 and not {"UKR", "RUS", "BLR"} & set(ours)
    counts = [r["detections"] for r in top["ours"]]
    assert counts == sorted(counts, reverse=True)
    assert set(top["report_ours"]) == set(REPORT_TOP10_OTHERS)
